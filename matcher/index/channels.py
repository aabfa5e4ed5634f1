"""The configured lexical channels of the engine's indexes, each with a signature of what shapes its matrix.

A persisted generation is reused only when every signature still matches: a changed stop-word list,
domain vocabulary, jieba version, n-gram sizes or weighting means a rebuild, never a silently wrong index.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata

from ingest.text import _BUILTIN_TERMS, domain_terms, segmenter_id, stopwords, tokenize
from matcher.channels.char_ngram import ngram_terms
from matcher.index.generation import LexicalSpec
from matcher.index.lexical import BM25Scheme, TfidfCosineScheme

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
