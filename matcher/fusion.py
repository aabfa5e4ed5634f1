"""Fusing channel scores into one ranking score.

Each channel scores *every* document for a query. Two normalisations of a channel's scores are computed:

- the **background z-score** (:func:`background_z`): how many standard deviations a document stands above the
  other documents for this query, in units that mean the same for BM25, cosine of n-grams and cosine of
  embeddings and from one query to the next: an *absolute* signal. The calibrated confidence and the gap
  decision read it (:mod:`matcher.confidence`): a need whose best candidate stands only 2σ above the background
  has no real supply, whatever the raw cosine says (e5 cosines sit at 0.84-0.91 for everything).
- the **rank-normal score** (:func:`rank_normal`): the document's rank in the channel mapped to the standard
  normal quantile, ``Φ⁻¹(1 - rank / (N + 1))`` (the rank-based inverse normal transform, van der Waerden
  scores). It keeps only the order, so one channel's heavy tail (a rare-term BM25 hit at 15σ) or compressed
  range (e5) cannot outvote the others, and it stays in σ-like units, so graph features can still be added
  to it. It is the *ranking* signal.

:class:`RankNormalFusion` (the default) ranks by the weighted mean of the rank-normal scores; it behaves like
reciprocal-rank fusion (each channel's top of the list counts most) but on a scale graph features and the
feedback re-ranker can add to. On the shared dev needs with the four default channels it ranks best of the
three (``python benchmarks/need_achievement.py``; table in ``benchmarks/README.md``). The z-score mean
(:class:`ZScoreFusion`) and RRF (:class:`RRFFusion`) are kept as measured baselines. Every constant here is in
:mod:`matcher.tuning`, with where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
from scipy.special import ndtri

from matcher.tuning import BACKGROUND_PRIOR, EXACT_RANKS_UP_TO, RRF_K, TOP_EXACT, Z_CLIP


class Fused(NamedTuple):
    """A fusion's output, every array aligned with the documents."""

    score: np.ndarray  #: the fused ranking score
    z: dict[str, np.ndarray]  #: each channel's background z-score (features, confidence)
    parts: dict[str, np.ndarray]  #: each channel's weighted share of ``score`` (contributions; they sum to it)


@runtime_checkable
class Fusion(Protocol):
    name: str

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> Fused:
        """The fused score of every document, each channel's z-score and each channel's share of the score."""


def rankdata(values: np.ndarray, method: str = "average") -> np.ndarray:
    """Ranks 1..n of ``values`` in ascending order, tied values sharing their average rank (``scipy.stats.rankdata``
    with ``method="average"``, without importing scipy.stats: seconds of a service's start-up)."""
    if method != "average":
        raise ValueError("only average ranks")
    v = np.asarray(values)
    n = v.size
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    starts = np.flatnonzero(np.concatenate([[True], sv[1:] != sv[:-1]]))
    ends = np.concatenate([starts[1:], [n]])
    avg = (starts + ends + 1) / 2.0  # ranks start+1 .. end, averaged
    out = np.empty(n, dtype=np.float64)
    out[order] = np.repeat(avg, ends - starts)
    return out


def background_z(scores: np.ndarray) -> np.ndarray:
    """How many standard deviations each document's score stands above the background of the *other*
    documents for this query (a leave-one-out z with a shrunk background variance).

    The plain z of one document among N cannot exceed sqrt(N-1) (the document inflates the std it is measured
    in), so on a small corpus (71 demo achievements: at most 8.4σ) every strong match saturates at one value
    and a curve fitted on a large corpus reads it as weak. Leaving the document out of its own background
    removes that ceiling, but on a small *sparse* corpus the others may all score 0 and their std is no
    estimate at all; so the background variance is the others' variance pooled with :data:`BACKGROUND_PRIOR`
    pseudo-documents at the whole corpus's variance (the plain z's). For large N this is the leave-one-out z
    (2,810 documents: within 1-2% of the plain z below the clip); for a handful of documents it is about the
    plain z.

    Computed on centred float32 values (a handful of passes, ~1 ms per 300k scores); the sums in float64.
    """
    if scores.size == 0:
        return scores.astype(np.float32)
    n = scores.size
    c = np.asarray(scores, dtype=np.float32) - np.float32(scores.mean(dtype=np.float64))
    c2 = c * c
    ss = float(c2.sum(dtype=np.float64))
    var_all = ss / n
    if var_all <= 1e-24 or n < 3:
        return np.zeros(n, dtype=np.float32)
    if n > EXACT_RANKS_UP_TO:
        # leaving one document out moves the background std by at most z²/2n: 0.04% at z = 12 and n = 200k;
        # the plain z costs 3 passes over the scores instead of 12 (300k: ~1 ms instead of ~3)
        c *= np.float32(1.0 / np.sqrt(var_all))
        return np.clip(c, -Z_CLIP, Z_CLIP, out=c)
    # with centred values the others' mean is -c/(n-1) and their variance (ss - c²)/(n-1) - (c/(n-1))²
    k = np.float32(1.0 / (n - 1))
    var_o = (np.float32(ss) - c2) * k
    var_o -= c2 * (k * k)
    np.maximum(var_o, 0.0, out=var_o)
    # pooled with the prior: ((n-1)·var_o + prior·var_all) / (n-1+prior)
    var_o *= np.float32((n - 1) / (n - 1 + BACKGROUND_PRIOR))
    var_o += np.float32(BACKGROUND_PRIOR * var_all / (n - 1 + BACKGROUND_PRIOR))
    z = c * np.float32(1.0 + 1.0 / (n - 1))
    z /= np.sqrt(var_o)
    return np.clip(z, -Z_CLIP, Z_CLIP, out=z)


def rank_normal(scores: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
    """``Φ⁻¹(1 - rank / (N + 1))`` of every document (rank 1 = best score, ties share their average rank).

    Up to :data:`EXACT_RANKS_UP_TO` documents every rank is exact. Above, the top :data:`TOP_EXACT` are exact
    (they decide the ranking) and the rest take their background z-score (``z``, computed when not given)
    capped under the value of rank ``TOP_EXACT``: a rank-normal score is the z-score of a normally distributed
    channel, and a full sort of 300k scores per channel would cost more than the rest of the query.
    """
    s = np.asarray(scores, dtype=np.float32)
    n = s.size
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    if n <= EXACT_RANKS_UP_TO:
        return (-ndtri(rankdata(-s, method="average") / (n + 1))).astype(np.float32)
    top = top_indices(s, TOP_EXACT)
    vals = s[top]
    order = np.argsort(-vals, kind="stable")
    top, vals = top[order], vals[order]
    # ranks with ties averaged: a group of equal values after `start` better ones has ranks start+1..start+count;
    # the last group may continue past the top (e.g. many documents at BM25 0): count it in the whole corpus
    _, starts, counts = np.unique(-vals, return_index=True, return_counts=True)
    last = s == vals[-1]
    counts[-1] = int(np.count_nonzero(last))
    avg_rank = np.repeat(starts + (counts + 1) / 2.0, np.diff(np.append(starts, len(vals))))
    last_value = np.float32(-ndtri(avg_rank[-1] / (n + 1)))
    # below every exact one, so the order is kept across the boundary
    tail_cap = min(np.float32(-ndtri((TOP_EXACT + 1) / (n + 1))), last_value)
    out = np.minimum(background_z(s) if z is None else z, tail_cap).astype(np.float32)
    out[last] = last_value  # equal scores, equal values, inside the top or not
    out[top] = -ndtri(avg_rank / (n + 1))
    return out


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` highest scores (in no order; ``k`` ≤ len). A threshold read off a strided
    sample keeps the partition to a few thousand candidates: 0.4 ms instead of 2.4 ms at 300k scores. When ties
    or an unlucky sample leave fewer than ``k`` above it, the full partition is used."""
    n = scores.size
    stride = max(1, n // 8192)
    if stride == 1:
        return np.argpartition(scores, n - k)[n - k :]
    sample = scores[::stride]
    m = sample.size
    j = min(m - 1, int(1.5 * k * m / n) + 8)  # ~1.5x the sample rank of the k-th score, plus a margin
    threshold = np.partition(sample, m - 1 - j)[m - 1 - j]
    candidates = np.flatnonzero(scores >= threshold)
    if candidates.size < k:
        return np.argpartition(scores, n - k)[n - k :]
    sub = scores[candidates]
    return candidates[np.argpartition(sub, sub.size - k)[sub.size - k :]]


class RankNormalFusion:
    """Weighted mean of per-channel rank-normal scores (weights renormalised over the channels present);
    see the module docstring."""

    name = "rank_normal"

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or {})

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> Fused:
        zs = {name: background_z(np.asarray(s, dtype=np.float32)) for name, s in channel_scores.items()}
        total = sum(self.weights.get(n, 1.0) for n in zs) or 1.0
        parts = {
            name: np.float32(self.weights.get(name, 1.0) / total) * rank_normal(s, zs[name])
            for name, s in channel_scores.items()
        }
        return Fused(_sum(parts, len(next(iter(zs.values()))) if zs else 0), zs, parts)


def _sum(parts: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    for p in parts.values():
        out += p
    return out


class ZScoreFusion:
    """Weighted mean of per-channel background z-scores (weights renormalised over the channels present)."""

    name = "zscore"

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or {})

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> Fused:
        zs = {name: background_z(np.asarray(s, dtype=np.float32)) for name, s in channel_scores.items()}
        total = sum(self.weights.get(n, 1.0) for n in zs) or 1.0
        parts = {n: np.float32(self.weights.get(n, 1.0) / total) * z for n, z in zs.items()}
        return Fused(_sum(parts, len(next(iter(zs.values()))) if zs else 0), zs, parts)


class LearnedFusion:
    """Each channel's rank-normal score and background z-score, weighted as a logistic regression of "judged
    relevant" over the judged set's tune part found them (``matcher.tuning.LEARNED_FUSION``, fitted by
    ``benchmarks/judged_quality.py --fit``): the order of every channel and, beside it, how far the document stands
    above the background in it. Weights are renormalised over the channels present so that their absolute values
    sum to 1 (σ-like units, as the rank-normal mean: graph features and the feedback re-ranker add to it); a channel
    without learned weights gets none (it does not count)."""

    name = "learned"

    def __init__(self, rank_weights: Mapping[str, float], z_weights: Mapping[str, float]) -> None:
        self.rank_weights = dict(rank_weights)
        self.z_weights = dict(z_weights)

    def _weights(self, names: Sequence[str]) -> dict[str, tuple[np.float32, np.float32]]:
        total = sum(abs(self.rank_weights.get(n, 0.0)) + abs(self.z_weights.get(n, 0.0)) for n in names) or 1.0
        return {n: (np.float32(self.rank_weights.get(n, 0.0) / total), np.float32(self.z_weights.get(n, 0.0) / total))
                for n in names}

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> Fused:
        zs = {name: background_z(np.asarray(s, dtype=np.float32)) for name, s in channel_scores.items()}
        parts = {}
        for name, (a, b) in self._weights(list(channel_scores)).items():
            parts[name] = a * rank_normal(channel_scores[name], zs[name]) + b * zs[name]
        return Fused(_sum(parts, len(next(iter(zs.values()))) if zs else 0), zs, parts)


def plain_z(scores: np.ndarray) -> np.ndarray:
    """Scores as plain z-scores over the documents, unclipped; all 0 when the scores are all equal (no signal)."""
    s = np.asarray(scores, dtype=np.float32)
    std = float(s.std())
    if std <= 0:
        return np.zeros_like(s)
    return (s - np.float32(s.mean())) / np.float32(std)


class ZSumFusion:
    """Weighted *sum* of per-channel plain z-scores, unclipped: how the solvers score works
    (:mod:`matcher.solvers.expertise`), where a solver's score then aggregates its works' and only works above the
    average (z > 0) count. Not the background z: a work whose title the query nearly repeats stands 20-40σ above
    the rest in the lexical channels, and clipping that at 12σ costs the expert search its best evidence (NSFC
    seed 1, ``benchmarks/expert_finding.py``: MRR 0.192 against 0.167)."""

    name = "zsum"

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or {})

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> Fused:
        zs = {name: plain_z(s) for name, s in channel_scores.items()}
        parts = {n: np.float32(self.weights.get(n, 1.0)) * z for n, z in zs.items()}
        return Fused(_sum(parts, len(next(iter(zs.values()))) if zs else 0), zs, parts)


class RRFFusion:
    """Reciprocal-rank fusion: Σ 1 / (k + rank). Robust ranking, but no absolute meaning."""

    name = "rrf"

    def __init__(self, k: float = RRF_K) -> None:
        self.k = k

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> Fused:
        zs, parts = {}, {}
        for name, s in channel_scores.items():
            s = np.asarray(s, dtype=np.float32)
            parts[name] = (1.0 / (self.k + rankdata(-s, method="average"))).astype(np.float32)
            zs[name] = background_z(s)
        return Fused(_sum(parts, len(next(iter(zs.values()))) if zs else 0), zs, parts)


class FusedAt(NamedTuple):
    """A fusion's output at one document: its fused score and shares, and every channel's z-scores (the
    supply strength reads the whole corpus's)."""

    score: float
    z: dict[str, np.ndarray]
    parts: dict[str, float]


def _rank_normal_at(s: np.ndarray, z: np.ndarray, pos: int) -> np.float32:
    """``rank_normal(s, z)[pos]`` in a few passes over ``s`` (no sort): what one document's rank-normal score is."""
    n = s.size
    v = s[pos]
    avg = np.count_nonzero(s > v) + (np.count_nonzero(s == v) + 1) / 2.0
    if n <= EXACT_RANKS_UP_TO:
        return np.float32(-ndtri(avg / (n + 1)))
    kth = np.partition(s, n - TOP_EXACT)[n - TOP_EXACT]  # the value of rank TOP_EXACT
    if v >= kth:  # inside the exact top, or tied with its last value
        return np.float32(-ndtri(avg / (n + 1)))
    last_avg = np.count_nonzero(s > kth) + (np.count_nonzero(s == kth) + 1) / 2.0
    last_value = np.float32(-ndtri(last_avg / (n + 1)))
    tail_cap = min(np.float32(-ndtri((TOP_EXACT + 1) / (n + 1))), last_value)
    return np.float32(min(np.float32(z[pos]), tail_cap))


def combine_at(fusion: Fusion, channel_scores: Mapping[str, np.ndarray], pos: int) -> FusedAt:
    """``fusion.combine(channel_scores)`` read at one document ``pos`` (the same values), in O(N) per channel
    instead of a rank of every document: how one document stands for many queries (achievement → enterprises
    scores the achievement against each candidate's text)."""
    if isinstance(fusion, (RankNormalFusion, ZScoreFusion)):
        zs = {name: background_z(np.asarray(s, dtype=np.float32)) for name, s in channel_scores.items()}
        total = sum(fusion.weights.get(n, 1.0) for n in zs) or 1.0
        parts: dict[str, float] = {}
        score = np.float32(0.0)
        for name, s in channel_scores.items():
            w = np.float32(fusion.weights.get(name, 1.0) / total)
            if isinstance(fusion, RankNormalFusion):
                value = w * _rank_normal_at(np.asarray(s, dtype=np.float32), zs[name], pos)
            else:
                value = w * zs[name][pos]
            parts[name] = float(value)
            score = np.float32(score + value)
        return FusedAt(float(score), zs, parts)
    if isinstance(fusion, LearnedFusion):
        zs = {name: background_z(np.asarray(s, dtype=np.float32)) for name, s in channel_scores.items()}
        parts = {}
        for name, (a, b) in fusion._weights(list(channel_scores)).items():
            rn = _rank_normal_at(np.asarray(channel_scores[name], dtype=np.float32), zs[name], pos)
            parts[name] = float(a * rn + b * zs[name][pos])
        return FusedAt(float(np.float32(sum(parts.values()))), zs, parts)
    fused = fusion.combine(channel_scores)
    return FusedAt(float(fused.score[pos]), fused.z, {n: float(p[pos]) for n, p in fused.parts.items()})
