"""The demo dataset: a small, realistic Pingdingshan graph for trying techmatch out, and the taxonomy loader.

The data lives in ``graph/data/demo/``: one YAML file per entity type (``label``, ``demo: true``, ``items``) and
``relations.yaml`` (relationship type → rows of ``[source_id, target_id]`` or ``[source_id, target_id, {props}]``).
Everything in it is marked ``demo: true``; names of real organisations appear, the facts attached to them are invented.

Ids carry their label as a prefix, which is how a relation row names its endpoints without spelling labels out:

=========  ==============  =========  =============
prefix     label           prefix     label
=========  ==============  =========  =============
reg-       Region          plat-      Platform
inst-      Institution     need-      Need
ent-       Enterprise      chal-      Challenge
tal-       Talent          proj-      Project
ach-       Achievement     brk-       Broker
seg-       ChainSegment    chain-     IndustryChain
dept-      Department      fb-        Feedback
policy-    Policy          policy-…-targetNN / -taskNN: Target / Task
=========  ==============  =========  =============

Loading order: the taxonomy (chains, segments, PART_OF, UPSTREAM_OF) in one transaction, then every demo node and
relationship in a second one. Everything is validated through the domain model before anything is written, so a bad
row fails the whole load with its file and row and leaves the graph as it was. Loading twice changes nothing
(nodes and relationships are MERGEd by id, unchanged content is not rewritten).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from graph import taxonomy as chain_taxonomy
from graph.exceptions import ValidationError
from graph.model import NODE_TYPES, Node, NodeLabel, Provenance, Relation, RelType
from graph.store import GraphStore, UpsertReport, write_nodes, write_relations

DEMO_DIR = Path(__file__).resolve().parent / "data" / "demo"
RELATIONS_FILE = "relations.yaml"

#: id prefix (text before the first '-') → label; documented in the module docstring
ID_PREFIXES: dict[str, NodeLabel] = {
    "reg": NodeLabel.REGION,
    "inst": NodeLabel.INSTITUTION,
    "ent": NodeLabel.ENTERPRISE,
    "tal": NodeLabel.TALENT,
    "ach": NodeLabel.ACHIEVEMENT,
    "need": NodeLabel.NEED,
    "chal": NodeLabel.CHALLENGE,
    "proj": NodeLabel.PROJECT,
    "brk": NodeLabel.BROKER,
    "plat": NodeLabel.PLATFORM,
    "seg": NodeLabel.CHAIN_SEGMENT,
    "chain": NodeLabel.INDUSTRY_CHAIN,
    "dept": NodeLabel.DEPARTMENT,
    "policy": NodeLabel.POLICY,
    "fb": NodeLabel.FEEDBACK,
}
#: a plan's targets and tasks carry the plan's id and a numbered suffix, as ``ingest-policy`` names them
_PLAN_PARTS = re.compile(r"^policy-[0-9a-f]+-(target|task)\d+$")

#: entity files in load order (referenced things before the things that reference them)
ENTITY_FILES: tuple[str, ...] = (
    "regions.yaml",
    "departments.yaml",
    "policies.yaml",
    "targets.yaml",
    "tasks.yaml",
    "institutions.yaml",
    "enterprises.yaml",
    "talents.yaml",
    "brokers.yaml",
    "platforms.yaml",
    "projects.yaml",
    "achievements.yaml",
    "needs.yaml",
    "challenges.yaml",
    "feedback.yaml",
)

#: more problems than this and the error message stops listing them
_MAX_LISTED = 20

Progress = Callable[[str], None]


def label_for_id(node_id: str, where: str = "") -> NodeLabel:
    """The label an id's prefix stands for; ValidationError (saying where) for an unknown prefix."""
    part = _PLAN_PARTS.match(node_id)
    if part:
        return NodeLabel.TARGET if part.group(1) == "target" else NodeLabel.TASK
    prefix = node_id.split("-", 1)[0]
    try:
        return ID_PREFIXES[prefix]
    except KeyError:
        known = ", ".join(f"{p}-" for p in ID_PREFIXES)
        raise ValidationError(
            f"{where}: id {node_id!r} has no known prefix (one of {known})", field="id", where=where
        ) from None


def demo_files(directory: Path | None = None) -> list[Path]:
    """The demo's data files in load order: entity files, then ``relations.yaml``."""
    base = directory or DEMO_DIR
    return [base / name for name in (*ENTITY_FILES, RELATIONS_FILE)]


@dataclass
class DemoData:
    """The demo, read and validated, not yet written."""

    nodes: list[Node]
    relations: list[Relation]

    def counts(self) -> dict[str, int]:
        return dict(Counter(n.label.value for n in self.nodes))


@dataclass
class DemoReport:
    """What a demo load did: the taxonomy's and the demo's upsert outcomes, and the counts by label."""

    taxonomy: UpsertReport
    nodes: UpsertReport = field(default_factory=UpsertReport)
    relations: UpsertReport = field(default_factory=UpsertReport)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def entities(self) -> int:
        return sum(self.counts.values())

    @property
    def changed(self) -> int:
        """Nodes and relationships created or updated (0 on a repeated load)."""
        parts = (self.taxonomy, self.nodes, self.relations)
        return sum(p.created + p.updated for p in parts)


# ---------------------------------------------------------------------------------------------
# Reading and validation (no graph needed)


class _Problems:
    """Collects every problem in the files, so one failed load shows all of them, each with file and row."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:_MAX_LISTED]
        more = len(self.items) - len(shown)
        text = "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else "")
        raise ValidationError(
            f"demo data has {len(self.items)} problem(s):\n  {text}", where=shown[0].split(": ", 1)[0]
        )


def _read_yaml(path: Path, problems: _Problems) -> Any:
    try:
        return chain_taxonomy.load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.add(f"{path.name}: file not found in {path.parent}")
    except yaml.YAMLError as exc:
        problems.add(f"{path.name}: not valid YAML: {exc}")
    return None


def _pydantic_message(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "(entry)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _read_entities(path: Path, problems: _Problems) -> list[Node]:
    raw = _read_yaml(path, problems)
    if raw is None:
        return []
    name = path.name
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
        problems.add(f"{name}: expected a mapping with 'label', 'demo: true' and an 'items' list")
        return []
    try:
        label = NodeLabel(str(raw.get("label")))
    except ValueError:
        problems.add(f"{name}: unknown label {raw.get('label')!r}")
        return []
    if raw.get("demo") is not True:
        problems.add(f"{name}: a demo file must say 'demo: true'")
    model = NODE_TYPES[label]
    nodes: list[Node] = []
    for row, item in enumerate(raw["items"], start=1):
        where = f"{name}:{row}"
        if not isinstance(item, dict):
            problems.add(f"{where}: expected a mapping, got {type(item).__name__}")
            continue
        item_id = str(item.get("id", ""))
        if item.get("demo") is False:
            problems.add(f"{where} ({item_id}): demo entries cannot set demo: false")
            continue
        try:
            prefix_label = label_for_id(item_id, where)
        except ValidationError as exc:
            problems.add(str(exc))
            continue
        if prefix_label is not label:
            problems.add(f"{where}: id {item_id!r} is a {prefix_label.value} id but the file holds {label.value}")
            continue
        data = {**item, "demo": True, "provenance": Provenance(source=f"demo/{name}", row=row)}
        try:
            nodes.append(model.model_validate(data))
        except pydantic.ValidationError as exc:
            problems.add(f"{where} ({item_id}): {_pydantic_message(exc)}")
    return nodes


def _read_relations(path: Path, known: dict[str, NodeLabel], problems: _Problems) -> list[Relation]:
    raw = _read_yaml(path, problems)
    if raw is None:
        return []
    name = path.name
    if not isinstance(raw, dict):
        problems.add(f"{name}: expected a mapping of relationship type to rows")
        return []
    relations: list[Relation] = []
    seen: set[tuple[str, str, str]] = set()
    for type_name, rows in raw.items():
        try:
            rtype = RelType(type_name)
        except ValueError:
            problems.add(f"{name}: unknown relationship type {type_name!r}")
            continue
        for row_no, row in enumerate(rows or [], start=1):
            where = f"{name}:{type_name}[{row_no}]"
            if not (isinstance(row, list) and len(row) in (2, 3) and all(isinstance(x, str) for x in row[:2])):
                problems.add(f"{where}: a row is [source_id, target_id] or [source_id, target_id, {{props}}]: {row!r}")
                continue
            source_id, target_id = row[0], row[1]
            props = row[2] if len(row) == 3 else {}
            if not isinstance(props, dict):
                problems.add(f"{where}: the third element must be a mapping of properties, got {props!r}")
                continue
            missing = [x for x in (source_id, target_id) if x not in known]
            if missing:
                problems.add(f"{where}: endpoint(s) {', '.join(missing)} not defined in the demo or the taxonomy")
                continue
            key = (rtype.value, source_id, target_id)
            if key in seen:
                problems.add(f"{where}: duplicate {rtype.value} {source_id} -> {target_id}")
                continue
            seen.add(key)
            try:
                rel = Relation(
                    type=rtype,
                    source_label=known[source_id],
                    source_id=source_id,
                    target_label=known[target_id],
                    target_id=target_id,
                    props=props,
                )
                rel.check_endpoints()
            except (pydantic.ValidationError, ValueError) as exc:
                problems.add(f"{where}: {exc}")
                continue
            relations.append(rel)
    return relations


def _check_references(nodes: list[Node], known: dict[str, NodeLabel], problems: _Problems) -> None:
    """Id-valued fields (need → enterprise, challenge → owner/segment, region → parent) must point at real nodes."""
    for node in nodes:
        where = _where(node)
        for field_name, allowed in _REFERENCE_FIELDS.get(node.label, {}).items():
            value = getattr(node, field_name, None)
            if value is None:
                continue
            if known.get(value) not in allowed:
                wanted = " or ".join(sorted(a.value for a in allowed))
                problems.add(f"{where} ({node.id}): {field_name} {value!r} is not a known {wanted}")


def _check_edges_agree(nodes: list[Node], relations: list[Relation], problems: _Problems) -> None:
    """A need's enterprise_id and a challenge's owner_id/segment_id must also be edges, or graph queries disagree."""
    edges = {(r.type, r.source_id, r.target_id) for r in relations}
    for node in nodes:
        wanted: list[tuple[RelType, str | None, str]] = []
        if node.label is NodeLabel.NEED:
            wanted.append((RelType.POSTED, getattr(node, "enterprise_id", None), node.id))
        elif node.label is NodeLabel.CHALLENGE:
            wanted.append((RelType.POSTED, getattr(node, "owner_id", None), node.id))
            wanted.append((RelType.IN_SEGMENT, node.id, getattr(node, "segment_id", None) or ""))
        for rtype, source, target in wanted:
            if source and target and (rtype, source, target) not in edges:
                problems.add(f"{_where(node)} ({node.id}): relations.yaml lacks {rtype.value} {source} -> {target}")


def _where(node: Node) -> str:
    prov = node.provenance
    return f"{prov.source.removeprefix('demo/')}:{prov.row}" if prov else node.id


_REFERENCE_FIELDS: dict[NodeLabel, dict[str, set[NodeLabel]]] = {
    NodeLabel.NEED: {"enterprise_id": {NodeLabel.ENTERPRISE}},
    NodeLabel.CHALLENGE: {
        "owner_id": {NodeLabel.ENTERPRISE, NodeLabel.DEPARTMENT},
        "segment_id": {NodeLabel.CHAIN_SEGMENT},
    },
    NodeLabel.REGION: {"parent_id": {NodeLabel.REGION}},
}


def read_demo(
    directory: Path | None = None, taxonomy: chain_taxonomy.Taxonomy | None = None
) -> DemoData:
    """Read and validate the demo files; raises ValidationError listing every problem with file and row."""
    tax = taxonomy or chain_taxonomy.load_taxonomy()
    problems = _Problems()
    known: dict[str, NodeLabel] = {c.id: NodeLabel.INDUSTRY_CHAIN for c in tax.chains}
    known.update({s.id: NodeLabel.CHAIN_SEGMENT for s in tax.segments})
    nodes: list[Node] = []
    first_seen: dict[str, str] = {}
    files = demo_files(directory)
    for path in files[:-1]:
        for node in _read_entities(path, problems):
            where = _where(node)
            if node.id in known:
                first = first_seen.get(node.id, "the taxonomy")
                problems.add(f"{where}: duplicate id {node.id!r} (first defined at {first})")
                continue
            known[node.id] = node.label
            first_seen[node.id] = where
            nodes.append(node)
    _check_references(nodes, known, problems)
    relations = _read_relations(files[-1], known, problems)
    _check_edges_agree(nodes, relations, problems)
    problems.raise_if_any()
    return DemoData(nodes=nodes, relations=relations)


# ---------------------------------------------------------------------------------------------
# Writing


def load_taxonomy(store: GraphStore, path: Path | None = None) -> UpsertReport:
    """Write the industry-chain taxonomy (chains, segments, PART_OF, UPSTREAM_OF) in one transaction."""
    tax = chain_taxonomy.load_taxonomy(path)
    nodes, rels = _write_atomically(store, [*tax.chains, *tax.segments], tax.relations, "taxonomy")
    nodes.add(rels)
    return nodes


def load_demo(store: GraphStore, progress: Progress | None = None, directory: Path | None = None) -> DemoReport:
    """Load the taxonomy, then the demo dataset: validated first, then written in one transaction."""
    say = progress or (lambda _msg: None)
    tax = chain_taxonomy.load_taxonomy()
    say("validating demo files")
    data = read_demo(directory, tax)  # raises before anything is written
    say(f"writing taxonomy: {len(tax.chains)} chains, {len(tax.segments)} segments")
    report = DemoReport(taxonomy=load_taxonomy(store))
    say(f"writing demo: {len(data.nodes)} nodes, {len(data.relations)} relationships")
    report.nodes, report.relations = _write_atomically(store, data.nodes, data.relations, "demo")
    report.counts = data.counts()
    say("done")
    return report


def _write_atomically(
    store: GraphStore, nodes: list[Node], relations: list[Relation], what: str
) -> tuple[UpsertReport, UpsertReport]:
    """Nodes then relationships in one transaction; a relationship with a missing endpoint rolls all of it back."""

    def work(tx: Any) -> tuple[UpsertReport, UpsertReport]:
        node_report = write_nodes(tx, nodes)
        rel_report = write_relations(tx, relations)
        if rel_report.missing_endpoints:
            listed = ", ".join(
                f"{r.type.value} {r.source_id}->{r.target_id}" for r in rel_report.missing_endpoints[:_MAX_LISTED]
            )
            raise ValidationError(
                f"{what}: {len(rel_report.missing_endpoints)} relationship(s) whose endpoints are not in the graph "
                f"(nothing was written): {listed}"
            )
        return node_report, rel_report

    return store.transaction(work)


def demo_counts(store: GraphStore) -> dict[str, int]:
    """How many demo-marked nodes of each label the graph holds now."""
    rows = store.read("MATCH (n) WHERE n.demo = true RETURN labels(n)[0] AS label, count(n) AS c")
    return {str(r["label"]): int(r["c"]) for r in rows if r["c"]}
