"""Verdicts given on matches, as the feedback list reads them."""

from __future__ import annotations

from graph.model import Feedback, NodeLabel
from graph.store import GraphStore

_BY_QUERY = (
    f"MATCH (f:{NodeLabel.FEEDBACK.value} {{query_id: $qid}}) RETURN properties(f) AS p ORDER BY f.at DESC LIMIT 200"
)


def verdicts_on(store: GraphStore, query_id: str) -> list[Feedback]:
    """The 200 latest verdicts given on one query (a need, an achievement or an enterprise), newest first."""
    rows = [Feedback.from_props(r["p"]) for r in store.read(_BY_QUERY, qid=query_id)]
    return [fb for fb in rows if isinstance(fb, Feedback)]
