"""Any sentence-transformers model a deployment brings (a local path, or a name already in the HF cache).

Offline here; in production point ``TECHMATCH_EMBEDDER=st:<path-or-name>`` at e.g. bge-small-zh-v1.5.
Asymmetric models take their prefixes (``query_prefix`` / ``passage_prefix``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class SentenceTransformerEmbedder:
    def __init__(
        self,
        model: str | Any,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 64,
        name: str | None = None,
    ) -> None:
        if isinstance(model, str):
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(model, device="cpu")
            self.name = name or f"st:{model}"
        else:  # an already built SentenceTransformer (tests train a tiny StaticEmbedding in process)
            self.model = model
            self.name = name or f"st:{type(model).__name__}"
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.batch_size = batch_size
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise ValueError(f"{self.name}: the model does not tell its embedding dimension")
        self.dim = int(dim)

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            [prefix + (t or " ") for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prefix)
