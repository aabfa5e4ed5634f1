"""All channels over one kind of document (achievements, needs, enterprises), kept aligned, plus fusion.

Channels may order their documents differently after edits (the sparse index appends and compacts, the dense
matrix overwrites in place), so scores are mapped onto one canonical id order before fusing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from matcher.channels.base import Channel
from matcher.channels.dense import DenseChannel
from matcher.fusion import Fusion, RankNormalFusion


class QueryScores(NamedTuple):
    """One query against a :class:`TextIndex`: arrays aligned with :attr:`TextIndex.doc_ids`."""

    fused: np.ndarray  #: the fused ranking score
    z: dict[str, np.ndarray]  #: each channel's background z-score
    raw: dict[str, np.ndarray]  #: each channel's own score
    parts: dict[str, np.ndarray]  #: each channel's weighted share of ``fused``


class TextIndex:
    def __init__(self, channels: Sequence[Channel], fusion: Fusion | None = None) -> None:
        if not channels:
            raise ValueError("a text index needs at least one channel")
        self.channels = list(channels)
        self.fusion = fusion or RankNormalFusion()
        self._texts: dict[str, str] = {}
        self._titles: dict[str, str] = {}
        self._order: list[str] | None = None
        self._positions: dict[str, int] | None = None
        self._maps: dict[str, np.ndarray | None] = {}

    def _changed(self) -> None:
        self._positions = None
        self._order = None
        self._maps = {}

    def _for(self, ch: Channel, ids: Sequence[str], texts: Sequence[str]) -> list[str]:
        """The text a channel indexes: lexical channels that boost titles see the title once more
        (a title is the densest statement of what a listing is about); the dense encoder reads the text."""
        if not getattr(ch, "repeat_title", False):
            return list(texts)
        titles = [self._titles.get(i, "") for i in ids]
        return [f"{ti}\n{t}" if ti else t for ti, t in zip(titles, texts, strict=True)]

    def fit(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        titles: Sequence[str] | None = None,
        vectors: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Build every channel. ``titles`` (optional, aligned with ``ids``) are boosted by lexical channels;
        ``vectors`` maps a dense channel's name to precomputed document vectors (aligned with ``ids``, no
        repeated ids), e.g. loaded from a store of embeddings, so the encoder does not run again."""
        if vectors and len(set(ids)) != len(ids):
            raise ValueError("precomputed vectors need unique ids")
        self._texts = dict(zip(ids, (t or "" for t in texts), strict=True))
        self._titles = dict(zip(ids, titles, strict=True)) if titles is not None else {}
        ids, texts = list(self._texts), list(self._texts.values())
        for ch in self.channels:
            given = (vectors or {}).get(ch.name)
            if given is not None and isinstance(ch, DenseChannel):
                ch.fit_vectors(ids, given)
            else:
                ch.fit(ids, self._for(ch, ids, texts))
        self._changed()

    def upsert(self, ids: Sequence[str], texts: Sequence[str], titles: Sequence[str] | None = None) -> None:
        """Index new or edited documents; unchanged texts are skipped (no re-encoding)."""
        titles = list(titles) if titles is not None else [self._titles.get(i, "") for i in ids]
        todo = [
            (i, t or "", ti or "")
            for i, t, ti in zip(ids, texts, titles, strict=True)
            if self._texts.get(i) != (t or "") or self._titles.get(i, "") != (ti or "")
        ]
        if not todo:
            return
        new_ids, new_texts = [i for i, _, _ in todo], [t for _, t, _ in todo]
        self._titles.update({i: ti for i, _, ti in todo})
        for ch in self.channels:
            ch.upsert(new_ids, self._for(ch, new_ids, new_texts))
        self._texts.update((i, t) for i, t, _ in todo)
        self._changed()

    def remove(self, ids: Sequence[str]) -> None:
        gone = [i for i in ids if i in self._texts]
        if not gone:
            return
        for ch in self.channels:
            ch.remove(gone)
        for i in gone:
            del self._texts[i]
            self._titles.pop(i, None)
        self._changed()

    def text(self, doc_id: str) -> str:
        return self._texts.get(doc_id, "")

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._texts

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def doc_ids(self) -> list[str]:
        if self._order is None:
            self._order = list(self.channels[0].doc_ids)
        return self._order

    def position(self, doc_id: str) -> int | None:
        """Where a document sits in :attr:`doc_ids` (None if not indexed)."""
        if self._positions is None:
            self._positions = {d: i for i, d in enumerate(self.doc_ids)}
        return self._positions.get(doc_id)

    def _map(self, ch: Channel) -> np.ndarray | None:
        """Index array taking the channel's score order to the canonical order (None: already aligned)."""
        if ch.name not in self._maps:
            order = self.doc_ids
            theirs = ch.doc_ids
            if theirs == order:
                self._maps[ch.name] = None
            else:
                pos = {d: i for i, d in enumerate(theirs)}
                self._maps[ch.name] = np.fromiter((pos[d] for d in order), dtype=np.int64, count=len(order))
        return self._maps[ch.name]

    def channel_scores(self, query: str, skip: Sequence[str] = ()) -> dict[str, np.ndarray]:
        out = {}
        for ch in self.channels:
            if ch.name in skip:
                continue
            s = ch.scores(query)
            m = self._map(ch)
            out[ch.name] = s if m is None else s[m]
        return out

    def query(self, query: str) -> QueryScores:
        """Every document's fused score, and each channel's z-score, raw score and share of the fused score,
        all in :attr:`doc_ids` order."""
        raw = self.channel_scores(query)
        fused = self.fusion.combine(raw)
        return QueryScores(fused.score, fused.z, raw, fused.parts)

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)
