"""The evaluation package agrees with the shared scorer, and its intervals and paired tests behave."""

from __future__ import annotations

import importlib.util
import random

import pytest

from evaluation import judged
from evaluation.metrics import gap_auc, paired_test, score, table, wins_losses


def _shared_scorer(shared_dir):  # noqa: ANN001, ANN202
    spec = importlib.util.spec_from_file_location("score_run", shared_dir / "eval" / "score_run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _random_run(qrels, seed: int, boost: float = 0.0) -> dict:
    rng = random.Random(seed)
    run = {}
    for need, grades in qrels.items():
        items = [(a, rng.random() + boost * g) for a, g in grades.items()]
        items += [(f"x{need}{i}", rng.random()) for i in range(20)]
        run[need] = sorted(items, key=lambda x: -x[1])
    return run


def test_scores_agree_with_the_shared_scorer_on_the_dev_set(shared_dir):
    sr = _shared_scorer(shared_dir)
    qrels = judged.dev()
    run = _random_run(qrels, seed=3, boost=0.4)
    mine = score("random", run, qrels)
    theirs = sr.score({n: [(a, s) for a, s in items] for n, items in run.items()}, qrels)
    for metric in ("ndcg@10", "recall@10", "mrr", "gap_auc"):
        assert mine.mean(metric) == pytest.approx(theirs[metric], abs=1e-9), metric


def test_the_judged_set_is_split_once_and_every_judged_need_is_in_tune_or_report():
    parts = judged.split()
    tune, report = judged.judged("tune"), judged.judged("report")
    # 120 tune + 80 report judged first; the 200 reserve needs, judged later, joined tune (eval/judging/README.md)
    assert len(tune) == 320 and len(report) == 80 and not set(tune) & set(report)
    assert set(parts.values()) == {"tune", "report"}, "every pool need is judged"
    assert all(parts[n] in ("tune", "report") for n in judged.judged())
    assert sum(judged.has_supply(report).values()) >= 40, "enough needs with supply to report on"


def test_intervals_hold_the_mean_and_identical_systems_do_not_differ(shared_dir):
    qrels = judged.judged("report")
    run = _random_run(qrels, seed=5, boost=0.5)
    a = score("a", run, qrels)
    est = a.estimate("ndcg@10")
    assert est.low <= est.mean <= est.high and est.high - est.low > 0.01
    delta, p = paired_test(a, score("a again", run, qrels), "ndcg@10")
    assert delta == 0 and p == 1.0
    assert wins_losses(a, a)[1] == len(a.per_need["ndcg@10"])


def test_a_clearly_better_system_is_significantly_better_and_the_table_says_so():
    qrels = judged.judged("report")
    good = score("good", _random_run(qrels, seed=1, boost=2.0), qrels)
    bad = score("bad", _random_run(qrels, seed=1, boost=0.0), qrels)
    delta, p = paired_test(good, bad, "ndcg@10")
    assert delta > 0.1 and p < 0.01
    text = table([bad, good], baseline=bad)
    assert "good" in text and "(p=" in text and "[" in text


def test_gap_auc_counts_ties_as_half():
    assert gap_auc({"a": 1.0, "b": 1.0}, {"a": True, "b": False}) == 0.5
    assert gap_auc({"a": 2.0, "b": 1.0}, {"a": True, "b": False}) == 1.0
