"""Ranking metrics over judged needs, with bootstrap intervals and paired tests.

The figures are the shared protocol's (``shared/eval/score_run.py``): nDCG@10 with gain 2^grade − 1, Recall@10
and MRR (relevant = grade ≥ 1) over the needs that have a relevant achievement, computed by ``ranx``; and
gap_auc, the AUC of the top-1 score for telling needs with supply from needs without. Every mean comes with a
95 % bootstrap interval over needs, and two systems are compared per need with a paired randomisation test
(sign flips of the per-need differences), so that a difference is read against its noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.judged import Qrels, has_supply

Run = Mapping[str, Sequence[tuple[str, float]]]  # need id -> [(achievement id, score)], best first
RANKING = ("ndcg@10", "recall@10", "mrr")
_RANX = {"ndcg@10": "ndcg_burges@10", "recall@10": "recall@10", "mrr": "mrr"}
BOOTSTRAP = 2000
PERMUTATIONS = 10000


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass
class Scores:
    """Per-need scores of one system on one judged set."""

    name: str
    per_need: dict[str, dict[str, float]]  # metric -> need -> score (ranking metrics: needs with supply)
    top: dict[str, float]  # need -> top-1 score (every judged need)
    supply: dict[str, bool]

    def mean(self, metric: str) -> float:
        if metric == "gap_auc":
            return gap_auc(self.top, self.supply)
        values = list(self.per_need[metric].values())
        return float(np.mean(values)) if values else float("nan")

    def bootstrap(self, metric: str, seed: int = 7) -> list[float]:
        """The metric over :data:`BOOTSTRAP` resamples of the needs (with replacement)."""
        rng = np.random.default_rng(seed)
        if metric == "gap_auc":
            needs = sorted(self.top)
            stats = []
            for _ in range(BOOTSTRAP):
                pick = rng.choice(len(needs), len(needs), replace=True)
                sample = [needs[i] for i in pick]
                stats.append(gap_auc({f"{n}#{j}": self.top[n] for j, n in enumerate(sample)},
                                     {f"{n}#{j}": self.supply[n] for j, n in enumerate(sample)}))
            return [s for s in stats if s == s]
        values = np.array(list(self.per_need[metric].values()))
        if not len(values):
            return []
        idx = rng.integers(0, len(values), size=(BOOTSTRAP, len(values)))
        return values[idx].mean(axis=1).tolist()

    def estimate(self, metric: str, seed: int = 7) -> Estimate:
        """The mean and its 95 % bootstrap interval (needs resampled with replacement)."""
        stats = self.bootstrap(metric, seed)
        if not stats:
            return Estimate(float("nan"), float("nan"), float("nan"))
        low, high = np.percentile(stats, [2.5, 97.5])
        return Estimate(self.mean(metric), float(low), float(high))


def score(name: str, run: Run, qrels: Qrels, k: int = 10) -> Scores:
    """Score a run against graded qrels (needs absent from the run score 0)."""
    from ranx import Qrels as RanxQrels
    from ranx import Run as RanxRun
    from ranx import evaluate

    supply = has_supply(qrels)
    relevant = {n: {a: g for a, g in grades.items() if g >= 1} for n, grades in qrels.items() if supply[n]}
    per_need: dict[str, dict[str, float]] = {m: {} for m in RANKING}
    if relevant:
        ranked = {}
        for need in relevant:
            items = list(run.get(need, []))[:100]
            # ranx orders by score: give strictly decreasing scores in the run's own order
            ranked[need] = {a: float(len(items) - i) for i, (a, _) in enumerate(items)} or {"__none__": 0.0}
        results = evaluate(RanxQrels(relevant), RanxRun(ranked), [_RANX[m] for m in RANKING], return_mean=False)
        for metric in RANKING:
            per_need[metric] = dict(zip(relevant, (float(v) for v in results[_RANX[metric]]), strict=True))
    top = {n: (float(run[n][0][1]) if run.get(n) else float("-inf")) for n in qrels}
    return Scores(name=name, per_need=per_need, top=top, supply=supply)


def gap_auc(top: Mapping[str, float], supply: Mapping[str, bool]) -> float:
    """AUC of the top-1 score for needs with supply against needs without (ties count half)."""
    pos = np.array([s for n, s in top.items() if supply[n]])
    neg = np.array([s for n, s in top.items() if not supply[n]])
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def paired_test(a: Scores, b: Scores, metric: str, seed: int = 7) -> tuple[float, float]:
    """(mean of a − b, two-sided p) over the needs both scored, by a paired randomisation test."""
    if metric == "gap_auc":
        raise ValueError("gap_auc is not a mean over needs; compare its bootstrap intervals")
    needs = sorted(set(a.per_need[metric]) & set(b.per_need[metric]))
    diff = np.array([a.per_need[metric][n] - b.per_need[metric][n] for n in needs])
    if not len(diff):
        return float("nan"), float("nan")
    observed = diff.mean()
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(PERMUTATIONS, len(diff)))
    null = np.abs((signs * diff).mean(axis=1))
    p = (np.sum(null >= abs(observed) - 1e-12) + 1) / (PERMUTATIONS + 1)
    return float(observed), float(p)


def wins_losses(a: Scores, b: Scores, metric: str = "ndcg@10", margin: float = 1e-9) -> tuple[int, int, int]:
    """Needs where a beats b, ties, and loses, on one metric."""
    needs = sorted(set(a.per_need[metric]) & set(b.per_need[metric]))
    d = [a.per_need[metric][n] - b.per_need[metric][n] for n in needs]
    return sum(x > margin for x in d), sum(abs(x) <= margin for x in d), sum(x < -margin for x in d)


def table(systems: Sequence[Scores], baseline: Scores | None = None) -> str:
    """A Markdown table: every metric with its interval, and (with a baseline) the paired p-value on nDCG@10."""
    head = "| system | nDCG@10 | Recall@10 | MRR | gap_auc |" + (" Δ nDCG@10 vs baseline (p) |" if baseline else "")
    lines = [head, "|---" * (5 + (1 if baseline else 0)) + "|"]
    for s in systems:
        cells = [str(s.estimate(m)) for m in (*RANKING, "gap_auc")]
        row = f"| {s.name} | " + " | ".join(cells) + " |"
        if baseline is not None:
            if s is baseline:
                row += " — |"
            else:
                delta, p = paired_test(s, baseline, "ndcg@10")
                row += f" {delta:+.3f} (p={p:.3g}) |"
        lines.append(row)
    return "\n".join(lines)
