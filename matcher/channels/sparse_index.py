"""An incrementally updatable sparse term index (inverted index as a scipy CSC matrix) shared by the lexical
channels. A channel supplies the analyser (text → terms) and a :class:`TermWeighting` (how document term
counts and query terms become weights); this module keeps the index current under edits.

Layout: documents live at *positions*. A built part (``_main``: weighted CSC, columns = terms) covers
positions ``0..M-1``; documents added or edited afterwards go to a small *delta* of raw term counts that is
weighted at query time with the current statistics. An edited or removed document's old position is marked
dead. When the delta grows past a fraction of the corpus, the index compacts (re-weights everything from the
kept raw counts): each upsert is cheap and the corpus statistics never drift far.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from scipy import sparse

from matcher.channels.base import Hit


class TermWeighting(Protocol):
    """How raw term counts become document weights, and query terms become query weights."""

    def weigh_docs(self, counts: sparse.csr_matrix, df: np.ndarray, n_docs: int, avgdl: float) -> sparse.csr_matrix:
        """Weighted copy of ``counts`` (rows = documents)."""

    def weigh_query(self, counts: dict[int, int], df: np.ndarray, n_docs: int) -> dict[int, float]:
        """Weight of each query term column."""


class BM25Weighting:
    """Okapi BM25: saturated term frequency on the document side, IDF on the query side.

    Keeping the IDF on the query side means document weights only depend on the document and the average
    length, so edits never make the built part stale beyond ``avgdl``.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b

    def weigh_docs(self, counts: sparse.csr_matrix, df: np.ndarray, n_docs: int, avgdl: float) -> sparse.csr_matrix:
        out = counts.astype(np.float32, copy=True)
        dl = np.asarray(counts.sum(axis=1)).ravel().astype(np.float32)
        norm = self.k1 * (1 - self.b + self.b * dl / max(avgdl, 1e-9))
        row_of = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
        tf = out.data
        out.data = (tf * (self.k1 + 1) / (tf + norm[row_of])).astype(np.float32)
        return out

    def weigh_query(self, counts: dict[int, int], df: np.ndarray, n_docs: int) -> dict[int, float]:
        out = {}
        for col in counts:
            d = float(df[col]) if col < len(df) else 0.0
            out[col] = float(np.log1p((n_docs - d + 0.5) / (d + 0.5)))
        return out


class TfidfCosineWeighting:
    """Sublinear TF × smoothed IDF, rows L2-normalised: cosine similarity, as scikit-learn's TfidfVectorizer
    with ``sublinear_tf=True``. Document IDF is the one at the last compaction (delta rows use the current)."""

    def weigh_docs(self, counts: sparse.csr_matrix, df: np.ndarray, n_docs: int, avgdl: float) -> sparse.csr_matrix:
        out = counts.astype(np.float32, copy=True)
        idf = self._idf(df, n_docs)
        out.data = (1.0 + np.log(out.data)) * idf[out.indices]
        sq = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
        sq[sq == 0] = 1.0
        row_of = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
        out.data = (out.data / sq[row_of]).astype(np.float32)
        return out

    def weigh_query(self, counts: dict[int, int], df: np.ndarray, n_docs: int) -> dict[int, float]:
        idf = self._idf(df, n_docs)
        weights = {c: (1.0 + np.log(n)) * float(idf[c]) for c, n in counts.items()}
        norm = float(np.sqrt(sum(w * w for w in weights.values()))) or 1.0
        return {c: w / norm for c, w in weights.items()}

    @staticmethod
    def _idf(df: np.ndarray, n_docs: int) -> np.ndarray:
        return (np.log((1.0 + n_docs) / (1.0 + df.astype(np.float32))) + 1.0).astype(np.float32)


class SparseTermIndex:
    """Documents as weighted term vectors; ``scores(query)`` is one sparse mat-vec over the query's columns."""

    def __init__(
        self,
        analyzer: Callable[[str], list[str]],
        weighting: TermWeighting,
        compact_fraction: float = 0.05,
        compact_min: int = 500,
    ) -> None:
        self.analyzer = analyzer
        self.weighting = weighting
        self.compact_fraction = compact_fraction
        self.compact_min = compact_min
        self._reset()

    def _reset(self) -> None:
        self.vocab: dict[str, int] = {}
        self._ids: list[str] = []  # id at each position
        self._pos: dict[str, int] = {}  # live id -> position
        self._alive = np.zeros(0, dtype=bool)
        self._df = np.zeros(0, dtype=np.int64)
        self._total_len = 0
        self._main_counts = sparse.csr_matrix((0, 0), dtype=np.int32)
        self._main = sparse.csc_matrix((0, 0), dtype=np.float32)
        self._delta: list[dict[int, int]] = []  # raw counts of positions >= main rows
        self._live_cache: tuple[np.ndarray, list[str]] | None = None

    # -- building ---------------------------------------------------------------------------------
    def _count(self, text: str, grow: bool) -> dict[int, int]:
        out: dict[int, int] = {}
        for term, n in Counter(self.analyzer(text)).items():
            col = self.vocab.get(term)
            if col is None:
                if not grow:
                    continue
                col = self.vocab[term] = len(self.vocab)
            out[col] = n
        return out

    def _grow_df(self) -> None:
        if len(self._df) < len(self.vocab):
            self._df = np.concatenate([self._df, np.zeros(len(self.vocab) - len(self._df), dtype=np.int64)])

    def fit(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self._reset()
        if len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        # the last text of a repeated id wins, as an upsert would
        latest: dict[str, str] = {}
        for doc_id, text in zip(ids, texts, strict=True):
            latest[doc_id] = text or ""
        rows = [self._count(text, grow=True) for text in latest.values()]
        self._ids = list(latest)
        self._pos = {d: i for i, d in enumerate(self._ids)}
        self._alive = np.ones(len(self._ids), dtype=bool)
        self._main_counts = self._rows_to_csr(rows, len(self.vocab))
        self._df = np.bincount(self._main_counts.indices, minlength=len(self.vocab)).astype(np.int64)
        self._total_len = int(self._main_counts.sum())
        self._reweigh()

    def counts(self) -> tuple[list[str], list[str], sparse.csr_matrix]:
        """What a compacted index is made of: document ids, terms in column order and the raw counts (rows =
        documents): :meth:`load_counts` turns them back into the same index without analysing any text."""
        if self._delta or not self._alive.all():
            self.compact()
        terms = [""] * len(self.vocab)
        for term, col in self.vocab.items():
            terms[col] = term
        return list(self._ids), terms, self._main_counts

    def load_counts(self, ids: Sequence[str], terms: Sequence[str], counts: sparse.csr_matrix) -> None:
        """The index :meth:`counts` described (a stored one): the same matrices as :meth:`fit` on the texts."""
        if counts.shape != (len(ids), len(terms)):
            raise ValueError(f"counts of shape {counts.shape} for {len(ids)} documents and {len(terms)} terms")
        self._reset()
        self.vocab = {t: i for i, t in enumerate(terms)}
        self._ids = list(ids)
        self._pos = {d: i for i, d in enumerate(self._ids)}
        self._alive = np.ones(len(self._ids), dtype=bool)
        self._main_counts = counts
        self._df = np.bincount(counts.indices, minlength=len(self.vocab)).astype(np.int64)
        self._total_len = int(counts.sum())
        self._reweigh()

    @staticmethod
    def _rows_to_csr(rows: Sequence[dict[int, int]], n_cols: int) -> sparse.csr_matrix:
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(r) for r in rows])
        indices = np.fromiter((c for r in rows for c in r), dtype=np.int32, count=int(indptr[-1]))
        data = np.fromiter((n for r in rows for n in r.values()), dtype=np.int32, count=int(indptr[-1]))
        return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), n_cols))

    def _reweigh(self) -> None:
        n_live = int(self._alive.sum())
        avgdl = self._total_len / max(n_live, 1)
        weighted = self.weighting.weigh_docs(self._main_counts, self._df, n_live, avgdl)
        self._main = weighted.tocsc()
        self._live_cache = None

    def compact(self) -> None:
        """Fold the delta into the built part and drop dead positions (statistics recomputed)."""
        live_main = np.flatnonzero(self._alive[: self._main_counts.shape[0]])
        main_counts = self._main_counts[live_main]
        main_counts.resize((main_counts.shape[0], len(self.vocab)))
        base = self._main_counts.shape[0]
        live_delta = [i for i in range(len(self._delta)) if self._alive[base + i]]
        delta_counts = self._rows_to_csr([self._delta[i] for i in live_delta], len(self.vocab))
        ids = [self._ids[p] for p in live_main] + [self._ids[base + i] for i in live_delta]
        self._main_counts = sparse.vstack([main_counts, delta_counts], format="csr")
        self._delta = []
        self._ids = ids
        self._pos = {d: i for i, d in enumerate(ids)}
        self._alive = np.ones(len(ids), dtype=bool)
        self._df = np.bincount(self._main_counts.indices, minlength=len(self.vocab)).astype(np.int64)
        self._total_len = int(self._main_counts.sum())
        self._reweigh()

    # -- edits ------------------------------------------------------------------------------------
    def _counts_at(self, pos: int) -> dict[int, int]:
        base = self._main_counts.shape[0]
        if pos >= base:
            return self._delta[pos - base]
        row = self._main_counts[pos]
        return dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))

    def _kill(self, pos: int) -> None:
        counts = self._counts_at(pos)
        for col in counts:
            self._df[col] -= 1
        self._total_len -= sum(counts.values())
        # the position stays in the built matrix until compaction; scores() only returns live positions
        self._alive[pos] = False

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        for doc_id, text in zip(ids, texts, strict=True):
            old = self._pos.pop(doc_id, None)
            if old is not None:
                self._kill(old)
            counts = self._count(text or "", grow=True)
            self._grow_df()
            for col in counts:
                self._df[col] += 1
            self._total_len += sum(counts.values())
            self._delta.append(counts)
            self._ids.append(doc_id)
            self._pos[doc_id] = len(self._ids) - 1
            self._alive = np.append(self._alive, True)
        self._live_cache = None
        if len(self._delta) > max(self.compact_min, self.compact_fraction * len(self._pos)):
            self.compact()

    def remove(self, ids: Sequence[str]) -> None:
        for doc_id in ids:
            pos = self._pos.pop(doc_id, None)
            if pos is not None:
                self._kill(pos)
        self._live_cache = None

    # -- queries ----------------------------------------------------------------------------------
    def _live(self) -> tuple[np.ndarray, list[str]]:
        if self._live_cache is None:
            positions = np.flatnonzero(self._alive)
            self._live_cache = (positions, [self._ids[p] for p in positions])
        return self._live_cache

    @property
    def doc_ids(self) -> list[str]:
        return self._live()[1]

    def __len__(self) -> int:
        return len(self._pos)

    def query_weights(self, query: str) -> dict[int, float]:
        counts = self._count(query, grow=False)
        if not counts:
            return {}
        return self.weighting.weigh_query(counts, self._df, max(len(self._pos), 1))

    def scores(self, query: str) -> np.ndarray:
        """Score of every live document, aligned with :attr:`doc_ids`."""
        positions, _ = self._live()
        full = np.zeros(len(self._ids), dtype=np.float32)
        weights = self.query_weights(query)
        if weights:
            base = self._main.shape[0]
            cols = np.fromiter((c for c in weights if c < self._main.shape[1]), dtype=np.int64)
            if len(cols) and base:
                w = np.fromiter((weights[c] for c in cols), dtype=np.float32, count=len(cols))
                full[:base] = self._main[:, cols] @ w
            if self._delta:
                n_live = max(len(self._pos), 1)
                avgdl = self._total_len / n_live
                block = self.weighting.weigh_docs(
                    self._rows_to_csr(self._delta, len(self.vocab)), self._df, n_live, avgdl
                )
                qv = np.zeros(len(self.vocab), dtype=np.float32)
                for c, wt in weights.items():
                    qv[c] = wt
                full[base:] = block @ qv
        return full[positions] if len(positions) != len(full) else full

    def search(self, query: str, k: int = 10) -> list[Hit]:
        s = self.scores(query)
        ids = self.doc_ids
        if not len(s):
            return []
        k = min(k, len(s))
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        return [Hit(ids[i], float(s[i])) for i in top if s[i] > 0]

    def terms_of(self, doc_id: str) -> set[str]:
        """The analysed terms of a live document (for explanations)."""
        pos = self._pos.get(doc_id)
        if pos is None:
            return set()
        inverse = getattr(self, "_inverse", None)
        if inverse is None or len(inverse) != len(self.vocab):
            inverse = self._inverse = {c: t for t, c in self.vocab.items()}
        return {inverse[c] for c in self._counts_at(pos)}

    def matrix_nbytes(self) -> int:
        """Bytes of the two main matrices (the raw counts and their weighted copy), arrays only: the memory
        the in-memory index holds for its documents (rows added since the last compaction not counted)."""
        return sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (self._main, self._main_counts))


class SparseChannel:
    """A :class:`~matcher.channels.base.Channel` backed by one :class:`SparseTermIndex`."""

    name = "sparse"

    def __init__(self, analyzer: Callable[[str], list[str]], weighting: TermWeighting) -> None:
        self.index = SparseTermIndex(analyzer, weighting)

    def fit(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.index.fit(ids, texts)

    def upsert(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.index.upsert(ids, texts)

    def remove(self, ids: Sequence[str]) -> None:
        self.index.remove(ids)

    def scores(self, query: str) -> np.ndarray:
        return self.index.scores(query)

    @property
    def doc_ids(self) -> list[str]:
        return self.index.doc_ids

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.index.search(query, k)

    def __len__(self) -> int:
        return len(self.index)
