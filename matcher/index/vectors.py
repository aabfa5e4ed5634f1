"""Dense rows by content: what an encoder made of a document text, kept across restarts, generations and crashes.

One directory per row encoding key (encoder and version) under ``data_dir/index/vectors``; rows are written in
chunks (``chunk-<time>-<pid>.keys.npy``: the texts' digests, ``...rows.npy``: float32 rows; names never collide
between processes), each file
atomically, the rows before the keys, so a chunk whose keys exist is complete. An embedding job killed half
way keeps every finished chunk and the next run encodes only what is missing; an edited document is one new
row, an unchanged one is never encoded again.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from matcher.index.files import load_array, private_dir, save_array

DIGEST_DTYPE = "S40"  # hex sha1 (matcher.index.docs.text_digest)


def safe_name(key: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.@+-]+", "_", key)[:120]


class VectorStore:
    def __init__(self, root: Path, key: str, dim: int) -> None:
        self.key, self.dim = key, dim
        self.dir = private_dir(Path(root) / safe_name(key))
        self._lock = threading.Lock()
        self._keys: np.ndarray | None = None  # sorted digests
        self._where: np.ndarray | None = None  # (chunk, row) of each sorted digest
        self._names: list[str] = []
        self._chunks: dict[int, np.ndarray] = {}
        self._listed_mtime = -1  # the directory's mtime when its chunks were last listed

    def _chunk_names(self) -> list[str]:
        return sorted(p.name[: -len(".keys.npy")] for p in self.dir.glob("chunk-*.keys.npy"))

    def _load_index(self) -> None:
        self._listed_mtime = self._dir_mtime()
        keys, where = [], []
        self._names = self._chunk_names()
        self._chunks = {}
        for cid, name in enumerate(self._names):
            k = load_array(self.dir / f"{name}.keys.npy", mmap=False)
            keys.append(k)
            where.append(np.stack([np.full(len(k), cid), np.arange(len(k))], axis=1))
        if keys:
            allk = np.concatenate(keys)
            allw = np.concatenate(where)
            order = np.argsort(allk, kind="stable")
            self._keys, self._where = allk[order], allw[order]
        else:
            self._keys, self._where = np.zeros(0, DIGEST_DTYPE), np.zeros((0, 2), np.int64)

    def _rows(self, cid: int) -> np.ndarray:
        if cid not in self._chunks:
            self._chunks[cid] = load_array(self.dir / f"{self._names[cid]}.rows.npy")
        return self._chunks[cid]

    def find(self, digests: Sequence[str]) -> np.ndarray:
        """Index into the store of each digest, -1 where absent."""
        with self._lock:
            if self._keys is None:
                self._load_index()
            assert self._keys is not None
            probe = np.asarray(digests, dtype=DIGEST_DTYPE)
            if not len(self._keys) or not len(probe):
                return np.full(len(probe), -1, dtype=np.int64)
            pos = np.searchsorted(self._keys, probe)
            pos[pos >= len(self._keys)] = 0
            hit = self._keys[pos] == probe
            return np.where(hit, pos, -1)

    def missing(self, digests: Sequence[str]) -> list[int]:
        """Positions (in ``digests``) with no stored row."""
        return [int(i) for i in np.flatnonzero(self.find(digests) < 0)]

    def get(self, digests: Sequence[str]) -> np.ndarray:
        """Rows for digests that are all present."""
        found = self.find(digests)
        if (found < 0).any():
            raise KeyError(f"{int((found < 0).sum())} rows are not in the store {self.key}")
        out = np.empty((len(digests), self.dim), dtype=np.float32)
        with self._lock:
            assert self._where is not None
            where = self._where[found]
            for cid in np.unique(where[:, 0]):
                sel = where[:, 0] == cid
                out[sel] = self._rows(int(cid))[where[sel, 1]]
        return out

    def put(self, digests: Sequence[str], rows: np.ndarray) -> None:
        """Store one chunk (atomically: a crash keeps it whole or not at all)."""
        if not len(digests):
            return
        rows = np.asarray(rows, dtype=np.float32)
        if rows.shape != (len(digests), self.dim):
            raise ValueError(f"rows of shape {rows.shape} for {len(digests)} digests of width {self.dim}")
        with self._lock:
            name = f"chunk-{time.time_ns():020d}-{os.getpid()}"
            save_array(self.dir / f"{name}.rows.npy", rows)
            save_array(self.dir / f"{name}.keys.npy", np.asarray(digests, dtype=DIGEST_DTYPE))
            self._keys = None  # re-read on the next lookup

    def _dir_mtime(self) -> int:
        try:
            return self.dir.stat().st_mtime_ns
        except FileNotFoundError:
            return -1

    def lookup(self, digest: str) -> np.ndarray | None:
        """The row of one digest, or None; on a miss the chunk list is read again if another process has added
        chunks since (a directory's mtime changes when a file is created in it: one stat)."""
        for attempt in (0, 1):
            i = int(self.find([digest])[0])
            if i >= 0:
                return self.get([digest])[0]
            with self._lock:
                if attempt or self._dir_mtime() == self._listed_mtime:
                    return None
                self._keys = None
        return None

    def __len__(self) -> int:
        self.find([])
        return len(self._keys) if self._keys is not None else 0
