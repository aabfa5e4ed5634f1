"""Fusing channel scores into one ranking score.

Each channel scores *every* document for a query, so a channel's score can be put against the corpus
background: ``z = (s - mean) / std`` over all documents says how far a document stands out for this query,
in units that mean the same for BM25, cosine of n-grams and cosine of embeddings, and the same from one
query to the next. That makes the fused score both a ranking and an absolute signal: a need whose best
candidate stands only 2σ above the background has no real supply, whatever the raw cosine says (e5 cosines
sit at 0.84-0.91 for everything). Reciprocal-rank fusion is kept as the measured baseline; it ranks well but
its top score is the same for every query, so it cannot say "nothing fits".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

#: z-scores are clipped: one rare-term BM25 hit must not outvote every other channel on its own
Z_CLIP = 12.0
#: weight, in documents, of the whole corpus's variance in a document's background variance (see background_z)
BACKGROUND_PRIOR = 20.0


class Fusion(Protocol):
    name: str

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The fused score of every document, and each channel's normalised score (for features)."""


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
    """
    if scores.size == 0:
        return scores.astype(np.float32)
    scores = scores.astype(np.float64)
    n = scores.size
    total, total_sq = float(scores.sum()), float((scores * scores).sum())
    var_all = max(total_sq / n - (total / n) ** 2, 0.0)
    if var_all <= 1e-24 or n < 3:
        return np.zeros_like(scores, dtype=np.float32)
    # mean and variance of the other n-1 documents, for every document at once
    mean_o = (total - scores) / (n - 1)
    var_o = np.maximum((total_sq - scores * scores) / (n - 1) - mean_o * mean_o, 0.0)
    var_bg = ((n - 1) * var_o + BACKGROUND_PRIOR * var_all) / (n - 1 + BACKGROUND_PRIOR)
    z = (scores - mean_o) / np.sqrt(var_bg)
    return np.clip(z, -Z_CLIP, Z_CLIP).astype(np.float32)


class ZScoreFusion:
    """Weighted mean of per-channel background z-scores (weights renormalised over the channels present)."""

    name = "zscore"

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or {})

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        zs = {name: background_z(np.asarray(s, dtype=np.float32)) for name, s in channel_scores.items()}
        if not zs:
            return np.zeros(0, dtype=np.float32), zs
        total = sum(self.weights.get(n, 1.0) for n in zs) or 1.0
        fused = sum(self.weights.get(n, 1.0) / total * z for n, z in zs.items())
        return np.asarray(fused, dtype=np.float32), zs


class RRFFusion:
    """Reciprocal-rank fusion: Σ 1 / (k + rank). Robust ranking, but no absolute meaning."""

    name = "rrf"

    def __init__(self, k: float = 60.0) -> None:
        self.k = k

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        fused: np.ndarray | None = None
        norm = {}
        for name, s in channel_scores.items():
            s = np.asarray(s, dtype=np.float32)
            order = np.argsort(-s, kind="stable")
            ranks = np.empty(len(s), dtype=np.float32)
            ranks[order] = np.arange(1, len(s) + 1, dtype=np.float32)
            rr = 1.0 / (self.k + ranks)
            norm[name] = background_z(s)
            fused = rr if fused is None else fused + rr
        return (fused if fused is not None else np.zeros(0, np.float32)), norm
