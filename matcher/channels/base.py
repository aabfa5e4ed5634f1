"""The one interface every text scoring channel implements (lexical, character n-gram, dense ...)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Hit:
    """One scored document from one channel."""

    doc_id: str
    score: float


@runtime_checkable
class Channel(Protocol):
    """A searchable index over (id, text) documents that stays current under edits."""

    name: str

    def fit(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """(Re)build the index from scratch."""

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Add new documents or replace the text of existing ones, without a full rebuild."""

    def remove(self, ids: Sequence[str]) -> None:
        """Drop documents."""

    def scores(self, query: str) -> np.ndarray:
        """Scores of every indexed document for ``query``, aligned with :attr:`doc_ids`."""

    @property
    def doc_ids(self) -> list[str]:
        """Ids of the indexed documents in score order positions."""

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The ``k`` best documents, best first."""
