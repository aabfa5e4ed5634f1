"""Background work of one service process: one worker thread, a queue, and what is pending (for /readyz).

Work that should not hold a request (refreshing standings after an upload, fanning out notifications,
loading an uploaded file) is submitted here; the request answers at once. A job that fails is logged with its
traceback and does not stop the worker. ``stop()`` lets the current job finish and drops the rest (they are
re-derived on the next start: standings are refreshed from what is stale, uploads are marked failed).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], object]


class JobRunner:
    """A single background worker thread with a FIFO of jobs."""

    def __init__(self, name: str = "techmatch-jobs") -> None:
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._running: str | None = None
        self._started = False
        self._lock = threading.Lock()
        self.done = 0
        self.failed = 0

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def submit(self, name: str, run: Callable[[], object]) -> None:
        self.start()
        self._queue.put(Job(name, run))

    @property
    def pending(self) -> int:
        return self._queue.qsize() + (1 if self._running else 0)

    @property
    def running(self) -> str | None:
        return self._running

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until every submitted job ran (tests, and a clean shutdown); False on timeout."""
        done = threading.Event()
        self.submit("barrier", done.set)
        return done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._running = job.name
            try:
                job.run()
                self.done += 1
            except Exception:
                self.failed += 1
                log.exception("background job %s failed", job.name)
            finally:
                self._running = None
