"""What comes after the learned fusion: query-dependent channel weights, a second-stage re-ranker and the graph's
chain features, chosen on the judged set's tune part by cross-validation and checked once on the report part.

    python benchmarks/ranking_search.py

The shipped fusion (``matcher.tuning.LEARNED_FUSION``) weighs every channel the same for every need. The report
part's per-need losses against e5-market alone are one-line needs naming a field, where the word and character
channels follow generic terms (``docs/matcher.md``, *Need by need*). The candidates here let the weights depend on
the need:

- **by length**: each channel's weights plus a second set that applies to short needs (the tune part's lower
  third by length), or that grows with the need's log length;
- **by the channels' own confidence**: the weights interact with the need's length and each channel's top
  background z-score (how far its best document stands out for this need: a query-performance predictor);
- **a second stage**: gradient-boosted trees (``sklearn`` ``HistGradientBoostingClassifier``) over the top 100 of
  the learned fusion, reading every channel's rank-normal and z-score, the fused score and the need's features
  above.

- **learning to rank proper**: coordinate ascent on nDCG@10 itself (RankLib's listwise method) from the fusion's
  weights, a pairwise logistic loss on the judged pairs of different grades, and LambdaMART (LightGBM's
  ``lambdarank``) over the fusion's top 100; and the channels' agreement on an achievement (how many rank it in
  their top 10, its best rank: what reciprocal-rank fusion rewards) as two more learned weights.

And the **graph's chain features** (same segment, adjacent segment, same chain: ``matcher.features.chain``), which
the engine added to the fused score at judgement weights until this benchmark measured them (``GRAPH_WEIGHTS`` has
them at 0 since): the need and every achievement are placed on the taxonomy's segments as ``techmatch ingest``
places them, and the chain features enter at those judgement weights, with weights learned together with the
channels', and learned but never below 0.

Each candidate is cross-validated over the tune needs with the folds of ``judged_quality.py`` (5, fixed) against the
learned fusion refitted the same way, with a paired randomisation test. The rule, fixed before the run: a candidate
is kept only if it beats the learned fusion on tune at p < 0.05; only then is it fitted on all tune needs and read
on the report part (the report part's figures are printed for every candidate, marked, so that what was *not* kept
can be seen not to have been chosen on them). Needs ``scripts/train_e5_adapter.py --cross-fit`` run first (the tune
part's e5 scores must come from adapters that did not see the need).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.judged_quality import (  # noqa: E402
    CHAIN,
    TOP,
    chain_features,
    channel_scores,
    cross_fitted,
    need_lengths,
    run_of,
    tune_folds,
)
from evaluation.judged import Qrels, judged  # noqa: E402
from evaluation.metrics import Scores, paired_test, score, wins_losses  # noqa: E402

CHANNELS = ("bm25_words", "char_ngram", "dense", "dense_use_m3")
RERANK_TOP = 100

PerNeed = Mapping[str, np.ndarray]
Ranker = Callable[[str, PerNeed], np.ndarray]  # (need id, channel scores) -> score of every achievement


#: the chain features' cold-start weights in the engine until this benchmark measured them (judgement: same segment
#: about one σ); GRAPH_WEIGHTS has them at 0 since
JUDGEMENT_CHAIN_WEIGHTS = {"chain_same_segment": 1.0, "chain_adjacent": 0.5, "chain_same_chain": 0.2}
#: the last coefficients fit_linear found, by its ``extra`` mode (printed after the fit on all tune needs)
FITTED: dict[str, np.ndarray] = {}


@dataclass
class NeedView:
    """One need's per-achievement features (rank-normal and z of every channel), its chain relation to every
    achievement (the graph's chain features, as the engine computes them) and the need's own features."""

    base: np.ndarray  # (docs, 2 × channels): rn, z per channel
    chain: np.ndarray  # (docs, 3): same segment, adjacent segment, same chain (0 / 1)
    query: dict[str, float]  # log_len, short, top_z:<channel>
    agree: np.ndarray  # (docs, 2): how many channels rank it in their top 10; 1 / (1 + its best rank)


def need_views(scores: Mapping[str, PerNeed], lengths: Mapping[str, int], short_below: int,
               chains: Mapping[str, np.ndarray]) -> dict[str, NeedView]:
    from matcher.fusion import background_z, rank_normal

    out = {}
    for need, per in scores.items():
        cols, q = [], {"log_len": float(np.log(max(lengths.get(need, 1), 1))),
                       "short": float(lengths.get(need, 0) < short_below)}
        ranks = []
        for c in CHANNELS:
            z = background_z(per[c])
            cols += [rank_normal(per[c], z), z]
            q[f"top_z:{c}"] = float(z.max())
            r = np.empty(len(z))
            r[np.argsort(-np.asarray(per[c]), kind="stable")] = np.arange(len(z))
            ranks.append(r)
        rk = np.stack(ranks, axis=1)
        agree = np.stack([(rk < 10).sum(axis=1), 1.0 / (1.0 + rk.min(axis=1))], axis=1)
        out[need] = NeedView(np.stack(cols, axis=1).astype(np.float64), chains[need], q, agree.astype(np.float64))
    return out


class Standardiser:
    """Centres and scales the need features named (fitted on the training needs only)."""

    def __init__(self, views: Mapping[str, NeedView], names: Sequence[str]) -> None:
        self.names = list(names)
        m = np.array([[views[n].query[k] for k in self.names] for n in views])
        self.mu, self.sd = m.mean(axis=0), m.std(axis=0) + 1e-9

    def __call__(self, view: NeedView) -> np.ndarray:
        return (np.array([view.query[k] for k in self.names]) - self.mu) / self.sd


def design(view: NeedView, interact: np.ndarray | None) -> np.ndarray:
    """The base features, and each base feature times each need feature (query-dependent channel weights)."""
    if interact is None or not len(interact):
        return view.base
    return np.concatenate([view.base] + [view.base * v for v in interact], axis=1)


def _pairs(views: Mapping[str, NeedView], ids: Sequence[str], qrels: Qrels,
           row: Callable[[str, NeedView], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pos = {a: i for i, a in enumerate(ids)}
    x, y = [], []
    for need, grades in qrels.items():
        f = row(need, views[need])
        for ach, g in grades.items():
            if ach in pos:
                x.append(f[pos[ach]])
                y.append(int(g >= 1))
    return np.array(x), np.array(y)


def fit_linear(views: Mapping[str, NeedView], ids: Sequence[str], qrels: Qrels,
               need_features: Sequence[str], c: float = 1.0, extra: str = "") -> Ranker:
    """Logistic regression of "judged relevant" over the base features (and their products with the named need
    features, standardised on the training needs): the learned fusion when ``need_features`` is empty.

    ``extra``: "" leaves the chain features out (the engine since 2026-12-02: ``GRAPH_WEIGHTS`` has them at 0);
    "judgement" adds them at the judgement weights the engine had before (:data:`JUDGEMENT_CHAIN_WEIGHTS`, in the
    fused score's units: the learned weights renormalised to sum 1 in absolute value, as ``LearnedFusion`` does);
    "learned" fits their weights with the channels'; "learned, none below 0" sets a negative one to 0;
    "agreement" fits the channels' agreement (:attr:`NeedView.agree`) with the channels instead of the chain."""
    from sklearn.linear_model import LogisticRegression

    train = {n: views[n] for n in qrels}
    std = Standardiser(train, need_features) if need_features else None

    def row(_: str, v: NeedView) -> np.ndarray:
        x = design(v, std(v) if std else None)
        if extra == "agreement":
            return np.concatenate([x, v.agree], axis=1)
        return np.concatenate([x, v.chain], axis=1) if extra.startswith("learned") else x

    x, y = _pairs(views, ids, qrels, row)
    coef = LogisticRegression(C=c, max_iter=4000, class_weight="balanced").fit(x, y).coef_[0]
    FITTED[extra or "none"] = coef
    if extra == "learned, none below 0":  # a chain relation may add to a match, never count against it
        n = coef.size - len(CHAIN)
        coef = np.concatenate([coef[:n], np.maximum(coef[n:], 0.0)])
    if extra == "judgement":
        coef = coef / np.abs(coef).sum()
        bonus = np.array([JUDGEMENT_CHAIN_WEIGHTS[f] for f in CHAIN])
        return lambda need, _per: row(need, views[need]) @ coef + views[need].chain @ bonus
    return lambda need, _per: row(need, views[need]) @ coef


def fit_reranker(views: Mapping[str, NeedView], ids: Sequence[str], qrels: Qrels) -> Ranker:
    """Trees over the learned fusion's top :data:`RERANK_TOP`: the base features, the fused score and its rank, the
    need's features. Documents below the top keep the fusion's order beneath the re-ranked ones."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    first = fit_linear(views, ids, qrels, [])
    names = ["log_len", *[f"top_z:{c}" for c in CHANNELS]]

    def block(need: str, v: NeedView) -> tuple[np.ndarray, np.ndarray]:
        fused = first(need, {})
        order = np.argsort(-fused, kind="stable")
        rank = np.empty(len(fused))
        rank[order] = np.arange(len(fused))
        q = np.array([v.query[k] for k in names])
        x = np.concatenate([v.base, fused[:, None], np.log1p(rank)[:, None],
                            np.broadcast_to(q, (len(fused), len(q)))], axis=1)
        return x, fused

    x, y = _pairs(views, ids, qrels, lambda n, v: block(n, v)[0])
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                           min_samples_leaf=40, l2_regularization=1.0, random_state=0).fit(x, y)

    def rank_need(need: str, _per: PerNeed) -> np.ndarray:
        x_need, fused = block(need, views[need])
        top = np.argsort(-fused, kind="stable")[:RERANK_TOP]
        out = fused - (fused.max() - fused.min()) - 10.0  # below every re-ranked document, in the fusion's order
        out[top] = model.predict_proba(x_need[top])[:, 1]
        return out

    return rank_need


#: DCG@10's discounts, as ranx's ``ndcg_burges`` (gain 2^grade − 1) that scores every run here; the coordinate ascent
#: below evaluates nDCG thousands of times per fit, too often to build ranx runs each time
DISCOUNT_10 = 1.0 / np.log2(np.arange(2, 12))


def _need_targets(views: Mapping[str, NeedView], ids: Sequence[str], qrels: Qrels
                  ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Per training need with supply: its base features, the gain (2^grade − 1) of every achievement (0 where
    unjudged, as the metric counts it) and its ideal DCG@10."""
    pos = {a: i for i, a in enumerate(ids)}
    out = []
    for need, grades in qrels.items():
        gain = np.zeros(len(ids))
        for a, g in grades.items():
            if a in pos and g >= 1:
                gain[pos[a]] = 2.0 ** g - 1.0
        if gain.any():
            ideal = float((np.sort(gain)[::-1][:10] * DISCOUNT_10).sum())
            out.append((views[need].base, gain, ideal))
    return out


def _mean_ndcg(targets: Sequence[tuple[np.ndarray, np.ndarray, float]], w: np.ndarray) -> float:
    total = 0.0
    for x, gain, ideal in targets:
        s = x @ w
        top = np.argpartition(-s, 10)[:10]
        top = top[np.argsort(-s[top], kind="stable")]
        total += float((gain[top] * DISCOUNT_10).sum()) / ideal
    return total / len(targets)


def fit_coordinate_ascent(views: Mapping[str, NeedView], ids: Sequence[str], qrels: Qrels,
                          passes: int = 4) -> Ranker:
    """Listwise learning to rank on the learned fusion's features (RankLib's coordinate ascent): starting from the
    logistic regression's weights, each weight in turn is moved along a grid of steps and kept where the training
    needs' mean nDCG@10 is highest, until a pass changes nothing. The metric itself is optimised, not a
    pointwise proxy; with eight weights it cannot memorise needs the way trees can."""
    from sklearn.linear_model import LogisticRegression

    x, y = _pairs(views, ids, qrels, lambda _n, v: v.base)
    w = LogisticRegression(C=1.0, max_iter=4000, class_weight="balanced").fit(x, y).coef_[0]
    w = w / np.abs(w).sum()
    targets = _need_targets(views, ids, qrels)
    best = _mean_ndcg(targets, w)
    steps = np.array([-0.4, -0.2, -0.1, -0.05, -0.02, 0.02, 0.05, 0.1, 0.2, 0.4])
    for _ in range(passes):
        moved = False
        for j in range(len(w)):
            for step in steps:
                trial = w.copy()
                trial[j] += step
                value = _mean_ndcg(targets, trial)
                if value > best + 1e-9:
                    best, w, moved = value, trial, True
        if not moved:
            break
    FITTED["coordinate ascent"] = w
    return lambda need, _per: views[need].base @ w


def fit_pairwise(views: Mapping[str, NeedView], ids: Sequence[str], qrels: Qrels, c: float = 1.0) -> Ranker:
    """Pairwise learning to rank (a linear RankNet / RankSVM with the logistic loss): for every need, each judged
    achievement against each judged one of a lower grade, the difference of their features classified by which is
    better. Learns the order within a need, not the level across needs as the pointwise fit does."""
    from sklearn.linear_model import LogisticRegression

    pos = {a: i for i, a in enumerate(ids)}
    diffs = []
    for need, grades in qrels.items():
        x = views[need].base
        judged_here = [(pos[a], g) for a, g in grades.items() if a in pos]
        for i, gi in judged_here:
            for j, gj in judged_here:
                if gi > gj:
                    diffs.append(x[i] - x[j])
    d = np.array(diffs)
    xy = np.concatenate([d, -d])
    y = np.concatenate([np.ones(len(d)), np.zeros(len(d))])
    w = LogisticRegression(C=c, max_iter=4000, fit_intercept=False).fit(xy, y).coef_[0]
    FITTED["pairwise"] = w
    return lambda need, _per: views[need].base @ w


def fit_lambdamart(views: Mapping[str, NeedView], ids: Sequence[str], qrels: Qrels) -> Ranker:
    """LambdaMART (LightGBM's ``lambdarank``, nDCG@10 truncation) over the learned fusion's top
    :data:`RERANK_TOP` and every judged achievement: the base features and the fused score, graded labels
    (unjudged 0, as the metric counts them). Small trees and many leaves' worth of data each, against overfitting."""
    import lightgbm

    first = fit_linear(views, ids, qrels, [])
    pos = {a: i for i, a in enumerate(ids)}

    def block(need: str) -> tuple[np.ndarray, np.ndarray]:
        fused = first(need, {})
        return np.concatenate([views[need].base, fused[:, None]], axis=1), fused

    xs, ys, groups = [], [], []
    for need, grades in qrels.items():
        x, fused = block(need)
        rows = set(np.argsort(-fused, kind="stable")[:RERANK_TOP].tolist())
        rows |= {pos[a] for a in grades if a in pos}
        rows_l = sorted(rows)
        label = np.zeros(len(rows_l), dtype=int)
        for k, r in enumerate(rows_l):
            label[k] = max(int(grades.get(ids[r], 0)), 0)
        if not label.any():
            continue
        xs.append(x[rows_l])
        ys.append(label)
        groups.append(len(rows_l))
    model = lightgbm.LGBMRanker(objective="lambdarank", n_estimators=150, learning_rate=0.05, num_leaves=7,
                                min_child_samples=50, reg_lambda=1.0, subsample=0.8, subsample_freq=1,
                                colsample_bytree=0.8, lambdarank_truncation_level=10, random_state=0, verbose=-1,
                                n_jobs=2)
    model.fit(np.concatenate(xs), np.concatenate(ys), group=groups)

    def rank_need(need: str, _per: PerNeed) -> np.ndarray:
        x, fused = block(need)
        top = np.argsort(-fused, kind="stable")[:RERANK_TOP]
        out = fused - (fused.max() - fused.min()) - 1e3
        out[top] = model.predict(x[top])
        return out

    return rank_need


Fitter = Callable[[Mapping[str, NeedView], Sequence[str], Qrels], Ranker]
CANDIDATES: dict[str, Fitter] = {
    "learned fusion (shipped method)": lambda v, i, q: fit_linear(v, i, q, []),
    "× short need": lambda v, i, q: fit_linear(v, i, q, ["short"]),
    "× log length": lambda v, i, q: fit_linear(v, i, q, ["log_len"]),
    "× each channel's top z": lambda v, i, q: fit_linear(v, i, q, [f"top_z:{c}" for c in CHANNELS]),
    "× log length and each channel's top z": lambda v, i, q: fit_linear(
        v, i, q, ["log_len", *[f"top_z:{c}" for c in CHANNELS]]),
    "second stage: trees over the top 100": fit_reranker,
    "+ chain features at the judgement weights (1 / 0.5 / 0.2, the engine's until 2026-12-02)": lambda v, i, q:
        fit_linear(v, i, q, [], extra="judgement"),
    "+ chain features, weights learned": lambda v, i, q: fit_linear(v, i, q, [], extra="learned"),
    "+ chain features, weights learned, none below 0": lambda v, i, q: fit_linear(
        v, i, q, [], extra="learned, none below 0"),
    "+ the channels' agreement (how many rank it in their top 10; its best rank), weights learned": lambda v, i, q:
        fit_linear(v, i, q, [], extra="agreement"),
    "listwise: coordinate ascent on nDCG@10 (from the fusion's weights)": fit_coordinate_ascent,
    "pairwise: logistic loss on judged pairs of different grades": fit_pairwise,
    "LambdaMART (LightGBM lambdarank) over the top 100": fit_lambdamart,
}
BASELINE = "learned fusion (shipped method)"


def run(ranker: Ranker, ids: Sequence[str], needs: Sequence[str]) -> dict[str, list[tuple[str, float]]]:
    out = {}
    for need in needs:
        s = ranker(need, {})
        top = np.argsort(-s, kind="stable")[:TOP]
        out[need] = [(ids[i], float(s[i])) for i in top]
    return out


def cross_validated(fitter: Fitter, views: Mapping[str, NeedView], ids: Sequence[str], tune: Qrels
                    ) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for held, rest in tune_folds(tune):
        out.update(run(fitter(views, ids, rest), ids, held))
    return out


def adapter_scores(adapter: Path, ids: Sequence[str], need_ids: Sequence[str], tune: Qrels) -> dict[str, np.ndarray]:
    """e5 scores of every achievement for each need with the market adapter at ``adapter``: the tune needs' from the
    adapter's fold models (``scripts/train_e5_adapter.py --out ADAPTER --cross-fit 3``: each need scored by a fold
    that never saw it), the others' from the adapter itself, encoded here (exact cosines, no vector store)."""
    from api.config import load_settings
    from benchmarks.judged_quality import ACH, REQ
    from evaluation.judged import cross_fitted_path
    from ingest.zhibei import achievement_from_record, clean_record, need_from_record
    from matcher.documents import achievement_text
    from matcher.embedders.e5_adapter import load_adapter
    from matcher.embedders.e5_small import E5MarketEmbedder

    oof_path = cross_fitted_path(load_settings().data_dir, load_adapter(adapter).digest)
    if not oof_path.exists():
        sys.exit(f"{oof_path} not found: train with python scripts/train_e5_adapter.py --out {adapter} --cross-fit 3")
    oof = np.load(oof_path)
    achs = {a.id: a for a in (achievement_from_record(clean_record(json.loads(line)))
                              for line in ACH.open(encoding="utf-8") if line.strip())}
    rest = [n for n in need_ids if n not in tune]
    needs = {n.id: n for n in (need_from_record(clean_record(r)) for r in
                               (json.loads(line) for line in REQ.open(encoding="utf-8") if line.strip())
                               if r.get("id") in set(rest))}
    encoder = E5MarketEmbedder(adapter=adapter)
    passages = encoder.embed_passages([achievement_text(achs[i]) for i in ids])
    queries = encoder.embed_queries([needs[n].text for n in rest])
    out = {n: np.asarray(oof[n], dtype=np.float32) for n in need_ids if n in tune}
    out.update({n: (passages @ q).astype(np.float32) for n, q in zip(rest, queries, strict=True)})
    return out


def compare_adapters(candidate: Path, scores: Mapping[str, PerNeed], ids: Sequence[str], tune: Qrels,
                     report: Qrels, lengths: Mapping[str, int], short_below: int,
                     chains: Mapping[str, np.ndarray]) -> None:
    """The shipped adapter against a candidate, each on the same footing (tune: fold models; report: encoded
    here), e5 alone and inside the learned fusion refitted for it."""
    from matcher.embedders.e5_small import SHIPPED_ADAPTER

    need_ids = [*tune, *report]
    rows: dict[str, dict[str, Scores]] = {}
    for label, path in (("shipped", SHIPPED_ADAPTER), ("candidate", candidate)):
        dense = adapter_scores(path, ids, need_ids, tune)
        per = {n: {**scores[n], "dense": dense[n]} for n in need_ids}
        views = need_views(per, lengths, short_below, chains)

        def single(need: str, _per: PerNeed, per: Mapping[str, PerNeed] = per) -> np.ndarray:
            return per[need]["dense"]

        fitted = fit_linear(views, ids, tune, [])
        rows[label] = {
            "tune: e5 alone": score(label, run(single, ids, list(tune)), tune),
            "tune: learned fusion (CV)": score(label, cross_validated(
                lambda v, i, q: fit_linear(v, i, q, []), views, ids, tune), tune),
            "report: e5 alone": score(label, run(single, ids, list(report)), report),
            "report: learned fusion (fitted on tune)": score(label, run(fitted, ids, list(report)), report),
        }
    print(f"## The market adapter: shipped against {candidate}\n")
    print("| figure | shipped | candidate | Δ (p) | wins/ties/losses |\n|---|---|---|---|---|")
    for figure in rows["shipped"]:
        a, b = rows["shipped"][figure], rows["candidate"][figure]
        d, p = paired_test(b, a, "ndcg@10")
        w, t, lo = wins_losses(b, a)
        print(f"| {figure} | {a.estimate('ndcg@10')} | {b.estimate('ndcg@10')} | {d:+.3f} ({p:.3g}) | {w}/{t}/{lo} |")
    print()


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adapter", type=Path, metavar="NPZ",
                    help="compare the shipped market adapter with this one (its --cross-fit folds trained first)")
    ap.add_argument("--in-sample", action="store_true",
                    help="run without cross-fitted e5 scores (a check that the script runs: no figure of it counts)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ids, scores, _, _ = channel_scores(False)
    tune, report = judged("tune"), judged("report")
    if cross_fitted(scores, ids, tune, None) and not args.in_sample:
        sys.exit("no cross-fitted e5 scores for the tune part: run python scripts/train_e5_adapter.py --cross-fit 3")
    wanted = {n: scores[n] for n in (*tune, *report)}
    lengths = need_lengths(list(wanted))
    short_below = int(np.percentile([lengths[n] for n in tune], 100 / 3))
    chains = chain_features(ids, list(wanted))
    if args.adapter:
        compare_adapters(args.adapter, wanted, ids, tune, report, lengths, short_below, chains)
        return
    views = need_views(wanted, lengths, short_below, chains)
    print(f"# Query-dependent fusion and a second stage ({len(ids)} achievements; tune {len(tune)} needs, report "
          f"{len(report)}; short = under {short_below} characters, the tune part's lower third; "
          f"{time.perf_counter() - t0:.0f} s to load)\n")

    print("## Chosen on tune (5-fold cross-validation over the tune needs)\n")
    print("| candidate | tune nDCG@10 (CV) | Δ vs learned fusion (p) | wins/ties/losses | kept? |\n"
          "|---|---|---|---|---|")
    cv: dict[str, Scores] = {}
    for name, fitter in CANDIDATES.items():
        cv[name] = score(name, cross_validated(fitter, views, ids, tune), tune)
    kept = []
    for name, s in cv.items():
        if name == BASELINE:
            print(f"| {name} | {s.estimate('ndcg@10')} | | | (baseline) |")
            continue
        d, p = paired_test(s, cv[BASELINE], "ndcg@10")
        w, t, lo = wins_losses(s, cv[BASELINE])
        keep = d > 0 and p < 0.05
        kept += [name] if keep else []
        print(f"| {name} | {s.estimate('ndcg@10')} | {d:+.3f} ({p:.3g}) | {w}/{t}/{lo} | {'yes' if keep else 'no'} |")
    print(f"\n({time.perf_counter() - t0:.0f} s)\n")

    print("## On report (each candidate fitted on all tune needs; only the kept ones were chosen)\n")
    e5 = score("e5-market alone", run_of(lambda per: per["dense"], scores, ids, list(report)), report)
    print("| system | report nDCG@10 | Δ vs learned fusion (p) | Δ vs e5-market alone (p) | kept on tune? |\n"
          "|---|---|---|---|---|")
    rows = {name: score(name, run(fitter(views, ids, tune), ids, list(report)), report)
            for name, fitter in CANDIDATES.items()}
    print(f"| e5-market alone | {e5.estimate('ndcg@10')} | | | |")
    for name, s in rows.items():
        d1, p1 = paired_test(s, rows[BASELINE], "ndcg@10") if name != BASELINE else (0.0, 1.0)
        d2, p2 = paired_test(s, e5, "ndcg@10")
        print(f"| {name} | {s.estimate('ndcg@10')} | {d1:+.3f} ({p1:.3g}) | {d2:+.3f} ({p2:.3g}) | "
              f"{'yes' if name in kept else ('—' if name == BASELINE else 'no')} |")
    coef = FITTED["learned"]
    channel_part = np.abs(coef[: 2 * len(CHANNELS)]).sum()
    print("\nChain features' weights learned on all tune needs, in the fused score's units (the channels' learned "
          "weights renormalised to sum 1 in absolute value, as LearnedFusion does), against the judgement "
          "weights 1 / 0.5 / 0.2: " + ", ".join(f"{f} {w / channel_part:+.3f}" for f, w in
                                        zip(CHAIN, coef[2 * len(CHANNELS):], strict=True)))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
