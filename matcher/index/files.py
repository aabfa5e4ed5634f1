"""Files of the persisted indexes: private, written atomically, read back memory-mapped.

The data directory holds confidential material (needs marked private, enterprises' texts), so every directory
made here is 0700 and every file 0600 whatever the process umask, and a file is never seen half written:
it is written to a temporary name in the same directory, flushed to disk, then renamed over the target
(``rename`` is atomic on POSIX file systems), and the directory entry is flushed too.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` and its missing parents as directories only the owner may enter (existing ones are tightened)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` through ``write(fh)`` into a temporary file beside it, then rename it into place."""
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    return write_atomic(path, lambda fh: fh.write(data))


def write_json(path: Path, obj: Any) -> Path:
    return write_bytes(path, json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_array(path: Path, array: np.ndarray) -> Path:
    """One array as a ``.npy`` file (atomically, 0600); :func:`load_array` maps it back."""
    arr = np.ascontiguousarray(array)
    return write_atomic(path, lambda fh: np.save(fh, arr, allow_pickle=False))


def load_array(path: Path, mmap: bool = True) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only (shared by every process that maps it), or read into memory.
    An empty array is read (a zero-length file cannot be mapped)."""
    if mmap:
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError:  # zero-size arrays cannot be memory-mapped
            pass
    return np.load(path, allow_pickle=False)
