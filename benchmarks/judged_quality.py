"""Matching quality on the project's judged set: rankings, learned fusion and the confidence users see.

    python benchmarks/judged_quality.py [--fit] [--no-cache]

The 400 judged needs of ``eval/judging`` (320 **tune**, 80 **report**; the split was fixed before judging) are
ranked over all 2,810 zhibei achievements by every channel of the default engine. From the channels' scores,
each need's ranking is formed by:

- each channel alone, reciprocal-rank fusion (k = 60) of three and of four channels (the field's baselines);
- the engine's score (the shipped pipeline: the fusion of ``matcher.tuning.LEARNED_FUSION``, rank-normal and
  background z-scores weighted as a logistic regression on the tune part found them, plus the graph's chain
  features at ``GRAPH_WEIGHTS``) and the rank-normal mean with equal weights it replaced;
- **learned fusions** fitted in this run on the tune part only: a logistic regression of "judged relevant" over
  the channels' rank-normal scores (its weights are rank-normal channel weights), one over rank-normal and
  background z-scores together (``--fit`` prints it as ``LEARNED_FUSION``), and one with the chain features too.

How the fusion was chosen, on tune only: each learned fusion cross-validated over the tune needs (5 folds, fixed;
each fold ranked by weights fitted on the other four) against the equal-weight rank-normal mean. Every figure on
the report part comes with a 95 % bootstrap interval over needs, and each system is compared with the best single
channel and with RRF by a paired randomisation test; the report part's per-need wins and losses of the pipeline
are listed by need length (the needs' ids only: the texts stay in ``../shared``). Of the graph features only the
chain family can be computed for the judged needs (the needs and achievements placed on the taxonomy's segments as
``techmatch ingest`` places them); the others need an enterprise, a region or a history the judged needs do not
have, and add 0 here as they would in the service for such a need.

Then the **confidence users see**: the two-stage curve of :mod:`matcher.confidence` (channel weights into a
supply strength, then a logistic curve of the final score and the supply) is fitted on the tune part and checked on
the report part: Brier score, a reliability table, gap_auc with its interval, against the curve in use
(``CURVES``: after ``--fit`` was pasted, the same as the tune fit), for each channel set an engine can have.
``--fit`` prints the ``CURVES`` entries (and the learned fusions' weights) to paste into ``matcher/tuning.py``.

``--against 'e5-small@512;use-m3@512'`` adds the pipeline with other encoders (primary; extras, as in the settings)
to the rankings tables, with the paired test against this run's pipeline: how a change of encoders is judged.

The channels' scores are cached (``$TECHMATCH_DATA_DIR/cache/judged_quality[-<row keys>].npz``) so that reruns take
seconds; the first run embeds what the vector store lacks (2,810 passages per encoder; long on two cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.judged import SHARED, Qrels, cross_fitted_path, dev, has_supply, judged, split  # noqa: E402
from evaluation.metrics import Scores, gap_auc, paired_test, score, wins_losses  # noqa: E402

ACH = SHARED / "data" / "zhibei" / "achievements_dedup.jsonl"
REQ = SHARED / "data" / "zhibei" / "requirements_dedup.jsonl"
RRF_K = 60
#: folds of the tune needs for choosing the fusion by cross-validation (fixed: part of what the figures mean)
CV_FOLDS, CV_SEED = 5, 1
#: the shipped pipeline's row: the engine's fusion (matcher.tuning.LEARNED_FUSION)
PIPELINE = "pipeline: learned fusion (shipped)"
TOP = 100


# -- the channels' scores, once ---------------------------------------------------------------------------------
def channel_scores(no_cache: bool, encoders: tuple[str, str] | None = None,
                   query_chars: tuple[int, ...] | None = None) -> tuple[list[str], dict[str, dict[str, np.ndarray]],
                              dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Achievement ids; per need (judged and dev), every channel's raw score of every achievement for the
    need's text as the engine queries it, and for the *name repeated* query variant; each dense channel's
    achievement vectors (for pseudo-relevance feedback). ``encoders``: (primary, extras) encoder specs as in the
    settings (default: the settings'); ``query_chars``: how much of a need each dense encoder reads (in the order
    primary, extras; default: the encoders' own); one cache file per set of dense row keys and query lengths."""
    from api.config import load_settings
    from ingest.zhibei import achievement_from_record, clean_record, need_from_record
    from matcher.embedders.registry import make_embedder, make_embedders
    from matcher.engine import MatchEngine
    from matcher.index.vectors import safe_name

    settings = load_settings()
    primary, extras = encoders or (settings.embedder, settings.extra_embedders)
    emb = make_embedder(primary)
    extra = make_embedders(extras) if emb is not None else []
    dense = ([emb] if emb is not None else []) + extra
    keys = [getattr(e, "vector_key", e.name) for e in dense]
    # the file of the encoders before passages were cut short keeps its old name (caches made then stay valid)
    suffix = "" if keys == ["e5-small", "use-m3"] else "-" + safe_name("+".join(keys) or "lexical")
    if query_chars:
        for encoder, chars in zip(dense, query_chars, strict=False):
            encoder.max_query_chars = chars  # type: ignore[attr-defined]
        suffix += "-q" + "-".join(str(getattr(e, "max_query_chars", 0)) for e in dense)
    wanted = set(judged()) | set(dev())
    cache = settings.data_dir / "cache" / f"judged_quality{suffix}.npz"
    if cache.exists() and not no_cache:
        data = np.load(cache, allow_pickle=False)
        ids = [str(x) for x in data["ids"]]
        out: dict[str, dict[str, dict[str, np.ndarray]]] = {"plain": {}, "name_twice": {}}
        vectors = {}
        for key in data.files:
            if key.startswith("vec|"):
                vectors[key[4:]] = data[key]
            elif key.count("|") == 2:
                variant, need, channel = key.split("|")
                out[variant].setdefault(need, {})[channel] = data[key]
        if wanted <= set(out["plain"]) and vectors:
            return ids, out["plain"], out["name_twice"], vectors
    achs = [achievement_from_record(clean_record(json.loads(line))) for line in ACH.open(encoding="utf-8")
            if line.strip()]
    needs = [need_from_record(clean_record(r)) for r in (json.loads(line) for line in REQ.open(encoding="utf-8")
                                                    if line.strip()) if r.get("id") in wanted]
    engine = MatchEngine(None, settings, persist=False, embedder=emb, extra_embedders=extra)
    t0 = time.perf_counter()
    engine.on_progress(lambda p: print(f"  {p.line()}", file=sys.stderr, flush=True))
    engine.index_achievements(achs, rebuild=True)
    print(f"indexed {len(achs)} achievements in {time.perf_counter() - t0:.0f} s; channels "
          f"{', '.join(engine.achievements.answering)}", file=sys.stderr)
    index = engine.achievements
    ids = list(index.doc_ids)
    plain, twice = {}, {}
    for i, need in enumerate(needs, start=1):
        plain[need.id] = {c: np.asarray(s, dtype=np.float32) for c, s in index.channel_scores(need.text).items()}
        twice[need.id] = {c: np.asarray(s, dtype=np.float32)
                          for c, s in index.channel_scores(f"{need.name}\n{need.text}").items()}
        if i % 50 == 0:
            print(f"  scored {i}/{len(needs)} needs", file=sys.stderr, flush=True)
    vectors = {ch.name: ch.rows.take(index.docs.live) for ch in index.dense if ch.rows is not None}
    cache.parent.mkdir(parents=True, exist_ok=True)
    part = cache.with_name(cache.name + ".part.npz")
    arrays = {f"{v}|{n}|{c}": s for v, per_need in (("plain", plain), ("name_twice", twice))
              for n, per in per_need.items() for c, s in per.items()}
    np.savez(part, ids=np.array(ids), **arrays, **{f"vec|{c}": v for c, v in vectors.items()})
    part.replace(cache)
    engine.close()
    return ids, plain, twice, vectors


def cross_fitted(scores: dict[str, dict[str, np.ndarray]], ids: Sequence[str], tune: Qrels,
                 primary: str | None) -> bool:
    """Where the primary encoder is the market adapter (trained on the tune needs), replace each tune need's e5
    scores by those of an adapter that never saw it (``scripts/train_e5_adapter.py --cross-fit``), so that tune
    figures and the curve fitted on tune see e5 as it is on new needs. True when the tune part's e5 scores stay
    in-sample (no cross-fitted file for this adapter)."""
    from api.config import load_settings
    from matcher.embedders.e5_adapter import load_adapter
    from matcher.embedders.e5_small import SHIPPED_ADAPTER

    settings = load_settings()
    if not (primary or settings.embedder).strip().startswith("e5-market"):
        return False
    path = cross_fitted_path(settings.data_dir, load_adapter(SHIPPED_ADAPTER).digest)
    if not path.exists():
        print(f"(tune part: e5 scores are in-sample, {path} not found)\n")
        return True
    data = np.load(path)
    if [str(x) for x in data["ids"]] != list(ids):
        raise SystemExit(f"{path}: made over other achievements")
    for need in tune:
        scores[need]["dense"] = data[need]
    print(f"(tune part: e5 scores cross-fitted, {path.name})\n")
    return False


# -- the graph features the judged needs can carry -------------------------------------------------------------
#: the chain family: the judged needs have no enterprise, region, budget or history around them, so the other
#: graph features are 0 here as they would be for such needs in the service
CHAIN = ("chain_same_segment", "chain_adjacent", "chain_same_chain")
#: where a need's chain relation to every achievement rides along with its channel scores (docs x CHAIN)
CHAIN_KEY = "graph:chain"


def chain_features(ids: Sequence[str], need_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Every need's chain relation to every achievement (docs x :data:`CHAIN`, 0 / 1), from the segments the
    ingest's placer gives both (``ingest.classify.default_placer``: achievements by their market label and text,
    needs by text, as ``techmatch ingest`` places them) and the taxonomy's upstream edges: what
    ``matcher.features.chain.ChainFeatures`` reads from the graph for a need's own segments."""
    from graph.taxonomy import default_taxonomy
    from ingest.classify import default_placer
    from ingest.zhibei import achievement_from_record, clean_record, need_from_record
    from matcher.features.base import GraphContext, Segment
    from matcher.features.chain import chain_relation

    wanted = set(need_ids)
    achs = {a.id: a for a in (achievement_from_record(clean_record(json.loads(line)))
                              for line in ACH.open(encoding="utf-8") if line.strip())}
    needs = [need_from_record(clean_record(r)) for r in (json.loads(line) for line in REQ.open(encoding="utf-8")
                                                        if line.strip()) if r.get("id") in wanted]
    placer = default_placer()
    ach_segs = [frozenset(p.segment_id for p in pl) for pl in placer.place_many([achs[i] for i in ids])]
    need_segs = {n.id: {p.segment_id for p in pl} for n, pl in zip(needs, placer.place_many(needs), strict=True)}
    taxonomy = default_taxonomy()
    ctx = GraphContext()
    for seg in taxonomy.segments:
        ctx.segments[seg.id] = Segment(seg.id, seg.name, seg.chain_id, "", seg.order)
    for a, b in taxonomy.upstream_edges():
        ctx.downstream[a].add(b)
    column = {"same_segment": 0, "upstream": 1, "downstream": 1, "same_chain": 2}
    out = {}
    for need in need_ids:
        m = np.zeros((len(ids), len(CHAIN)), dtype=np.float32)
        known: dict[frozenset[str], str] = {}  # achievements share few segment sets: one relation each
        for i, segs in enumerate(ach_segs):
            if segs not in known:
                known[segs] = chain_relation(ctx, set(segs), need_segs.get(need, set()))[0]
            if known[segs]:
                m[i, column[known[segs]]] = 1.0
        out[need] = m
    return out


def attach_chains(scores: dict[str, dict[str, np.ndarray]], chains: Mapping[str, np.ndarray]) -> None:
    for need, per in scores.items():
        if need in chains:
            per[CHAIN_KEY] = chains[need]


def channels_of(per: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The channel scores of a need, without the graph features riding along."""
    return {c: s for c, s in per.items() if c != CHAIN_KEY}


def graph_bonus(per: Mapping[str, np.ndarray]) -> np.ndarray | float:
    """What the engine adds to the fused score for the chain features (``GRAPH_WEIGHTS``, the fused score's
    units): part of the score users see."""
    from matcher.tuning import GRAPH_WEIGHTS

    if CHAIN_KEY not in per:
        return 0.0
    return per[CHAIN_KEY] @ np.array([GRAPH_WEIGHTS[f] for f in CHAIN], dtype=np.float32)


# -- systems ----------------------------------------------------------------------------------------------------
Ranker = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def run_of(ranker: Ranker, scores: Mapping[str, Mapping[str, np.ndarray]], ids: Sequence[str],
           needs: Sequence[str]) -> dict[str, list[tuple[str, float]]]:
    run = {}
    for need in needs:
        s = ranker(scores[need])
        top = np.argsort(-s, kind="stable")[:TOP]
        run[need] = [(ids[i], float(s[i])) for i in top]
    return run


def rrf(channels: Sequence[str]) -> Ranker:
    from matcher.fusion import rankdata

    def rank(per: Mapping[str, np.ndarray]) -> np.ndarray:
        return sum(1.0 / (RRF_K + rankdata(-per[c])) for c in channels)  # type: ignore[return-value]

    return rank


def dense_prf(fusion: object, unit_rows: np.ndarray, k: int, beta: float) -> Ranker:
    """Pseudo-relevance feedback on a dense channel: the fused score plus β × the rank-normal similarity of each
    achievement to the centroid of the fused top ``k``."""
    from matcher.fusion import rank_normal

    def rank(per: Mapping[str, np.ndarray]) -> np.ndarray:
        fused = fusion.combine(channels_of(per)).score  # type: ignore[attr-defined]
        centroid = unit_rows[np.argsort(-fused)[:k]].mean(axis=0)
        return fused + beta * rank_normal(unit_rows @ centroid)

    return rank


def features(per: Mapping[str, np.ndarray], channels: Sequence[str], with_z: bool,
             with_chain: bool = False) -> np.ndarray:
    """Per achievement: each channel's rank-normal score (and background z-score; and the chain features)."""
    from matcher.fusion import background_z, rank_normal

    cols = []
    for c in channels:
        z = background_z(per[c])
        cols.append(rank_normal(per[c], z))
        if with_z:
            cols.append(z)
    if with_chain:
        cols.extend(per[CHAIN_KEY].T)
    return np.stack(cols, axis=1).astype(np.float64)


def fit_learned(scores: Mapping[str, Mapping[str, np.ndarray]], ids: Sequence[str], qrels: Qrels,
                channels: Sequence[str], with_z: bool, c: float = 1.0, with_chain: bool = False) -> np.ndarray:
    """Logistic regression of "grade ≥ 1" over the judged pairs of ``qrels``; the coefficient vector."""
    from sklearn.linear_model import LogisticRegression

    pos = {a: i for i, a in enumerate(ids)}
    x, y = [], []
    for need, grades in qrels.items():
        f = features(scores[need], channels, with_z, with_chain)
        for ach, g in grades.items():
            if ach in pos:
                x.append(f[pos[ach]])
                y.append(int(g >= 1))
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(np.array(x), np.array(y))
    return model.coef_[0]


def linear(coef: np.ndarray, channels: Sequence[str], with_z: bool, with_chain: bool = False) -> Ranker:
    return lambda per: features(per, channels, with_z, with_chain) @ coef


def tune_folds(tune: Qrels) -> list[tuple[list[str], Qrels]]:
    """The fixed cross-validation folds over the tune needs: (held-out needs, the judgements of the others)."""
    import random

    order = sorted(tune)
    random.Random(CV_SEED).shuffle(order)
    folds = []
    for k in range(CV_FOLDS):
        held = order[k::CV_FOLDS]
        folds.append((held, {n: tune[n] for n in order if n not in set(held)}))
    return folds


def cross_validated(scores: Mapping[str, Mapping[str, np.ndarray]], ids: Sequence[str], tune: Qrels,
                    channels: Sequence[str], with_z: bool, with_chain: bool = False
                    ) -> dict[str, list[tuple[str, float]]]:
    """A run over the tune needs in which every need is ranked by learned weights fitted without its fold."""
    run: dict[str, list[tuple[str, float]]] = {}
    for held, rest in tune_folds(tune):
        coef = fit_learned(scores, ids, rest, channels, with_z, with_chain=with_chain)
        run.update(run_of(linear(coef, channels, with_z, with_chain), scores, ids, held))
    return run


def per_need_table(mine: Scores, others: Sequence[Scores], length: Mapping[str, int]) -> str:
    """The pipeline's wins / ties / losses in nDCG@10 against each other system, by need length (terciles over
    the needs compared), and the needs it gained or lost most on (ids)."""
    needs = sorted(mine.per_need["ndcg@10"], key=lambda n: length[n])
    cuts = [needs[len(needs) // 3], needs[2 * len(needs) // 3]]
    bands = [(f"short (< {length[cuts[0]]} characters)", lambda n: length[n] < length[cuts[0]]),
             (f"middle ({length[cuts[0]]}–{length[cuts[1]] - 1})",
              lambda n: length[cuts[0]] <= length[n] < length[cuts[1]]),
             (f"long (≥ {length[cuts[1]]})", lambda n: length[n] >= length[cuts[1]])]
    lines = ["| against | " + " | ".join(b for b, _ in bands) + " | largest gains | largest losses |",
             "|---|" + "---|" * (len(bands) + 2)]
    for other in others:
        diff = {n: mine.per_need["ndcg@10"][n] - other.per_need["ndcg@10"][n] for n in needs}
        cells = []
        for _, inside in bands:
            d = [v for n, v in diff.items() if inside(n)]
            cells.append(f"{sum(v > 1e-9 for v in d)}/{sum(abs(v) <= 1e-9 for v in d)}/{sum(v < -1e-9 for v in d)}")
        ranked = sorted(diff.items(), key=lambda kv: kv[1])
        gains = ", ".join(f"{n} {v:+.2f}" for n, v in reversed(ranked[-3:]) if v > 1e-9)
        losses = ", ".join(f"{n} {v:+.2f}" for n, v in ranked[:3] if v < -1e-9)
        lines.append(f"| {other.name} | " + " | ".join(cells) + f" | {gains} | {losses} |")
    return "\n".join(lines)


# -- the confidence curve ---------------------------------------------------------------------------------------
def judged_rows(scores: Mapping[str, Mapping[str, np.ndarray]], ids: Sequence[str], qrels: Qrels,
                channels: Sequence[str], ranker: Ranker) -> dict[str, tuple[np.ndarray, np.ndarray, list[tuple]]]:
    """Per need: z-scores (docs x channels), the final ranking score of every doc, and its judged (doc, rel)."""
    from matcher.fusion import background_z

    pos = {a: i for i, a in enumerate(ids)}
    out = {}
    for need, grades in qrels.items():
        per = scores[need]
        z = np.stack([background_z(per[c]) for c in channels], axis=1).astype(np.float64)
        out[need] = (z, ranker(per).astype(np.float64), [(pos[a], g >= 1) for a, g in grades.items() if a in pos])
    return out


class TwoStage:
    """Stage 1: channel z-scores → supply weights; stage 2: (final score, supply) → P(relevant)."""

    def __init__(self, rows: Mapping[str, tuple[np.ndarray, np.ndarray, list[tuple]]]) -> None:
        from sklearn.linear_model import LogisticRegression

        x1 = np.array([z[i] for z, _, judged_ in rows.values() for i, _ in judged_])
        y = np.array([int(r) for _, _, judged_ in rows.values() for _, r in judged_])
        self.weights = LogisticRegression(C=1.0, max_iter=2000).fit(x1, y).coef_[0]
        x2 = np.array([[s[i], self.supply(z)] for z, s, judged_ in rows.values() for i, _ in judged_])
        stage2 = LogisticRegression(C=1.0, max_iter=2000).fit(x2, y)
        self.a, self.b = stage2.coef_[0]
        self.intercept = float(stage2.intercept_[0])

    def supply(self, z: np.ndarray) -> float:
        return float((z @ self.weights).max())

    def confidence(self, score: np.ndarray | float, supply: float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.intercept + self.a * np.asarray(score) + self.b * supply)))


class Shipped:
    """The curve in matcher/tuning.py for these channels, read the way the engine reads it."""

    def __init__(self, channels: Sequence[str]) -> None:
        from matcher.confidence import curve_for

        self.curve = curve_for(channels)
        self.channels = list(channels)

    def supply(self, z: np.ndarray) -> float:
        return self.curve.supply_strength({c: z[:, j] for j, c in enumerate(self.channels)})

    def confidence(self, score: np.ndarray | float, supply: float) -> np.ndarray:
        co = self.curve.coefficients
        logit = self.curve.intercept + co.get("fused", 0.0) * np.asarray(score) + co.get("supply", 0.0) * supply
        return 1.0 / (1.0 + np.exp(-logit))


def confidences(curve: TwoStage | Shipped, rows: Mapping[str, tuple[np.ndarray, np.ndarray, list[tuple]]]
                ) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """(top-1 confidence per need, confidence and relevance of every judged pair)."""
    top, conf, rel = {}, [], []
    for need, (z, s, judged_) in rows.items():
        sup = curve.supply(z)
        top[need] = float(curve.confidence(s.max(), sup))
        for i, r in judged_:
            conf.append(float(curve.confidence(s[i], sup)))
            rel.append(r)
    return top, np.array(conf), np.array(rel, dtype=float)


def reliability(conf: np.ndarray, rel: np.ndarray, edges: Sequence[float] = (0, .02, .05, .1, .2, .4, 1.0001)) -> str:
    lines = ["| confidence | pairs | mean confidence | share judged relevant |", "|---|---|---|---|"]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf >= lo) & (conf < hi)
        if m.any():
            lines.append(f"| {lo:.2f}–{min(hi, 1):.2f} | {int(m.sum())} | {conf[m].mean():.3f} | {rel[m].mean():.3f} |")
    return "\n".join(lines)


def auc_interval(top: Mapping[str, float], supply: Mapping[str, bool], seed: int = 7) -> str:
    s = Scores(name="", per_need={}, top=dict(top), supply={n: supply[n] for n in top})
    return str(s.estimate("gap_auc", seed))


def one_sided_low(top: Mapping[str, float], supply: Mapping[str, bool], seed: int = 7) -> float:
    """The 5th percentile of gap_auc over needs resampled with replacement: above 0.5 means better than chance
    by a one-sided test at 5 % (the question is directional: does the score tell gaps at all)."""
    s = Scores(name="", per_need={}, top=dict(top), supply={n: supply[n] for n in top})
    return float(np.percentile(s.bootstrap("gap_auc", seed), 5))


def loo_top(rows: Mapping[str, tuple[np.ndarray, np.ndarray, list[tuple]]]) -> dict[str, float]:
    """Each tune need's top confidence from a curve fitted without it (the decision rule reads this)."""
    out = {}
    for need in rows:
        curve = TwoStage({n: r for n, r in rows.items() if n != need})
        z, s, _ = rows[need]
        out[need] = float(curve.confidence(s.max(), curve.supply(z)))
    return out


def need_lengths(need_ids: Sequence[str]) -> dict[str, int]:
    """Characters of each need's text as the engine reads it (name and description)."""
    from ingest.zhibei import clean_record, need_from_record

    wanted = set(need_ids)
    records = (json.loads(line) for line in REQ.open(encoding="utf-8") if line.strip())
    return {n.id: len(n.text) for n in (need_from_record(clean_record(r)) for r in records if r.get("id") in wanted)}


# -- report -----------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", action="store_true", help="print the CURVES entries and fusion weights to paste")
    ap.add_argument("--no-cache", action="store_true", help="score the needs again (not from the cache)")
    ap.add_argument("--against", metavar="PRIMARY;EXTRAS",
                    help="also score the pipeline with these encoders (e.g. 'e5-small@512;use-m3@512') and compare")
    ap.add_argument("--against-query-chars", metavar="N,M",
                    help="also score the pipeline with the dense encoders reading this much of a need (e5, USE; "
                         "with --against: its encoders) and compare")
    args = ap.parse_args()
    from matcher.fusion import LearnedFusion, RankNormalFusion, ZScoreFusion
    from matcher.tuning import CHANNEL_WEIGHTS, LEARNED_FUSION

    t0 = time.perf_counter()
    ids, scores, name_twice, vectors = channel_scores(args.no_cache)
    parts = split()
    tune, report, shared_dev = judged("tune"), judged("report"), dev()
    in_sample = cross_fitted(scores, ids, tune, None)
    if in_sample and args.fit:
        sys.exit("the primary encoder was trained on the tune needs and no cross-fitted scores were found: run "
                 "python scripts/train_e5_adapter.py --cross-fit 3 first (a curve fitted on in-sample e5 scores "
                 "would trust e5 more than it deserves on new needs)")
    chains = chain_features(ids, sorted(set(tune) | set(report) | set(shared_dev)))
    attach_chains(scores, chains)
    attach_chains(name_twice, chains)
    channels = [c for c in ("bm25_words", "char_ngram", "dense", "dense_use_m3") if c in next(iter(scores.values()))]
    lexical = [c for c in channels if not c.startswith("dense")]
    print(f"# Judged-set quality ({len(ids)} achievements; tune {len(tune)} needs, report {len(report)} needs, "
          f"shared dev {len(shared_dev)}; channels {', '.join(channels)}; "
          f"scores in {time.perf_counter() - t0:.0f} s)\n")
    assert not set(tune) & set(report) and all(parts[n] == "tune" for n in tune)

    rank_normal = RankNormalFusion(CHANNEL_WEIGHTS)
    shipped = LearnedFusion(LEARNED_FUSION["rank_normal"], LEARNED_FUSION["z"])
    systems: dict[str, Ranker] = {c: (lambda per, c=c: per[c]) for c in channels}
    systems["rrf3 (bm25, char, e5)"] = rrf(["bm25_words", "char_ngram", "dense"])
    systems["rrf4"] = rrf(channels)
    # the pipeline is the score users see: the engine's fusion plus the chain features at GRAPH_WEIGHTS
    systems[PIPELINE] = lambda per: shipped.combine(channels_of(per)).score + graph_bonus(per)
    systems["rank-normal, equal weights (the fusion before)"] = lambda per: rank_normal.combine(
        channels_of(per)).score
    systems["lexical engine: z-score fusion"] = lambda per: ZScoreFusion(CHANNEL_WEIGHTS).combine(
        {c: per[c] for c in lexical}).score + graph_bonus(per)
    learned = {}
    for with_z, with_chain, name in ((False, False, "learned: rank-normal weights (LR on tune)"),
                                     (True, False, "learned: rank-normal + z (LR on tune)"),
                                     (True, True, "learned: rank-normal + z + chain features (LR on tune)")):
        coef = fit_learned(scores, ids, tune, channels, with_z, with_chain=with_chain)
        learned[name] = coef
        systems[name] = linear(coef, channels, with_z, with_chain)

    print("## Choosing the fusion on tune (5-fold cross-validation over the tune needs)\n")
    equal = score("rank-normal, equal weights", run_of(systems["rank-normal, equal weights (the fusion before)"],
                                                       scores, ids, list(tune)), tune)
    print("| fusion | nDCG@10 | Δ vs equal weights (p) | wins/ties/losses |\n|---|---|---|---|")
    print(f"| rank-normal, equal weights | {equal.estimate('ndcg@10')} | | |")
    for with_z, with_chain, label in ((False, False, "rank-normal, learned weights"),
                                      (True, False, "rank-normal + z, learned weights"),
                                      (True, True, "rank-normal + z + chain features, learned weights")):
        cv = score(label, cross_validated(scores, ids, tune, channels, with_z, with_chain), tune)
        d, p = paired_test(cv, equal, "ndcg@10")
        w, t, lo = wins_losses(cv, equal)
        print(f"| {label} | {cv.estimate('ndcg@10')} | {d:+.3f} ({p:.3g}) | {w}/{t}/{lo} |")
    print()

    # tried, not kept (docs/matcher.md): decided on tune, checked once on report
    unit = {c: v / np.linalg.norm(v, axis=1, keepdims=True) for c, v in vectors.items()}
    systems["tried: dense PRF (e5, top 5, β 0.1)"] = dense_prf(rank_normal, unit["dense"], 5, 0.1)
    tried_name = "tried: need name repeated in the query"

    against = None
    if args.against or args.against_query_chars:
        primary, _, extras = (args.against or "").partition(";")
        chars = tuple(int(c) for c in args.against_query_chars.split(",")) if args.against_query_chars else None
        against = channel_scores(args.no_cache, (primary, extras) if args.against else None, chars)
        cross_fitted(against[1], ids, tune, primary or None)
        attach_chains(against[1], chains)
        assert against[0] == ids, "the two runs ranked different achievements"
        against_label = " ".join(filter(None, [args.against, args.against_query_chars
                                               and f"queries cut to {args.against_query_chars} characters"]))
    for part_name, qrels in (("report", report), ("tune", tune), ("shared dev (20)", shared_dev)):
        rows = {name: score(name, run_of(r, scores, ids, list(qrels)), qrels) for name, r in systems.items()}
        if against is not None:
            name = f"pipeline with {against_label}"
            rows[name] = score(name, run_of(systems[PIPELINE], against[1], ids,
                                            list(qrels)), qrels)
            for channel in ("dense", "rrf3 (bm25, char, e5)"):
                label = f"{channel} with {against_label}"
                rows[label] = score(label, run_of(systems[channel], against[1], ids, list(qrels)), qrels)
        pipeline_ranker = systems[PIPELINE]
        rows[tried_name] = score(tried_name, run_of(pipeline_ranker, name_twice, ids, list(qrels)), qrels)
        best_single = max((rows[c] for c in channels), key=lambda s: s.mean("ndcg@10"))
        baseline = rows["rrf3 (bm25, char, e5)"]
        print(f"## Rankings on the {part_name} part\n")
        print(f"| system | nDCG@10 | Recall@10 | MRR | Δ nDCG vs best channel ({best_single.name}) p | "
              f"Δ vs rrf3 p | wins/ties/losses vs rrf3 |")
        print("|---|---|---|---|---|---|---|")
        for name, s in rows.items():
            d1, p1 = paired_test(s, best_single, "ndcg@10") if s is not best_single else (0.0, 1.0)
            d2, p2 = paired_test(s, baseline, "ndcg@10") if s is not baseline else (0.0, 1.0)
            w, t, lo = wins_losses(s, baseline)
            print(f"| {name} | {s.estimate('ndcg@10')} | {s.estimate('recall@10')} | {s.estimate('mrr')} | "
                  f"{d1:+.3f} ({p1:.3g}) | {d2:+.3f} ({p2:.3g}) | {w}/{t}/{lo} |")
        if against is not None:
            mine, theirs = rows[PIPELINE], rows[f"pipeline with {against_label}"]
            d, p = paired_test(mine, theirs, "ndcg@10")
            w, t, lo = wins_losses(mine, theirs)
            print(f"\nPipeline with the configured encoders against the pipeline with {against_label}: Δ nDCG@10 "
                  f"{d:+.4f} (paired randomisation p {p:.3g}), wins/ties/losses {w}/{t}/{lo}")
        if part_name == "report":
            print("\nThe pipeline need by need on the report part (nDCG@10 wins/ties/losses by the need's length, the "
                  "length the engine reads; needs with supply):\n")
            others = [rows["rank-normal, equal weights (the fusion before)"], best_single, baseline]
            print(per_need_table(rows[PIPELINE], others, need_lengths(list(qrels))))
        judged_at10 = {name: np.mean([sum(a in qrels[n] for a, _ in run_of(systems[name], scores, ids, [n])[n][:10])
                                      / 10 for n in qrels]) for name in systems if not name.startswith("tried")}
        print("\njudged@10 (share of the top 10 that was judged; unjudged count as not relevant): "
              + ", ".join(f"{n} {v:.2f}" for n, v in judged_at10.items()) + "\n")

    # confidence ---------------------------------------------------------------------------------------------
    print("## The confidence users see\n")
    one_encoder = [c for c in channels if c != "dense_use_m3"]
    pipeline = systems[PIPELINE]
    configs = [("default engine (four channels, learned fusion)", channels, pipeline),
               ("one encoder (e5 and the lexical channels, learned fusion)", one_encoder,
                lambda per: shipped.combine({c: per[c] for c in one_encoder}).score + graph_bonus(per)),
               ("lexical engine (no encoder, z-score fusion)", lexical, systems["lexical engine: z-score fusion"])]
    fits = {}
    for label, chans, ranker in configs:
        tune_rows = judged_rows(scores, ids, tune, chans, ranker)
        report_rows = judged_rows(scores, ids, report, chans, ranker)
        fitted = TwoStage(tune_rows)
        in_use = Shipped(chans)
        loo = loo_top(tune_rows)
        loo_auc = auc_interval(loo, has_supply(tune))
        tells = one_sided_low(loo, has_supply(tune)) > 0.5
        fits[label] = (chans, fitted, loo, tells)
        print(f"### {label}\n")
        print("| curve | report: gap_auc [95 % CI] | report: Brier | report: mean confidence / share relevant |")
        print("|---|---|---|---|")
        for name, curve in (("fitted on tune", fitted), ("in matcher/confidence.py now", in_use)):
            top, conf, rel = confidences(curve, report_rows)
            brier = float(np.mean((conf - rel) ** 2))
            print(f"| {name} | {auc_interval(top, has_supply(report))} | {brier:.4f} | "
                  f"{conf.mean():.3f} / {rel.mean():.3f} |")
        print(f"\ntune, leave-one-need-out gap_auc: {loo_auc}; better than chance by a one-sided bootstrap test at "
              f"5 % (the rule for showing gap verdicts): {'yes' if tells else 'no'}\n")
        _, conf, rel = confidences(fitted, report_rows)
        print("Reliability on the report part (curve fitted on tune):\n")
        print(reliability(conf, rel) + "\n")

    if args.fit:
        from matcher.confidence import youden_threshold

        print("## To paste\n")
        for label, (chans, fitted, loo, tells) in fits.items():
            supply = has_supply(tune)
            cut = youden_threshold([loo[n] for n in loo], [supply[n] for n in loo])
            weights = dict(zip(list(chans), np.round(fitted.weights, 4).tolist(), strict=True))
            print(f"# {label}")
            print(f"frozenset({sorted(chans)}): Curve(\n"
                  f"    supply_weights={weights},\n"
                  f"    coefficients={{'fused': {fitted.a:.4f}, 'supply': {fitted.b:.4f}, 'bonus': {fitted.a:.4f}}},\n"
                  f"    intercept={fitted.intercept:.4f}, gap_threshold={cut:.4f},\n"
                  f"    loo_gap_auc={gap_auc(loo, supply):.2f}, tells_gaps={tells},\n),")
        for name, coef in learned.items():
            print(f"# {name}: {np.round(coef, 4).tolist()}")
        z_coef = learned["learned: rank-normal + z (LR on tune)"]
        print("LEARNED_FUSION = {\n"
              f"    \"rank_normal\": {dict(zip(channels, np.round(z_coef[0::2], 4).tolist(), strict=True))},\n"
              f"    \"z\": {dict(zip(channels, np.round(z_coef[1::2], 4).tolist(), strict=True))},\n}}")
        joint = learned["learned: rank-normal + z + chain features (LR on tune)"]
        n = 2 * len(channels)
        scale = float(np.abs(joint[:n]).sum())  # LearnedFusion's renormalisation: the bonus in the fused units
        print("# the chain features' weights fitted with the channels, in the fused score's units (not pasted: "
              "benchmarks/ranking_search.py found no gain from them on tune; GRAPH_WEIGHTS has them at 0): "
              + str({f: round(float(w) / scale, 3) for f, w in zip(CHAIN, joint[n:], strict=True)}))


if __name__ == "__main__":
    main()
