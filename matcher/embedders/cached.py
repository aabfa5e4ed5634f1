"""An on-disk embedding cache around any :class:`~matcher.embedders.base.Embedder`, keyed by text hash.

Vectors live in one SQLite file per encoder under ``cache_dir`` (``<cache_dir>/embeddings/<name>.sqlite``):
a re-index or a restart only encodes texts it has never seen. Keys hash the encoder name, the side
(query/passage) and the exact text, so a changed text is a new key and stale vectors are never returned.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from matcher.embedders.base import Embedder


def text_key(model: str, side: str, text: str) -> str:
    return hashlib.sha1(f"{model}\x00{side}\x00{text}".encode()).hexdigest()


class CachedEmbedder:
    def __init__(self, inner: Embedder, cache_dir: Path, cache_queries: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        #: what the vectors are (encoder and passage length): the cache key, and the dense rows' key
        self.vector_key: str = getattr(inner, "vector_key", inner.name)
        self.dim = inner.dim
        self.cache_queries = cache_queries
        safe = re.sub(r"[^0-9A-Za-z_.-]+", "_", inner.name)[:100]
        path = Path(cache_dir).expanduser() / "embeddings" / f"{safe}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (k TEXT PRIMARY KEY, v BLOB NOT NULL)")
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                # the placeholders are generated, the keys travel as parameters
                for k, blob in self._db.execute(f"SELECT k, v FROM vec WHERE k IN ({marks})", chunk):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape[0] == self.dim:
                        found[k] = vec
        return found

    #: texts encoded per round trip: a long first build keeps what it finished if interrupted
    chunk_size = 256

    def _embed(self, texts: Sequence[str], side: str) -> np.ndarray:
        keys = [text_key(self.vector_key, side, t or "") for t in texts]
        found = self._lookup(keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        unique = list(dict.fromkeys(texts[i] for i in todo))
        by_text: dict[str, np.ndarray] = {}
        encode = self.inner.embed_queries if side == "query" else self.inner.embed_passages
        for start in range(0, len(unique), self.chunk_size):
            chunk = unique[start : start + self.chunk_size]
            vecs = np.asarray(encode(chunk), dtype=np.float32)
            by_text.update(zip(chunk, vecs, strict=True))
            with self._lock:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vec (k, v) VALUES (?, ?)",
                    [(text_key(self.vector_key, side, t or ""), v.tobytes()) for t, v in zip(chunk, vecs, strict=True)],
                )
                self._db.commit()
        for i in todo:
            out[i] = by_text[texts[i]]
        for i, k in enumerate(keys):
            if k in found:
                out[i] = found[k]
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not self.cache_queries:
            return self.inner.embed_queries(texts)
        return self._embed(texts, "query")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "passage")

    def close(self) -> None:
        with self._lock:
            self._db.close()
