"""The broker's work queue and the bureau's list of needs submitted as unmet.

The needs these functions answer are handed to the route, which shows them only through the caller's
:class:`~api.gate.NeedGate` (views, audit); the portfolio bound (``QueueScope``) is the route's to set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graph.model import Need, NodeLabel
from graph.store import GraphStore

_QUEUE_WHERE = (
    f"MATCH (n:{NodeLabel.NEED.value}) WHERE ($all OR n.enterprise_id IN $ents) "
    "AND ($status IS NULL OR n.status = $status) AND ($conf IS NULL OR n.confidentiality = $conf) "
    "AND ($segment IS NULL OR EXISTS { MATCH (n)-[:IN_SEGMENT]->(s:ChainSegment) WHERE s.id = $segment }) "
    "AND ($chain IS NULL OR EXISTS { MATCH (n)-[:IN_SEGMENT]->(s:ChainSegment) WHERE s.chain_id = $chain }) "
    "AND ($county IS NULL OR n.region = $county OR EXISTS { MATCH (e:Enterprise) "
    "WHERE e.id = n.enterprise_id AND e.region = $county }) "
    "AND ($since IS NULL OR n.posted_on >= $since)"
)
_QUEUE_NEEDS = _QUEUE_WHERE + (
    " RETURN properties(n) AS p ORDER BY coalesce(n.posted_on, '') DESC, n.id SKIP $skip LIMIT $limit")
_QUEUE_COUNT = _QUEUE_WHERE + " RETURN count(n) AS c"
_VERDICTS_OF = (
    f"MATCH (f:{NodeLabel.FEEDBACK.value}) WHERE f.query_id IN $ids AND f.question = 'need_achievement' "
    "RETURN f.query_id AS q, f.candidate_id AS c, f.verdict AS v, f.at AS at ORDER BY f.at"
)
_ESCALATED = (
    f"MATCH (n:{NodeLabel.NEED.value}) WHERE n.escalated_on IS NOT NULL "
    "RETURN properties(n) AS p ORDER BY n.escalated_on DESC, n.id SKIP $skip LIMIT $limit"
)


@dataclass(frozen=True)
class QueueScope:
    """Which needs a queue holds: every need (``everything``, the bureau) or those of ``enterprises``, narrowed
    by the filters the page offers (None: no filter)."""

    everything: bool
    enterprises: Sequence[str]
    chain: str | None = None
    segment: str | None = None
    county: str | None = None
    status: str | None = None
    conf: str | None = None

    def params(self) -> dict[str, object]:
        return {"all": self.everything, "ents": list(self.enterprises), "chain": self.chain,
                "segment": self.segment, "county": self.county, "status": self.status, "conf": self.conf}


def _needs(rows: list[dict[str, Any]]) -> list[Need]:
    return [n for n in (Need.from_props(r["p"]) for r in rows) if isinstance(n, Need)]


def queue_needs(store: GraphStore, scope: QueueScope, skip: int, limit: int) -> list[Need]:
    """One page of the queue's needs, newest first."""
    return _needs(store.read(_QUEUE_NEEDS, **scope.params(), since=None, skip=skip, limit=limit))


def queue_count(store: GraphStore, scope: QueueScope, since: str | None = None) -> int:
    """How many needs the queue holds (posted on ``since``, an ISO day, or later)."""
    return int(store.read(_QUEUE_COUNT, **scope.params(), since=since)[0]["c"])


def need_verdicts(store: GraphStore, need_ids: list[str]) -> dict[tuple[str, str], str]:
    """(need id, achievement id) -> the latest verdict given on that match."""
    judged: dict[tuple[str, str], str] = {}
    for r in store.read(_VERDICTS_OF, ids=need_ids):
        judged[(r["q"], r["c"])] = r["v"]
    return judged


def escalated_needs(store: GraphStore, skip: int, limit: int) -> list[Need]:
    """Needs submitted to the bureau as unmet, the latest first."""
    return _needs(store.read(_ESCALATED, skip=skip, limit=limit))
