"""Files at rest in the data directory: owner-only, written whole or not at all.

The data directory holds the graph (confidential needs among it), the generated secrets and the derived
indexes, so every directory in it is 0700 and every file 0600; a write goes to a temporary file in the same
directory and is renamed into place, so a crash or a full disk never leaves half a file under the real name.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600
#: the process umask for children that write into the data directory (the graph server's JVM)
PRIVATE_UMASK = 0o077


def private_dir(path: str | Path) -> Path:
    """``path`` as a directory only its owner can enter (created with its parents when missing)."""
    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def write_private(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically, readable by the owner only."""
    path = Path(path)
    private_dir(path.parent)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_private(path) as fh:
        fh.write(raw)
    return path


@contextlib.contextmanager
def atomic_private(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` (mode 0600) only when the block ends cleanly."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def secure_tree(root: str | Path) -> int:
    """Make every directory under ``root`` 0700 and every file 0600 (data directories made by older versions,
    or by a tool run with a loose umask); returns how many entries were changed. Links are not followed."""
    root = Path(root)
    changed = 0
    if not root.exists():
        return 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            try:
                st = os.lstat(name)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(name, stat.S_IMODE(st.st_mode) & 0o700)  # group and others lose every right
                changed += 1
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return changed
