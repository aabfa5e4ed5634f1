"""Move a graph between servers: a JSON Lines dump of every node and relationship, types preserved.

The dump (``techmatch graph export`` / ``techmatch graph import``) is one JSON object a line:

- a header: ``{"format": "techmatch-graph", "version": 1, "exported_at": ..., "server": ..., "counts": ...}``;
- then every node: ``{"node": "Talent", "props": {...}}``;
- then every relationship: ``{"rel": "INVENTED", "from": ["Talent", "t-1"], "to": ["Achievement", "a-1"],
  "props": {...}}``.

Strings, integers, floats (``1.0`` stays a float), booleans and lists are plain JSON. Other property
types travel as a one-key object, so they come back as the same type: ``{"$date": "2024-05-01"}``,
``{"$datetime": ...}``, ``{"$localdatetime": ...}``, ``{"$time": ...}``, ``{"$localtime": ...}``,
``{"$duration": ...}``, ``{"$bytes": base64}``, ``{"$float": "NaN" | "Infinity" | "-Infinity"}``, and
points as ``{"$point": {"srid": ..., "xyz": [...]}}``.

Export reads in pages (by node id, through the unique index) in read transactions; import writes in
batches, each its own write transaction that MERGEs by id, so an interrupted import can simply be run
again. Labels and relationship types must belong to the closed enums of :mod:`graph.model`; anything
else is refused with the line that carries it. The dump holds everything, account hashes included: it
is written owner-only (0600).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import neo4j.time as ntime
from neo4j.spatial import CartesianPoint, Point, WGS84Point

from graph.exceptions import ValidationError
from graph.model import NodeLabel, RelType
from graph.store import GraphStore

FORMAT = "techmatch-graph"
VERSION = 1

#: progress callback: (what, done) with what = "nodes" | "relationships"
Progress = Callable[[str, int], None]


# --- typed values ----------------------------------------------------------------------------------

def encode_value(value: Any) -> Any:
    """A property value as JSON that :func:`decode_value` turns back into the same type."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$float": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, ntime.DateTime | dt.datetime):
        tag = "$datetime" if value.tzinfo is not None else "$localdatetime"
        return {tag: value.isoformat()}
    if isinstance(value, ntime.Date | dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, ntime.Time | dt.time):
        tag = "$time" if value.tzinfo is not None else "$localtime"
        return {tag: value.isoformat()}
    if isinstance(value, ntime.Duration):
        return {"$duration": value.iso_format()}
    if isinstance(value, dt.timedelta):
        return {"$duration": ntime.Duration(seconds=value.total_seconds()).iso_format()}
    if isinstance(value, Point):
        return {"$point": {"srid": value.srid, "xyz": list(value)}}
    if isinstance(value, (list, tuple)):  # after Duration and Point, which are tuples too
        return [encode_value(v) for v in value]
    raise ValidationError(f"无法导出类型为 {type(value).__name__} 的属性值：{value!r}")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$date": ntime.Date.from_iso_format,
    "$datetime": ntime.DateTime.from_iso_format,
    "$localdatetime": ntime.DateTime.from_iso_format,
    "$time": ntime.Time.from_iso_format,
    "$localtime": ntime.Time.from_iso_format,
    "$duration": ntime.Duration.from_iso_format,
    "$bytes": lambda s: base64.b64decode(s.encode("ascii")),
    "$float": float,
    "$point": lambda p: _point(p["srid"], p["xyz"]),
}


def _point(srid: int, xyz: list[float]) -> Point:
    cls = WGS84Point if srid in (4326, 4979) else CartesianPoint
    return cls(xyz)


def decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, raw), = value.items()
            if tag in _DECODERS:
                return _DECODERS[tag](raw)
        raise ValueError(f"不认识的带类型值 {json.dumps(value, ensure_ascii=False)[:80]}")
    return value


def encode_props(props: dict[str, Any]) -> dict[str, Any]:
    return {k: encode_value(v) for k, v in sorted(props.items()) if v is not None}


def decode_props(props: dict[str, Any]) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in props.items()}


# --- Cypher, built only from the closed enums ------------------------------------------------------

def _page_query(label: NodeLabel) -> str:
    lbl = NodeLabel(label).value
    return f"MATCH (n:{lbl}) WHERE n.id > $after RETURN properties(n) AS p ORDER BY n.id LIMIT $limit"


def _out_query(label: NodeLabel) -> str:
    lbl = NodeLabel(label).value
    return (
        f"MATCH (a:{lbl})-[e]->(b) WHERE a.id IN $ids "
        "RETURN a.id AS s, type(e) AS t, labels(b) AS bl, b.id AS b, properties(e) AS p"
    )


def _node_import_query(label: NodeLabel) -> str:
    lbl = NodeLabel(label).value
    return f"UNWIND $rows AS row MERGE (n:{lbl} {{id: row.id}}) SET n = row.props RETURN count(n) AS c"


def _rel_import_query(rel: RelType, src: NodeLabel, dst: NodeLabel) -> str:
    r, a, b = RelType(rel).value, NodeLabel(src).value, NodeLabel(dst).value
    return (
        f"UNWIND $rows AS row MATCH (a:{a} {{id: row.s}}) MATCH (b:{b} {{id: row.t}}) "
        f"MERGE (a)-[e:{r}]->(b) SET e = row.props RETURN count(e) AS c"
    )


def _total_nodes(store: GraphStore) -> int:
    return int(store.read("MATCH (n) RETURN count(n) AS c")[0]["c"])


def _total_rels(store: GraphStore) -> int:
    return int(store.read("MATCH ()-[r]->() RETURN count(r) AS c")[0]["c"])


def _model_label(labels: list[str]) -> NodeLabel | None:
    for name in labels:
        if name in NodeLabel._value2member_map_:
            return NodeLabel(name)
    return None


# --- export ----------------------------------------------------------------------------------------

@dataclass
class ExportReport:
    path: Path
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)

    @property
    def node_total(self) -> int:
        return sum(self.nodes.values())

    @property
    def relationship_total(self) -> int:
        return sum(self.relationships.values())


def export_graph(
    store: GraphStore, path: Path, page_size: int = 2000, progress: Progress | None = None
) -> ExportReport:
    """Write the whole graph to ``path`` (JSON Lines, 0600), atomically: an interrupted export leaves no file."""
    path = Path(path)
    report = ExportReport(path=path)
    expected_nodes, expected_rels = _total_nodes(store), _total_rels(store)
    partial = path.with_name(path.name + ".partial")
    rels_partial = path.with_name(path.name + ".rels.partial")
    try:
        with _private_open(partial) as nodes_out, _private_open(rels_partial) as rels_out:
            nodes_out.write(json.dumps(_header(store, expected_nodes, expected_rels), ensure_ascii=False) + "\n")
            for label in NodeLabel:
                after = ""
                while True:
                    page = [r["p"] for r in store.read(_page_query(label), after=after, limit=page_size)]
                    if not page:
                        break
                    for props in page:
                        nodes_out.write(_line({"node": label.value, "props": encode_props(props)}))
                    report.nodes[label.value] = report.nodes.get(label.value, 0) + len(page)
                    ids = [str(p["id"]) for p in page]
                    for row in store.read(_out_query(label), ids=ids):
                        rel = _export_rel(label, row)
                        rels_out.write(_line(rel))
                        report.relationships[rel["rel"]] = report.relationships.get(rel["rel"], 0) + 1
                    if progress:
                        progress("nodes", len(page))
                    after = ids[-1]
        if report.node_total != expected_nodes:
            raise ValidationError(
                f"图中有 {expected_nodes} 个节点，其中只有 {report.node_total} 个带模型标签和 id，"
                "其余的无法导出（标签见 graph/model.py 的 NodeLabel）；导出时请先停止写入"
            )
        if report.relationship_total != expected_rels:
            raise ValidationError(
                f"图中有 {expected_rels} 条关系，其中只有 {report.relationship_total} 条连接两个可导出的节点；"
                "导出时请先停止写入"
            )
        with open(partial, "a", encoding="utf-8") as out, open(rels_partial, encoding="utf-8") as rels_in:
            for line in rels_in:
                out.write(line)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        rels_partial.unlink(missing_ok=True)
    return report


def _export_rel(label: NodeLabel, row: dict[str, Any]) -> dict[str, Any]:
    target = _model_label(list(row["bl"]))
    if row["t"] not in RelType._value2member_map_ or target is None:
        raise ValidationError(
            f"关系 {row['t']}（{label.value} {row['s']!r} → {row['bl']} {row['b']!r}）不在模型中，无法导出"
        )
    return {
        "rel": row["t"],
        "from": [label.value, row["s"]],
        "to": [target.value, row["b"]],
        "props": encode_props(row["p"] or {}),
    }


def _header(store: GraphStore, nodes: int, rels: int) -> dict[str, Any]:
    try:
        server = store.driver.get_server_info().agent
    except Exception:  # noqa: BLE001 - the header is informative only
        server = "unknown"
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "server": server,
        "counts": {"nodes": store.count_by_label(), "relationships": store.count_relations(),
                   "node_total": nodes, "relationship_total": rels},
    }


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


def _private_open(path: Path):  # noqa: ANN202
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")


# --- import ----------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    header: dict[str, Any]
    nodes: int = 0
    relationships: int = 0
    missing_endpoints: int = 0


def read_header(path: Path) -> dict[str, Any]:
    """The dump's first line, checked: a techmatch graph dump of a version this code reads."""
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except OSError as exc:
        raise ValidationError(f"无法读取 {path}：{exc.strerror}", where=str(path)) from exc
    try:
        header = json.loads(first)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}:1 不是 JSON（{exc.msg}）", where=f"{path}:1") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValidationError(f"{path} 不是 techmatch 图导出文件（第 1 行没有 {FORMAT!r} 文件头）", where=f"{path}:1")
    if header.get("version") != VERSION:
        raise ValidationError(
            f"{path} 是第 {header.get('version')} 版导出文件，本程序只读第 {VERSION} 版",
            where=f"{path}:1",
        )
    return header


def _records(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if lineno == 1 or not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"{path}:{lineno} 不是 JSON（{exc.msg}）", where=f"{path}:{lineno}") from exc
            if kind in rec:
                yield lineno, rec


def _label_at(name: Any, path: Path, lineno: int) -> NodeLabel:
    try:
        return NodeLabel(name)
    except ValueError:
        raise ValidationError(f"{path}:{lineno}：不认识的标签 {name!r}", where=f"{path}:{lineno}") from None


def import_graph(
    store: GraphStore, path: Path, batch_size: int = 1000, progress: Progress | None = None
) -> ImportReport:
    """Load a dump: nodes first (MERGE by id, properties replaced), then relationships; batch by batch."""
    path = Path(path)
    report = ImportReport(header=read_header(path))
    pending: dict[NodeLabel, list[dict[str, Any]]] = defaultdict(list)

    def flush_nodes(label: NodeLabel) -> None:
        rows = pending.pop(label, [])
        if rows:
            store.write(_node_import_query(label), rows=rows)
            report.nodes += len(rows)
            if progress:
                progress("nodes", len(rows))

    for lineno, rec in _records(path, "node"):
        label = _label_at(rec["node"], path, lineno)
        try:
            props = decode_props(rec.get("props") or {})
        except (AttributeError, ValueError, TypeError) as exc:
            raise ValidationError(f"{path}:{lineno}：{exc}", where=f"{path}:{lineno}") from exc
        if not props.get("id"):
            raise ValidationError(f"{path}:{lineno}：{label.value} 节点没有 id", where=f"{path}:{lineno}")
        pending[label].append({"id": props["id"], "props": props})
        if len(pending[label]) >= batch_size:
            flush_nodes(label)
    for label in list(pending):
        flush_nodes(label)

    groups: dict[tuple[RelType, NodeLabel, NodeLabel], list[dict[str, Any]]] = defaultdict(list)

    def flush_rels(key: tuple[RelType, NodeLabel, NodeLabel]) -> None:
        rows = groups.pop(key, [])
        if rows:
            written = int(store.write(_rel_import_query(*key), rows=rows)[0]["c"])
            report.relationships += written
            report.missing_endpoints += len(rows) - written
            if progress:
                progress("relationships", len(rows))

    for lineno, rec in _records(path, "rel"):
        if rec["rel"] not in RelType._value2member_map_:
            raise ValidationError(f"{path}:{lineno}：不认识的关系类型 {rec['rel']!r}", where=f"{path}:{lineno}")
        try:
            (src, sid), (dst, tid) = rec["from"], rec["to"]
            props = decode_props(rec.get("props") or {})
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationError(
                f"{path}:{lineno}：关系记录应有 from、to（[标签, id]）和 props（{exc}）", where=f"{path}:{lineno}"
            ) from exc
        key = (RelType(rec["rel"]), _label_at(src, path, lineno), _label_at(dst, path, lineno))
        groups[key].append({"s": sid, "t": tid, "props": props})
        if len(groups[key]) >= batch_size:
            flush_rels(key)
    for key in list(groups):
        flush_rels(key)
    return report
