"""Bureau statistics: what the graph holds, how needs and verdicts stand, the load of every chain segment."""

from __future__ import annotations

from pydantic import BaseModel

from graph.model import SERVICE_LABELS, NodeLabel
from graph.store import GraphStore

#: service bookkeeping, not part of the knowledge graph's statistics
_SERVICE_LABELS = {label.value for label in SERVICE_LABELS}
_NEEDS_BY = (
    f"MATCH (n:{NodeLabel.NEED.value}) RETURN n.status AS status, n.confidentiality AS confidentiality, "
    "count(n) AS c"
)
_VERDICTS = f"MATCH (f:{NodeLabel.FEEDBACK.value}) RETURN f.verdict AS verdict, f.reason AS reason, count(f) AS c"
_SEGMENT_LOAD = (
    # COUNT {} subqueries: ArcadeDB rejects OPTIONAL MATCH after an aggregating WITH
    f"MATCH (s:{NodeLabel.CHAIN_SEGMENT.value}) RETURN s.id AS id, s.name AS name, s.chain_id AS chain_id, "
    f"COUNT {{ (:{NodeLabel.NEED.value})-[:IN_SEGMENT]->(s) }} AS needs, "
    f"COUNT {{ (:{NodeLabel.ACHIEVEMENT.value})-[:IN_SEGMENT]->(s) }} AS achievements ORDER BY s.chain_id, s.order"
)


class SegmentLoad(BaseModel):
    id: str
    name: str
    chain_id: str | None
    needs: int
    achievements: int


class Stats(BaseModel):
    nodes: dict[str, int]
    relations: dict[str, int]
    needs_by_status: dict[str, int]
    needs_by_confidentiality: dict[str, int]
    verdicts: dict[str, int]
    reject_reasons: dict[str, int]
    segments: list[SegmentLoad]


def collect_stats(store: GraphStore) -> Stats:
    nodes = {k: v for k, v in store.count_by_label().items() if k not in _SERVICE_LABELS}
    by_status: dict[str, int] = {}
    by_conf: dict[str, int] = {}
    for row in store.read(_NEEDS_BY):
        by_status[str(row["status"])] = by_status.get(str(row["status"]), 0) + int(row["c"])
        by_conf[str(row["confidentiality"])] = by_conf.get(str(row["confidentiality"]), 0) + int(row["c"])
    verdicts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for row in store.read(_VERDICTS):
        verdicts[str(row["verdict"])] = verdicts.get(str(row["verdict"]), 0) + int(row["c"])
        if row["reason"]:
            reasons[str(row["reason"])] = reasons.get(str(row["reason"]), 0) + int(row["c"])
    segments = [SegmentLoad.model_validate(r) for r in store.read(_SEGMENT_LOAD)]
    return Stats(nodes=nodes, relations=store.count_relations(), needs_by_status=by_status,
                 needs_by_confidentiality=by_conf, verdicts=verdicts, reject_reasons=reasons, segments=segments)
