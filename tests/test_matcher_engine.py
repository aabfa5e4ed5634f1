"""The match engine on a small real graph: rankings, explanations, gaps, feedback, live index updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.model import Achievement, NodeLabel
from graph.store import GraphStore
from matcher.embedders.base import Embedder
from matcher.embedders.registry import make_embedder, make_embedders
from matcher.engine import MatchEngine
from matcher.results import Question
from matcher.settings import MatcherSettings
from tests.matcher_world import NEED_NONE, NEED_PA66, background_achievements, build_graph

pytestmark = pytest.mark.all_backends


@pytest.fixture(scope="session")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Embedder, list[Embedder]]:
    """The default dense encoders, with one embedding cache for the session: each text is encoded once,
    even when the module runs again on the next graph backend."""
    cache = tmp_path_factory.mktemp("embeddings")
    e5 = make_embedder("e5-small", cache)
    assert e5 is not None
    return e5, make_embedders("use-m3", cache)


@pytest.fixture()
def engine(
    store: GraphStore, tmp_path: Path, shared_dir: Path, encoders: tuple[Embedder, list[Embedder]]
) -> MatchEngine:
    """The default engine (both lexical channels, e5-small and USE) over a small real graph."""
    build_graph(store, background_achievements(shared_dir))
    e5, extra = encoders
    return MatchEngine.from_store(store, settings=MatcherSettings(data_dir=tmp_path), embedder=e5,
                                  extra_embedders=extra)


def test_lexical_only_engine_fuses_z_scores_and_still_finds_the_polyamide_achievement(store: GraphStore,
                                                                                       tmp_path: Path) -> None:
    from matcher.fusion import ZScoreFusion

    build_graph(store, [])
    engine = MatchEngine.from_store(store, settings=MatcherSettings(data_dir=tmp_path), embedder=None)
    assert isinstance(engine.fusion, ZScoreFusion) and engine.channel_names == ["bm25_words", "char_ngram"]
    result = engine.match_need("n-pa66", k=3, include_weak=True)
    assert result.matches[0].candidate_id == "a-pa66"


def test_need_finds_polyamide_achievement_first_with_explanation(engine: MatchEngine) -> None:
    result = engine.match_need("n-pa66", k=5)
    assert not result.is_gap
    top = result.matches[0]
    assert top.candidate_id == "a-pa66"
    ids = [m.candidate_id for m in engine.match_need("n-pa66", k=400, include_weak=True).matches]
    assert ids.index("a-pa66") < ids.index("a-drug")
    exp = top.explanation
    # real shared terms of both texts
    assert "热稳定剂" in exp.shared_terms or "尼龙66" in exp.shared_terms
    for term in exp.shared_terms:
        assert term in NEED_PA66.text.lower() and term in engine.achievements.text("a-pa66").lower()
    # the chain path and the graph path: inventor's university worked with the need's enterprise
    assert exp.chain_relation == "same_segment" and exp.chain_path[0].id == "s-pa66"
    assert exp.graph_paths, "expected the collaboration path"
    path_ids = [n.id for n in exp.graph_paths[0].nodes]
    assert path_ids[0] == "a-pa66" and path_ids[-1] == "e-shenma" and "i-zzu" in path_ids
    assert "尼龙66聚合" in exp.sentence and "郑州大学" in exp.sentence
    # the chain relation is explained, not scored (GRAPH_WEIGHTS: measured on the judged set); the collaboration is
    assert "chain_same_segment" not in top.contributions and top.contributions["prior_collaboration"] > 0
    assert 0 < top.confidence <= 1
    assert {b.id for b in top.behind} == {"t-li", "i-zzu"}  # the talent and institution behind it


def test_need_without_supply_is_reported_as_gap_not_padded(engine: MatchEngine) -> None:
    result = engine.match_need(NEED_NONE.id, k=5)
    assert result.is_gap
    assert result.matches == []
    assert result.best_confidence < result.threshold
    strong = engine.match_need("n-pa66", k=5)
    assert strong.best_confidence > result.best_confidence


def test_a_stricter_threshold_turns_weak_supply_into_a_gap_without_padding(engine: MatchEngine) -> None:
    engine.settings = engine.settings.model_copy(update={"gap_confidence": 0.999})
    result = engine.match_need("n-pa66", k=5)
    assert result.is_gap and result.matches == [] and result.threshold == 0.999
    assert result.best_confidence > 0  # the best candidate was scored, just not good enough to show
    assert engine.match_need("n-pa66", k=5, include_weak=True).matches  # batch evaluation still ranks


def test_rejecting_a_match_changes_the_next_ranking_and_is_stored(engine: MatchEngine, store: GraphStore) -> None:
    before = [m.candidate_id for m in engine.match_need("n-pa66", k=5, include_weak=True).matches]
    assert before[0] == "a-pa66"
    fb = engine.record_feedback(Question.NEED_ACHIEVEMENT, "n-pa66", "a-pa66", "reject",
                                reason="too_expensive", user="broker-1")
    after = [m.candidate_id for m in engine.match_need("n-pa66", k=5, include_weak=True).matches]
    assert after[0] != "a-pa66"
    rows = store.read(
        "MATCH (f:Feedback {id: $id})-[:ABOUT]->(x) RETURN x.id AS x, f.reason AS reason, f.verdict AS v", id=fb.id
    )
    assert {r["x"] for r in rows} == {"n-pa66", "a-pa66"}
    assert rows[0]["reason"] == "too_expensive" and rows[0]["v"] == "reject"
    assert fb.features.get("fused", 0) > 0
    # a fresh engine learns the same from the graph
    again = MatchEngine.from_store(store, settings=engine.settings, embedder=None)
    assert again.match_need("n-pa66", k=1, include_weak=True).matches[0].candidate_id != "a-pa66"


def test_learned_reranker_generalises_from_accepts_and_rejects(engine: MatchEngine) -> None:
    engine.record_feedback("need_achievement", "n-pa66", "a-pa66", "accept")
    engine.record_feedback("need_achievement", "n-pa66", "a-drug", "reject", reason="off_topic")
    assert engine.reranker.trained
    result = engine.match_need("n-pa66", k=3, include_weak=True)
    assert "feedback" in result.matches[0].contributions


def test_edited_achievement_is_found_under_its_new_text(engine: MatchEngine, store: GraphStore) -> None:
    query = "光伏组件自动清洗机器人"
    from graph.model import Need

    need = Need(id="n-pv", name="光伏板清洗", description="光伏电站需要光伏组件自动清洗机器人")
    before = engine.match_need(need, k=3, include_weak=True)
    assert before.matches[0].candidate_id != "a-soft"
    edited = Achievement(id="a-soft", name="光伏组件清洗机器人", description=query + "，适用于大型光伏电站")
    engine.upsert_achievement(edited)
    after = engine.match_need(need, k=3, include_weak=True)
    assert after.matches[0].candidate_id == "a-soft"
    assert after.matches[0].name == "光伏组件清洗机器人"
    assert store.get_node(NodeLabel.ACHIEVEMENT, "a-soft").name == "光伏组件清洗机器人"  # type: ignore[union-attr]


def test_achievement_finds_the_enterprise_that_could_absorb_it(engine: MatchEngine) -> None:
    result = engine.match_achievement("a-pa66", k=3)
    assert result.matches and result.matches[0].candidate_id == "e-shenma"
    top = result.matches[0]
    assert top.via == ["n-pa66"]
    assert "尼龙66黄变问题" in top.explanation.sentence
    assert top.explanation.graph_paths


def test_enterprise_gets_achievements_worth_its_attention(engine: MatchEngine) -> None:
    result = engine.match_enterprise("e-shenma", k=3, include_weak=True)
    assert result.matches[0].candidate_id in ("a-pa66", "a-fiber")
    assert {m.candidate_id for m in result.matches[:2]} == {"a-pa66", "a-fiber"}


def test_sync_picks_up_writes_that_bypassed_the_engine(engine: MatchEngine, store: GraphStore) -> None:
    store.upsert_nodes([Achievement(id="a-new", name="光伏组件清洗机器人", description="光伏电站组件自动清洗机器人")])
    store.delete_node(NodeLabel.ACHIEVEMENT, "a-drug")
    assert engine.sync() == {"Achievement": 2, "Need": 0}
    from graph.model import Need

    need = Need(id="n-pv", name="光伏板清洗", description="光伏电站需要光伏组件自动清洗机器人")
    ids = [m.candidate_id for m in engine.match_need(need, k=300, include_weak=True).matches]
    assert ids[0] == "a-new" and "a-drug" not in ids
    assert engine.sync() == {"Achievement": 0, "Need": 0}


def test_gap_threshold_is_the_fitted_one_unless_settings_override_it(engine: MatchEngine) -> None:
    from matcher.confidence import curve_for

    engine.settings = engine.settings.model_copy(update={"gap_confidence": None})
    fitted = curve_for(engine.channel_names).gap_threshold
    assert engine.match_need(NEED_NONE.id, k=5).threshold == fitted
    engine.settings = engine.settings.model_copy(update={"gap_confidence": 0.5})
    assert engine.match_need(NEED_NONE.id, k=5).threshold == 0.5


def test_youden_threshold_separates_needs_with_supply_from_needs_without() -> None:
    from matcher.confidence import youden_threshold

    cut = youden_threshold([0.1, 0.2, 0.3, 0.6, 0.7], [False, False, False, True, True])
    assert 0.3 < cut < 0.6
    with pytest.raises(ValueError, match="both"):
        youden_threshold([0.1, 0.2], [True, True])


def test_need_stating_a_maturity_floor_does_not_count_a_less_mature_achievement_as_supply(
    engine: MatchEngine,
) -> None:
    from graph.model import Maturity

    plain = engine.match_need("n-pa66", k=3, include_weak=True)
    assert plain.matches[0].candidate_id == "a-pa66" and not plain.is_gap  # a-pa66 is at pilot stage (中试)
    strict = NEED_PA66.model_copy(update={"id": "n-pa66-strict",
                                          "description": NEED_PA66.description + "要求技术成熟度达到产业化以上。"})
    result = engine.match_need(strict, k=3, include_weak=True)
    top = next(m for m in result.matches if m.candidate_id == "a-pa66")
    assert top.features["maturity_short"] == 1.0 and top.contributions["maturity_short"] < 0
    assert top.confidence < plain.matches[0].confidence
    assert result.is_gap  # the only text match is below the stated floor: no supply, not padded
    # the field says the same without the sentence; a floor the achievement meets changes nothing
    by_field = NEED_PA66.model_copy(update={"id": "n-pa66-field", "min_maturity": Maturity.INDUSTRIAL})
    shown = engine.match_need(by_field, k=3)
    assert shown.is_gap and "a-pa66" not in [m.candidate_id for m in shown.matches]  # only with the weak ones
    met = NEED_PA66.model_copy(update={"id": "n-pa66-met", "min_maturity": Maturity.LAB})
    assert engine.match_need(met, k=3, include_weak=True).matches[0].features["maturity_short"] == 0.0


def test_a_need_posted_after_the_build_gets_its_chain_context_at_once(engine: MatchEngine, store: GraphStore) -> None:
    from graph.model import Relation, RelType

    posted = NEED_PA66.model_copy(update={"id": "n-posted", "enterprise_id": None})
    store.write_batch([posted], [
        Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.NEED, source_id="n-posted",
                 target_label=NodeLabel.CHAIN_SEGMENT, target_id="s-pa66"),
        Relation(type=RelType.POSTED, source_label=NodeLabel.ENTERPRISE, source_id="e-shenma",
                 target_label=NodeLabel.NEED, target_id="n-posted"),
    ])
    before = engine.match_need(posted, k=1, include_weak=True).matches[0]
    assert before.candidate_id == "a-pa66" and before.features["chain_same_segment"] == 0.0
    engine.reindex_need(posted)  # what the service does after writing a posted need
    after = engine.match_need("n-posted", k=1, include_weak=True)
    assert after.segment_ids == ["s-pa66"]
    top = after.matches[0]
    assert top.features["chain_same_segment"] == 1.0 and top.features["prior_collaboration"] == 1.0
    assert top.explanation.chain_relation == "same_segment"
