"""The configured lexical channels of the engine's indexes, each with a signature of what shapes its matrix.

A persisted generation is reused only when every signature still matches: a changed stop-word list,
domain vocabulary, jieba version, n-gram sizes or weighting means a rebuild, never a silently wrong index.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from importlib import metadata

from ingest.text import _BUILTIN_TERMS, char_ngrams, domain_terms, normalize, segmenter_id, stopwords, tokenize
from matcher.embedders.base import Embedder
from matcher.index.generation import LexicalSpec
from matcher.index.lexical import BM25Scheme, TfidfCosineScheme


def ngram_terms(text: str, n: tuple[int, ...] = (2, 3)) -> list[str]:
    """Character n-grams of the normalised text, minus n-grams that are whole stop words (需求, 技术 ...).

    Short Chinese technical text is segmented inconsistently (热稳定剂 vs 热 稳定 剂); character n-grams match
    across such differences and across compounds, which makes them the strongest single lexical signal here."""
    stops = stopwords()
    return [g for g in char_ngrams(normalize(text), n, normalized=True) if g not in stops]


def extra_channel_name(embedder: Embedder) -> str:
    """The channel name of a dense channel beside the primary one (``dense``): ``dense_`` + the encoder's name
    as an identifier, e.g. ``dense_use_m3``; it names the channel's z-score feature (``z_dense_use_m3``)."""
    return "dense_" + (re.sub(r"[^0-9a-z]+", "_", embedder.name.lower()).strip("_") or "extra")


#: bump when an analyser's code changes what it returns
ANALYSER_VERSION = "1"


@lru_cache(maxsize=1)
def vocabulary_digest() -> str:
    """What shapes every analyser's tokens: the analyser version, jieba (or rjieba) and its vocabulary, the
    stop words."""
    try:
        jieba = metadata.version("jieba")
    except metadata.PackageNotFoundError:  # pragma: no cover - jieba is a dependency
        jieba = "?"
    h = hashlib.sha1(f"{ANALYSER_VERSION}|jieba {jieba}|{segmenter_id()}".encode())
    for part in (sorted(stopwords()), sorted(_BUILTIN_TERMS), sorted(domain_terms())):
        h.update("\x00".join(part).encode())
    return h.hexdigest()[:16]


def lexical_specs() -> list[LexicalSpec]:
    """``bm25_words`` (BM25 k1 1.2 b 0.75 over jieba words) and ``char_ngram`` (2-3-gram TF-IDF cosine)."""
    vocab = vocabulary_digest()
    bm25, tfidf = BM25Scheme(1.2, 0.75), TfidfCosineScheme()
    return [
        LexicalSpec("bm25_words", tokenize, bm25, f"words/{vocab}/{bm25}"),
        LexicalSpec("char_ngram", ngram_terms, tfidf, f"char2-3/{vocab}/{tfidf}"),
    ]
