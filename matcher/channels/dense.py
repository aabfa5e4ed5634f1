"""Dense channel: cosine similarity of embeddings from any :class:`~matcher.embedders.base.Embedder`.

Vectors sit in one float32 matrix (rows = documents) and a query is one brute-force mat-vec: at 300k
documents × 384 dimensions that is ~20-40 ms on two cores, below the cost of encoding the query itself,
so an approximate index would add complexity without changing the latency that matters. Edits overwrite
a row in place; removals mark the row dead; new rows go into spare capacity (the matrix grows by doubling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.channels.base import Hit
from matcher.embedders.base import Embedder


class DenseChannel:
    name = "dense"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._reset()

    def _reset(self, capacity: int = 0) -> None:
        self._matrix = np.zeros((capacity, self.embedder.dim), dtype=np.float32)
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._alive = np.zeros(capacity, dtype=bool)
        self._live_cache: tuple[np.ndarray, list[str]] | None = None

    def fit(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        latest = dict(zip(ids, texts, strict=True))
        self.fit_vectors(list(latest), self.embedder.embed_passages([t or "" for t in latest.values()]))

    def fit_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Build from vectors computed elsewhere (benchmarks, a precomputed cache)."""
        self._reset(len(ids))
        self._matrix[: len(ids)] = vectors
        self._ids = list(ids)
        self._pos = {d: i for i, d in enumerate(self._ids)}
        self._alive[: len(ids)] = True

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        if not ids:
            return
        vecs = self.embedder.embed_passages([t or "" for t in texts])
        for doc_id, vec in zip(ids, vecs, strict=True):
            pos = self._pos.get(doc_id)
            if pos is None:
                pos = len(self._ids)
                if pos >= self._matrix.shape[0]:
                    grow = max(16, self._matrix.shape[0])
                    self._matrix = np.vstack([self._matrix, np.zeros((grow, self.embedder.dim), np.float32)])
                    self._alive = np.concatenate([self._alive, np.zeros(grow, dtype=bool)])
                self._ids.append(doc_id)
                self._pos[doc_id] = pos
            self._matrix[pos] = vec
            self._alive[pos] = True
        self._live_cache = None

    def remove(self, ids: Sequence[str]) -> None:
        for doc_id in ids:
            pos = self._pos.pop(doc_id, None)
            if pos is not None:
                self._alive[pos] = False
        self._live_cache = None

    def _live(self) -> tuple[np.ndarray, list[str]]:
        if self._live_cache is None:
            positions = np.flatnonzero(self._alive[: len(self._ids)])
            self._live_cache = (positions, [self._ids[p] for p in positions])
        return self._live_cache

    @property
    def doc_ids(self) -> list[str]:
        return self._live()[1]

    def __len__(self) -> int:
        return len(self._pos)

    def query_vector(self, query: str) -> np.ndarray:
        return self.embedder.embed_queries([query or ""])[0]

    def scores_for_vector(self, qvec: np.ndarray) -> np.ndarray:
        positions, _ = self._live()
        full = self._matrix[: len(self._ids)] @ qvec.astype(np.float32)
        return full[positions] if len(positions) != len(full) else full

    def scores(self, query: str) -> np.ndarray:
        return self.scores_for_vector(self.query_vector(query))

    def search(self, query: str, k: int = 10) -> list[Hit]:
        s = self.scores(query)
        if not len(s):
            return []
        ids = self.doc_ids
        k = min(k, len(s))
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        return [Hit(ids[i], float(s[i])) for i in top]
