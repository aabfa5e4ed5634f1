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


class Fusion(Protocol):
    name: str

    def combine(self, channel_scores: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The fused score of every document, and each channel's normalised score (for features)."""


def background_z(scores: np.ndarray) -> np.ndarray:
    """How many standard deviations each document's score stands above the corpus mean for this query."""
    if scores.size == 0:
        return scores.astype(np.float32)
    mean = float(scores.mean())
    std = float(scores.std())
    if std <= 1e-12:
        return np.zeros_like(scores, dtype=np.float32)
    return np.clip((scores - mean) / std, -Z_CLIP, Z_CLIP).astype(np.float32)


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
