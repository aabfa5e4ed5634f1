"""Load a file of achievements, needs, enterprises, talents, institutions or platforms into the graph.

For every row: map the columns (``ingest.mapping``), validate against the domain model
(``ingest.records``), extract institutions and patent numbers from an achievement's text
(``ingest.extraction``), compute keywords (``ingest.text``), resolve the organisations it names to one
node each (``ingest.resolution``), place achievements and needs on chain segments
(``ingest.classify``), and write the rows in batches, each batch in one transaction
(nodes, organisations, merge records and edges together), so a crash never leaves half a batch and a
rerun completes the load. Loading the same file again changes nothing.

Rows that fail are reported with file, row, column and reason, and written to a reject file in the
input's own format plus an error column (``错误原因``); fix it and load it again. Merges of organisation
names are written to a merge report for review.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from graph.exceptions import ValidationError
from graph.model import (
    NODE_TYPES,
    Achievement,
    Enterprise,
    Institution,
    Need,
    Node,
    NodeLabel,
    Provenance,
    Relation,
    RelType,
)
from graph.store import GraphStore, UpsertReport, write_nodes, write_relations
from ingest.enrich import Enriched, EnrichError, Placement, RowFinds, enricher
from ingest.enrich import result as enrichment
from ingest.mapping import (
    ENTITY_NAMES,
    ENTITY_TYPES,
    ERROR_COLUMN,
    EXTRA_COLUMN,
    ROW_COLUMN,
    EntityMapping,
    builtin_mappings,
    guess_entity,
)
from ingest.readers import CLI_LIMITS, ReadLimits, Table, open_table
from ingest.records import BUILDERS, Built, OrgRef, prepare_record
from ingest.resolution import KnownOrg, OrgResolver, merge_record, org_label, org_node
from ingest.spreadsheet import append_row, csv_cell

log = logging.getLogger(__name__)

ORG_LABELS = (NodeLabel.ENTERPRISE, NodeLabel.INSTITUTION)
#: batches prepared ahead (enriched and placed) while the graph server is still starting
PREPARE_AHEAD = 64


class RowPolicy(Protocol):
    """Decides, row by row, whether the caller of a load may write a record (the service's role table; a
    command-line load has none). ``existing`` is the stored record with the same id, ``enterprise_id`` the
    enterprise a need row names (None when it names none the graph knows)."""

    def admit(self, entity: str, node: Node, existing: Node | None, enterprise_id: str | None
              ) -> tuple[Node, str | None]:
        """The node to write (perhaps stamped, e.g. with its curator) and None, or a reason to refuse the row."""


class SegmentPlacer(Protocol):
    """Places an achievement or need on chain segments (``ingest.classify`` implements it)."""

    def place(self, node: Achievement | Need) -> list[Placement]:
        """The segments ``node`` belongs to, best first; empty when none of the chains fits."""


@dataclass
class RowError:
    """One rejected row: where, which column, what value, and why; ``cells`` and ``overflow`` are the row as
    the file had it (by header, and beyond the header) for the reject file."""

    source: str
    row: int
    column: str | None
    value: Any
    reason: str
    cells: dict[str, Any] | None = field(default=None, repr=False)
    overflow: tuple[Any, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        where = f"第 {self.row} 行" + (f"，列 {self.column}" if self.column else "")
        return f"{where}：{self.reason}"


@dataclass
class MergeNote:
    row: int
    kept_id: str
    kept_name: str
    merged_name: str
    reason: str
    merged: bool = True


@dataclass
class IngestReport:
    """What one file's load did; :meth:`summary` is the line the command prints."""

    source: str
    entity: str
    format: str = ""
    encoding: str | None = None
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    merged: int = 0  # duplicate rows and organisation names folded into one node
    empty_rows: int = 0
    organisations_created: int = 0
    institutions_extracted: int = 0  # distinct institutions found in text
    patents_extracted: int = 0
    placed: int = 0  # rows placed on at least one chain segment
    relations: UpsertReport = field(default_factory=UpsertReport)
    batches: int = 0
    seconds: float = 0.0
    errors: list[RowError] = field(default_factory=list)
    merges: list[MergeNote] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    merges_file: str | None = None
    #: a workbook's sheet read and the row of its header (CSV: 1; JSON Lines: 0)
    sheet: str | None = None
    header_row: int = 1
    #: vertical merged ranges filled down ("C3:C5（所属行业）") and the cells that filled
    merged_filled: list[str] = field(default_factory=list)
    merged_cells_filled: int = 0
    #: control characters removed from text (NUL, form feed ... ; newline and tab are kept)
    control_chars_removed: int = 0
    #: what the load decided that the user should know (sheet chosen, title rows skipped ...), in Chinese
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.rows_read / self.seconds if self.seconds else 0.0
        return (
            f"{self.source}（{ENTITY_NAMES.get(self.entity, self.entity)}）：读取 {self.rows_read} 行，"
            f"新建 {self.created}，更新 {self.updated}，未变 {self.unchanged}，拒绝 {self.rejected}，"
            f"合并重复 {self.merged}；新建机构 {self.organisations_created} 个，从文本中找到机构 "
            f"{self.institutions_extracted} 个、专利号 {self.patents_extracted} 个，"
            f"{self.placed} 行放到了产业链环节上；"
            f"用时 {self.seconds:.1f} 秒（每秒 {rate:.0f} 行）"
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["relations"] = {"created": self.relations.created, "updated": self.relations.updated,
                            "unchanged": self.relations.unchanged,
                            "missing_endpoints": len(self.relations.missing_endpoints)}
        out["errors"] = [str(e) for e in self.errors]
        return out


#: called before each batch is written, with the batch number (1-based) and its row nodes
BatchHook = Callable[[int, Sequence[Node]], None]


@dataclass
class _Row:
    row: int
    record: dict[str, Any]
    built: Built
    given_id: bool = False


@dataclass
class _Batch:
    rows: list[Node] = field(default_factory=list)
    others: dict[tuple[str, str], Node] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)


class Loader:
    """Loads files into one graph, sharing organisation resolution across the files of a run."""

    def __init__(
        self,
        store: GraphStore | Future[GraphStore],
        mappings: dict[str, EntityMapping] | None = None,
        placer: SegmentPlacer | None = None,
        batch_size: int = 500,
        rejects_dir: str | Path | None = None,
        before_batch: BatchHook | None = None,
        progress: bool = True,
        limits: ReadLimits = CLI_LIMITS,
        row_policy: RowPolicy | None = None,
        workers: int | None = 0,
        configured_workers: int | None = 0,
    ) -> None:
        #: a store still starting (the command's graph server) is waited for only where a row needs it: rows
        #: are read, checked and enriched meanwhile
        self._store: GraphStore | None = None
        self._store_future: Future[GraphStore] | None = None
        if isinstance(store, Future):
            self._store_future = store
        else:
            self._store = store
        self.limits = limits
        self.row_policy = row_policy
        #: processes that enrich a large file's rows (``ingest.enrich``; None: ``configured_workers``, the
        #: ``ingest_workers`` setting, for a large file)
        self.workers = workers
        self.configured_workers = configured_workers
        self.mappings = mappings or builtin_mappings()
        self.placer = placer
        self.batch_size = batch_size
        self.rejects_dir = Path(rejects_dir) if rejects_dir else None
        self.before_batch = before_batch
        self.progress = progress
        self._resolver: OrgResolver | None = None
        #: the commit of the previous batch, while it runs
        self._pending: Future[None] | None = None
        self._known_segments: set[str] | None = None
        #: organisations written from rows of this run: a later row naming one is a duplicate
        self._row_orgs: set[str] = set()

    @property
    def store(self) -> GraphStore:
        """The graph store (waiting for it when it is still starting)."""
        if self._store is None:
            assert self._store_future is not None
            self._store = self._store_future.result()
        return self._store

    @store.setter
    def store(self, store: GraphStore) -> None:
        self._store = store

    def _store_ready(self) -> bool:
        return self._store is not None or (self._store_future is not None and self._store_future.done())

    @property
    def resolver(self) -> OrgResolver:
        """Organisation resolution shared by the files of the run (knows the graph's organisations)."""
        if self._resolver is None:
            self._resolver = self._fresh_resolver()
        return self._resolver

    @resolver.setter
    def resolver(self, resolver: OrgResolver) -> None:
        self._resolver = resolver

    def _fresh_resolver(self) -> OrgResolver:
        """A resolver that knows every organisation in the graph."""
        resolver = OrgResolver()
        for label in ORG_LABELS:
            for props in self.store.all_props(label):
                resolver.add_existing(label, props)
        return resolver

    # -- public ----------------------------------------------------------------------------------
    def load(self, path: str | Path, entity: str | None = None, fmt: str | None = None,
             source_name: str | None = None, sheet: str | None = None, header_row: int | None = None
             ) -> IngestReport:
        """Load one file; raises :class:`ValidationError` when the file as a whole is unusable.
        ``source_name`` is what reports and the records' provenance call the file (default: its name, never
        the directory it sits in on this server). ``sheet`` and ``header_row`` choose a workbook's sheet (name
        or 1-based number) and header row; left out, they are found."""
        started = time.perf_counter()
        path = Path(path)
        self._source = source_name or path.name
        table = open_table(path, fmt, self.limits, sheet=sheet, header_row=header_row, mappings=self.mappings)
        entity = entity or guess_entity(path, table.headers, self.mappings)
        if entity not in ENTITY_TYPES:
            raise ValidationError(f"未知的数据类型 {entity!r}（可用：{'、'.join(ENTITY_TYPES)}）", field="type")
        mapping = self.mappings[entity]
        match = mapping.match(table.headers)
        if match.missing_required:
            missing = "；".join(f"{mapping.required_aliases(m)} 之一" for m in match.missing_required)
            where = f"工作表“{table.sheet}”第 {table.header_row} 行的" if table.sheet else ""
            raise ValidationError(f"{self._source}: 缺少必填列（{ENTITY_NAMES[entity]}的表头要有 {missing}）；"
                                  f"{where}表头是：{'、'.join(table.headers)}", field=match.missing_required[0],
                                  where=self._source)
        report = IngestReport(source=self._source, entity=entity, format=table.format, encoding=table.encoding,
                              unknown_columns=match.unknown, sheet=table.sheet, header_row=table.header_row)
        loaded_at = datetime.now(UTC).replace(microsecond=0)
        rows = self._validate(table, mapping, match.columns, report, path, loaded_at)
        self._write(rows, entity, report, path)
        report.empty_rows = len(table.empty_rows)
        report.merged_filled = list(table.merged_filled)
        report.merged_cells_filled = table.merged_cells_filled
        report.notes = [*table.notes, *self._load_notes(report)]
        if table.format != "xlsx" and (sheet or header_row):
            report.notes.append("指定的工作表和表头行只用于 .xlsx 文件，这个文件没有用到（它的表头在第一行）")
        report.seconds = time.perf_counter() - started
        self._write_rejects(table, report, path)
        self._write_merges(report, path)
        return report

    # -- validation ------------------------------------------------------------------------------
    def _validate(self, table: Table, mapping: EntityMapping, columns: dict[str, str], report: IngestReport,
                  path: Path, loaded_at: datetime) -> list[_Row]:
        builder = BUILDERS[mapping.entity]
        self._control_rows: list[int] = []
        out: list[_Row] = []
        first_row: dict[str, tuple[int, str]] = {}
        iterator: Iterable[tuple[int, dict[str, Any]]] = table.rows
        bar = None
        if self.progress and (table.total_hint or 0) >= 1000:
            from tqdm import tqdm

            bar = tqdm(total=table.total_hint, desc=path.name, unit="row", leave=False)
        for row_no, record in iterator:
            if bar is not None:
                bar.update(1)
            report.rows_read += 1
            canonical = mapping.canonical(record, columns)
            try:
                canonical, removed = prepare_record(canonical)
                built = builder(canonical)
            except ValidationError as exc:
                column = columns.get(exc.field or "", exc.field)
                value = record.get(column) if column else None
                reason = str(exc)
                if (column and value not in (None, "") and not isinstance(value, (dict, list))
                        and repr(str(value)) not in reason and str(value) not in reason):
                    reason = f"{value!r}：{reason}"
                report.errors.append(RowError(self._source, row_no, column, value, reason, cells=record))
                continue
            if removed:
                report.control_chars_removed += removed
                self._control_rows.append(row_no)
            node = built.node
            node = node.model_copy(update={"provenance": Provenance(source=self._source, row=row_no,
                                                                     loaded_at=loaded_at)})
            built.node = node
            digest = node.to_props()["content_hash"]
            seen = first_row.get(node.id)
            if seen is not None:
                if seen[1] == digest:
                    report.merged += 1
                    report.merges.append(MergeNote(row_no, node.id, node.display_name, node.display_name,
                                                   f"与第 {seen[0]} 行是同一条记录"))
                else:
                    report.errors.append(RowError(self._source, row_no, columns.get("id", "id"), node.id,
                                                  f"编号 {node.id!r} 已被第 {seen[0]} 行使用，而两行内容不同",
                                                  cells=record))
                continue
            first_row[node.id] = (row_no, digest)
            out.append(_Row(row_no, record, built, given_id=bool(str(canonical.get("id") or "").strip())))
        if bar is not None:
            bar.close()
        for broken in table.broken_rows:
            report.errors.append(RowError(self._source, broken.row, None, broken.raw, broken.reason,
                                          cells=broken.cells, overflow=broken.overflow))
        report.errors.sort(key=lambda e: e.row)
        report.rejected = len(report.errors)
        return out

    def _load_notes(self, report: IngestReport) -> list[str]:
        """The report's notes on what the load changed in the cells (merged cells filled, characters removed)."""
        notes = []
        if report.merged_filled:
            shown = "、".join(report.merged_filled[:8]) + (" 等" if len(report.merged_filled) > 8 else "")
            notes.append(f"合并单元格已按列向下填充（共 {report.merged_cells_filled} 个单元格）：{shown}")
        if report.control_chars_removed:
            rows = self._control_rows
            shown = "、".join(map(str, rows[:8])) + (" 等" if len(rows) > 8 else "")
            notes.append(f"删除了 {report.control_chars_removed} 个控制字符（看不见的特殊字符，如 NUL；"
                         f"换行和制表符保留），在第 {shown} 行")
        return notes

    # -- enrichment and resolution ---------------------------------------------------------------
    def _enrich(self, row: _Row, finds: RowFinds | None) -> list[OrgRef]:
        """Puts what the row's text gave (keywords, patents) on its node; returns the extra organisations to
        link (institutions its text names that the row does not name already)."""
        node = row.built.node
        extra: list[OrgRef] = []
        if finds is not None and isinstance(node, (Achievement, Need)):
            update: dict[str, Any] = {"keywords": finds.keywords}
            if isinstance(node, Achievement):
                update["patent_numbers"] = list(dict.fromkeys([*node.patent_numbers, *finds.patents]))
                named = {r.name for r in row.built.orgs}
                for name in finds.institutions:
                    if name not in named:
                        extra.append(OrgRef(name=name, rel=RelType.OWNS, org_is_source=True))
            row.built.node = node.model_copy(update=update)
        return extra

    def _segments(self) -> set[str]:
        if self._known_segments is None:
            self._known_segments = {p["id"] for p in self.store.all_props(NodeLabel.CHAIN_SEGMENT)}
        return self._known_segments

    def _place(self, node: Node, batch: _Batch, placements: dict[str, list[Placement]]) -> bool:
        if node.id not in placements:
            return False
        known = self._segments()
        placed = False
        for p in placements[node.id]:
            if p.segment_id not in known:
                continue
            batch.relations.append(Relation(
                type=RelType.IN_SEGMENT, source_label=node.label, source_id=node.id,
                target_label=NodeLabel.CHAIN_SEGMENT, target_id=p.segment_id,
                props={"confidence": round(float(p.confidence), 4), "method": p.method},
            ))
            placed = True
        return placed

    def _org_for(self, ref: OrgRef, row_no: int, report: IngestReport, batch: _Batch, source: str
                 ) -> KnownOrg | None:
        if not ref.name and not ref.credit_code:
            return None
        label = NodeLabel.ENTERPRISE if ref.kind == "enterprise" else org_label(ref.name)
        res = self.resolver.resolve(ref.name or ref.credit_code or "", ref.credit_code, label)
        org = res.org
        if res.created:
            report.organisations_created += 1
            batch.others[(org.label.value, org.id)] = org_node(org)
        elif res.merged:
            self._record_merge(org, ref.name, res.reason, row_no, report, batch, source)
        return org

    def _record_merge(self, org: KnownOrg, name: str, reason: str, row_no: int, report: IngestReport,
                      batch: _Batch, source: str, count: bool = True) -> None:
        if count:
            report.merged += 1
        report.merges.append(MergeNote(row_no, org.id, org.name, name, reason))
        record = merge_record(org, name, reason, source)
        batch.others[(record.label.value, record.id)] = record
        # the kept node gains the alias: rewrite it in this batch (keeping a row's fields if it has them)
        key = (org.label.value, org.id)
        existing = batch.others.get(key)
        batch.others[key] = org_node(org, existing if isinstance(existing, (Enterprise, Institution))
                                     else self._stored_org(org))
        batch.relations.append(Relation(type=RelType.MERGED_INTO, source_label=NodeLabel.MERGE_RECORD,
                                        source_id=record.id, target_label=org.label, target_id=org.id,
                                        props={"reason": reason}))

    def _stored_org(self, org: KnownOrg) -> Enterprise | Institution | None:
        if self._pending is not None:
            # the organisation may come from the batch being committed: read it once that batch is written
            self._pending.result()
        node = self.store.get_node(org.label, org.id)
        return node if isinstance(node, (Enterprise, Institution)) else None

    def _resolve_org_row(self, row: _Row, report: IngestReport, batch: _Batch, source: str) -> Node | None:
        """An enterprise/institution row: the node to write, or None when it merges into an earlier row."""
        node = row.built.node
        assert isinstance(node, (Enterprise, Institution))
        code = node.credit_code if isinstance(node, Enterprise) else None
        res = self.resolver.resolve(node.name, code, node.label)
        org = res.org
        if res.created:
            if row.given_id and node.id not in self.resolver.orgs:
                # the file's own id wins for a new organisation
                self.resolver.orgs.pop(org.id, None)
                org.id = node.id
                self.resolver.add(org)
            self._row_orgs.add(org.id)
            return org_node(org, node)
        if res.merged:
            # a row merging into an organisation already in the graph is also written (as its update),
            # so it counts there and not again as a merged duplicate
            self._record_merge(org, node.name, res.reason, row.row, report, batch, source,
                               count=org.id in self._row_orgs)
        if org.id in self._row_orgs:
            if not res.merged:  # the same name again, or a name already merged on an earlier load
                report.merged += 1
                report.merges.append(MergeNote(row.row, org.id, org.name, node.name,
                                               "与前面的行是同一个机构"))
            return None
        self._row_orgs.add(org.id)
        # an organisation already in the graph: this row updates it (the stored name stays the main name)
        return org_node(org, node.model_copy(update={"name": org.name}))

    # -- writing ---------------------------------------------------------------------------------
    def _admitted(self, chunk: list[_Row], entity: str, report: IngestReport) -> list[_Row]:
        """The rows of a batch the row policy lets through (stamped as it says); the others become errors."""
        if self.row_policy is None:
            return chunk
        label = chunk[0].built.node.label if chunk else None
        existing: dict[str, Node] = {}
        if label is not None:
            rows = self.store.read(f"MATCH (n:{NodeLabel(label).value}) WHERE n.id IN $ids RETURN properties(n) AS p",
                                   ids=[r.built.node.id for r in chunk])
            existing = {r["p"]["id"]: NODE_TYPES[label].from_props(r["p"]) for r in rows}
        out = []
        for row in chunk:
            node = row.built.node
            enterprise_id = None
            posted = next((ref for ref in row.built.orgs if ref.rel is RelType.POSTED), None)
            if posted is not None:
                hit, _ = self.resolver.match(posted.name or posted.credit_code or "", posted.credit_code,
                                             NodeLabel.ENTERPRISE)
                enterprise_id = hit.id if hit is not None else None
            node, refusal = self.row_policy.admit(entity, node, existing.get(node.id), enterprise_id)
            if refusal:
                report.errors.append(RowError(self._source, row.row, None, node.id, refusal, cells=row.record))
                report.rejected += 1
                continue
            row.built.node = node
            out.append(row)
        return out

    def _write(self, rows: list[_Row], entity: str, report: IngestReport, path: Path) -> None:
        """Write ``rows`` batch by batch, as a pipeline: while one batch is committed (the graph server works,
        the driver waits on its socket), the next is enriched, placed and resolved. Batches still commit one
        after the other, each in one transaction; a failed commit stops the load before the next one. While
        the graph server is still starting, batches are prepared ahead (up to :data:`PREPARE_AHEAD`).

        A large file's batches are enriched (keywords, patents, institutions, placements) in worker processes
        (``ingest.enrich``), a few batches ahead; each batch is then resolved and committed here, in order."""
        source = self._source
        ahead: deque[tuple[list[_Row], Future[Enriched]]] = deque()
        starts = list(range(0, len(rows), self.batch_size))
        texts = sum(1 for r in rows if isinstance(r.built.node, (Achievement, Need)))
        enrich = enricher(self.placer, texts, self.workers, self.configured_workers)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-commit") as writer:
            pending: Future[None] | None = None
            self._pending = None
            try:
                for i, start in enumerate(starts):
                    chunk = self._admitted(rows[start : start + self.batch_size], entity, report)
                    ahead.append((chunk, enrich.submit([r.built.node for r in chunk], [r.row for r in chunk])))
                    last = i + 1 == len(starts)
                    if not last and len(ahead) < PREPARE_AHEAD and not self._store_ready():
                        continue
                    while ahead and (last or len(ahead) > enrich.depth):
                        chunk, enriched = ahead.popleft()
                        batch = self._build(chunk, self._enriched(chunk, enriched), entity, report, source)
                        if pending is not None:
                            pending.result()  # the previous batch is committed before this one starts
                        pending = self._pending = writer.submit(self._commit, batch, report)
                if pending is not None:
                    pending.result()
                self._pending = None
            except BaseException:
                # no batch not yet started is enriched further (a running one ends: workers write nothing)
                enrich.close(cancel=True)
                if pending is not None and not pending.done():
                    # Ctrl-C or an error here while a batch commits: let that one transaction end (all or
                    # nothing of it), then forget what it and the batches built after it would have created
                    try:
                        pending.result()
                    except BaseException:  # noqa: S110 - the first error is the one reported
                        pass
                self._pending = None
                self._forget_unwritten()
                raise
            finally:
                enrich.close()

    def _enriched(self, chunk: list[_Row], future: Future[Enriched]
                  ) -> tuple[list[list[OrgRef]], dict[str, list[Placement]]]:
        """A batch's enrichment put on its rows: the extra organisations of each row, and the placements."""
        try:
            enriched = enrichment(future)
        except EnrichError as exc:
            raise ValidationError(f"{self._source}: {exc}", where=self._source) from exc
        return [self._enrich(row, finds) for row, finds in zip(chunk, enriched.finds, strict=True)], \
            enriched.placements

    def _build(self, chunk: list[_Row], enriched: tuple[list[list[OrgRef]], dict[str, list[Placement]]],
               entity: str, report: IngestReport, source: str) -> _Batch:
        """A batch's nodes and edges, its organisations resolved (against the graph and the earlier batches)."""
        extras, placements = enriched
        batch = _Batch()
        for row, extra in zip(chunk, extras, strict=True):
            node = row.built.node
            if entity in ("enterprise", "institution"):
                resolved = self._resolve_org_row(row, report, batch, source)
                if resolved is None:
                    continue
                node = resolved
            for ref in [*row.built.orgs, *extra]:
                org = self._org_for(ref, row.row, report, batch, source)
                if org is None:
                    continue
                if ref.rel is RelType.POSTED and isinstance(node, Need):
                    node = node.model_copy(update={"enterprise_id": org.id})
                src = (org.label, org.id) if ref.org_is_source else (node.label, node.id)
                dst = (node.label, node.id) if ref.org_is_source else (org.label, org.id)
                props = {"source": "text"} if ref in extra else {}
                batch.relations.append(Relation(type=ref.rel, source_label=src[0], source_id=src[1],
                                                target_label=dst[0], target_id=dst[1], props=props))
            if isinstance(node, Achievement):
                report.patents_extracted += len(node.patent_numbers)
            report.institutions_extracted += len(extra)
            if self._place(node, batch, placements):
                report.placed += 1
            batch.rows.append(node)
        return batch

    def _commit(self, batch: _Batch, report: IngestReport) -> None:
        """Write one batch in one transaction (on the commit thread)."""
        report.batches += 1
        row_keys = {(n.label.value, n.id) for n in batch.rows}
        others = [n for k, n in batch.others.items() if k not in row_keys]
        # an organisation row that also gained an alias in this batch: write the richer one once
        rows = [batch.others.get((n.label.value, n.id), n) if isinstance(n, (Enterprise, Institution)) else n
                for n in batch.rows]

        def work(tx: Any) -> tuple[UpsertReport, UpsertReport, UpsertReport]:
            return write_nodes(tx, others), write_nodes(tx, rows), write_relations(tx, batch.relations)

        if self.before_batch is not None:
            self.before_batch(report.batches, batch.rows)
        _, row_report, rel_report = self.store.transaction(work)
        report.created += row_report.created
        report.updated += row_report.updated
        report.unchanged += row_report.unchanged
        report.relations.add(rel_report)

    def _forget_unwritten(self) -> None:
        """After a failed batch: forget the organisations it (and the batches built after it) would have
        created, so a caller that goes on with this loader does not link to nodes that were never written."""
        if self._resolver is None or not self._store_ready():
            return
        try:
            self.resolver = self._fresh_resolver()
        except BaseException:  # the graph itself is gone: start from it again on the next use
            self._resolver = None
            self._row_orgs = set()
            return
        self._row_orgs = {o for o in self._row_orgs if o in self.resolver.orgs}

    # -- reports ---------------------------------------------------------------------------------
    def _report_path(self, path: Path, kind: str, suffix: str) -> Path:
        directory = self.rejects_dir or path.parent
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{path.stem}.{kind}{suffix}"

    def _write_rejects(self, table: Table, report: IngestReport, path: Path) -> None:
        """The rejected rows as the file had them (every cell, also of rows the reader refused), in the input's
        format, plus the reason and the original row number; fixed, the file loads as it is."""
        if not report.errors:
            return
        headers = [h for h in table.headers if h not in (ERROR_COLUMN, ROW_COLUMN)]
        by_row: dict[int, list[RowError]] = {}
        for e in report.errors:
            by_row.setdefault(e.row, []).append(e)

        def first(row_no: int) -> RowError:
            """The error of a row that kept its cells (a row may have several errors)."""
            return next((e for e in by_row[row_no] if e.cells is not None), by_row[row_no][0])

        def reason(row_no: int) -> str:
            return "; ".join(str(e) for e in by_row[row_no])

        extra = max((len(first(r).overflow) for r in by_row), default=0)
        extra_headers = [f"{EXTRA_COLUMN}{i}" for i in range(1, extra + 1)]

        def line(row_no: int) -> list[Any]:
            e = first(row_no)
            cells = e.cells or {}
            overflow = list(e.overflow) + [None] * (extra - len(e.overflow))
            return [cells.get(h) for h in headers] + overflow

        if table.format == "jsonl":
            out = self._report_path(path, "rejects", ".jsonl")
            with out.open("w", encoding="utf-8") as f:
                for row_no in sorted(by_row):
                    e = first(row_no)
                    data = dict(e.cells) if e.cells is not None else {"_raw": e.value}
                    data = {k: v for k, v in data.items() if k not in ("_error", "_row")}
                    data["_error"] = reason(row_no)
                    data["_row"] = row_no
                    f.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        elif table.format == "xlsx":
            from openpyxl import Workbook
            from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

            def cell(value: Any) -> Any:
                # a character a workbook cannot hold (a control character) is dropped there, not the row
                return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

            out = self._report_path(path, "rejects", ".xlsx")
            wb = Workbook()
            ws = wb.active
            assert ws is not None  # a new workbook has its one sheet
            if table.sheet:
                ws.title = table.sheet[:31]
            append_row(ws, [*headers, *extra_headers, ERROR_COLUMN, ROW_COLUMN])
            for row_no in sorted(by_row):
                append_row(ws, [cell(v) for v in line(row_no)] + [cell(reason(row_no)), row_no])
            wb.save(out)
        else:
            out = self._report_path(path, "rejects", ".csv")
            # utf-8-sig so Excel on Windows opens the Chinese text correctly
            with out.open("w", encoding="utf-8-sig", newline="") as f:
                writer = csv.writer(f)
                writer.writerow([*headers, *extra_headers, ERROR_COLUMN, ROW_COLUMN])
                for row_no in sorted(by_row):
                    writer.writerow([csv_cell("" if v is None else v) for v in line(row_no)]
                                    + [csv_cell(reason(row_no)), row_no])
        report.rejects_file = str(out)

    def _write_merges(self, report: IngestReport, path: Path) -> None:
        candidates = self._resolver.candidates if self._resolver is not None else []
        if not report.merges and not candidates:
            return
        out = self._report_path(path, "merges", ".csv")
        with out.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["处理", "行号", "保留的编号", "保留的名称", "合并的名称", "原因"])
            for m in report.merges:
                writer.writerow(["已合并", m.row, m.kept_id, csv_cell(m.kept_name), csv_cell(m.merged_name), m.reason])
            for c in candidates:
                writer.writerow(["可能重复（未合并）", "", "", csv_cell(" | ".join(c.possible)), csv_cell(c.name),
                                 c.reason])
        self.resolver.candidates = []
        report.merges_file = str(out)


def ensure_taxonomy(store: GraphStore) -> int:
    """Write the shipped chain taxonomy into the graph when it has no segments yet; returns segments written."""
    if store.read("MATCH (s:ChainSegment) RETURN count(s) AS c")[0]["c"]:
        return 0
    from graph.taxonomy import default_taxonomy

    tax = default_taxonomy()
    store.write_batch([*tax.chains, *tax.segments], tax.relations)
    return len(tax.segments)


def ingest_file(
    store: GraphStore,
    path: str | Path,
    entity: str | None = None,
    fmt: str | None = None,
    mappings: dict[str, EntityMapping] | None = None,
    placer: SegmentPlacer | None = None,
    rejects_dir: str | Path | None = None,
    batch_size: int = 500,
    before_batch: BatchHook | None = None,
    progress: bool = True,
    limits: ReadLimits = CLI_LIMITS,
    row_policy: RowPolicy | None = None,
    source_name: str | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
) -> IngestReport:
    """Load one file into ``store`` (see :class:`Loader`)."""
    loader = Loader(store, mappings=mappings, placer=placer, batch_size=batch_size, rejects_dir=rejects_dir,
                    before_batch=before_batch, progress=progress, limits=limits, row_policy=row_policy)
    return loader.load(path, entity=entity, fmt=fmt, source_name=source_name, sheet=sheet, header_row=header_row)


#: the zhibei export's files and what they hold
ZHIBEI_FILES = (("achievements_dedup.jsonl", "achievement"), ("requirements_dedup.jsonl", "need"))
#: organisations first, so rows that name them resolve to the loaded nodes
_ENTITY_ORDER = {e: i for i, e in enumerate(("enterprise", "institution", "platform", "talent", "achievement",
                                              "need"))}


def plan_paths(paths: Iterable[str | Path], entity: str | None = None, fmt: str = "auto",
               problems: list[tuple[Path, str]] | None = None) -> list[tuple[Path, str | None]]:
    """The files to load and their entity (None = guess), expanding directories; zhibei layout recognised.
    A path that gives nothing to load (missing, an empty directory) raises :class:`ValidationError`, or, when
    ``problems`` is given, is added to it as (path, cause) so the other paths still load."""
    planned: list[tuple[Path, str | None]] = []

    def problem(path: Path, cause: str) -> None:
        if problems is None:
            raise ValidationError(f"{path}: {cause}", where=str(path))
        problems.append((path, cause))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            zhibei = [(path / name, ent) for name, ent in ZHIBEI_FILES if (path / name).is_file()]
            if zhibei and (fmt in ("auto", "zhibei")):
                planned.extend(zhibei)
                continue
            if fmt == "zhibei":
                problem(path, f"不是 zhibei 导出目录（没有 {ZHIBEI_FILES[0][0]}）")
                continue
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in
                           (".csv", ".tsv", ".jsonl", ".ndjson", ".xlsx") and ".rejects." not in p.name
                           and ".merges." not in p.name)
            if not files:
                problem(path, "目录里没有 .csv、.jsonl 或 .xlsx 文件")
                continue
            planned.extend((p, entity) for p in files)
        elif path.is_file():
            planned.append((path, entity))
        else:
            problem(path, "文件或目录不存在")
    if entity is None:
        planned.sort(key=lambda pe: _ENTITY_ORDER.get(pe[1] or _name_entity(pe[0]), 3))
    return planned


def _name_entity(path: Path) -> str:
    try:
        return guess_entity(path, [])
    except ValidationError:
        return "achievement"
