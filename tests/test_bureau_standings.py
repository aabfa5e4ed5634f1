"""The bureau's views read each need's stored matches (``NeedStanding``): no full match per need and view.
Stale or missing standings are computed once, as a batch; an interrupted export leaves no half-written file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from api.config import load_settings
from bureau.gapmap import build_gap_map, engine_need_is_unmet
from cli.main import main
from graph.model import (
    Achievement,
    ChainPosition,
    ChainSegment,
    IndustryChain,
    Need,
    NeedStanding,
    NodeLabel,
    Relation,
    RelType,
)
from matcher.confidence import LEXICAL_CHANNELS, curve_for
from matcher.engine import MatchEngine
from matcher.settings import MatcherSettings
from matcher.standing import StandingMatches

pytestmark = pytest.mark.all_backends

NEEDS = {
    "n1": "尼龙66切片黄变，寻求耐高温热稳定剂",
    "n2": "己二腈国产化工艺，催化剂寿命短",
    "n3": "工程塑料注塑件翘曲变形",
    "n4": "高压开关柜局部放电在线监测",
}


@pytest.fixture()
def cli_env(store, graph_server, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("TECHMATCH_GRAPH_URI", graph_server.uri)
    monkeypatch.setenv("TECHMATCH_GRAPH_USER", graph_server.user)
    monkeypatch.setenv("TECHMATCH_GRAPH_PASSWORD", graph_server.password)
    monkeypatch.setenv("TECHMATCH_GRAPH_DATABASE", graph_server.database)
    monkeypatch.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TECHMATCH_EMBEDDER", "none")  # the lexical engine: fast, offline
    # its own curve gives no gap verdicts (matcher/confidence.py): the operator sets the threshold fitted with it
    monkeypatch.setenv("TECHMATCH_GAP_CONFIDENCE", str(curve_for(LEXICAL_CHANNELS).gap_threshold))
    segs = [ChainSegment(id="s1", name="聚合", chain_id="c1", position=ChainPosition.MIDSTREAM),
            ChainSegment(id="s2", name="电气", chain_id="c1", position=ChainPosition.DOWNSTREAM)]
    store.write_batch(
        [IndustryChain(id="c1", name="尼龙"), *segs,
         *(Need(id=k, name=v) for k, v in NEEDS.items()),
         Achievement(id="a1", name="尼龙66耐高温热稳定剂", description="解决尼龙66切片黄变，耐高温热稳定"),
         Achievement(id="a2", name="开关柜局部放电在线监测装置", description="高压开关柜局部放电监测")],
        [*(Relation(type=RelType.PART_OF, source_label=NodeLabel.CHAIN_SEGMENT, source_id=s.id,
                    target_label=NodeLabel.INDUSTRY_CHAIN, target_id="c1") for s in segs),
         *(Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.NEED, source_id=n,
                    target_label=NodeLabel.CHAIN_SEGMENT, target_id="s2" if n == "n4" else "s1") for n in NEEDS)],
    )
    yield store


@pytest.fixture()
def match_calls(monkeypatch) -> list[str]:
    """Every need a full need → achievements match is run for, one by one or in a batch (the real engine,
    wrapped to count)."""
    calls: list[str] = []
    one, many = MatchEngine.match_need, MatchEngine.match_needs

    def counted(self, need, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(need if isinstance(need, str) else need.id)
        return one(self, need, *args, **kwargs)

    def counted_many(self, needs, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.extend(n if isinstance(n, str) else n.id for n in needs)
        return many(self, needs, *args, **kwargs)

    monkeypatch.setattr(MatchEngine, "match_need", counted)
    monkeypatch.setattr(MatchEngine, "match_needs", counted_many)
    return calls


def test_export_reads_standings_and_matches_no_need_once_they_are_current(cli_env, match_calls, tmp_path,
                                                                         capsys) -> None:
    out = tmp_path / "report.xlsx"
    assert main(["bureau", "export", "--output", str(out)]) == 0
    first = capsys.readouterr().err
    assert "4 / 4 个需求的匹配结果缺失或已过期" in first and "已更新 4 个需求" in first
    assert sorted(match_calls) == sorted(NEEDS)  # the missing standings, computed once, as one batch
    match_calls.clear()
    assert main(["bureau", "export", "--output", str(out)]) == 0
    assert "均为最新" in capsys.readouterr().err
    assert match_calls == []  # the report read the stored standings: not one match per need
    assert main(["bureau", "gaps", "--json"]) == 0 and main(["bureau", "topics", "--json"]) == 0
    assert match_calls == []
    assert "产业链缺口" in load_workbook(out).sheetnames


def test_the_gap_map_from_standings_is_the_one_from_matching_every_need(cli_env, tmp_path, capsys) -> None:
    settings = load_settings(data_dir=tmp_path / "old")  # the CLI's settings (the environment above), elsewhere
    engine = MatchEngine.from_store(cli_env, settings=settings, embedder=None)
    old = build_gap_map(cli_env, engine_need_is_unmet(engine, k=1, explain=False))
    assert main(["bureau", "gaps", "--json"]) == 0
    new = json.loads(capsys.readouterr().out)
    assert new["segments"] == [s.as_row() for s in old.segments]
    assert old.segment("s1").unmet_need_ids


def test_stale_standings_are_refreshed_and_counted(cli_env, match_calls, capsys, tmp_path) -> None:
    assert main(["bureau", "refresh"]) == 0
    assert "个候选专项的聚类与候选揭榜方已备好" in capsys.readouterr().err
    # the topics' clusterings and solvers prepared for the views
    assert (tmp_path / "data" / "index" / "topics" / "clusters.json").exists()
    assert (tmp_path / "data" / "index" / "rankings" / "lexical.json").exists()
    # one standing made by another engine (other channels or curve): stale
    cli_env.upsert_nodes([NeedStanding(id="n3", achievement_ids=[], confidences=[], threshold=0.5,
                                       best_confidence=0.0, is_gap=True, engine_version="another")])
    match_calls.clear()
    assert main(["bureau", "refresh"]) == 0
    assert "1 / 4 个需求的匹配结果缺失或已过期" in capsys.readouterr().err
    assert match_calls == ["n3"]
    engine = MatchEngine(cli_env, load_settings())  # the settings the CLI reads (the environment above)
    versions = {s.engine_version for s in StandingMatches(cli_env, engine).read().values()}
    assert versions == {StandingMatches(cli_env, engine).version}
    assert main(["bureau", "refresh", "--all"]) == 0
    assert "4 / 4" in capsys.readouterr().err


def test_an_interrupted_refresh_keeps_the_batches_written(cli_env, monkeypatch, tmp_path) -> None:
    engine = MatchEngine.from_store(cli_env, settings=MatcherSettings(data_dir=tmp_path / "d"), embedder=None)
    standing = StandingMatches(cli_env, engine)
    original = MatchEngine.match_needs
    calls = []

    def interrupted(self, needs, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(needs)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second batch is matched
        return original(self, needs, *args, **kwargs)

    monkeypatch.setattr(MatchEngine, "match_needs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        standing.refresh_batch(sorted(NEEDS), batch=2)
    assert standing.stale() == ["n3", "n4"]  # the first batch is stored; the next run does only the rest


def test_the_batched_refresh_stores_the_standings_the_per_need_refresh_stores(cli_env, tmp_path) -> None:
    cli_env.upsert_nodes([
        Achievement(id="a3", name="尼龙66切片热稳定改性", description="尼龙66切片耐热黄变改性，热稳定剂复配"),
        Achievement(id="a4", name="己二腈催化剂", description="己二腈合成催化剂寿命延长，国产化工艺"),
        Achievement(id="a5", name="注塑件翘曲控制", description="工程塑料注塑件翘曲变形的模流分析与控制"),
    ])
    engine = MatchEngine.from_store(cli_env, settings=MatcherSettings(data_dir=tmp_path / "d"), embedder=None)
    # a broker's verdict moves a pair in its need's ranking: the batch must move it the same way
    engine.record_feedback("need_achievement", "n1", "a3", "reject", reason="off_topic")
    standing = StandingMatches(cli_env, engine)

    def stored() -> dict[str, tuple]:
        return {k: (v.achievement_ids, v.confidences, v.threshold, v.best_confidence, v.is_gap, v.engine_version)
                for k, v in standing.read().items()}

    standing.refresh_batch([*sorted(NEEDS), "gone"], per_need=True, batch=3)
    one_by_one = stored()
    cli_env.write("MATCH (s:NeedStanding) DELETE s")
    standing.refresh_batch([*sorted(NEEDS), "gone"], batch=3)  # a missing need is skipped, as one by one
    assert stored() == one_by_one
    assert sorted(one_by_one) == sorted(NEEDS) and any(s[0] for s in one_by_one.values())
    together = engine.match_needs(sorted(NEEDS), k=3, include_weak=True)
    for need_id in NEEDS:  # the very results, features and contributions included
        assert together[need_id] == engine.match_need(need_id, k=3, include_weak=True, explain=False)


def test_ctrl_c_while_the_report_is_written_leaves_no_half_written_file(cli_env, monkeypatch, tmp_path) -> None:
    from openpyxl import Workbook

    out = tmp_path / "report.xlsx"
    assert main(["bureau", "export", "--output", str(out)]) == 0
    before = out.read_bytes()
    original = Workbook.save

    def half_then_interrupt(self, filename):  # noqa: ANN001, ANN202
        original(self, filename)
        Path(filename).write_bytes(Path(filename).read_bytes()[:100])  # half written ...
        raise KeyboardInterrupt  # ... when Ctrl-C comes

    monkeypatch.setattr(Workbook, "save", half_then_interrupt)
    assert main(["bureau", "export", "--output", str(out)]) == 130
    assert out.read_bytes() == before  # the previous report is untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no partial file left
    fresh = tmp_path / "new.xlsx"
    assert main(["bureau", "export", "--output", str(fresh)]) == 130
    assert not fresh.exists()
