"""The documents of one corpus by position: ids, what each was built from, titles and texts.

Every channel of a corpus stores its rows in these positions (the base rows of a generation first, documents
indexed later appended), so channel scores line up without any mapping. An edited document gets a new
position; its old one is marked dead until the next generation drops it.

Texts and titles of the base rows live in one UTF-8 blob each (memory-mapped, offsets beside them) and are
decoded on demand: at 300k achievements they would be ~300 MB of Python strings per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np


def text_digest(text: str) -> str:
    """The digest of the text a dense encoder reads (the title is not part of it): its rows' key in the vector
    store, so a changed title re-indexes the lexical channels only."""
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass(frozen=True)
class TextColumn:
    """Strings by position: a UTF-8 blob with offsets (base) plus a tuple of later ones."""

    blob: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    tail: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Sequence[str]) -> TextColumn:
        encoded = [(v or "").encode("utf-8") for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(e) for e in encoded])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy() if encoded else np.zeros(0, np.uint8)
        return cls(blob, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1 + len(self.tail)

    def __getitem__(self, pos: int) -> str:
        n = len(self.offsets) - 1
        if pos >= n:
            return self.tail[pos - n]
        return bytes(self.blob[int(self.offsets[pos]) : int(self.offsets[pos + 1])]).decode("utf-8")

    def appended(self, values: Sequence[str]) -> TextColumn:
        return replace(self, tail=self.tail + tuple(v or "" for v in values))

    def take(self, positions: np.ndarray) -> TextColumn:
        return TextColumn.of([self[int(p)] for p in positions])


@dataclass(frozen=True)
class DocTable:
    """One corpus's documents by position (an immutable snapshot: edits return a new table)."""

    ids: tuple[str, ...] = ()
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    texts: TextColumn = field(default_factory=TextColumn)
    titles: TextColumn = field(default_factory=TextColumn)
    #: the graph's content hash of each document when indexed ("" when indexed without a graph)
    sources: tuple[str, ...] = ()
    #: :func:`text_digest` of each position's text (keys of the dense vector store)
    digests: tuple[str, ...] = ()
    n_base: int = 0

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str], titles: Sequence[str],
              sources: Sequence[str] | None = None) -> DocTable:
        ids = tuple(ids)
        if len(set(ids)) != len(ids):
            raise ValueError("document ids repeat")
        digests = tuple(text_digest(t or "") for t in texts)
        return cls(ids, np.ones(len(ids), bool), TextColumn.of(texts), TextColumn.of(titles),
                   tuple(sources) if sources is not None else ("",) * len(ids), digests, len(ids))

    def __len__(self) -> int:
        """Live documents."""
        return len(self.position)

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @cached_property
    def position(self) -> dict[str, int]:
        """Live id → position."""
        live = np.flatnonzero(self.alive)
        return {self.ids[p]: int(p) for p in live}

    @cached_property
    def live(self) -> np.ndarray:
        return np.flatnonzero(self.alive)

    @cached_property
    def live_ids(self) -> list[str]:
        return [self.ids[p] for p in self.live]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.position

    def text(self, doc_id: str) -> str:
        pos = self.position.get(doc_id)
        return "" if pos is None else self.texts[pos]

    def title(self, doc_id: str) -> str:
        pos = self.position.get(doc_id)
        return "" if pos is None else self.titles[pos]

    def source(self, doc_id: str) -> str | None:
        pos = self.position.get(doc_id)
        return None if pos is None else self.sources[pos]

    def with_changes(self, ids: Sequence[str], texts: Sequence[str], titles: Sequence[str],
                     sources: Sequence[str], removed: Sequence[str]) -> DocTable:
        """New positions for ``ids`` (appended in order; a present id's old position dies), ``removed`` dead."""
        alive = np.concatenate([self.alive, np.ones(len(ids), bool)])
        for doc_id in [*ids, *removed]:
            pos = self.position.get(doc_id)
            if pos is not None:
                alive[pos] = False
        if len(set(ids)) != len(ids):
            raise ValueError("an id repeats within one change")
        digests = tuple(text_digest(t or "") for t in texts)
        return replace(self, ids=self.ids + tuple(ids), alive=alive, texts=self.texts.appended(texts),
                       titles=self.titles.appended(titles), sources=self.sources + tuple(sources),
                       digests=self.digests + digests)

    def compacted(self) -> DocTable:
        """Only the live documents, in position order, all of them base rows."""
        live = self.live
        return DocTable(tuple(self.ids[p] for p in live), np.ones(len(live), bool), self.texts.take(live),
                        self.titles.take(live), tuple(self.sources[p] for p in live),
                        tuple(self.digests[p] for p in live), len(live))
