"""Fit the confidence curve of :mod:`matcher.confidence` and measure how well it tells gaps from supply.

    python benchmarks/calibrate_confidence.py [--no-dense | --no-extra]

Two stages, each a logistic regression of "judged relevant (grade >= 1)" over every judged (need,
achievement) pair of the dev qrels:

1. on the candidate's channel z-scores: its coefficients weigh the channels into the *supply strength* of a
   need, ``max over all achievements of Σ w·z`` (how far the best supply anywhere stands out);
2. on the candidate's fused ranking score and the need's supply strength: the confidence curve itself. It is
   monotone in the fused score, so the list's order and its confidences agree.

Reports gap_auc of the top-ranked candidate's confidence in-sample and leave-one-need-out (both stages refitted
without the need: the honest figure for needs not seen), the Brier score, and the gap threshold fitted with the
curve (the cut on the leave-one-need-out confidences that maximises Youden's J of "need has supply"), then the
``CURVES`` entry to paste into matcher/tuning.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from need_achievement import load_dev_set  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-dense", action="store_true", help="lexical channels only (TECHMATCH_EMBEDDER = none)")
    ap.add_argument("--no-extra", action="store_true", help="the primary encoder only (no extra_embedders)")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    from api.config import load_settings
    from matcher.confidence import Calibrator, youden_threshold
    from matcher.engine import MatchEngine
    from matcher.scores import ConfidenceInputs, MatchFeatures

    sr, qrels, achs, _, needs = load_dev_set()
    settings = load_settings()
    engine = MatchEngine(None, settings, embedder=None if args.no_dense else "settings",
                         extra_embedders=[] if args.no_extra else "settings")
    engine.index_achievements(achs, rebuild=True)
    channels = sorted(engine.channel_names)

    # per need: every achievement's z-scores and fused score, in ranked order (bonus is 0 here: no graph)
    per_need: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}
    for need in needs:
        result = engine.match_need(need, k=len(achs), include_weak=True, explain=False)
        ids = [m.candidate_id for m in result.matches]
        scored = [MatchFeatures.from_dict(m.features) for m in result.matches]
        z = np.array([[f.channels[c].z if c in f.channels else 0.0 for c in channels] for f in scored])
        fused = np.array([m.features["fused"] for m in result.matches])
        per_need[need.id] = (ids, z, fused)
    has = {q: max(g.values()) >= 1 for q, g in qrels.items()}
    judged = [(q, d, g >= 1) for q, rel in qrels.items() for d, g in rel.items() if d in set(per_need[q][0])]

    def fit(train: set[str]) -> tuple[LogisticRegression, LogisticRegression]:
        rows = [(q, per_need[q][0].index(d), rel) for q, d, rel in judged if q in train]
        x1 = np.array([per_need[q][1][i] for q, i, _ in rows])
        y = np.array([rel for _, _, rel in rows], dtype=int)
        stage1 = LogisticRegression(C=1.0, max_iter=1000).fit(x1, y)
        supply = {q: float((per_need[q][1] @ stage1.coef_[0]).max()) for q in train}
        x2 = np.array([[per_need[q][2][i], supply[q]] for q, i, _ in rows])
        return stage1, LogisticRegression(C=1.0, max_iter=1000).fit(x2, y)

    def top_confidence(q: str, stage1: LogisticRegression, stage2: LogisticRegression) -> float:
        _, z, fused = per_need[q]
        return float(stage2.predict_proba(np.array([[fused[0], (z @ stage1.coef_[0]).max()]]))[0, 1])

    def auc(conf: dict[str, float]) -> float:
        pos = [conf[q] for q in conf if has[q]]
        neg = [conf[q] for q in conf if not has[q]]
        return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))

    every = set(per_need)
    stage1, stage2 = fit(every)
    in_sample = {q: top_confidence(q, stage1, stage2) for q in every}
    held_out = {q: top_confidence(q, *fit(every - {q})) for q in every}
    current = Calibrator()
    cur = {}
    for q, (_, z, fused) in per_need.items():
        supply = current.supply_strength({c: z[:, i] for i, c in enumerate(channels)})
        cur[q] = current.confidence(ConfidenceInputs(fused=float(fused[0]), supply=supply, bonus=0.0,
                                                     channels=frozenset(channels)))
    rows = [(q, per_need[q][0].index(d), rel) for q, d, rel in judged]
    supply_all = {q: float((per_need[q][1] @ stage1.coef_[0]).max()) for q in every}
    x2 = np.array([[per_need[q][2][i], supply_all[q]] for q, i, _ in rows])
    y = np.array([rel for _, _, rel in rows], dtype=int)
    brier = float(np.mean((stage2.predict_proba(x2)[:, 1] - y) ** 2))

    print(f"channels {', '.join(channels)}; judged pairs: {len(y)} ({y.sum()} relevant) over {len(every)} needs\n")
    print("| curve | gap_auc of the top-ranked candidate's confidence |")
    print("|---|---|")
    print(f"| fitted, in-sample | {auc(in_sample):.4f} |")
    print(f"| fitted, leave-one-need-out | {auc(held_out):.4f} |")
    print(f"| defaults in matcher/tuning.py | {auc(cur):.4f} |")
    print(f"\nBrier score (in-sample): {brier:.4f}")
    pos = [held_out[q] for q in held_out if has[q]]
    neg = [held_out[q] for q in held_out if not has[q]]
    print("\n| top confidence (leave-one-need-out) | needs with supply | needs without |\n|---|---|---|")
    for label, pick in (("mean", np.mean), ("min", np.min), ("max", np.max)):
        print(f"| {label} | {pick(pos):.3f} | {pick(neg):.3f} |")
    fitted = youden_threshold([held_out[q] for q in held_out], [has[q] for q in held_out])
    engine_threshold = current.gap_threshold(settings.gap_confidence, channels=channels)
    print("\n| threshold | needs with supply flagged as gaps | needs without supply flagged |\n|---|---|---|")
    for label, cut, conf in (("fitted (Youden J, leave-one-need-out)", fitted, held_out),
                             ("engine's current, on its defaults' confidences", engine_threshold, cur)):
        flagged = {q: conf[q] < cut for q in conf}
        print(f"| {label}: {cut:.3f} | {sum(flagged[q] for q in flagged if has[q])}/{sum(has[q] for q in flagged)} "
              f"| {sum(flagged[q] for q in flagged if not has[q])}/{sum(not has[q] for q in flagged)} |")
    weights = dict(zip(channels, stage1.coef_[0].round(4).tolist(), strict=True))
    coefs = {"fused": round(float(stage2.coef_[0][0]), 4), "supply": round(float(stage2.coef_[0][1]), 4),
             "bonus": round(float(stage2.coef_[0][0]), 4)}  # graph bonus counts like the fused score it adds to
    print(f"\nfor CURVES in matcher/tuning.py:\n    frozenset({sorted(channels)}): Curve(\n"
          f"        supply_weights={weights},\n        coefficients={coefs},\n"
          f"        intercept={float(stage2.intercept_[0]):.4f}, gap_threshold={fitted:.4f}, "
          f"loo_gap_auc={auc(held_out):.2f},\n    ),")


if __name__ == "__main__":
    main()
