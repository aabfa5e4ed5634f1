"""The gap map on a chain with a known gap, and topic clustering that puts near-duplicate needs together."""

from __future__ import annotations

import pytest

from bureau.gapmap import build_gap_map, engine_need_is_unmet
from bureau.topics import cluster_texts, curate_topics, publish_topic
from graph.exceptions import ValidationError
from graph.model import (
    Achievement,
    ChainPosition,
    ChainSegment,
    Challenge,
    ChallengeStatus,
    Enterprise,
    EnterpriseSize,
    IndustryChain,
    Need,
    NodeLabel,
    Platform,
    Relation,
    RelType,
    Talent,
)

pytestmark = pytest.mark.all_backends

L = NodeLabel

NYLON_NEEDS = {
    "n1": ("尼龙66切片长时间熔融保持后黄变，寻求热稳定剂配方", 100.0),
    "n2": ("尼龙66切片熔融保持黄变严重，需要新型热稳定剂", None),
    "n3": ("聚酰胺66切片黄变问题：热稳定剂配方及工艺改进", 60.0),
    "n4": ("己二胺精馏塔能耗高，寻求节能精馏工艺", 40.0),
    "n5": ("己二胺精馏能耗偏高，需要精馏节能改造技术", None),
}


def _rel(t: RelType, a: L, ai: str, b: L, bi: str, **props) -> Relation:
    return Relation(type=t, source_label=a, source_id=ai, target_label=b, target_id=bi, props=props)


@pytest.fixture()
def chain_graph(store):
    segs = [
        ChainSegment(id="s-up", name="己二胺", chain_id="c1", position=ChainPosition.UPSTREAM, order=1),
        ChainSegment(id="s-mid", name="尼龙66聚合", chain_id="c1", position=ChainPosition.MIDSTREAM, order=2),
        ChainSegment(id="s-down", name="工程塑料", chain_id="c1", position=ChainPosition.DOWNSTREAM, order=3),
    ]
    nodes = [
        IndustryChain(id="c1", name="尼龙新材料", priority=True),
        *segs,
        Enterprise(id="e1", name="尼龙科技", high_tech=True),
        Enterprise(id="e2", name="小作坊", size=EnterpriseSize.MICRO),
        Enterprise(id="e3", name="化工公司", size=EnterpriseSize.LARGE),
        *(Need(id=k, name=v[0], budget_wan=v[1], enterprise_id="e1") for k, v in NYLON_NEEDS.items()),
        Need(id="n6", name="工程塑料注塑翘曲", enterprise_id="e3"),
        Achievement(id="a1", name="节能精馏"),
        Achievement(id="a2", name="改性尼龙"),
        Talent(id="t1", name="张教授"),
        Platform(id="p1", name="尼龙实验室"),
        Challenge(id="ch1", name="热稳定剂揭榜", statement="黄变", status=ChallengeStatus.PUBLISHED),
        Challenge(id="ch2", name="已揭榜", statement="x", status=ChallengeStatus.AWARDED),
    ]
    seg_of = {"n1": "s-mid", "n2": "s-mid", "n3": "s-mid", "n4": "s-up", "n5": "s-up", "n6": "s-down"}
    rels = [
        *(_rel(RelType.PART_OF, L.CHAIN_SEGMENT, s.id, L.INDUSTRY_CHAIN, "c1") for s in segs),
        _rel(RelType.UPSTREAM_OF, L.CHAIN_SEGMENT, "s-up", L.CHAIN_SEGMENT, "s-mid"),
        _rel(RelType.UPSTREAM_OF, L.CHAIN_SEGMENT, "s-mid", L.CHAIN_SEGMENT, "s-down"),
        *(_rel(RelType.IN_SEGMENT, L.NEED, n, L.CHAIN_SEGMENT, s) for n, s in seg_of.items()),
        *(_rel(RelType.POSTED, L.ENTERPRISE, "e1", L.NEED, n) for n in NYLON_NEEDS),
        _rel(RelType.POSTED, L.ENTERPRISE, "e3", L.NEED, "n6"),
        _rel(RelType.IN_SEGMENT, L.ACHIEVEMENT, "a1", L.CHAIN_SEGMENT, "s-up"),
        _rel(RelType.IN_SEGMENT, L.ACHIEVEMENT, "a2", L.CHAIN_SEGMENT, "s-down"),
        _rel(RelType.INVENTED, L.TALENT, "t1", L.ACHIEVEMENT, "a1"),
        _rel(RelType.IN_SEGMENT, L.PLATFORM, "p1", L.CHAIN_SEGMENT, "s-mid"),
        _rel(RelType.IN_SEGMENT, L.ENTERPRISE, "e1", L.CHAIN_SEGMENT, "s-mid"),
        _rel(RelType.IN_SEGMENT, L.ENTERPRISE, "e2", L.CHAIN_SEGMENT, "s-mid"),
        _rel(RelType.IN_SEGMENT, L.ENTERPRISE, "e3", L.CHAIN_SEGMENT, "s-down"),
        _rel(RelType.IN_SEGMENT, L.CHALLENGE, "ch1", L.CHAIN_SEGMENT, "s-mid"),
        _rel(RelType.IN_SEGMENT, L.CHALLENGE, "ch2", L.CHAIN_SEGMENT, "s-down"),
        # the downstream need was solved and the achievement sold
        _rel(RelType.SOLVES, L.ACHIEVEMENT, "a2", L.NEED, "n6"),
        _rel(RelType.TRANSFERRED_TO, L.ACHIEVEMENT, "a2", L.ENTERPRISE, "e3", date="2023-01-02", amount_wan=80),
    ]
    assert not store.write_batch(nodes, rels).missing_endpoints
    return store


def test_gap_map_finds_the_known_gap_and_ranks_it_first(chain_graph) -> None:
    gap_map = build_gap_map(chain_graph)  # the graph's record: n1-n5 open and unsolved
    mid = gap_map.segment("s-mid")
    assert (mid.needs, mid.challenges, mid.open_challenges) == (3, 1, 1)
    assert mid.unmet_need_ids == ["n1", "n2", "n3"]
    assert mid.unmet_share == 1.0 and mid.score == 4.0
    assert (mid.platforms, mid.enterprises) == (1, 1)  # the micro workshop cannot absorb
    down = gap_map.segment("s-down")
    assert down.unmet_needs == 0 and down.open_challenges == 0 and down.deals == 1 and down.deal_amount_wan == 80
    up = gap_map.segment("s-up")
    assert (up.achievements, up.talents) == (1, 1)
    assert [s.segment_id for s in gap_map.ranked()] == ["s-mid", "s-up"]
    chain = gap_map.chains[0]
    assert [s.segment_id for s in chain.segments] == ["s-up", "s-mid", "s-down"]
    assert ("s-up", "s-mid") in chain.upstream_of


def test_gap_map_takes_the_matchers_verdict(chain_graph) -> None:
    gap_map = build_gap_map(chain_graph, need_is_unmet=lambda nid: nid == "n4")
    assert gap_map.segment("s-mid").unmet_needs == 0
    assert gap_map.segment("s-up").unmet_need_ids == ["n4"]

    class Engine:  # stands in for matcher.engine.MatchEngine: only ``match_need(...).is_gap`` is used
        calls: list[str] = []

        def match_need(self, need_id: str):
            self.calls.append(need_id)
            return type("R", (), {"is_gap": need_id in ("n1", "n2")})()

    engine = Engine()
    unmet = engine_need_is_unmet(engine)
    assert build_gap_map(chain_graph, unmet).segment("s-mid").unmet_need_ids == ["n1", "n2"]
    unmet("n1")
    assert engine.calls.count("n1") == 1  # asked once per need


def test_clustering_puts_near_duplicate_needs_together() -> None:
    texts = [v[0] for v in NYLON_NEEDS.values()]
    groups = cluster_texts(texts)
    assert sorted(sorted(g) for g in groups) == [[0, 1, 2], [3, 4]]


def test_topics_cover_the_unmet_needs_with_title_enterprises_and_budget(chain_graph, tmp_path) -> None:
    topics = curate_topics(chain_graph, solver_ranker=lambda text, k: [{"name": "张教授", "statement": text}],
                           data_dir=tmp_path)
    assert [sorted(t.need_ids) for t in topics] == [["n1", "n2", "n3"], ["n4", "n5"]]
    first = topics[0]
    assert "热稳定剂" in first.keywords[:3] and first.title.endswith("关键技术攻关")
    assert first.enterprise_names == ["尼龙科技"] and first.segment_ids == ["s-mid"]
    assert first.budget_wan == 240.0  # 100 + 60 stated, one estimated at the median 80
    assert first.solvers[0]["name"] == "张教授"
    assert topics[1].budget_wan == 80.0


def test_publishing_a_topic_creates_a_linked_challenge(chain_graph, tmp_path) -> None:
    topic = curate_topics(chain_graph, solver_ranker=lambda text, k: [], data_dir=tmp_path)[0]
    challenge = publish_topic(chain_graph, topic, name="尼龙66热稳定剂揭榜挂帅", status=ChallengeStatus.PUBLISHED)
    rows = chain_graph.read(
        "MATCH (d:Department)-[:POSTED]->(c:Challenge {id: $id})-[:IN_SEGMENT]->(s:ChainSegment) "
        "RETURN d.name AS d, s.id AS s, c.status AS status, c.budget_wan AS b",
        id=challenge.id,
    )
    assert rows == [{"d": "市科技局", "s": "s-mid", "status": "published", "b": 240.0}]
    stored = chain_graph.get_node(L.CHALLENGE, challenge.id)
    assert sorted(stored.source_need_ids) == ["n1", "n2", "n3"] and stored.owner_id.startswith("dept-")
    # the new open challenge now counts as unmet demand in its segment
    assert build_gap_map(chain_graph).segment("s-mid").open_challenges == 2


def test_publishing_to_a_missing_segment_writes_nothing(chain_graph, tmp_path) -> None:
    topic = curate_topics(chain_graph, solver_ranker=lambda text, k: [], data_dir=tmp_path)[0]
    topic.segment_ids = ["s-gone"]
    with pytest.raises(ValidationError, match="s-gone"):
        publish_topic(chain_graph, topic)
    assert chain_graph.count_by_label()[L.CHALLENGE] == 2
    with pytest.raises(ValidationError):
        publish_topic(chain_graph, topic, status=ChallengeStatus.AWARDED)


def test_topics_get_solvers_from_the_solver_ranking(chain_graph, tmp_path) -> None:
    topics = curate_topics(chain_graph, data_dir=tmp_path)  # the default: matcher.solvers.ranking.rank_solvers
    distill = next(t for t in topics if "n4" in t.need_ids)
    assert not distill.solver_note
    assert any(s["name"] == "张教授" for s in distill.solvers)  # inventor of the 节能精馏 achievement
    assert all(s["id"] not in distill.enterprise_ids for s in distill.solvers)  # posters do not solve their own


def test_gap_map_with_the_real_matcher_marks_needs_nothing_answers(chain_graph, tmp_path) -> None:
    from matcher.confidence import LEXICAL_CHANNELS, curve_for
    from matcher.engine import MatchEngine
    from matcher.settings import MatcherSettings

    # lexical channels only (fast, offline), with the gap threshold set by the operator: their own curve tells
    # no gaps
    settings = MatcherSettings(data_dir=tmp_path, gap_confidence=curve_for(LEXICAL_CHANNELS).gap_threshold)
    engine = MatchEngine.from_store(chain_graph, settings=settings, embedder=None)
    gap_map = build_gap_map(chain_graph, engine_need_is_unmet(engine, k=1, explain=False))
    # no achievement in the graph speaks of heat stabilisers or yellowing
    assert gap_map.segment("s-mid").unmet_need_ids == ["n1", "n2", "n3"]
