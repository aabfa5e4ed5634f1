"""A term vocabulary as a sorted array of fixed-width strings: memory-mapped, looked up with a binary search.

A Python dict of the ~1.2M character n-grams of a 300k-document corpus costs ~200 MB per process and seconds
to load; the sorted array costs 12 bytes a term (``<U3``), is shared by every process that maps it and is
looked up for a whole query in one ``np.searchsorted``. A term's column is its position in the array.
Terms first seen after the build (edits) get columns past the array's end, kept in a small dict until the
next generation sorts them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def sorted_terms(terms: Iterable[str]) -> np.ndarray:
    """The terms, distinct and sorted, as a fixed-width unicode array (at least one character wide)."""
    uniq = sorted(set(terms))
    width = max((len(t) for t in uniq), default=1) or 1
    return np.array(uniq, dtype=f"<U{width}")


class Vocab:
    """Columns of terms: ``base`` (sorted array, column = position) plus ``extra`` (term → column ≥ len(base))."""

    def __init__(self, base: np.ndarray, extra: Mapping[str, int] | None = None) -> None:
        self.base = base
        self.width = int(base.dtype.itemsize // 4) if base.dtype.kind == "U" else 0
        self.extra: dict[str, int] = dict(extra or {})

    def __len__(self) -> int:
        return len(self.base) + len(self.extra)

    @property
    def n_base(self) -> int:
        return len(self.base)

    def lookup(self, terms: Sequence[str]) -> np.ndarray:
        """Column of each term, -1 where unknown."""
        out = np.full(len(terms), -1, dtype=np.int64)
        if not len(terms):
            return out
        if len(self.base):
            fits = np.fromiter((len(t) <= self.width for t in terms), dtype=bool, count=len(terms))
            # a term wider than the array's strings would be truncated by the conversion: never a match
            arr = np.array([t if f else "" for t, f in zip(terms, fits, strict=True)], dtype=self.base.dtype)
            pos = np.searchsorted(self.base, arr)
            pos[pos >= len(self.base)] = 0
            hit = fits & (self.base[pos] == arr)
            out[hit] = pos[hit]
        if self.extra:
            for i in np.flatnonzero(out < 0).tolist():
                out[i] = self.extra.get(terms[i], -1)
        return out

    def with_terms(self, terms: Iterable[str]) -> Vocab:
        """A vocabulary that also knows ``terms`` (new ones get the next columns); self is unchanged."""
        terms = list(dict.fromkeys(terms))
        if not terms:
            return self
        cols = self.lookup(terms)
        new = [t for t, c in zip(terms, cols, strict=True) if c < 0]
        if not new:
            return self
        extra = dict(self.extra)
        for t in new:
            extra[t] = len(self.base) + len(extra)
        return Vocab(self.base, extra)

    def term_of(self, col: int) -> str:
        if col < len(self.base):
            return str(self.base[col])
        for t, c in self.extra.items():
            if c == col:
                return t
        raise KeyError(col)
