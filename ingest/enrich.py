"""The per-row work of a load that needs no graph: keywords, patent numbers and institutions found in the
text, and chain placements. One batch at a time, in this process or in worker processes.

A batch is enriched as a whole by :func:`enrich_batch` (in order, one ``place_many`` call per batch, as the
serial load does), so the pooled and the serial load write the same graph. Workers are forked from the
loading process after the placer and the tokenizer's tables are loaded, so they start warm; they never touch
the graph (the commit stays in the loading process, in order), and they ignore Ctrl-C: the loading process
stops them once the batch it is committing has ended.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graph.exceptions import TechmatchError
from graph.model import Achievement, Need, Node
from ingest import text as textpipe
from ingest.extraction import find_institutions, find_patent_numbers

if TYPE_CHECKING:
    from ingest.loader import SegmentPlacer

KEYWORDS_PER_TEXT = 10
#: rows of achievements or needs below which a load stays in one process (forking costs more than it saves)
POOL_MIN_ROWS = 1000
#: rows from which a load uses worker processes unless told otherwise: measured faster from 30,000 rows on two
#: cores, a tie on zhibei's 4,539 (benchmarks/README.md, Ingest)
POOL_AUTO_ROWS = 10_000


@dataclass(frozen=True)
class Placement:
    """One chain segment a text belongs to, how sure, and which method said so."""

    segment_id: str
    confidence: float
    method: str


@dataclass(frozen=True)
class RowFinds:
    """What the text of one achievement or need gave: its keywords, the patent numbers and the institutions
    it names (every mention, in order; the loader drops those the row names already)."""

    keywords: list[str]
    patents: list[str]
    institutions: list[str]


@dataclass(frozen=True)
class Enriched:
    """A batch enriched: one :class:`RowFinds` per node (None for nodes without text to enrich) and the
    placements of its achievements and needs by node id."""

    finds: list[RowFinds | None]
    placements: dict[str, list[Placement]]


class EnrichError(TechmatchError):
    """The text of one row could not be processed (a bug, or a text no rule expected): says which row."""

    def __init__(self, row: int, detail: str) -> None:
        super().__init__(row, detail)
        self.row = row
        self.detail = detail

    def __str__(self) -> str:
        return f"第 {self.row} 行：处理文本时出错（{self.detail}）"


def enrich_batch(nodes: Sequence[Node], rows: Sequence[int], placer: SegmentPlacer | None) -> Enriched:
    """Keywords, patents and institutions of each node's text, and the placements of the batch (by
    ``place_many`` when the placer has it); ``rows`` are the nodes' row numbers, for the error of a row."""
    finds: list[RowFinds | None] = []
    for node, row in zip(nodes, rows, strict=True):
        if not isinstance(node, (Achievement, Need)):
            finds.append(None)
            continue
        try:
            text = node.text
            keywords = textpipe.keywords(text, k=KEYWORDS_PER_TEXT)
            if isinstance(node, Achievement):
                finds.append(RowFinds(keywords, find_patent_numbers(text),
                                      [m.name for m in find_institutions(text)]))
            else:
                finds.append(RowFinds(keywords, [], []))
        except Exception as exc:
            raise EnrichError(row, f"{type(exc).__name__}: {exc}") from exc
    return Enriched(finds, place_nodes(placer, [n for n in nodes if isinstance(n, (Achievement, Need))]))


def place_nodes(placer: SegmentPlacer | None, nodes: Sequence[Achievement | Need]) -> dict[str, list[Placement]]:
    """Placements of achievements and needs by id, in one model call when the placer can."""
    if placer is None or not nodes:
        return {}
    many = getattr(placer, "place_many", None)
    if many is not None:
        return {n.id: p for n, p in zip(nodes, many(nodes), strict=True)}
    return {n.id: placer.place(n) for n in nodes}


class SerialEnricher:
    """Enriches each batch at once, in this process."""

    #: batches kept in flight before the oldest is built (none: each is ready when submitted)
    depth = 0

    def __init__(self, placer: SegmentPlacer | None) -> None:
        self.placer = placer

    def submit(self, nodes: Sequence[Node], rows: Sequence[int]) -> Future[Enriched]:
        done: Future[Enriched] = Future()
        try:
            done.set_result(enrich_batch(nodes, rows, self.placer))
        except Exception as exc:  # given where the batch is built, as a worker's error would be
            done.set_exception(exc)
        return done

    def close(self, cancel: bool = False) -> None:
        """Nothing to stop."""


_worker_placer: Any = None


def _init_worker(placer: SegmentPlacer | None) -> None:
    global _worker_placer
    # what the worker inherited (the model, the tokenizer's tables) is never collected: kept out of the
    # collector's passes, whose writes to every object header would copy the shared pages one by one
    gc.freeze()
    # Ctrl-C in a terminal reaches the whole process group: the loading process decides what stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_placer = placer


@contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Ctrl-C arriving while the pool forks its workers is held until the fork has finished, then raised.

    Python runs a pending signal's handler at its next bytecode, which during a fork may be inside the
    standard library's after-fork callbacks (logging's lock release), where an exception is printed as
    "ignored" and lost: the load would then run to its end as if Ctrl-C had never been pressed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _enrich_in_worker(nodes: Sequence[Node], rows: Sequence[int]) -> Enriched:
    return enrich_batch(nodes, rows, _worker_placer)


class PoolEnricher:
    """Enriches batches in ``workers`` forked processes; results come back per batch, in submission order
    (the caller keeps the futures in order)."""

    def __init__(self, placer: SegmentPlacer | None, workers: int) -> None:
        self.placer = placer
        #: batches kept in flight: every worker busy and one more queued
        self.depth = workers + 1
        # fork: the workers share the placer's model and the tokenizer's tables already loaded here (the
        # initializer's arguments are inherited, not pickled)
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_init_worker, initargs=(placer,))

    def submit(self, nodes: Sequence[Node], rows: Sequence[int]) -> Future[Enriched]:
        if not any(isinstance(n, (Achievement, Need)) for n in nodes):
            done: Future[Enriched] = Future()
            done.set_result(enrich_batch(nodes, rows, None))
            return done
        with warnings.catch_warnings():
            # Python 3.12+ warns on fork from a process with threads (the graph server's start, the commit
            # thread): the workers only compute on what they inherited and never take those threads' locks
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            with _interrupt_deferred():  # the first submit forks the workers
                return self._pool.submit(_enrich_in_worker, list(nodes), list(rows))

    def close(self, cancel: bool = False) -> None:
        """Stop the workers; with ``cancel``, batches not started are dropped (a running one ends first: it
        writes nothing)."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)


def result(future: Future[Enriched]) -> Enriched:
    """A batch's enrichment; a worker that died (killed, out of memory) is reported in words."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise TechmatchError("处理文本的子进程意外退出（可能是内存不足或被终止）；可设置 TECHMATCH_INGEST_WORKERS=0 "
                             "在一个进程里载入") from exc


def automatic_workers() -> int:
    """Worker processes for a large load when none are configured: one per core up to 4 (none on one core: the
    loading process and the graph server need it)."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, 4)


def workers_for(rows: int, requested: int | None, configured: int | None = 0) -> int:
    """How many worker processes a load of ``rows`` achievements or needs uses: ``requested``, or with None the
    ``configured`` count (the ``TECHMATCH_INGEST_WORKERS`` setting, passed in by the command) for a load of
    :data:`POOL_MIN_ROWS` rows or more, or when that is unset (None) :func:`automatic_workers` for a load of
    :data:`POOL_AUTO_ROWS` rows or more. None where processes cannot be forked (spawned workers would each load the
    model and the tables again)."""
    if requested is None:
        if configured is None:
            requested = automatic_workers() if rows >= POOL_AUTO_ROWS else 0
        else:
            requested = configured if rows >= POOL_MIN_ROWS else 0
    if requested <= 0 or not rows or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return requested


def enricher(placer: SegmentPlacer | None, rows: int, requested: int | None,
             configured: int | None = 0) -> SerialEnricher | PoolEnricher:
    """The enricher for a load of ``rows`` achievements or needs (see :func:`workers_for`)."""
    workers = workers_for(rows, requested, configured)
    return PoolEnricher(placer, workers) if workers else SerialEnricher(placer)
