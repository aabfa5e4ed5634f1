"""Recalibrating the confidence from a deployment's own verdicts and deals (matcher.recalibration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.model import Verdict
from graph.store import GraphStore
from matcher.engine import MatchEngine
from matcher.recalibration import MIN_VERDICTS, load_fitted
from matcher.settings import MatcherSettings
from tests.matcher_world import background_achievements, build_graph

pytestmark = pytest.mark.all_backends


def _lexical(store: GraphStore, data_dir: Path) -> MatchEngine:
    return MatchEngine.from_store(store, settings=MatcherSettings(data_dir=data_dir), embedder=None)


def _judge(engine: MatchEngine, need_id: str, accept_top: int, per_need: int) -> None:
    """A broker's verdicts on one need's list: the first ``accept_top`` accepted, the rest rejected."""
    for m in engine.match_need(need_id, k=per_need, include_weak=True, explain=False).matches:
        verdict = Verdict.ACCEPT if m.rank <= accept_top else Verdict.REJECT
        engine.record_feedback("need_achievement", need_id, m.candidate_id, verdict, user="b-1")


def test_verdicts_refit_the_confidence_and_every_later_engine_uses_the_new_curve(
        store: GraphStore, tmp_path: Path, shared_dir: Path) -> None:
    build_graph(store, background_achievements(shared_dir))
    engine = _lexical(store, tmp_path)
    first = engine.match_need("n-pa66", k=1, include_weak=True, explain=False).matches[0]
    # brokers accept far more of the first page than the shipped curve expects (it says a few per cent)
    _judge(engine, "n-pa66", accept_top=12, per_need=25)
    _judge(engine, "n-none", accept_top=12, per_need=25)

    found = engine.recalibrate()

    assert found.adopted, found.reason
    assert found.verdicts >= MIN_VERDICTS and found.brier_after < found.brier_before
    saved = json.loads(Path(found.path).read_text(encoding="utf-8"))
    assert saved["channels"] == ["bm25_words", "char_ngram"] and saved["verdicts"] == found.verdicts
    assert (Path(found.path).stat().st_mode & 0o077) == 0  # verdict statistics are the deployment's own
    assert frozenset(["bm25_words", "char_ngram"]) in load_fitted(tmp_path)
    # the same pair reads higher now, in this engine and in one started later on the data directory
    now = engine.match_pair("n-pa66", first.candidate_id)
    later = _lexical(store, tmp_path).match_pair("n-pa66", first.candidate_id)
    assert now is not None and later is not None
    assert now.confidence > first.confidence
    assert later.confidence == pytest.approx(now.confidence)


def test_too_few_verdicts_keep_the_shipped_curve_and_say_why(store: GraphStore, tmp_path: Path,
                                                              shared_dir: Path) -> None:
    build_graph(store, background_achievements(shared_dir))
    from matcher.confidence import curve_for

    engine = _lexical(store, tmp_path)
    _judge(engine, "n-pa66", accept_top=2, per_need=6)

    found = engine.recalibrate()

    assert not found.adopted and "判断太少" in found.line()
    assert load_fitted(tmp_path) == {}
    assert engine.calibrator.curve_for_channels(engine.channel_names) is curve_for(engine.channel_names)


def test_a_withdrawn_verdict_does_not_count(store: GraphStore, tmp_path: Path, shared_dir: Path) -> None:
    from matcher.recalibration import verdict_rows

    build_graph(store, background_achievements(shared_dir))
    engine = _lexical(store, tmp_path)
    top = engine.match_need("n-pa66", k=1, include_weak=True, explain=False).matches[0]
    engine.record_feedback("need_achievement", "n-pa66", top.candidate_id, Verdict.ACCEPT, user="b-1")
    assert len(verdict_rows(store, engine.channel_names)[0]) == 1
    engine.record_feedback("need_achievement", "n-pa66", top.candidate_id, Verdict.WITHDRAWN, user="b-1")
    assert verdict_rows(store, engine.channel_names)[0] == []
