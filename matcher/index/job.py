"""The embedding job: the dense rows a corpus is missing, computed in chunks in the background.

Rows go to the :class:`~matcher.index.vectors.VectorStore` one chunk at a time, so the job shows progress,
stops at a chunk boundary when asked (Ctrl-C, shutdown), and a later run (after a crash too) only encodes
what is still missing. Progress lines are in Chinese: operators read them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from matcher.index.dense import FullVectors, RowEncoding
from matcher.index.encoder_pool import MIN_PASSAGES, EncoderPool, PoolableEmbedder, PooledVectors
from matcher.index.queries import QueryVectors
from matcher.index.vectors import VectorStore

log = logging.getLogger(__name__)

#: documents encoded per chunk (one file pair in the vector store): e5 passages take ~25 s a chunk on two cores,
#: so a stop request or a crash loses at most that much work
CHUNK = 128


@dataclass
class JobProgress:
    what: str
    total: int
    done: int = 0
    started: float = 0.0
    finished: bool = False

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """e.g. ``向量 achievements/e5-small：1,024/3,000 篇（85 篇/秒，约 23 秒）``"""
        rate = self.rate
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = "" if left != left else f"，约 {_duration(left)}"
        state = "完成" if self.finished else f"{rate:,.0f} 篇/秒{eta}"
        return f"向量 {self.what}：{self.done:,}/{self.total:,} 篇（{state}）"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} 秒"
    if seconds < 5400:
        return f"{seconds / 60:.0f} 分钟"
    return f"{seconds / 3600:.1f} 小时"


def embed_missing(
    store: VectorStore,
    encoding: RowEncoding,
    digests: Sequence[str],
    text_of: Callable[[int], str],
    stop: threading.Event | None = None,
    progress: Callable[[JobProgress], None] | None = None,
    what: str = "",
    chunk: int = CHUNK,
    workers: int = 1,
) -> bool:
    """Encode every document whose digest has no row yet (``text_of(i)`` gives document i's text).
    True when every row is there, False when stopped first. With ``workers`` > 1 a large job is encoded by
    that many worker processes (:mod:`matcher.index.encoder_pool`) when the encoder can be rebuilt in one."""
    todo = store.missing(digests)
    seen: set[str] = set()
    unique = []
    for i in todo:  # the same text twice is encoded once
        if digests[i] not in seen:
            seen.add(digests[i])
            unique.append(i)
    embedder = encoding.embedder if isinstance(encoding, FullVectors | QueryVectors) else None
    if workers > 1 and len(unique) >= MIN_PASSAGES and isinstance(embedder, PoolableEmbedder):
        with EncoderPool(embedder.spec, workers) as pool:
            pooled = PooledVectors(encoding.key, encoding.dim, pool, queries=isinstance(encoding, QueryVectors))
            return _encode_chunks(store, pooled, digests, unique, text_of, stop, progress, what, chunk)
    return _encode_chunks(store, encoding, digests, unique, text_of, stop, progress, what, chunk)


def _encode_chunks(
    store: VectorStore,
    encoding: RowEncoding,
    digests: Sequence[str],
    unique: list[int],
    text_of: Callable[[int], str],
    stop: threading.Event | None,
    progress: Callable[[JobProgress], None] | None,
    what: str,
    chunk: int,
) -> bool:
    state = JobProgress(what or encoding.key, total=len(unique), started=time.monotonic())
    for start in range(0, len(unique), chunk):
        if stop is not None and stop.is_set():
            log.info("embedding stopped: %s", state.line())
            return False
        part = unique[start : start + chunk]
        rows = encoding.encode([text_of(i) for i in part])
        store.put([digests[i] for i in part], np.asarray(rows, np.float32))
        state.done += len(part)
        if progress is not None:
            progress(state)
    state.finished = True
    if progress is not None and unique:
        progress(state)
    return True
