"""Each candidate topic's ranked solvers, kept on disk: a topics view or the bureau's report reads the solvers of an
unchanged topic instead of ranking them again.

    data_dir/index/rankings/<scorer>.json     {"format", "basis", "entries": {statement digest: [k, rows]}}

A topic's solvers (``rank_solvers`` on its statement, no challenge: no 回避 rule applies) depend on the statement,
on the expertise index (the stored solvers' index's fingerprint: every owned work's content hash and credits,
affiliations, channels, jieba's vocabulary), on every solver's name and track record (read from the graph at each
use: deals and projects change them without touching a work) and on the ranking's settings (track-record weight,
solver labels, works shown per solver). All but the statement make the file's *basis*: a file of another basis
is not read (and is replaced by the next write), so any change of a solver's works, name or record ranks every
topic again; a changed statement is simply not found and is ranked alone. Rows of a larger ``k`` serve a smaller
one (the first ``k`` of a text's ranking do not depend on ``k``). The file is private (0600), replaced
atomically: statements are the names of needs, some confidential.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graph.model import NodeLabel
from graph.store import GraphStore
from matcher.index.files import read_json, write_bytes
from matcher.index.words import text_digest
from matcher.settings import MatcherSettings
from matcher.solvers.ranking import SolverIndex, rank_solvers
from matcher.solvers.refs import SOLVER_LABELS

#: bump when the rows or what the basis covers change
FORMAT = 1
EXPLAIN_WORKS = 3

# (path) -> (mtime, basis, entries): a service reads the file once per change, not per view
_MEMO: dict[str, tuple[int, str, dict[str, list[Any]]]] = {}
_LOCK = threading.Lock()


def clear_memo() -> None:
    """Forget the ranking files read so far: the next :class:`StoredRankings` reads its file from disk, as a
    fresh process would (a benchmark timing a first view)."""
    with _LOCK:
        _MEMO.clear()


def rankings_root(data_dir: Path) -> Path:
    return Path(data_dir) / "index" / "rankings"


def ranking_basis(index: SolverIndex, labels: Sequence[NodeLabel] = SOLVER_LABELS,
                  explain_works: int = EXPLAIN_WORKS) -> str | None:
    """The digest of everything but the statement that a topic's ranked solvers depend on; None when the index's
    works have no fingerprint (not the stored index: nothing to key on, nothing is kept)."""
    if not index.source:
        return None
    head = (f"format {FORMAT}|{index.source}|{index.track_weight!r}|{sorted(NodeLabel(x).value for x in labels)}"
            f"|{explain_works}")
    h = hashlib.sha1(head.encode("utf-8"))
    for key in sorted(index.solvers):
        record = index.records.get(key)
        row = [key, index.solvers[key].name, record.model_dump(mode="json") if record is not None else None]
        h.update(json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\x1e")
    return h.hexdigest()


def solver_rows(store: GraphStore, statement: str, k: int, index: SolverIndex,
                labels: Sequence[NodeLabel] = SOLVER_LABELS, explain_works: int = EXPLAIN_WORKS
                ) -> list[dict[str, Any]]:
    """A topic's candidate solvers as the bureau's views show them, best first (ranked now)."""
    ranking = rank_solvers(store, statement, k=k, index=index, labels=labels, explain_works=explain_works)
    return [{"label": m.solver.label.value, "id": m.solver.id, "name": m.name, "score": round(m.score, 4),
             "explanation": m.explanation} for m in ranking.matches]


class StoredRankings:
    """A :data:`bureau.topics.SolverRanker` (``ranker(statement, k)``) that reads a kept ranking when its basis
    and statement are unchanged, else ranks now and keeps it; :meth:`save` writes what was added (once per view).
    The stored solvers' index is read on the first call (a view with no unmet need loads nothing)."""

    def __init__(self, store: GraphStore, data_dir: Path, scorer: str = "lexical",
                 labels: Sequence[NodeLabel] = SOLVER_LABELS, explain_works: int = EXPLAIN_WORKS,
                 settings: MatcherSettings | None = None) -> None:
        """``data_dir``: where the rankings and the solvers' index are kept; ``settings``: the dense encoder of
        the combined scorer."""
        self.store = store
        self.scorer = scorer
        self.settings = settings
        self.data_dir = Path(data_dir)
        self.labels = tuple(labels)
        self.explain_works = explain_works
        self.path = rankings_root(self.data_dir) / f"{scorer}.json"
        self.ranked = 0  #: rankings computed (not read) by this object
        self._index: SolverIndex | None = None
        self._basis: str | None = None
        self._entries: dict[str, list[Any]] = {}
        self._used: set[str] = set()
        self._changed = False

    def _open(self) -> SolverIndex:
        if self._index is None:
            from matcher.solvers.stored import solvers_root, stored_solver_index

            self._index = stored_solver_index(self.store, scorer=self.scorer, root=solvers_root(self.data_dir),
                                              settings=self.settings)
            self._basis = ranking_basis(self._index, self.labels, self.explain_works)
            kept = self._read()
            self._entries = dict(kept[1]) if kept is not None and kept[0] == self._basis else {}
        return self._index

    def _read(self) -> tuple[str, dict[str, list[Any]]] | None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        memo = _MEMO.get(str(self.path))
        if memo is not None and memo[0] == mtime:
            return memo[1], memo[2]
        try:
            data = read_json(self.path)
            basis, entries = str(data["basis"]), dict(data["entries"])
            if data.get("format") != FORMAT:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable: ranked again and replaced
        _MEMO[str(self.path)] = (mtime, basis, entries)
        return basis, entries

    def __call__(self, statement: str, k: int) -> list[dict[str, Any]]:
        index = self._open()
        digest = text_digest(statement)
        self._used.add(digest)
        hit = self._entries.get(digest)
        if hit is not None and int(hit[0]) >= k:
            return [dict(r) for r in hit[1][:k]]
        rows = solver_rows(self.store, statement, k, index, self.labels, self.explain_works)
        self.ranked += 1
        if self._basis is not None:
            self._entries[digest] = [k, rows]
            self._changed = True
        return [dict(r) for r in rows]

    def save(self, exactly: bool = False) -> None:
        """Write the rankings added since the file was read. ``exactly``: this view asked for every topic (no
        chain filter): rankings of statements it did not ask for are dropped."""
        if self._basis is None:
            return
        entries = self._entries
        if exactly:
            entries = {d: e for d, e in entries.items() if d in self._used}
        if not self._changed and len(entries) == len(self._entries):
            return
        body = {"format": FORMAT, "basis": self._basis, "entries": entries}
        with _LOCK:
            write_bytes(self.path, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            _MEMO[str(self.path)] = (self.path.stat().st_mtime_ns, self._basis, dict(entries))
        self._entries = dict(entries)
        self._changed = False


__all__ = ["FORMAT", "StoredRankings", "clear_memo", "ranking_basis", "rankings_root", "solver_rows"]
