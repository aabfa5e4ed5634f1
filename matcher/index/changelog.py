"""Edits made by one process, told to the others serving from the same indexes.

Several worker processes serve from one data directory. An edit (a need posted, an achievement changed, a
verdict given) reaches one of them; it writes the graph, indexes the change itself, and appends a line to the
change log: what changed (kind and id), never the content. Every process tails the log and re-reads those
nodes from the graph (the source of truth): applying a line twice, or a line for a change it already holds,
does nothing, so ordering and replays are harmless.

Layout: ``index/changes/<epoch>.log`` (JSON lines, appended under ``flock``), ``index/changes/current`` naming
the epoch. The process that becomes the index writer at start begins a new epoch (it syncs with the graph
anyway); a generation's manifest records the log position it includes, so a process loading it replays only
what came after.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from matcher.index.files import FILE_MODE, private_dir, write_bytes


@dataclass(frozen=True)
class Entry:
    kind: str  #: achievements | needs | enterprises | feedback
    id: str
    op: str = "upsert"  #: upsert | remove
    origin: str = ""  #: the change log (process) that wrote it


class ChangeLog:
    def __init__(self, root: Path) -> None:
        self.dir = private_dir(Path(root) / "changes")
        self.epoch = self.current_epoch()
        self.offset = 0
        self.origin = f"{os.getpid()}-{secrets.token_hex(4)}"

    def _pointer(self) -> Path:
        return self.dir / "current"

    def current_epoch(self) -> str:
        try:
            return self._pointer().read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""

    def new_epoch(self) -> str:
        """Start a new log (the index writer at start); older logs are deleted."""
        epoch = f"{time.time_ns():020d}"
        self._path(epoch).touch(mode=FILE_MODE)
        write_bytes(self._pointer(), epoch.encode())
        for old in self.dir.glob("*.log"):
            if old.stem != epoch:
                old.unlink(missing_ok=True)
        self.epoch, self.offset = epoch, 0
        return epoch

    def _path(self, epoch: str) -> Path:
        return self.dir / f"{epoch}.log"

    def append(self, entries: list[Entry]) -> None:
        """Append entries to the current log (one write under an exclusive lock: lines never interleave)."""
        epoch = self.current_epoch()
        if not epoch or not entries:
            return
        data = "".join(json.dumps({"kind": e.kind, "id": e.id, "op": e.op, "origin": self.origin},
                                  ensure_ascii=False) + "\n" for e in entries).encode("utf-8")
        fd = os.open(self._path(epoch), os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def end(self) -> int:
        try:
            return self._path(self.epoch).stat().st_size
        except FileNotFoundError:
            return 0

    def read_new(self) -> tuple[list[Entry], bool]:
        """Entries appended since the last read, and whether the epoch changed (then every index must be
        reloaded: a new writer started)."""
        epoch = self.current_epoch()
        switched = bool(epoch) and epoch != self.epoch
        if switched:
            self.epoch, self.offset = epoch, 0
        entries, self.offset = self.read_range(self.offset, None)
        return entries, switched

    def read_range(self, start: int, stop: int | None) -> tuple[list[Entry], int]:
        """Whole lines between byte offsets ``start`` and ``stop`` (None: the end) of the current epoch."""
        try:
            with self._path(self.epoch).open("rb") as fh:
                fh.seek(start)
                data = fh.read() if stop is None else fh.read(max(0, stop - start))
        except FileNotFoundError:
            return [], start
        cut = data.rfind(b"\n") + 1  # a line still being written is read next time
        out = []
        for line in data[:cut].splitlines():
            try:
                rec = json.loads(line)
                out.append(Entry(rec["kind"], rec["id"], rec.get("op", "upsert"), rec.get("origin", "")))
            except (ValueError, KeyError):
                continue
        return out, start + cut


class WriterLock:
    """Which process writes the indexes (generations, context, embedding results): the one holding the lock."""

    def __init__(self, root: Path) -> None:
        self.path = private_dir(Path(root)) / "writer.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
