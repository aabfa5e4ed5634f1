"""Expert work records (JSON Lines) → graph nodes, for batch expert finding on a throwaway graph.

A work line: ``{"expert_id", "expert_name", "institution", "title", "text"?, "year"?, "kind"?, "work_id"?}``;
a query line: ``{"id", "text"}``. Bad lines are collected with their line numbers and skipped; the
valid rest is kept. Experts become Talent nodes (AFFILIATED_WITH their Institution); a work of kind
项目 becomes a Project (WORKED_ON), anything else an Achievement (INVENTED), 论文 with kind paper.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from graph.model import Achievement, AchievementKind, Institution, Node, NodeLabel, Project, Relation, RelType, Talent

_ID_OK = re.compile(r"^[^\s]{1,100}$")
PROJECT_KINDS = {"项目", "project"}


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class WorkRecord:
    line: int
    expert_id: str
    expert_name: str
    institution: str
    title: str
    text: str = ""
    year: int | None = None
    kind: str = ""
    work_id: str = ""


@dataclass(frozen=True)
class QueryRecord:
    line: int
    id: str
    text: str


def _str(obj: dict, key: str) -> str:
    value = obj.get(key)
    return "" if value is None else str(value).strip()


def _json_lines(lines: Iterable[str]) -> Iterable[tuple[int, dict | None, str]]:
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield n, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(obj, dict):
            yield n, None, "expected a JSON object"
            continue
        yield n, obj, ""


def parse_work_records(lines: Iterable[str]) -> tuple[list[WorkRecord], list[LineError]]:
    records, errors = [], []
    for n, obj, problem in _json_lines(lines):
        if obj is None:
            errors.append(LineError(n, problem))
            continue
        expert_id, title, text = _str(obj, "expert_id"), _str(obj, "title"), _str(obj, "text")
        if not expert_id:
            errors.append(LineError(n, "missing expert_id"))
            continue
        if not title and not text:
            errors.append(LineError(n, "a work needs a title or a text"))
            continue
        year_raw, year = obj.get("year"), None
        if year_raw not in (None, ""):
            try:
                year = int(str(year_raw)[:4])
            except ValueError:
                errors.append(LineError(n, f"year {year_raw!r} is not a year; kept the work without it"))
        records.append(WorkRecord(
            line=n, expert_id=expert_id, expert_name=_str(obj, "expert_name") or expert_id,
            institution=_str(obj, "institution"), title=title or text[:60], text=text, year=year,
            kind=_str(obj, "kind"), work_id=_str(obj, "work_id"),
        ))
    return records, errors


def parse_queries(lines: Iterable[str]) -> tuple[list[QueryRecord], list[LineError]]:
    queries, errors, seen = [], [], set()
    for n, obj, problem in _json_lines(lines):
        if obj is None:
            errors.append(LineError(n, problem))
            continue
        qid, text = _str(obj, "id"), _str(obj, "text")
        if not qid or not text:
            errors.append(LineError(n, "a query needs an id and a text"))
            continue
        if qid in seen:
            errors.append(LineError(n, f"duplicate query id {qid!r}; kept the first"))
            continue
        seen.add(qid)
        queries.append(QueryRecord(n, qid, text))
    return queries, errors


def _node_id(prefix: str, raw: str) -> str:
    # ids must be short and without whitespace; anything else is hashed (the mapping is kept)
    return f"{prefix}{raw}" if _ID_OK.match(raw) else f"{prefix}h{hashlib.sha1(raw.encode()).hexdigest()[:20]}"


@dataclass
class ExpertGraph:
    nodes: list[Node] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    talent_to_expert: dict[str, str] = field(default_factory=dict)


def expert_graph(records: Iterable[WorkRecord]) -> ExpertGraph:
    """Talent, Institution, Project and Achievement nodes with their edges for these work records."""
    out = ExpertGraph()
    talents: dict[str, Talent] = {}
    institutions: dict[str, Institution] = {}
    works: dict[str, bool] = {}  # work id -> is a project (the first line naming a work decides)
    rels: dict[tuple, Relation] = {}
    for rec in records:
        tid = _node_id("x-", rec.expert_id)
        if tid not in talents:
            talents[tid] = Talent(id=tid, name=rec.expert_name)
            out.talent_to_expert[tid] = rec.expert_id
        if rec.institution:
            iid = _node_id("i-", hashlib.sha1(rec.institution.encode()).hexdigest()[:16])
            institutions.setdefault(iid, Institution(id=iid, name=rec.institution))
            rels.setdefault((tid, iid), Relation(type=RelType.AFFILIATED_WITH, source_label=NodeLabel.TALENT,
                                                 source_id=tid, target_label=NodeLabel.INSTITUTION, target_id=iid))
        wid = _node_id("w-", rec.work_id) if rec.work_id else f"w-line{rec.line}"
        is_project = works.get(wid, rec.kind in PROJECT_KINDS)
        if wid not in works:
            works[wid] = is_project
            if is_project:
                out.nodes.append(Project(id=wid, name=rec.title, description=rec.text, year=rec.year))
            else:
                kind = AchievementKind(rec.kind) if rec.kind in AchievementKind._value2member_map_ else (
                    AchievementKind.PAPER if rec.kind.lower() == "paper" else AchievementKind.OTHER)
                posted = date(rec.year, 1, 1) if rec.year and 1000 <= rec.year <= 9999 else None
                out.nodes.append(Achievement(id=wid, name=rec.title, description=rec.text, kind=kind,
                                             posted_on=posted))
        rel_type, target = (RelType.WORKED_ON, NodeLabel.PROJECT) if is_project else (
            RelType.INVENTED, NodeLabel.ACHIEVEMENT)
        rels.setdefault((tid, wid), Relation(type=rel_type, source_label=NodeLabel.TALENT, source_id=tid,
                                             target_label=target, target_id=wid))
    out.nodes = [*talents.values(), *institutions.values(), *out.nodes]
    out.relations = list(rels.values())
    return out
