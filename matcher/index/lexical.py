"""The lexical channels' index: one inverted matrix of raw term frequencies, corpus statistics applied per query.

Layout (:class:`LexicalBase`, one generation, memory-mapped): a CSC matrix, columns = terms of a
:class:`~matcher.index.vocab.Vocab`, rows = document positions, values = the term's count in the document as
``uint8`` (capped at 255), row indices ``int32``: 5 bytes per (document, term) pair and **one** copy (the
earlier index kept the raw counts *and* a weighted copy, 16 bytes a pair). Per row it keeps the document
length and a norm, per column the document frequency.

Weighting happens at query time, on the query's columns only (:class:`BM25Scheme`, :class:`TfidfCosineScheme`):
the document side of a weight depends on corpus statistics (BM25's average length, TF-IDF's IDF) that edits
change, so nothing stored goes stale, and documents added after the build (the *delta*: a few rows in their own
small CSC) are scored by the very same code: no per-query re-weighting of anything.

Snapshots: a :class:`LexicalIndex` is never changed in place. :meth:`LexicalIndex.with_changes` returns a new one
sharing the base arrays, so a reader holding the old one keeps a consistent view while a writer swaps in the new.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np
from scipy import sparse

from matcher.index.vocab import Vocab, sorted_terms

TF_MAX = 255
#: 1 + ln(tf) for every stored tf value (sublinear TF of the cosine scheme)
LOG_TF = np.concatenate([[0.0], 1.0 + np.log(np.arange(1, TF_MAX + 1))]).astype(np.float32)

Analyzer = Callable[[str], list[str]]


class LexicalScheme(Protocol):
    """How stored term frequencies and corpus statistics become scores."""

    @property
    def name(self) -> str: ...

    def query_weights(self, counts: np.ndarray, df: np.ndarray, n_docs: int) -> np.ndarray:
        """The weight each query column multiplies its documents' values with."""

    def doc_values(self, tf: np.ndarray, rows: np.ndarray, index: LexicalIndex) -> np.ndarray:
        """The document-side weight of stored (row, tf) entries."""

    def row_norms(self, rows: np.ndarray, cols: np.ndarray, tf: np.ndarray, df: np.ndarray, n_docs: int,
                  n_rows: int) -> np.ndarray:
        """A per-document divisor fixed when the document is indexed (1 where the scheme has none)."""

    def finish(self, scores: np.ndarray, norms: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class LengthNormalising(Protocol):
    """A scheme whose document weights depend on the document's length against the average (BM25)."""

    def length_norm(self, doclen: np.ndarray, avgdl: float) -> np.ndarray: ...


@dataclass(frozen=True)
class BM25Scheme:
    """Okapi BM25: IDF on the query side, saturated TF with length normalisation on the document side (with the
    current average length)."""

    k1: float = 1.2
    b: float = 0.75
    name: str = "bm25"

    def query_weights(self, counts: np.ndarray, df: np.ndarray, n_docs: int) -> np.ndarray:
        return np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)

    def doc_values(self, tf: np.ndarray, rows: np.ndarray, index: LexicalIndex) -> np.ndarray:
        t = tf.astype(np.float32)
        return t * np.float32(self.k1 + 1) / (t + index.length_norm[rows])

    def length_norm(self, doclen: np.ndarray, avgdl: float) -> np.ndarray:
        return (self.k1 * (1 - self.b + self.b * doclen / max(avgdl, 1e-9))).astype(np.float32)

    def row_norms(self, rows: np.ndarray, cols: np.ndarray, tf: np.ndarray, df: np.ndarray, n_docs: int,
                  n_rows: int) -> np.ndarray:
        return np.ones(n_rows, dtype=np.float32)

    def finish(self, scores: np.ndarray, norms: np.ndarray) -> np.ndarray:
        return scores


@dataclass(frozen=True)
class TfidfCosineScheme:
    """Sublinear TF × smoothed IDF, cosine: scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``. A document's
    norm is fixed when it is indexed; both IDF factors are the current ones."""

    name: str = "tfidf_cosine"

    @staticmethod
    def idf(df: np.ndarray, n_docs: int) -> np.ndarray:
        return (np.log((1.0 + n_docs) / (1.0 + df.astype(np.float32))) + 1.0).astype(np.float32)

    def query_weights(self, counts: np.ndarray, df: np.ndarray, n_docs: int) -> np.ndarray:
        idf = self.idf(df, n_docs)
        w = (1.0 + np.log(counts.astype(np.float32))) * idf
        norm = float(np.sqrt(np.dot(w, w))) or 1.0
        return (w / norm * idf).astype(np.float32)  # the second idf is the document side's

    def doc_values(self, tf: np.ndarray, rows: np.ndarray, index: LexicalIndex) -> np.ndarray:
        return LOG_TF[tf]

    def row_norms(self, rows: np.ndarray, cols: np.ndarray, tf: np.ndarray, df: np.ndarray, n_docs: int,
                  n_rows: int) -> np.ndarray:
        w = LOG_TF[tf] * self.idf(df, n_docs)[cols]
        sq = np.sqrt(np.bincount(rows, weights=w.astype(np.float64) ** 2, minlength=n_rows)).astype(np.float32)
        sq[sq == 0] = 1.0
        return sq

    def finish(self, scores: np.ndarray, norms: np.ndarray) -> np.ndarray:
        return scores / norms


@dataclass(frozen=True)
class LexicalBase:
    """The built part of a lexical index (arrays may be memory-mapped, read-only)."""

    terms: np.ndarray  #: sorted term strings: column c is terms[c]
    indptr: np.ndarray  #: int64, len(terms) + 1
    rows: np.ndarray  #: int32 row of each stored entry, sorted within a column
    tf: np.ndarray  #: uint8 term frequency of each entry
    doclen: np.ndarray  #: float32 per row: the document's term count
    norm: np.ndarray  #: float32 per row: the scheme's divisor
    df: np.ndarray  #: int32 per column

    @property
    def n_rows(self) -> int:
        return len(self.doclen)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"terms": self.terms, "indptr": self.indptr, "rows": self.rows, "tf": self.tf,
                "doclen": self.doclen, "norm": self.norm, "df": self.df}

    @classmethod
    def empty(cls) -> LexicalBase:
        return cls(sorted_terms([]), np.zeros(2, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint8),
                   np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(1, np.int32))


@dataclass(frozen=True)
class DeltaRows:
    """Documents indexed after the build: each row's columns and frequencies, and a CSC of them for scoring."""

    cols: tuple[np.ndarray, ...] = ()
    tf: tuple[np.ndarray, ...] = ()
    doclen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    norm: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.cols)

    @cached_property
    def csc(self) -> sparse.csc_matrix:
        n_cols = 1 + max((int(c.max()) for c in self.cols if len(c)), default=0)
        indptr = np.zeros(len(self.cols) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(c) for c in self.cols])
        cols = np.concatenate(self.cols) if self.cols else np.zeros(0, np.int32)
        tf = np.concatenate(self.tf) if self.tf else np.zeros(0, np.uint8)
        csr = sparse.csr_matrix((tf, cols, indptr), shape=(len(self.cols), n_cols))
        out = csr.tocsc()
        out.sort_indices()
        return out


def analyse(analyzer: Analyzer, text: str) -> Counter[str]:
    return Counter(analyzer(text or ""))


@dataclass(frozen=True)
class LexicalIndex:
    """One lexical channel's snapshot: base + delta, vocabulary and live statistics."""

    name: str
    analyzer: Analyzer
    scheme: LexicalScheme
    base: LexicalBase
    vocab: Vocab
    delta: DeltaRows = field(default_factory=DeltaRows)
    df_change: dict[int, int] = field(default_factory=dict)  #: column → df change since the base
    n_live: int = 0
    total_len: float = 0.0

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def build(cls, name: str, analyzer: Analyzer, scheme: LexicalScheme, texts: Sequence[str],
              progress: Callable[[int], None] | None = None) -> LexicalIndex:
        """Analyse every text and build the base matrix (rows in the order of ``texts``)."""
        cols_of: dict[str, int] = {}
        indptr = array("q", [0])
        col_buf, tf_buf = array("i"), array("B")
        doclen = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            counts = analyse(analyzer, text)
            for term, n in counts.items():
                col = cols_of.get(term)
                if col is None:
                    col = cols_of[term] = len(cols_of)
                col_buf.append(col)
                tf_buf.append(min(n, TF_MAX))
            indptr.append(len(col_buf))
            doclen[i] = sum(counts.values())
            if progress is not None and (i + 1) % 1000 == 0:
                progress(i + 1)
        terms = sorted_terms(cols_of)
        rank = np.empty(len(cols_of), dtype=np.int32)
        rank[np.array(list(cols_of.values()), dtype=np.int64)] = np.searchsorted(terms, list(cols_of))
        del cols_of
        cols = rank[np.frombuffer(col_buf, dtype=np.int32)] if len(col_buf) else np.zeros(0, np.int32)
        tf = np.frombuffer(tf_buf, dtype=np.uint8) if len(tf_buf) else np.zeros(0, np.uint8)
        csr = sparse.csr_matrix((tf, cols, np.frombuffer(indptr, dtype=np.int64)), shape=(len(texts), len(terms)))
        return cls.from_matrix(name, analyzer, scheme, terms, csr, doclen)

    @classmethod
    def from_matrix(cls, name: str, analyzer: Analyzer, scheme: LexicalScheme, terms: np.ndarray,
                    rows_by_terms: sparse.spmatrix, doclen: np.ndarray) -> LexicalIndex:
        """From a (documents × terms) matrix of frequencies: statistics and norms computed here."""
        csc = sparse.csc_matrix(rows_by_terms, dtype=np.uint8)
        csc.sort_indices()
        n_rows = csc.shape[0]
        indptr = csc.indptr.astype(np.int64)
        rows = csc.indices.astype(np.int32)
        tf = csc.data.astype(np.uint8)
        df = np.diff(indptr).astype(np.int32)
        cols = np.repeat(np.arange(len(terms), dtype=np.int32), np.diff(indptr))
        norm = scheme.row_norms(rows, cols, tf, df, n_rows, n_rows)
        base = LexicalBase(terms, indptr, rows, tf, np.asarray(doclen, np.float32), norm, df)
        return cls(name, analyzer, scheme, base, Vocab(terms), n_live=n_rows, total_len=float(doclen.sum()))

    @classmethod
    def from_base(cls, name: str, analyzer: Analyzer, scheme: LexicalScheme, base: LexicalBase) -> LexicalIndex:
        """A persisted base (every row live)."""
        return cls(name, analyzer, scheme, base, Vocab(base.terms), n_live=base.n_rows,
                   total_len=float(np.asarray(base.doclen, dtype=np.float64).sum()))

    # -- statistics -------------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return self.base.n_rows + len(self.delta)

    @property
    def avgdl(self) -> float:
        return self.total_len / max(self.n_live, 1)

    def df_of(self, cols: np.ndarray) -> np.ndarray:
        df = np.zeros(len(cols), dtype=np.float32)
        in_base = cols < len(self.base.df)
        df[in_base] = self.base.df[cols[in_base]]
        if self.df_change:
            df += np.fromiter((self.df_change.get(int(c), 0) for c in cols), dtype=np.float32, count=len(cols))
        return np.maximum(df, 0)

    @cached_property
    def length_norm(self) -> np.ndarray:
        """BM25's per-row length normalisation with the current average length (base rows, then delta rows)."""
        doclen = np.concatenate([self.base.doclen, self.delta.doclen])
        if not isinstance(self.scheme, LengthNormalising):
            raise TypeError(f"the {self.scheme.name} scheme does not normalise by document length")
        return self.scheme.length_norm(doclen, self.avgdl)

    @cached_property
    def norms(self) -> np.ndarray:
        return np.concatenate([self.base.norm, self.delta.norm])

    # -- queries ----------------------------------------------------------------------------------
    def query_columns(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Known columns of a query's terms and their counts."""
        counts = analyse(self.analyzer, text)
        terms = list(counts)
        cols = self.vocab.lookup(terms)
        known = cols >= 0
        return cols[known], np.fromiter((counts[t] for t, k in zip(terms, known, strict=True) if k),
                                        dtype=np.float32, count=int(known.sum()))

    def scores(self, text: str) -> np.ndarray:
        """Score of every row (dead rows included: the corpus index gathers the live ones)."""
        out = np.zeros(self.n_rows, dtype=np.float32)
        cols, counts = self.query_columns(text)
        if not len(cols):
            return out
        weights = self.scheme.query_weights(counts, self.df_of(cols), max(self.n_live, 1))
        nb = self.base.n_rows
        in_base = cols < len(self.base.terms)
        if nb and in_base.any():
            out[:nb] = self._score_base(cols[in_base], weights[in_base])
        if len(self.delta):
            out[nb:] = self._score_delta(cols, weights)
        return self.scheme.finish(out, self.norms)

    def _score_base(self, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        b = self.base
        starts, ends = b.indptr[cols], b.indptr[cols + 1]
        lengths = (ends - starts).astype(np.int64)
        if not lengths.sum():
            return np.zeros(b.n_rows, np.float32)
        # slices of plain views: a memory map's own slicing costs microseconds per column, and a query has hundreds
        spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
        all_rows, all_tf = b.rows.view(np.ndarray), b.tf.view(np.ndarray)
        rows = np.concatenate([all_rows[s:e] for s, e in spans])
        tf = np.concatenate([all_tf[s:e] for s, e in spans])
        vals = self.scheme.doc_values(tf, rows, self) * np.repeat(weights, lengths)
        return np.bincount(rows, weights=vals, minlength=b.n_rows).astype(np.float32)

    def _score_delta(self, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        m = self.delta.csc
        keep = cols < m.shape[1]
        if not keep.any():
            return np.zeros(len(self.delta), np.float32)
        sub = m[:, cols[keep]].tocoo()
        rows = sub.row.astype(np.int64)
        vals = self.scheme.doc_values(sub.data, rows + self.base.n_rows, self) * weights[keep][sub.col]
        return np.bincount(rows, weights=vals, minlength=len(self.delta)).astype(np.float32)

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25's IDF of each known term (how telling it is; explanations rank shared terms by it)."""
        terms = list(dict.fromkeys(terms))
        cols = self.vocab.lookup(terms)
        known = cols >= 0
        df = self.df_of(cols[known])
        n = max(self.n_live, 1)
        values = np.log1p((n - df + 0.5) / (df + 0.5))
        return dict(zip([t for t, k in zip(terms, known, strict=True) if k], values.tolist(), strict=True))

    def terms_in(self, row: int, terms: Sequence[str]) -> set[str]:
        """Which of ``terms`` the document at ``row`` contains (for explanations; no copy of the matrix by rows)."""
        terms = list(dict.fromkeys(terms))
        cols = self.vocab.lookup(terms)
        out = set()
        nb = self.base.n_rows
        if row >= nb:
            present = set(self.delta.cols[row - nb].tolist())
            return {t for t, c in zip(terms, cols, strict=True) if c >= 0 and int(c) in present}
        b = self.base
        for t, c in zip(terms, cols, strict=True):
            if 0 <= c < len(b.terms):
                s, e = int(b.indptr[c]), int(b.indptr[c + 1])
                i = int(np.searchsorted(b.rows[s:e], row))
                if i < e - s and int(b.rows[s + i]) == row:
                    out.add(t)
        return out

    # -- edits ------------------------------------------------------------------------------------
    def with_changes(self, added: Sequence[str], removed: Sequence[str]) -> LexicalIndex:
        """A new snapshot: ``added`` texts appended as delta rows (in order), the documents whose texts were
        ``removed`` taken out of the statistics (the corpus index marks their rows dead)."""
        df_change = dict(self.df_change)
        total_len, n_live = self.total_len, self.n_live
        vocab = self.vocab
        for text in removed:
            counts = analyse(self.analyzer, text)
            cols = vocab.lookup(list(counts))
            for c in cols[cols >= 0]:
                df_change[int(c)] = df_change.get(int(c), 0) - 1
            total_len -= sum(counts.values())
            n_live -= 1
        new_rows = []
        for text in added:
            counts = analyse(self.analyzer, text)
            vocab = vocab.with_terms(counts)
            cols = vocab.lookup(list(counts)).astype(np.int32)
            tf = np.fromiter((min(n, TF_MAX) for n in counts.values()), dtype=np.uint8, count=len(counts))
            for c in cols:
                df_change[int(c)] = df_change.get(int(c), 0) + 1
            total_len += sum(counts.values())
            n_live += 1
            new_rows.append((cols, tf, float(sum(counts.values()))))
        if not new_rows:
            return replace(self, df_change=df_change, total_len=total_len, n_live=n_live, vocab=vocab)
        probe = replace(self, df_change=df_change, n_live=n_live, vocab=vocab)
        df_all = {int(c): float(probe.df_of(np.array([c]))[0]) for cols, _, _ in new_rows for c in cols}
        norms = []
        for cols, tf, _ in new_rows:
            df = np.array([df_all[int(c)] for c in cols], dtype=np.float32)
            local = np.arange(len(cols), dtype=np.int32)
            norms.append(float(self.scheme.row_norms(np.zeros(len(cols), np.int64), local, tf, df,
                                                     max(n_live, 1), 1)[0]))
        delta = DeltaRows(
            cols=self.delta.cols + tuple(r[0] for r in new_rows),
            tf=self.delta.tf + tuple(r[1] for r in new_rows),
            doclen=np.concatenate([self.delta.doclen, np.array([r[2] for r in new_rows], np.float32)]),
            norm=np.concatenate([self.delta.norm, np.array(norms, np.float32)]),
        )
        return replace(self, vocab=vocab, delta=delta, df_change=df_change, n_live=n_live, total_len=total_len)

    def compacted(self, live_rows: np.ndarray) -> LexicalIndex:
        """Base and delta merged into a new base holding only ``live_rows`` (in that order); statistics and norms
        recomputed. What a new generation is built from."""
        nb = self.base.n_rows
        b = self.base
        base_csc = sparse.csc_matrix((b.tf, b.rows, b.indptr), shape=(nb, len(b.terms)))
        width = len(self.vocab)
        base_csc.resize((nb, width))
        parts = [base_csc.tocsr()]
        if len(self.delta):
            d = self.delta.csc.copy()
            d.resize((len(self.delta), width))
            parts.append(d.tocsr())
        allrows = sparse.vstack(parts, format="csr")[live_rows]
        doclen = np.concatenate([b.doclen, self.delta.doclen])[live_rows]
        # columns in sorted-term order (new terms sorted in), unused columns dropped
        used = np.flatnonzero(np.diff(allrows.tocsc().indptr))
        names: list[str] | np.ndarray
        if len(self.vocab.extra):  # one inverse of the added terms (a lookup per column would scan them all)
            added = {c: t for t, c in self.vocab.extra.items()}
            base_terms = self.vocab.base
            names = [added[c] if c >= len(base_terms) else str(base_terms[c]) for c in used.tolist()]
        else:
            names = b.terms[used]
        terms = sorted_terms(list(names)) if len(names) else sorted_terms([])
        new_col = np.searchsorted(terms, np.asarray(names, dtype=terms.dtype)) if len(names) else np.zeros(0, int)
        remap = np.full(width, -1, dtype=np.int64)
        remap[used] = new_col
        coo = allrows.tocoo()
        matrix = sparse.csr_matrix((coo.data, (coo.row, remap[coo.col])), shape=(len(live_rows), len(terms)))
        return LexicalIndex.from_matrix(self.name, self.analyzer, self.scheme, terms, matrix, doclen)

    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.base.arrays().values()))
