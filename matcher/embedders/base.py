"""The small protocol every embedding encoder implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Encodes queries and passages into L2-normalised vectors of ``dim`` floats."""

    name: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, unit rows."""

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, unit rows."""


class CutTextEncoder:
    """The identity of an encoder that reads the first ``max_chars`` characters of a passage and the first
    ``max_query_chars`` of a query: how the settings name it, and the keys its stored vectors go under (rows of
    one passage length are never mixed with another's; the bare name is the length of :attr:`full_chars`)."""

    name: str
    #: the passage length the rows stored under the bare name were made with
    full_chars: int = 512
    max_chars: int
    max_query_chars: int

    @property
    def spec(self) -> str:
        """How the settings name this encoder (``make_embedder(spec)`` rebuilds it, e.g. in a worker process)."""
        return f"{self.name}@{self.max_chars}"

    @property
    def query_key(self) -> str:
        """Identity of this encoder's query vectors (they read the first ``max_query_chars`` of a query)."""
        return f"{self.name}-query@{self.max_query_chars}"

    @property
    def vector_key(self) -> str:
        """Identity of the passage rows."""
        return self.name if self.max_chars == self.full_chars else f"{self.name}@{self.max_chars}"
