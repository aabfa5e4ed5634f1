"""The graph layer: schema, batched idempotent upserts and the reads the rest of techmatch needs.

Works against any Bolt server (Neo4j 5.x in production, the embedded ArcadeDB by default) and keeps
to the Cypher both accept. Values always travel as parameters. Labels and relationship types cannot
be parameters in Cypher, so queries are built only from the closed :class:`NodeLabel` /
:class:`RelType` enums (checked by :func:`_ident`), never from input.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from neo4j import (
    Driver,
    GraphDatabase,
    ManagedTransaction,
    NotificationDisabledClassification,
    NotificationMinimumSeverity,
    Session,
)
from neo4j.exceptions import (
    ClientError,
    ConstraintError,
    DriverError,
    Neo4jError,
    ResultFailedError,
    ServiceUnavailable,
    SessionExpired,
)

from graph.exceptions import DuplicateIdError, GraphUnavailableError, NotFoundError, ValidationError
from graph.model import NODE_TYPES, Node, NodeLabel, Relation, RelType, node_from_props
from graph.settings import GraphSettings
from graph.writegate import WriteGate, gate_path

log = logging.getLogger(__name__)

N = TypeVar("N", bound=Node)
T = TypeVar("T")

#: properties that get a plain index besides the unique id, per label
INDEXED_PROPS: dict[NodeLabel, tuple[str, ...]] = {
    NodeLabel.ACHIEVEMENT: ("name",),
    NodeLabel.ENTERPRISE: ("name", "canonical_name", "credit_code"),
    NodeLabel.INSTITUTION: ("name", "canonical_name"),
    NodeLabel.TALENT: ("name",),
    NodeLabel.NEED: ("enterprise_id",),
    NodeLabel.CHAIN_SEGMENT: ("chain_id",),
    NodeLabel.FEEDBACK: ("query_id",),
    NodeLabel.SESSION: ("user_id",),
    NodeLabel.DOCKING: ("need_id", "enterprise_id", "broker_id"),
    NodeLabel.DOCKING_EVENT: ("docking_id",),
    NodeLabel.NOTIFICATION: ("user_id", "dedupe_key"),
    NodeLabel.OUTBOX_MESSAGE: ("status",),
    NodeLabel.SUBSCRIPTION: ("user_id",),
    NodeLabel.UPLOAD_JOB: ("user_id",),
    NodeLabel.USER: ("name",),
}

MAX_DEPTH = 4

#: Neo4j's answers when a concurrent process created the same schema rule first
_SCHEMA_RULE_EXISTS = frozenset({
    "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
    "Neo.ClientError.Schema.ConstraintAlreadyExists",
    "Neo.ClientError.Schema.IndexAlreadyExists",
})


def _schema_rule_exists(exc: BaseException | None) -> bool:
    """Whether ``exc`` or an error it was raised from is Neo4j's "the rule already exists"."""
    seen = 0
    while exc is not None and seen < 8:
        if getattr(exc, "code", None) in _SCHEMA_RULE_EXISTS:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _ident(value: NodeLabel | RelType | str, kind: type[NodeLabel] | type[RelType]) -> str:
    """The only way an identifier enters Cypher text: it must be a member of the closed enum."""
    return kind(value).value


@dataclass
class UpsertReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    missing_endpoints: list[Relation] = field(default_factory=list)

    def add(self, other: UpsertReport) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.missing_endpoints.extend(other.missing_endpoints)

    @property
    def written(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class GraphNode:
    id: str
    label: str
    name: str
    props: dict[str, Any]


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    type: str
    props: dict[str, Any] = field(default_factory=dict)


@dataclass
class Subgraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]

    def node_ids(self) -> set[str]:
        return {n.id for n in self.nodes}


@dataclass(frozen=True)
class GraphPath:
    nodes: list[GraphNode]
    rel_types: list[str]

    def describe(self) -> str:
        parts = [self.nodes[0].name]
        for rel, node in zip(self.rel_types, self.nodes[1:], strict=False):
            parts.append(f"-[{rel}]-")
            parts.append(node.name)
        return "".join(parts)


# --- Cypher built once from the enums ------------------------------------------------------------

def _node_upsert_query(label: NodeLabel) -> str:
    lbl = _ident(label, NodeLabel)
    # content_hash decides created / updated / unchanged; unchanged rows are not rewritten.
    return (
        "UNWIND $rows AS row "
        f"MERGE (n:{lbl} {{id: row.id}}) "
        "WITH n, row, n.content_hash AS old "
        "SET n += CASE WHEN old = row.props.content_hash THEN {} ELSE row.props END "
        "RETURN sum(CASE WHEN old IS NULL THEN 1 ELSE 0 END) AS created, "
        "sum(CASE WHEN old IS NOT NULL AND old <> row.props.content_hash THEN 1 ELSE 0 END) AS updated, "
        "sum(CASE WHEN old = row.props.content_hash THEN 1 ELSE 0 END) AS unchanged"
    )


def _rel_upsert_query(rel: RelType, src: NodeLabel, dst: NodeLabel) -> str:
    r, a, b = _ident(rel, RelType), _ident(src, NodeLabel), _ident(dst, NodeLabel)
    return (
        "UNWIND $rows AS row "
        f"MATCH (a:{a} {{id: row.source}}) MATCH (b:{b} {{id: row.target}}) "
        f"MERGE (a)-[e:{r}]->(b) "
        "WITH e, row, e.content_hash AS old "
        "SET e += row.props "
        "RETURN row.idx AS idx, CASE WHEN old IS NULL THEN 'created' "
        "WHEN old = row.props.content_hash THEN 'unchanged' ELSE 'updated' END AS outcome"
    )


_NODE_UPSERT = {label: _node_upsert_query(label) for label in NodeLabel}
_NEIGHBOURHOOD = {
    d: (
        "MATCH (s {id: $id}) WHERE $label IN labels(s) "
        f"MATCH p = (s)-[*1..{d}]-(m) "
        "WITH p LIMIT $limit "
        "RETURN [x IN nodes(p) | {id: x.id, label: labels(x)[0], props: properties(x)}] AS nodes, "
        "[r IN relationships(p) | {source: startNode(r).id, target: endNode(r).id, type: type(r), "
        "props: properties(r)}] AS rels"
    )
    for d in range(1, MAX_DEPTH + 1)
}
_PATHS = {
    d: (
        "MATCH (a {id: $a}) WHERE $a_label IN labels(a) "
        "MATCH (b {id: $b}) WHERE $b_label IN labels(b) "
        f"MATCH p = (a)-[*1..{d}]-(b) "
        "WITH p, length(p) AS len ORDER BY len LIMIT $limit "
        "RETURN [x IN nodes(p) | {id: x.id, label: labels(x)[0], props: properties(x)}] AS nodes, "
        "[r IN relationships(p) | type(r)] AS types"
    )
    for d in range(1, MAX_DEPTH + 1)
}


def _graph_node(raw: dict[str, Any]) -> GraphNode:
    props = dict(raw.get("props") or {})
    name = props.get("name") or props.get("id") or ""
    return GraphNode(id=str(raw["id"]), label=str(raw["label"]), name=str(name), props=props)


class GraphStore:
    """Typed access to the techmatch graph over the official neo4j driver."""

    def __init__(self, driver: Driver, database: str | None = None, batch_size: int = 2000,
                 write_gate: WriteGate | None = None, retry_time_s: float = 5.0, retry_delay_s: float = 0.2) -> None:
        self.driver = driver
        self.database = database
        self.batch_size = batch_size
        #: held shared around each write, so that ``techmatch backup`` can hold writes back (graph.writegate)
        self.write_gate = write_gate
        #: set while the graph server is known to be down: every call raises it at once (see mark_down)
        self.down: GraphUnavailableError | None = None
        #: what to do when the store closes (nothing by default)
        self.on_close: Callable[[], None] | None = None
        #: retries of a transaction after a transient error (graph_retry_time_s, graph_retry_delay_s)
        self.retry_time_s = retry_time_s
        self.retry_delay_s = retry_delay_s
        self._woken = threading.Event()  # set while the server is down: retry pauses end at once

    # -- plumbing --------------------------------------------------------------------------------
    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
        self.driver.close()
        if self.write_gate is not None:
            self.write_gate.close()

    def mark_down(self, error: GraphUnavailableError) -> None:
        """The server is gone (its process exited): from now on every call raises ``error`` at once, and calls
        waiting in the driver's retries fail within one retry pause (the driver is closed under them)."""
        self.down = error
        self._woken.set()
        try:
            self.driver.close()
        except Exception:  # noqa: BLE001 - closing a driver to a dead server may complain; it is closed
            log.debug("closing the driver of a dead server", exc_info=True)

    def mark_up(self, driver: Driver) -> None:
        """The server is back (maybe on another port): use ``driver`` from now on."""
        old, self.driver = self.driver, driver
        self.down = None
        self._woken.clear()
        if old is not driver:
            try:
                old.close()
            except Exception:  # noqa: BLE001
                log.debug("closing the old driver", exc_info=True)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        down = self.down
        if down is not None:
            raise down
        try:
            with self.driver.session(database=self.database) as session:
                yield session
        except (ServiceUnavailable, SessionExpired) as exc:
            raise (self.down or GraphUnavailableError(f"graph server unreachable: {exc}")) from exc
        except (DriverError, Neo4jError, OSError) as exc:
            if self.down is not None:  # the driver was closed under the call because the server died
                raise self.down from exc
            raise

    def _retrying(self, run: Callable[[Session], T]) -> T:
        """``run(session)`` (one managed transaction: the driver itself tries once, see :func:`driver_options`),
        tried again after a transient error (deadlock, dropped connection, leader switch) for up to
        ``retry_time_s``, pausing ``retry_delay_s``, then twice as long each time. Unlike the driver's own loop
        this one stops at once when the server is marked down (:meth:`mark_down` wakes the pause)."""
        deadline: float | None = None
        delay = self.retry_delay_s
        while True:
            try:
                with self._session() as session:
                    return run(session)
            except GraphUnavailableError as exc:
                failure: BaseException = exc
            except (DriverError, Neo4jError) as exc:
                if not exc.is_retryable():
                    raise
                failure = exc
            if self.down is not None:
                raise self.down from failure
            now = time.monotonic()
            deadline = deadline if deadline is not None else now + self.retry_time_s
            if now + delay > deadline:
                raise failure
            log.info("graph transaction failed, retrying in %.1fs: %s", delay, failure)
            self._woken.wait(delay)
            delay *= 2

    def read(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run a read query; ``cypher`` must be a constant, values go in ``params``."""
        return self._retrying(
            lambda session: session.execute_read(lambda tx: [r.data() for r in tx.run(cypher, params)]))

    def write(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run a write query in one managed transaction."""
        with self._gate():
            return self._retrying(
                lambda session: session.execute_write(lambda tx: [r.data() for r in tx.run(cypher, params)]))

    def transaction(self, work: Callable[[ManagedTransaction], T]) -> T:
        """Run ``work`` in one write transaction: all of it lands or none of it does."""
        with self._gate():
            return self._retrying(lambda session: session.execute_write(work))

    def _gate(self) -> Any:
        return self.write_gate.write() if self.write_gate is not None else nullcontext()

    def ping(self) -> bool:
        try:
            return self.read("RETURN 1 AS ok")[0]["ok"] == 1
        except (GraphUnavailableError, Neo4jError, OSError):
            return False

    # -- schema ----------------------------------------------------------------------------------
    def setup_schema(self) -> None:
        """Unique constraints on every label's id, plus indexes on the properties we look up by.

        Idempotent, and safe when several processes (API workers starting together) run it at once.
        """
        for label in NodeLabel:
            lbl = _ident(label, NodeLabel)
            self._schema_rule(
                f"CREATE CONSTRAINT {lbl.lower()}_id IF NOT EXISTS FOR (n:{lbl}) REQUIRE n.id IS UNIQUE"
            )
        for label, props in INDEXED_PROPS.items():
            lbl = _ident(label, NodeLabel)
            for prop in props:
                if prop not in NODE_TYPES[label].model_fields:
                    raise ValueError(f"{prop} is not a field of {lbl}")
                self._schema_rule(f"CREATE INDEX {lbl.lower()}_{prop} IF NOT EXISTS FOR (n:{lbl}) ON (n.{prop})")

    def _schema_rule(self, ddl: str, attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                self.write(ddl)
                return
            except (ClientError, ResultFailedError) as exc:
                # IF NOT EXISTS checks before it takes the schema lock: another process that created the same
                # rule a moment earlier makes Neo4j answer "already exists". The rule is there: that is success.
                # The driver may report that answer as a failed result, with the server's error as its cause.
                if _schema_rule_exists(exc):
                    return
                # a failed result without the server's error behind it (seen when workers race on a fresh
                # server): once the other worker's rule is committed the same IF NOT EXISTS is a no-op, while a
                # real fault (a bad rule, a dead server) fails every attempt and is raised
                if not isinstance(exc, ResultFailedError) or attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    # -- writes ----------------------------------------------------------------------------------
    def upsert_nodes(
        self,
        nodes: Iterable[Node],
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> UpsertReport:
        """MERGE nodes by id, in batches of ``batch_size`` rows, one transaction per batch."""
        report = UpsertReport()
        for batch in _batched(list(nodes), batch_size or self.batch_size):
            report.add(self.transaction(partial(write_nodes, nodes=batch)))
            if progress:
                progress(len(batch))
        return report

    def upsert_relations(
        self, relations: Iterable[Relation], batch_size: int | None = None
    ) -> UpsertReport:
        """MERGE relationships between existing nodes; those with a missing endpoint are reported."""
        report = UpsertReport()
        for batch in _batched(list(relations), batch_size or self.batch_size):
            report.add(self.transaction(partial(write_relations, relations=batch)))
        return report

    def write_batch(self, nodes: Sequence[Node], relations: Sequence[Relation]) -> UpsertReport:
        """Nodes then relationships in a single transaction: a crash leaves all or nothing of it."""

        def work(tx: ManagedTransaction) -> UpsertReport:
            report = write_nodes(tx, nodes)
            report.add(write_relations(tx, relations))
            return report

        return self.transaction(work)

    def create_node(self, node: Node) -> None:
        """Create a node; raises :class:`DuplicateIdError` if its id is taken."""
        lbl = _ident(node.label, NodeLabel)
        try:
            self.write(f"CREATE (n:{lbl}) SET n = $props", props=node.to_props())
        except ConstraintError as exc:
            raise DuplicateIdError(lbl, node.id) from exc

    def update_node(self, node: Node) -> None:
        """Replace a node's properties; raises :class:`NotFoundError` if it does not exist."""
        lbl = _ident(node.label, NodeLabel)
        rows = self.write(
            f"MATCH (n:{lbl} {{id: $id}}) SET n = $props RETURN count(n) AS c",
            id=node.id,
            props=node.to_props(),
        )
        if not rows or rows[0]["c"] == 0:
            raise NotFoundError(lbl, node.id)

    def delete_node(self, label: NodeLabel, node_id: str) -> None:
        lbl = _ident(label, NodeLabel)
        rows = self.write(
            f"MATCH (n:{lbl} {{id: $id}}) WITH n, n.id AS gone DETACH DELETE n RETURN count(gone) AS c",
            id=node_id,
        )
        if not rows or rows[0]["c"] == 0:
            raise NotFoundError(lbl, node_id)

    def delete_relation(self, rel: Relation) -> int:
        r = _ident(rel.type, RelType)
        a, b = _ident(rel.source_label, NodeLabel), _ident(rel.target_label, NodeLabel)
        rows = self.write(
            f"MATCH (:{a} {{id: $s}})-[e:{r}]->(:{b} {{id: $t}}) DELETE e RETURN count(*) AS c",
            s=rel.source_id,
            t=rel.target_id,
        )
        return int(rows[0]["c"]) if rows else 0

    def clear(self) -> None:
        """Delete every node and relationship (tests and throwaway graphs only)."""
        self.write("MATCH (n) DETACH DELETE n")

    # -- reads -----------------------------------------------------------------------------------
    def get_props(self, label: NodeLabel, node_id: str) -> dict[str, Any] | None:
        lbl = _ident(label, NodeLabel)
        rows = self.read(f"MATCH (n:{lbl} {{id: $id}}) RETURN properties(n) AS p", id=node_id)
        return rows[0]["p"] if rows else None

    def get_node(self, label: NodeLabel, node_id: str) -> Node | None:
        props = self.get_props(label, node_id)
        return node_from_props(label, props) if props else None

    def require_node(self, label: NodeLabel, node_id: str) -> Node:
        node = self.get_node(label, node_id)
        if node is None:
            raise NotFoundError(_ident(label, NodeLabel), node_id)
        return node

    def get(self, kind: type[N], node_id: str) -> N | None:
        """The node of class ``kind`` (``store.get(Need, id)``), typed as that class; ``None`` when absent."""
        props = self.get_props(kind.label, node_id)
        return kind.from_props(props) if props else None

    def require(self, kind: type[N], node_id: str) -> N:
        """As :meth:`get`; raises :class:`NotFoundError` when absent."""
        node = self.get(kind, node_id)
        if node is None:
            raise NotFoundError(_ident(kind.label, NodeLabel), node_id)
        return node

    def find_label(self, node_id: str) -> str | None:
        rows = self.read("MATCH (n {id: $id}) RETURN labels(n)[0] AS l LIMIT 1", id=node_id)
        return rows[0]["l"] if rows else None

    def list_props(
        self,
        label: NodeLabel,
        where: dict[str, Any] | None = None,
        text: str | None = None,
        skip: int = 0,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Nodes of one label, filtered by equality on model fields and a name substring."""
        lbl = _ident(label, NodeLabel)
        fields = NODE_TYPES[NodeLabel(label)].model_fields
        where = {k: v for k, v in (where or {}).items() if v is not None}
        for key in where:
            if key not in fields:
                raise ValidationError(f"{lbl} has no field {key!r} to filter on", field=key)
        # The filter keys were checked against the model, so they are identifiers we own.
        conds = [f"n.{key} = $w_{key}" for key in where]
        if text:
            # every word of a multi-word query in the name (尼龙66 黄变), or the exact id
            conds.append("(n.id = $text OR size([t IN $terms WHERE n.name CONTAINS t]) = size($terms))")
        clause = ("WHERE " + " AND ".join(conds)) if conds else ""
        params = {f"w_{k}": (v.value if hasattr(v, "value") else v) for k, v in where.items()}
        return [
            r["p"]
            for r in self.read(
                f"MATCH (n:{lbl}) {clause} RETURN properties(n) AS p ORDER BY n.id SKIP $skip LIMIT $limit",
                text=text,
                terms=(text or "").split() or [""],
                skip=max(0, int(skip)),
                limit=max(0, int(limit)),
                **params,
            )
        ]

    def all_props(self, label: NodeLabel) -> list[dict[str, Any]]:
        lbl = _ident(label, NodeLabel)
        return [r["p"] for r in self.read(f"MATCH (n:{lbl}) RETURN properties(n) AS p ORDER BY n.id")]

    def count_by_label(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for label in NodeLabel:
            lbl = _ident(label, NodeLabel)
            c = self.read(f"MATCH (n:{lbl}) RETURN count(n) AS c")[0]["c"]
            if c:
                counts[lbl] = int(c)
        return counts

    def count_relations(self) -> dict[str, int]:
        rows = self.read("MATCH ()-[r]->() RETURN type(r) AS t, count(r) AS c")
        return {r["t"]: int(r["c"]) for r in rows}

    def neighbourhood(
        self, label: NodeLabel, node_id: str, depth: int = 1, limit: int = 300
    ) -> Subgraph:
        """Everything within ``depth`` hops of a node (both directions), as nodes and edges."""
        if not 1 <= depth <= MAX_DEPTH:
            raise ValidationError(f"depth must be between 1 and {MAX_DEPTH}", field="depth")
        lbl = _ident(label, NodeLabel)
        if self.get_props(label, node_id) is None:
            raise NotFoundError(lbl, node_id)
        rows = self.read(_NEIGHBOURHOOD[depth], id=node_id, label=lbl, limit=int(limit))
        nodes: dict[str, GraphNode] = {}
        edges: dict[tuple[str, str, str], GraphEdge] = {}
        start = self.read(
            f"MATCH (n:{lbl} {{id: $id}}) RETURN n.id AS id, labels(n)[0] AS label, properties(n) AS props",
            id=node_id,
        )
        for raw in start:
            nodes[raw["id"]] = _graph_node(raw)
        for row in rows:
            for raw in row["nodes"]:
                nodes.setdefault(str(raw["id"]), _graph_node(raw))
            for rel in row["rels"]:
                key = (str(rel["source"]), str(rel["target"]), rel["type"])
                edges.setdefault(key, GraphEdge(key[0], key[1], key[2], dict(rel.get("props") or {})))
        return Subgraph(nodes=list(nodes.values()), edges=list(edges.values()))

    def paths(
        self,
        a_label: NodeLabel,
        a_id: str,
        b_label: NodeLabel,
        b_id: str,
        max_length: int = 4,
        limit: int = 5,
    ) -> list[GraphPath]:
        """The shortest few paths (any direction) between two entities, up to ``max_length`` hops."""
        if not 1 <= max_length <= MAX_DEPTH:
            raise ValidationError(f"max_length must be between 1 and {MAX_DEPTH}", field="max_length")
        rows = self.read(
            _PATHS[max_length],
            a=a_id,
            a_label=_ident(a_label, NodeLabel),
            b=b_id,
            b_label=_ident(b_label, NodeLabel),
            limit=int(limit),
        )
        out = []
        seen: set[tuple[str, ...]] = set()
        for row in rows:
            nodes = [_graph_node(n) for n in row["nodes"]]
            key = tuple(n.id for n in nodes)
            if key in seen or len(set(key)) != len(key):
                continue
            seen.add(key)
            out.append(GraphPath(nodes=nodes, rel_types=list(row["types"])))
        return out

    def chain_topology(self) -> list[dict[str, Any]]:
        """Every chain with its segments in order and the UPSTREAM_OF edges between them."""
        chains = self.read(
            "MATCH (c:IndustryChain) RETURN c.id AS id, c.name AS name, c.priority AS priority ORDER BY c.id"
        )
        segs = self.read(
            "MATCH (s:ChainSegment) RETURN s.id AS id, s.name AS name, s.chain_id AS chain_id, "
            "s.position AS position, s.order AS order, s.keywords AS keywords ORDER BY s.chain_id, s.order"
        )
        ups = self.read(
            "MATCH (a:ChainSegment)-[:UPSTREAM_OF]->(b:ChainSegment) RETURN a.id AS source, b.id AS target"
        )
        by_chain: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in segs:
            by_chain[s["chain_id"]].append(s)
        seg_chain = {s["id"]: s["chain_id"] for s in segs}
        edges_by_chain: dict[str, list[dict[str, str]]] = defaultdict(list)
        for e in ups:
            edges_by_chain[seg_chain.get(e["source"], "")].append(e)
        return [
            {**c, "segments": by_chain.get(c["id"], []), "upstream_of": edges_by_chain.get(c["id"], [])}
            for c in chains
        ]


def write_nodes(tx: ManagedTransaction, nodes: Sequence[Node]) -> UpsertReport:
    """Upsert nodes inside an open transaction, grouped by label."""
    report = UpsertReport()
    by_label: dict[NodeLabel, list[dict[str, Any]]] = defaultdict(list)
    for node in nodes:
        props = node.to_props()
        by_label[node.label].append({"id": node.id, "props": props})
    for label, rows in by_label.items():
        try:
            rec = tx.run(_NODE_UPSERT[label], rows=rows).single()
        except ConstraintError as exc:  # pragma: no cover - MERGE on id cannot violate
            raise DuplicateIdError(label.value, rows[0]["id"]) from exc
        if rec:
            report.created += int(rec["created"] or 0)
            report.updated += int(rec["updated"] or 0)
            report.unchanged += int(rec["unchanged"] or 0)
    return report


def write_relations(tx: ManagedTransaction, relations: Sequence[Relation]) -> UpsertReport:
    """Upsert relationships inside an open transaction; endpoints must exist."""
    from graph.model import content_hash

    report = UpsertReport()
    groups: dict[tuple[RelType, NodeLabel, NodeLabel], list[tuple[int, Relation]]] = defaultdict(list)
    for i, rel in enumerate(relations):
        groups[(rel.type, rel.source_label, rel.target_label)].append((i, rel))
    for (rtype, src, dst), items in groups.items():
        rows = []
        for i, rel in items:
            props = dict(rel.props)
            props["content_hash"] = content_hash(props)
            rows.append({"idx": i, "source": rel.source_id, "target": rel.target_id, "props": props})
        seen: set[int] = set()
        for rec in tx.run(_rel_upsert_query(rtype, src, dst), rows=rows):
            seen.add(int(rec["idx"]))
            outcome = rec["outcome"]
            setattr(report, outcome, getattr(report, outcome) + 1)
        report.missing_endpoints.extend(rel for i, rel in items if i not in seen)
    return report


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def driver_options(settings: GraphSettings | None = None) -> dict[str, Any]:
    """The driver's time limits, in one place (``graph_*`` settings; the reasons are in docs/operations.md).

    - ``connection_timeout``: opening a TCP connection and the Bolt handshake (3 s);
    - ``connection_acquisition_timeout``: waiting for a pooled connection, opening included (5 s);
    - ``max_transaction_retry_time`` 0: the driver tries a managed transaction once; :class:`GraphStore` retries
      it after a transient error (a deadlock, a cluster leader switch, a dropped connection) for
      ``graph_retry_time_s`` (5 s), pausing 0.2 s, 0.4 s, 0.8 s ... between tries, and stops at once when the
      server is known to be down.

    So a server that stopped answering is reported after about 5 s instead of 30-67 s, and one whose process
    is known to have exited is reported at once (:meth:`GraphStore.mark_down`). Without ``settings``, the
    defaults above.
    """
    s = settings or GraphSettings()
    return {
        "connection_timeout": s.graph_connect_timeout_s,
        "connection_acquisition_timeout": max(s.graph_acquire_timeout_s, s.graph_connect_timeout_s),
        "max_transaction_retry_time": 0.0,
    }


def new_driver(uri: str, user: str, password: str, settings: GraphSettings | None = None) -> Driver:
    """A driver with techmatch's time limits (:func:`driver_options`).

    Neo4j warns about every label, type or property a query names that the graph does not hold yet;
    techmatch asks for optional things on purpose, so those notifications are switched off (servers
    that do not filter notifications, like ArcadeDB, ignore the setting).
    """
    return GraphDatabase.driver(
        uri,
        auth=(user, password),
        notifications_min_severity=NotificationMinimumSeverity.WARNING,
        notifications_disabled_classifications=[NotificationDisabledClassification.UNRECOGNIZED],
        **driver_options(settings),
    )


def connect(uri: str, user: str, password: str, database: str | None, batch_size: int = 2000,
            settings: GraphSettings | None = None, write_gate: WriteGate | None = None) -> GraphStore:
    """A store over the official driver; ``uri`` is ``bolt://`` (one server) or ``neo4j://`` (routing, clusters).
    ``settings``: the driver's time limits and retries (the defaults without)."""
    s = settings or GraphSettings()
    return GraphStore(new_driver(uri, user, password, s), database=database, batch_size=batch_size,
                      write_gate=write_gate, retry_time_s=s.graph_retry_time_s, retry_delay_s=s.graph_retry_delay_s)


def write_gate_for(settings: GraphSettings) -> WriteGate:
    return WriteGate(gate_path(settings.data_dir), settings.write_gate_timeout_s)


@contextmanager
def open_store(settings: GraphSettings, setup_schema: bool = True) -> Iterator[GraphStore]:
    """A store on the configured graph: a real Neo4j when a URI is set; else the local server of the data
    directory: the one ``techmatch serve`` (or ``graph run``) already runs there, attached to and left running,
    or one started for this command and stopped after it. A command's own server is watched: when its process
    exits, the next (and the current) graph call fails at once with :class:`GraphServerExitedError` (the exit
    code and the log's last lines), not after the driver's retries."""
    server = None
    if settings.graph_uri:
        password = settings.graph_password.get_secret_value() if settings.graph_password else ""
        store = connect(settings.graph_uri, settings.graph_user, password, settings.graph_database,
                        settings.write_batch_size, settings, write_gate_for(settings))
    else:
        from graph.server import embedded_server, find_running_server

        running = find_running_server(settings.data_dir)
        if running is not None and running.attachable:
            info = running.info
            log.info("attaching to the graph server of %s (pid %s) at %s", running.owner, running.owner_pid, info.uri)
            store = connect(info.uri, info.user, info.password, info.database, settings.write_batch_size,
                            settings, write_gate_for(settings))
        else:
            server = embedded_server(settings)
            info = server.start()
            store = connect(info.uri, info.user, info.password, info.database, settings.write_batch_size,
                            settings, write_gate_for(settings))
            watch_fail_fast(server, store)
    try:
        if setup_schema:
            store.setup_schema()
        yield store
    finally:
        store.close()
        if server is not None:
            server.stop()


def watch_fail_fast(server: Any, store: GraphStore) -> None:
    """When ``server``'s process exits by itself, ``store`` fails every call at once with the exit code, the
    log's last lines and the log's path (a command's own server: nothing restarts it)."""
    from graph.exceptions import GraphServerExitedError
    from graph.server import log_tail

    def gone(code: int) -> None:
        error = GraphServerExitedError(code, str(server.log_file), log_tail(server.log_file))
        log.info("%s", error)  # the command reports it as its one line of failure
        store.mark_down(error)

    server.watch(gone)
