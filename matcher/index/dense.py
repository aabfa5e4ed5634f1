"""The dense channels' index: one row of floats per document position, scored by a BLAS mat-vec.

What a row holds is the channel's :class:`RowEncoding`:

- :class:`FullVectors`: the encoder's own unit vectors (any encoder, e.g. ``st:<model>``): score = row · q.
- a distilled passage encoder (:mod:`matcher.embedders.student`): a short shared *trunk* vector per
  document (128 floats + 1) from which every teacher's vector is a linear map H. Two channels (e5, USE) read
  the same rows; a query maps into row space as u = H q and the score is row · u / ‖row H‖, exactly the cosine
  of the student's full vector with the query. The rows are 3.5x smaller than e5's and USE's vectors together,
  and both channels cost one pass over them.

Rows are float32 (numpy BLAS; no torch): the base rows of a generation are memory-mapped, rows of documents
indexed later sit in a small block after them. A channel whose rows are not computed yet (the embedding job
is running) is present but not *ready*: queries are answered without it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from matcher.embedders.base import Embedder
from matcher.index.queries import QueryEncoder

#: BLAS threads for the product. One: on two shared cores a second thread waits for a busy core (3k × 384
#: mat-vec 12 ms with 2 OpenBLAS threads vs 0.08 ms with 1, measured under load), and query encoders use cores too
MATVEC_THREADS = 1

_BLAS = None
_BLAS_LOCK = threading.Lock()


def _blas():  # noqa: ANN202 - threadpoolctl's controller, built once (it inspects the loaded libraries)
    global _BLAS
    with _BLAS_LOCK:
        if _BLAS is None:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
    return _BLAS


class RowEncoding(Protocol):
    """How a dense channel turns passages into stored rows, and queries into the rows' space."""

    #: identity of the rows (encoder, version): rows with the same key are the same numbers
    key: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 rows, shape (len(texts), dim)."""

    def project(self, qvec: np.ndarray) -> np.ndarray:
        """The query vector in row space (the score is ``row · project(q) / norm(row)``)."""

    def norms(self, rows: np.ndarray) -> np.ndarray:
        """The per-row divisor of the score."""


class FullVectors:
    """Rows are the encoder's own unit vectors."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.key = getattr(embedder, "vector_key", embedder.name)
        self.dim = embedder.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.embedder.embed_passages([t or "" for t in texts]), dtype=np.float32)

    def project(self, qvec: np.ndarray) -> np.ndarray:
        return np.asarray(qvec, dtype=np.float32)

    def norms(self, rows: np.ndarray) -> np.ndarray:
        return np.ones(len(rows), dtype=np.float32)


def row_encoding(embedder: Embedder) -> RowEncoding:
    """The encoder's own row encoding when it has one (a distilled passage encoder), else its full vectors."""
    own = getattr(embedder, "row_encoding", None)
    return own if own is not None else FullVectors(embedder)


@dataclass(frozen=True)
class RowBlock:
    """Rows by position: base (memory-mapped) and the rows of documents indexed later."""

    base: np.ndarray
    tail: np.ndarray

    @classmethod
    def of(cls, base: np.ndarray) -> RowBlock:
        return cls(base, np.zeros((0, base.shape[1]), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.base) + len(self.tail)

    def appended(self, rows: np.ndarray) -> RowBlock:
        return replace(self, tail=np.concatenate([self.tail, np.asarray(rows, np.float32)]))

    def dot(self, u: np.ndarray) -> np.ndarray:
        """rows @ u for u of shape (dim,) or (dim, k): float32, one pass over the base rows."""
        with _blas().limit(limits=MATVEC_THREADS, user_api="blas"):
            out = self.base @ u if len(self.base) else np.zeros((0, *u.shape[1:]), np.float32)
            if len(self.tail):
                out = np.concatenate([out, self.tail @ u])
        return out.astype(np.float32, copy=False)

    def take(self, positions: np.ndarray) -> np.ndarray:
        nb = len(self.base)
        out = np.empty((len(positions), self.base.shape[1]), dtype=np.float32)
        in_base = positions < nb
        out[in_base] = self.base[positions[in_base]]
        out[~in_base] = self.tail[positions[~in_base] - nb]
        return out


@dataclass(frozen=True)
class DenseIndex:
    """One dense channel's snapshot: its query encoder, row encoding, and rows with their norms once ready."""

    name: str
    queries: QueryEncoder
    encoding: RowEncoding
    rows: RowBlock | None = None
    norms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def ready(self) -> bool:
        return self.rows is not None

    def with_rows(self, rows: RowBlock) -> DenseIndex:
        return replace(self, rows=rows, norms=self._norms(rows.base, rows.tail))

    def _norms(self, *blocks: np.ndarray) -> np.ndarray:
        parts = [self.encoding.norms(np.asarray(b[s : s + 65536], np.float32))
                 for b in blocks for s in range(0, len(b), 65536)]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)

    def with_appended(self, rows: np.ndarray) -> DenseIndex:
        if self.rows is None:
            return self
        return replace(self, rows=self.rows.appended(rows),
                       norms=np.concatenate([self.norms, self.encoding.norms(np.asarray(rows, np.float32))]))


def dense_scores(channels: Sequence[DenseIndex], qvecs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every ready channel's score of every row; channels sharing one block of rows share one pass over it."""
    out: dict[str, np.ndarray] = {}
    groups: dict[int, list[DenseIndex]] = {}
    for ch in channels:
        if ch.ready:
            groups.setdefault(id(ch.rows), []).append(ch)
    for group in groups.values():
        rows = group[0].rows
        assert rows is not None
        u = np.stack([ch.encoding.project(qvecs[ch.name]) for ch in group], axis=1)
        prod = rows.dot(u)
        for j, ch in enumerate(group):
            out[ch.name] = prod[:, j] / ch.norms
    return out
