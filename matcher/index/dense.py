"""The dense channels' index: one row of floats per document position, scored by one mat-vec per query.

Rows are the encoder's unit passage vectors. The base rows of a generation are a memory-mapped float32 file
(shared by every worker process); rows of documents indexed later sit in a small block after them. A channel
whose rows are not computed yet (the embedding job is running) is present but not *ready*: queries are answered
without it.

The product is memory-bound (300k × 384 floats is 460 MB per query). Where torch is installed (the ``st``
extra) a large block (:data:`HALF_FROM` rows) is also kept as centred float16 in torch, whose half-precision
mat-vec reads half the bytes: 300k rows of e5 and USE in 32 ms instead of 84 ms with numpy float32
(``benchmarks/scale.py --sections matvec``; numpy has no fast float16 product). Centring first (minus the corpus
mean, added back in float32) keeps the float16 rounding small: the vectors share a large common component.
Without torch the numpy float32 path is exact and needs no private copy.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from matcher.embedders.base import Embedder
from matcher.index.queries import QueryEncoder

#: BLAS / torch threads for the product. One: on two shared cores a second thread waits for a busy core (3k × 384
#: mat-vec 12 ms with 2 OpenBLAS threads vs 0.08 ms with 1, measured under load), and query encoders use cores too
MATVEC_THREADS = 1
#: blocks from this size use torch's float16 product where torch is installed (below, a few ms either way)
HALF_FROM = 50_000

_BLAS = None
_LOCK = threading.Lock()


def _blas():  # noqa: ANN202 - threadpoolctl's controller, built once (it inspects the loaded libraries)
    global _BLAS
    with _LOCK:
        if _BLAS is None:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
    return _BLAS


def _torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


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
class HalfRows:
    """A centred float16 copy of a large block of rows, in torch."""

    rows: Any  # torch.Tensor
    centre: np.ndarray

    @classmethod
    def of(cls, base: np.ndarray, torch: Any) -> HalfRows:
        centre = np.zeros(base.shape[1], dtype=np.float64)
        for start in range(0, len(base), 65536):
            centre += np.asarray(base[start : start + 65536], np.float64).sum(axis=0)
        centre = (centre / max(len(base), 1)).astype(np.float32)
        half = torch.empty((len(base), base.shape[1]), dtype=torch.float16)
        for start in range(0, len(base), 65536):  # in slices: no full-size float32 temporary
            part = np.asarray(base[start : start + 65536], np.float32) - centre
            half[start : start + len(part)] = torch.from_numpy(part).to(torch.float16)
        return cls(half, centre)

    def dot(self, q: np.ndarray, torch: Any) -> np.ndarray:
        with _LOCK:  # torch's thread count is process-wide: set for the product, then restored
            before = torch.get_num_threads()
            torch.set_num_threads(MATVEC_THREADS)
            try:
                out = self.rows @ torch.from_numpy(q).to(torch.float16)
            finally:
                torch.set_num_threads(before)
        return out.float().numpy() + np.float32(self.centre @ q)


@dataclass(frozen=True)
class RowBlock:
    """Rows by position: base (memory-mapped) and the rows of documents indexed later."""

    base: np.ndarray
    tail: np.ndarray
    half: HalfRows | None = None

    @classmethod
    def of(cls, base: np.ndarray, half: bool | None = None) -> RowBlock:
        """``half``: keep a float16 copy in torch (None: when torch is installed and the block is large)."""
        wanted = half if half is not None else len(base) >= HALF_FROM
        torch = _torch() if wanted else None  # importing torch costs seconds: only when it would be used
        use_half = torch is not None
        return cls(base, np.zeros((0, base.shape[1]), dtype=np.float32),
                   HalfRows.of(base, torch) if use_half else None)

    def __len__(self) -> int:
        return len(self.base) + len(self.tail)

    @property
    def dtype_name(self) -> str:
        return "float16 (torch)" if self.half is not None else "float32"

    def appended(self, rows: np.ndarray) -> RowBlock:
        return replace(self, tail=np.concatenate([self.tail, np.asarray(rows, np.float32)]))

    def dot(self, q: np.ndarray) -> np.ndarray:
        """rows @ q (float32)."""
        q = np.asarray(q, dtype=np.float32)
        if self.half is not None:
            out = self.half.dot(q, _torch())
        else:
            with _blas().limit(limits=MATVEC_THREADS, user_api="blas"):
                out = self.base @ q if len(self.base) else np.zeros(0, np.float32)
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
        half = int(self.half.rows.element_size() * self.half.rows.nelement()) if self.half is not None else 0
        return int(self.base.nbytes + self.tail.nbytes) + half


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
