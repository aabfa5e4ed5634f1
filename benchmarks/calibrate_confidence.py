"""Fit the confidence curve of :mod:`matcher.confidence` and measure how well it tells gaps from supply.

    python benchmarks/calibrate_confidence.py [--no-dense]

For every judged (need, achievement) pair of the dev qrels, takes the features the engine computes (the fused
ranking score and each channel's raw score), fits a logistic regression of "judged relevant (grade >= 1)" on
them, and reports: the fitted coefficients (paste them into matcher/confidence.py), the Brier score,
gap_auc of the top-1 confidence both in-sample and leave-one-need-out (each need's confidence from a curve
fitted without it), which is the honest figure for needs not seen, and the gap threshold fitted with the curve:
the cut on the leave-one-need-out top-1 confidence that maximises Youden's J of "need has supply".
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
    ap.add_argument("--no-dense", action="store_true")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    from matcher.confidence import CONFIDENCE_FEATURES, Calibrator, youden_threshold
    from matcher.engine import MatchEngine

    sr, qrels, achs, _, needs = load_dev_set()
    engine = MatchEngine(None, embedder=None if args.no_dense else "settings")
    engine.index_achievements(achs, rebuild=True)

    pairs = []  # (need id, feature row, relevant)
    tops: dict[str, list[list[float]]] = {}
    for need in needs:
        result = engine.match_need(need, k=2810, include_weak=True, explain=False)
        feats = {m.candidate_id: m.features | {"score": m.score, "bonus": m.score - m.features.get("fused", 0.0)}
                 for m in result.matches}
        tops[need.id] = [[feats[m.candidate_id].get(f, 0.0) for f in CONFIDENCE_FEATURES] for m in result.matches[:1]]
        for doc, grade in qrels[need.id].items():
            if doc in feats:
                pairs.append((need.id, [feats[doc].get(f, 0.0) for f in CONFIDENCE_FEATURES], grade >= 1))
    # fit on the channels present (bonus is 0 on the dev set: no graph there, so it is not fitted)
    used = [i for i, f in enumerate(CONFIDENCE_FEATURES) if f != "bonus" and (f != "z_dense" or not args.no_dense)]
    pairs = [(q, [row[i] for i in used], rel) for q, row, rel in pairs]
    tops = {q: [[row[i] for i in used] for row in rows] for q, rows in tops.items()}
    names = [CONFIDENCE_FEATURES[i] for i in used]
    x = np.array([p[1] for p in pairs])
    y = np.array([p[2] for p in pairs], dtype=int)
    qid = np.array([p[0] for p in pairs])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    coefs = dict(zip(names, model.coef_[0].round(4).tolist(), strict=True))
    has = {q: max(g.values()) >= 1 for q, g in qrels.items()}

    def auc(conf: dict[str, float]) -> float:
        pos = [conf[q] for q in conf if has[q]]
        neg = [conf[q] for q in conf if not has[q]]
        return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))

    in_sample = {q: float(model.predict_proba(np.array(tops[q]))[0, 1]) for q in tops if tops[q]}
    held_out = {}
    for q in tops:
        mask = qid != q
        if len(set(y[mask])) < 2 or not tops[q]:
            continue
        m = LogisticRegression(C=1.0, max_iter=1000).fit(x[mask], y[mask])
        held_out[q] = float(m.predict_proba(np.array(tops[q]))[0, 1])
    current = Calibrator()
    cur = {q: current.confidence(dict(zip(names, tops[q][0], strict=True))) for q in tops if tops[q]}
    brier = float(np.mean((model.predict_proba(x)[:, 1] - y) ** 2))
    print(f"judged pairs: {len(y)} ({y.sum()} relevant) over {len(tops)} needs\n")
    print("| curve | gap_auc of top-1 confidence |")
    print("|---|---|")
    print(f"| fitted, in-sample | {auc(in_sample):.4f} |")
    print(f"| fitted, leave-one-need-out | {auc(held_out):.4f} |")
    print(f"| defaults in matcher/confidence.py | {auc(cur):.4f} |")
    print(f"\nBrier score (in-sample): {brier:.4f}")
    from graph.settings import get_settings

    pos = [held_out[q] for q in held_out if has[q]]
    neg = [held_out[q] for q in held_out if not has[q]]
    print("\n| top-1 confidence (leave-one-need-out) | needs with supply | needs without |\n|---|---|---|")
    for label, pick in (("mean", np.mean), ("min", np.min), ("max", np.max)):
        print(f"| {label} | {pick(pos):.3f} | {pick(neg):.3f} |")
    fitted = youden_threshold([held_out[q] for q in held_out], [has[q] for q in held_out])
    engine_threshold = current.gap_threshold(get_settings().gap_confidence, dense=not args.no_dense)
    print("\n| threshold | needs with supply flagged as gaps | needs without supply flagged |\n|---|---|---|")
    for label, cut, conf in (("fitted (Youden J, leave-one-need-out)", fitted, held_out),
                             ("engine's current, on its defaults' confidences", engine_threshold, cur)):
        flagged = {q: conf[q] < cut for q in conf}
        print(f"| {label}: {cut:.3f} | {sum(flagged[q] for q in flagged if has[q])}/{sum(has[q] for q in flagged)} "
              f"| {sum(flagged[q] for q in flagged if not has[q])}/{sum(not has[q] for q in flagged)} |")
    prefix = "LEXICAL" if args.no_dense else "DENSE"
    print(f"\n{prefix}_COEFFICIENTS = {coefs}\n{prefix}_INTERCEPT = {float(model.intercept_[0]):.4f}\n"
          f"{prefix}_GAP_THRESHOLD = {fitted:.4f}")


if __name__ == "__main__":
    main()
