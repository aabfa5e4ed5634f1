"""Corpus indexes made from documents with a configured set of channels: the one way the engine's corpora
(achievements, needs, enterprises) and the solvers' works are indexed.

A :class:`CorpusBuilder` holds the lexical channels (:class:`~matcher.index.generation.LexicalSpec`), the dense
encoders with their query encoders, and the content-addressed vector store: a document whose text was ever
encoded by an encoder (in any corpus, by any process on the data directory) gets its row from the store and is
never encoded again. The solvers' works include the achievements with the very text the achievements corpus
embeds, so the solver index reuses the engine's rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from matcher.embedders.base import Embedder
from matcher.index.corpus import Change, CorpusIndex, lexical_text
from matcher.index.dense import DenseIndex, FullVectors
from matcher.index.docs import DocTable
from matcher.index.files import private_dir
from matcher.index.generation import LexicalSpec
from matcher.index.job import JobProgress, embed_missing
from matcher.index.queries import QueryEncoder
from matcher.index.vectors import VectorStore


class CorpusBuilder:
    """Builds :class:`CorpusIndex` snapshots with these channels and fills their dense rows from the vector store
    or by encoding (see the module docstring)."""

    def __init__(
        self,
        specs: Sequence[LexicalSpec],
        encoders: Sequence[tuple[str, Embedder]] = (),
        vectors_root: Path | None = None,
        queries: Mapping[str, QueryEncoder] | None = None,
    ) -> None:
        """``encoders``: (channel name, encoder) of each dense channel; ``queries``: their query encoders when the
        caller shares them (an engine's: one query cache for its corpora), else made here. ``vectors_root``: the
        vector store's directory (``data_dir/index/vectors``); None keeps rows in memory only."""
        self.specs = list(specs)
        self.encoders = list(encoders)
        self.queries = dict(queries) if queries is not None else {n: QueryEncoder(e) for n, e in self.encoders}
        self.vectors_root = vectors_root
        self._stores: dict[str, VectorStore] = {}
        self._lock = threading.Lock()

    @property
    def channel_names(self) -> list[str]:
        return [s.name for s in self.specs] + [name for name, _ in self.encoders]

    def dense_channels(self) -> tuple[DenseIndex, ...]:
        """Every dense channel, not ready (no rows)."""
        return tuple(DenseIndex(name, self.queries[name], FullVectors(emb)) for name, emb in self.encoders)

    def empty(self, dense: bool = True) -> CorpusIndex:
        return CorpusIndex(DocTable(), tuple(s.build([]) for s in self.specs), self.dense_channels() if dense else ())

    def store(self, key: str, dim: int) -> VectorStore | None:
        """The vector store of one row encoding (None without a vectors directory)."""
        if self.vectors_root is None:
            return None
        with self._lock:
            if key not in self._stores:
                private_dir(self.vectors_root)
                self._stores[key] = VectorStore(self.vectors_root, key, dim)
            return self._stores[key]

    def build(self, changes: Sequence[Change], dense: bool = True, vectors: Mapping[str, np.ndarray] | None = None,
              progress: Callable[[int], None] | None = None) -> CorpusIndex:
        """A fresh corpus index of ``changes`` (later repeats of an id win). Dense rows come from ``vectors`` (by
        channel name, aligned with ``changes``), the vector store, or stay missing (:meth:`embed` computes them).
        ``dense``: with the dense channels (a corpus matched lexically only has none)."""
        latest: dict[str, Change] = {}
        for c in changes:
            latest[c.id] = c
        docs = DocTable.build(list(latest), [c.text for c in latest.values()], [c.title for c in latest.values()],
                              [c.source for c in latest.values()])
        texts = [lexical_text(c.text, c.title) for c in latest.values()]
        lexical = tuple(s.build(texts, progress) for s in self.specs)
        index = CorpusIndex(docs, lexical, self.dense_channels() if dense else ())
        if vectors:
            order = [i for i, c in enumerate(changes) if latest[c.id] is c]
            given = {}
            for ch in index.dense:
                if ch.name in vectors:
                    given[ch.encoding.key] = np.asarray(vectors[ch.name], np.float32)[order]
            index = index.with_dense_rows(given)
        return self.fill_from_store(index)

    def fill_from_store(self, index: CorpusIndex) -> CorpusIndex:
        """Dense channels whose every row is already in the vector store made ready."""
        rows = {}
        for ch in index.dense:
            if ch.ready or ch.encoding.key in rows:
                continue
            vs = self.store(ch.encoding.key, ch.encoding.dim)
            digests = index.docs.digests
            if vs is not None and not vs.missing(digests):
                rows[ch.encoding.key] = vs.get(digests) if digests else np.zeros((0, ch.encoding.dim), np.float32)
        return index.with_dense_rows(rows) if rows else index

    def embed(self, index: CorpusIndex, stop: threading.Event | None = None,
              progress: Callable[[JobProgress], None] | None = None, what: str = "",
              workers: int = 1) -> CorpusIndex | None:
        """``index`` with every dense channel ready: the missing rows encoded (into the vector store when there
        is one, so no text is ever encoded twice). None when ``stop`` was set first."""
        rows: dict[str, np.ndarray] = {}
        digests = index.docs.digests
        for ch in index.dense:
            key = ch.encoding.key
            if ch.ready or key in rows:
                continue
            vs = self.store(key, ch.encoding.dim)
            if vs is None:
                texts = index.docs.texts
                rows[key] = (ch.encoding.encode([texts[i] for i in range(len(digests))]) if digests
                             else np.zeros((0, ch.encoding.dim), np.float32))
                continue
            texts = index.docs.texts
            if not embed_missing(vs, ch.encoding, digests, texts.__getitem__, stop, progress,
                                 what and f"{what}/{key}", workers=workers):
                return None
            rows[key] = vs.get(digests) if digests else np.zeros((0, ch.encoding.dim), np.float32)
        return index.with_dense_rows(rows) if rows else index


__all__ = ["CorpusBuilder"]
