"""Writes held back while ``techmatch backup`` reads the graph: one lock file in the data directory.

Every techmatch process on a data directory (the service and its workers, CLI commands beside it) takes the
file ``graph-write.gate`` *shared* around each write transaction, and lets it go when the transaction has
committed. ``techmatch backup`` takes it *exclusively* for as long as it reads: it waits until the writes in
flight have committed, and every write that starts meanwhile waits (up to ``write_gate_timeout_s``, then it
is refused with a clear 503) until the backup has read everything. Reads never wait. So no techmatch write
commits between the backup's first read and its last: the backup is the graph as of one moment.

``flock`` locks belong to an open file, not to a thread: one process's writer threads share one shared lock,
counted here, and the lock goes when the last of them is done.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from graph.exceptions import GraphUnavailableError

GATE_FILE = "graph-write.gate"


class GraphBusyError(GraphUnavailableError):
    """A write waited too long for a backup to finish."""

    public_detail = "正在备份图数据库，写入暂时排队；请稍后再试"


def gate_path(data_dir: Path) -> Path:
    return Path(data_dir).expanduser() / GATE_FILE


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _lock(fd: int, mode: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


class WriteGate:
    """The writers' side: ``with gate.write(): ...`` around each write transaction."""

    def __init__(self, path: Path, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._fd: int | None = None
        self._count = 0
        self._mutex = threading.Lock()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._mutex:
            if self._count == 0:
                if self._fd is None:
                    self._fd = _open(self.path)
                if not _lock(self._fd, fcntl.LOCK_SH, self.timeout_s):
                    raise GraphBusyError(
                        f"写入等了 {self.timeout_s:.0f} 秒仍未轮到：techmatch backup 正在读取图数据库（{self.path}）；"
                        "请等备份结束后重试"
                    )
            self._count += 1
        try:
            yield
        finally:
            with self._mutex:
                self._count -= 1
                if self._count == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self._count = 0


@contextmanager
def writes_held(data_dir: Path, timeout_s: float = 60.0) -> Iterator[None]:
    """Hold every techmatch write on ``data_dir`` back for the block (the backup's side)."""
    fd = _open(gate_path(data_dir))
    try:
        if not _lock(fd, fcntl.LOCK_EX, timeout_s):
            raise GraphBusyError(
                f"等了 {timeout_s:.0f} 秒，正在进行的写入仍未结束（或另一个备份正在运行）；请稍后重试备份"
            )
        yield
    finally:
        os.close(fd)  # closing the file lets the lock go
