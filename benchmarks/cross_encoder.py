"""A cross-encoder re-ranker trained from e5-small on the judged tune needs: does reading a need and an achievement
together beat the learned fusion's order of its top candidates?

    python benchmarks/cross_encoder.py [--top 20] [--epochs 2]

No Chinese cross-encoder ships inside a package here, so the one measured is made the way the market adapter is
(``matcher.embedders.e5_adapter``): e5-small's own network with a low-rank adapter, reading one sequence, the need
(its first 160 characters, ``query:``) followed by the achievement (its first 64, ``passage:``), its mean-pooled
output scored by a linear head. Trained with a listwise softmax per need over one achievement judged relevant and
three judged not relevant among the fusion's top candidates (the near misses a re-ranker has to tell apart).

Honest on tune as the adapter is: each tune need's cross-encoder score comes from a model trained on the other two
of the adapter's three folds (``scripts/train_e5_adapter.py``'s ``FOLD_SEED``), so it never saw the need, and the
fusion's order is the learned fusion cross-validated with ``judged_quality.py``'s five folds (e5 cross-fitted).
Candidates, each against that order with a paired randomisation test (the rule: kept only if it wins on tune at
p < 0.05):

- the fusion's top ``--top`` re-ordered by the cross-encoder alone;
- the fusion's score plus the cross-encoder's, weighted by a logistic regression of "judged relevant" on the
  training folds' judged pairs within their top ``--top`` (five folds, as the fusion).

The report part: a cross-encoder trained on all tune needs re-orders the top of the fusion fitted on all tune needs.
Needs the cross-fitted e5 scores (``python scripts/train_e5_adapter.py --cross-fit 3``); about 20 minutes on two
cores.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.judged_quality import ACH, REQ, channel_scores, cross_fitted, need_lengths, tune_folds  # noqa: E402
from benchmarks.ranking_search import chain_features, cross_validated, fit_linear, need_views, run  # noqa: E402
from evaluation.judged import Qrels, judged  # noqa: E402
from evaluation.metrics import paired_test, score, wins_losses  # noqa: E402

Run = dict[str, list[tuple[str, float]]]
ADAPTER_FOLDS = 3


class CrossEncoder:
    """e5-small reading (need, achievement) as one sequence; a LoRA and a linear head are its parameters."""

    def __init__(self, seed: int = 0, rank: int = 8) -> None:
        import torch

        from matcher.embedders.e5_adapter import TrainableE5

        self.torch = torch
        self.net = TrainableE5(rank, 2.0 * rank, ("q", "v", "fi", "fo"), seed=seed)
        gen = torch.Generator().manual_seed(seed)
        self.head = (torch.randn(self.net.packed.hidden, generator=gen) * 0.01).requires_grad_()
        self.bias = torch.zeros(1, requires_grad=True)

    def parameters(self) -> list:
        return [*self.net.parameters(), self.head, self.bias]

    def sequences(self, need: str, passages: Sequence[str]) -> list[list[int]]:
        q = self.net.packed.sequence((need or " ")[:160], "query: ")
        return [q + self.net.packed.sequence((p or " ")[:64], "passage: ")[1:] for p in passages]

    def logits(self, seqs: Sequence[Sequence[int]]):
        # the pooled vector is a unit vector; the head's scale is learned
        return self.net.encode(seqs) @ self.head * 20.0 + self.bias

    def score(self, need: str, passages: Sequence[str], batch: int = 32) -> np.ndarray:
        out = []
        with self.torch.no_grad():
            seqs = self.sequences(need, passages)
            for start in range(0, len(seqs), batch):
                out.append(self.logits(seqs[start:start + batch]).float().numpy())
        return np.concatenate(out) if out else np.zeros(0)


def groups_of(needs: Sequence[str], tune: Qrels, ranked: Run, top: int, rng: random.Random
              ) -> list[tuple[str, str, list[str]]]:
    """(need, a relevant achievement, three judged-not-relevant ones: from the fusion's top first)."""
    out = []
    for n in needs:
        grades = tune[n]
        near = [a for a, _ in ranked[n][:top] if grades.get(a) == 0]
        others = [a for a, g in grades.items() if g == 0 and a not in set(near)]
        for a, g in sorted(grades.items()):
            if g < 1:
                continue
            negs = near[:]
            rng.shuffle(negs)
            negs = (negs + rng.sample(others, min(len(others), 3)))[:3]
            if len(negs) == 3:
                out.append((n, a, negs))
    return out


def train(groups: Sequence[tuple[str, str, list[str]]], need_text: Mapping[str, str], ach_text: Mapping[str, str],
          epochs: int, seed: int = 0, log=print) -> CrossEncoder:
    import torch

    from matcher.embedders.e5_adapter import optimise

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    model = CrossEncoder(seed)
    rng = random.Random(seed)

    def loss_of(batch: list[tuple[str, str, list[str]]]):
        seqs = []
        for need, pos, negs in batch:
            seqs += model.sequences(need_text[need], [ach_text[a] for a in (pos, *negs)])
        # one forward pass for the step's groups (each: its relevant achievement first, then three near misses)
        logits = model.logits(seqs).float().reshape(len(batch), 4)
        return torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))

    # four groups per step: 16 sequences, as the adapter's batches
    optimise(model.parameters(), groups, 4, epochs, loss_of, rng, 3e-4, log, log_every=25)
    return model


def rerank(ranked: Run, ce: Mapping[str, np.ndarray], top: int, weights: tuple[float, float] | None) -> Run:
    """The top ``top`` of each need re-ordered (by the cross-encoder, or by a·fused + b·ce), the rest below."""
    out: Run = {}
    for n, row in ranked.items():
        head, tail = row[:top], row[top:]
        fused = np.array([s for _, s in head])
        c = ce[n][: len(head)]
        new = np.asarray(c if weights is None else weights[0] * fused + weights[1] * c, dtype=np.float64)
        order = np.argsort(-new, kind="stable")
        floor = min(new.min(), 0.0) if len(new) else 0.0
        head_out = [(head[i][0], float(new[i] - floor) + 1e6) for i in order]
        out[n] = head_out + [(a, s) for a, s in tail]
    return out


def fit_mix(ranked: Run, ce: Mapping[str, np.ndarray], qrels: Qrels, top: int) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    x, y = [], []
    for n, grades in qrels.items():
        for (a, s), c in zip(ranked[n][:top], ce[n], strict=False):
            if a in grades:
                x.append([s, c])
                y.append(int(grades[a] >= 1))
    coef = LogisticRegression(max_iter=2000, class_weight="balanced").fit(np.array(x), np.array(y)).coef_[0]
    return float(coef[0]), float(coef[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    from ingest.zhibei import achievement_from_record, clean_record, need_from_record
    from matcher.documents import achievement_text

    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    ids, scores, _, _ = channel_scores(False)
    tune, report = judged("tune"), judged("report")
    if cross_fitted(scores, ids, tune, None):
        sys.exit("no cross-fitted e5 scores for the tune part: run python scripts/train_e5_adapter.py --cross-fit 3")
    wanted = {n: scores[n] for n in (*tune, *report)}
    lengths = need_lengths(list(wanted))
    short_below = int(np.percentile([lengths[n] for n in tune], 100 / 3))
    views = need_views(wanted, lengths, short_below, chain_features(ids, list(wanted)))
    base_tune = cross_validated(lambda v, i, q: fit_linear(v, i, q, []), views, ids, tune)
    base_report = run(fit_linear(views, ids, tune, []), ids, list(report))

    ach_text = {a.id: achievement_text(a) for a in (achievement_from_record(clean_record(json.loads(line)))
                                                    for line in ACH.open(encoding="utf-8") if line.strip())}
    need_text = {n.id: n.text for n in (need_from_record(clean_record(r)) for r in
                                        (json.loads(line) for line in REQ.open(encoding="utf-8") if line.strip())
                                        if r.get("id") in wanted)}
    rng = random.Random(0)
    # the adapter's folds: a tune need's e5 score and its cross-encoder score both come from models that never saw it
    from scripts.train_e5_adapter import FOLD_SEED

    order = sorted(tune)
    random.Random(FOLD_SEED).shuffle(order)
    folds = [order[k::ADAPTER_FOLDS] for k in range(ADAPTER_FOLDS)]
    ce_tune: dict[str, np.ndarray] = {}
    for k, held in enumerate(folds, start=1):
        rest = [n for n in order if n not in set(held)]
        model = train(groups_of(rest, tune, base_tune, args.top, rng), need_text, ach_text, args.epochs, log=log)
        for n in held:
            ce_tune[n] = model.score(need_text[n], [ach_text[a] for a, _ in base_tune[n][:args.top]])
        log(f"fold {k}/{ADAPTER_FOLDS} ({time.perf_counter() - t0:.0f} s)")
    model = train(groups_of(order, tune, base_tune, args.top, rng), need_text, ach_text, args.epochs, log=log)
    ce_report = {n: model.score(need_text[n], [ach_text[a] for a, _ in base_report[n][:args.top]]) for n in report}

    mixed_tune: Run = {}
    for held, rest in tune_folds(tune):
        w = fit_mix(base_tune, ce_tune, rest, args.top)
        mixed_tune.update(rerank({n: base_tune[n] for n in held}, ce_tune, args.top, w))
    w_all = fit_mix(base_tune, ce_tune, tune, args.top)

    rows = {
        "learned fusion (5-fold CV)": (score("base", base_tune, tune), score("base", base_report, report)),
        f"top {args.top} re-ordered by the cross-encoder alone":
            (score("ce", rerank(base_tune, ce_tune, args.top, None), tune),
             score("ce", rerank(base_report, ce_report, args.top, None), report)),
        f"fusion + cross-encoder, weights learned (top {args.top})":
            (score("mix", mixed_tune, tune), score("mix", rerank(base_report, ce_report, args.top, w_all), report)),
    }
    print(f"# A cross-encoder re-ranker from e5-small ({len(tune)} tune needs, {len(report)} report; top {args.top}, "
          f"{args.epochs} epochs; {time.perf_counter() - t0:.0f} s)\n")
    print("| system | tune nDCG@10 | Δ (p) | wins/ties/losses | report nDCG@10 | Δ (p) | kept? |\n"
          "|---|---|---|---|---|---|---|")
    base = rows["learned fusion (5-fold CV)"]
    for name, (t, r) in rows.items():
        if t is base[0]:
            print(f"| {name} | {t.estimate('ndcg@10')} | | | {r.estimate('ndcg@10')} | | — |")
            continue
        d, p = paired_test(t, base[0], "ndcg@10")
        w, ti, lo = wins_losses(t, base[0])
        dr, pr = paired_test(r, base[1], "ndcg@10")
        print(f"| {name} | {t.estimate('ndcg@10')} | {d:+.3f} ({p:.3g}) | {w}/{ti}/{lo} | {r.estimate('ndcg@10')} | "
              f"{dr:+.3f} ({pr:.3g}) | {'yes' if d > 0 and p < 0.05 else 'no'} |")
    print(f"\nThe mix's weights on all tune needs (fused score, cross-encoder): {w_all[0]:+.3f}, {w_all[1]:+.3f}")


if __name__ == "__main__":
    main()
