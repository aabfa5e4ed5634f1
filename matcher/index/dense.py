"""The dense channels' index: one row of floats per document position, scored by one mat-vec per query.

Rows are the encoder's unit passage vectors. The base rows of a generation are a memory-mapped file (shared by
every worker process; float32, half precision for a large block: :data:`ROWS_ON_DISK`); rows of documents indexed
later sit in a small block after them. A channel whose rows are not computed yet (the embedding job is running) is
present but not *ready*: queries are answered without it.

The exact product is memory-bound: at 300k documents it reads the whole float32 file per query and channel. A
large block (:data:`COARSE_FROM` rows) is therefore scored in two stages: every row through its projection on
the corpus's leading principal directions (:class:`CoarseRows`, :data:`COARSE_DIMS` floats a row, persisted
beside the rows), then the best :data:`COARSE_SHARE` of them again from the full rows. The documents that can
reach a page of results get their score from the full rows; the rest keep the projection's estimate, which is
what the fusion's background statistics and tail ranks read. ``benchmarks/scale.py --sections matvec`` measures
the time and how far the two-stage top agrees with the exact one on real rows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from matcher.embedders.base import Embedder
from matcher.fusion import top_indices
from matcher.index.queries import QueryEncoder

#: BLAS / torch threads for the product. One: on two shared cores a second thread waits for a busy core (3k × 384
#: mat-vec 12 ms with 2 OpenBLAS threads vs 0.08 ms with 1, measured under load), and query encoders use cores too
MATVEC_THREADS = 1
#: blocks from this size are scored in two stages (below, the exact product costs a few ms)
COARSE_FROM = 50_000
#: floats a row in the coarse stage
COARSE_DIMS = 64
#: the share of a block's rows rescored exactly after the coarse stage, and the least number of them
COARSE_SHARE = 0.03
COARSE_MIN = 8_000
#: rows the principal directions are estimated from
COARSE_SAMPLE = 20_000
#: how a large block's rows are stored: half precision (a unit row's entries keep 3 significant digits; the rescored
#: scores move by about 1e-4, measured top-k agreement in ``benchmarks/scale.py --sections matvec``); the mapped
#: file, most of which a few dozen queries' rescoring brings into memory, is half the size
ROWS_ON_DISK = np.float16

_BLAS = None
_LOCK = threading.Lock()


def _blas():  # noqa: ANN202 - threadpoolctl's controller, built once (it inspects the loaded libraries)
    global _BLAS
    with _LOCK:
        if _BLAS is None:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
    return _BLAS


class RowEncoding(Protocol):
    """How a dense channel turns passages into stored rows."""

    #: identity of the rows (encoder and version): rows with the same key are the same numbers
    key: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 rows, shape (len(texts), dim)."""


class FullVectors:
    """Rows are the encoder's own unit passage vectors."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.key = getattr(embedder, "vector_key", embedder.name)
        self.dim = embedder.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self.embedder.embed_passages([t or "" for t in texts]), dtype=np.float32)


@dataclass(frozen=True)
class CoarseRows:
    """Rows projected on the leading principal directions of the block: a cheap first pass over every row."""

    basis: np.ndarray  #: (dim, COARSE_DIMS) float32, orthonormal columns
    mean: np.ndarray  #: (dim,) float32, the rows' mean
    rows: np.ndarray  #: (n, COARSE_DIMS) float32, (row - mean) @ basis

    @classmethod
    def fit(cls, base: np.ndarray, dims: int = COARSE_DIMS, sample: int = COARSE_SAMPLE) -> CoarseRows:
        n, dim = base.shape
        dims = min(dims, dim)
        pick = np.sort(np.random.default_rng(0).choice(n, min(n, sample), replace=False))
        s = np.asarray(base[pick], np.float64)
        mean = s.mean(axis=0)
        _, vectors = np.linalg.eigh(np.cov(s - mean, rowvar=False))
        basis = np.ascontiguousarray(vectors[:, ::-1][:, :dims], dtype=np.float32)
        mean32 = mean.astype(np.float32)
        rows = np.empty((n, dims), dtype=np.float32)
        with _blas().limit(limits=MATVEC_THREADS, user_api="blas"):
            for start in range(0, n, 65536):  # in slices: no full-size float32 temporary
                rows[start : start + 65536] = (np.asarray(base[start : start + 65536], np.float32) - mean32) @ basis
        return cls(basis, mean32, rows)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"basis": self.basis, "mean": self.mean, "rows": self.rows}

    def scores(self, q: np.ndarray) -> np.ndarray:
        return self.rows @ (q @ self.basis) + np.float32(self.mean @ q)


def exact_share(n: int) -> int:
    """How many of a block's ``n`` rows the two-stage product rescores exactly."""
    return min(n, max(COARSE_MIN, int(COARSE_SHARE * n)))


@dataclass(frozen=True)
class RowBlock:
    """Rows by position: base (memory-mapped) and the rows of documents indexed later."""

    base: np.ndarray
    tail: np.ndarray
    coarse: CoarseRows | None = None

    @classmethod
    def of(cls, base: np.ndarray, coarse: CoarseRows | bool | None = None) -> RowBlock:
        """``coarse``: the base's projection (as persisted), True / False to fit one or not, None to fit one when
        the block is large (:data:`COARSE_FROM`)."""
        if coarse is None:
            coarse = len(base) >= COARSE_FROM
        if coarse is True:
            coarse = CoarseRows.fit(base) if len(base) else None
        tail = np.zeros((0, base.shape[1]), dtype=np.float32)
        return cls(base, tail, coarse or None)

    def __len__(self) -> int:
        return len(self.base) + len(self.tail)

    @property
    def scoring(self) -> str:
        return "two-stage" if self.coarse is not None else "exact"

    def appended(self, rows: np.ndarray) -> RowBlock:
        return replace(self, tail=np.concatenate([self.tail, np.asarray(rows, np.float32)]))

    def dot(self, q: np.ndarray) -> np.ndarray:
        """rows @ q (float32): exact, or for a large block exact on its best rows and estimated on the rest."""
        q = np.asarray(q, dtype=np.float32)
        nb = len(self.base)
        with _blas().limit(limits=MATVEC_THREADS, user_api="blas"):
            if not nb:
                out = np.zeros(0, np.float32)
            elif self.coarse is None:
                out = np.asarray(self.base, np.float32) @ q  # float32 already (half precision is for large blocks)
            else:
                out = self.coarse.scores(q)
                best = np.sort(top_indices(out, exact_share(nb)))  # in file order: sequential page reads
                out[best] = np.asarray(self.base[best], np.float32) @ q
            if len(self.tail):
                out = np.concatenate([out, self.tail @ q])
        return out.astype(np.float32, copy=False)

    def take(self, positions: np.ndarray) -> np.ndarray:
        nb = len(self.base)
        out = np.empty((len(positions), self.base.shape[1]), dtype=np.float32)
        in_base = positions < nb
        out[in_base] = self.base[positions[in_base]]
        out[~in_base] = self.tail[positions[~in_base] - nb]
        return out

    def nbytes(self) -> int:
        coarse = sum(a.nbytes for a in self.coarse.arrays().values()) if self.coarse is not None else 0
        return int(self.base.nbytes + self.tail.nbytes) + coarse


@dataclass(frozen=True)
class DenseIndex:
    """One dense channel's snapshot: its query encoder, row encoding, and rows once ready."""

    name: str
    queries: QueryEncoder
    encoding: RowEncoding
    rows: RowBlock | None = field(default=None)

    @property
    def ready(self) -> bool:
        return self.rows is not None

    def with_rows(self, rows: RowBlock) -> DenseIndex:
        return replace(self, rows=rows)

    def with_appended(self, rows: np.ndarray) -> DenseIndex:
        if self.rows is None:
            return self
        return replace(self, rows=self.rows.appended(rows))

    def scores(self, qvec: np.ndarray) -> np.ndarray:
        assert self.rows is not None
        return self.rows.dot(qvec)
