"""What the service shows of the matcher: a need's ranked achievements, one match, the verdicts given,
and a verdict recorded (through the engine, so the ranking learns from it). The engine itself is
injected; this module never builds one."""

from __future__ import annotations

from typing import Any

from api.auth import Principal
from graph.model import Feedback, NodeLabel, RejectReason, Verdict
from graph.store import GraphNode, GraphStore, Subgraph
from graph.zh import REJECT_REASON_ZH, VERDICT_ZH  # noqa: F401  (VERDICT_ZH: re-exported to the pages)
from matcher.results import Match, MatchResult, Question

REASON_ZH = REJECT_REASON_ZH  # the Chinese names live in graph.zh
_VERDICTS = (
    f"MATCH (f:{NodeLabel.FEEDBACK.value} {{query_id: $qid}}) "
    "RETURN f.candidate_id AS candidate, f.verdict AS verdict, f.at AS at ORDER BY f.at"
)


def need_matches(engine: Any, need_id: str, k: int = 10, include_weak: bool = False) -> MatchResult:
    return engine.match_need(need_id, k=k, include_weak=include_weak)


def find_match(result: MatchResult, candidate_id: str) -> Match | None:
    return next((m for m in result.matches if m.candidate_id == candidate_id), None)


def verdicts_for(store: GraphStore, query_id: str) -> dict[str, str]:
    """The latest verdict per candidate of one query."""
    return {r["candidate"]: r["verdict"] for r in store.read(_VERDICTS, qid=query_id)}


def record_verdict(
    engine: Any, principal: Principal, question: Question, query_id: str, candidate_id: str, verdict: Verdict,
    reason: RejectReason | None, comment: str,
) -> Feedback:
    """Hand the verdict to the engine, which stores the Feedback node and learns from it."""
    # the broker's own id links the verdict to the broker (GAVE); others are recorded by user id
    return engine.record_feedback(question, query_id, candidate_id, verdict, reason, comment,
                                  user=principal.broker_id or principal.user_id)


def match_subgraph(store: GraphStore, need_id: str, achievement_id: str) -> tuple[Subgraph, list[str]]:
    """The achievement's neighbourhood, the need's enterprise and segments, and the paths between them."""
    sub = store.neighbourhood(NodeLabel.ACHIEVEMENT, achievement_id, depth=1, limit=60)
    need_side = store.neighbourhood(NodeLabel.NEED, need_id, depth=1, limit=30)
    nodes: dict[str, GraphNode] = {n.id: n for n in sub.nodes}
    edges = {(e.source, e.target, e.type): e for e in sub.edges}
    for n in need_side.nodes:
        nodes.setdefault(n.id, n)
    for e in need_side.edges:
        edges.setdefault((e.source, e.target, e.type), e)
    highlight = [achievement_id, need_id]
    for path in store.paths(NodeLabel.ACHIEVEMENT, achievement_id, NodeLabel.NEED, need_id, max_length=4, limit=3):
        for n in path.nodes:
            nodes.setdefault(n.id, n)
            highlight.append(n.id)
        for a, b, rel in zip(path.nodes, path.nodes[1:], path.rel_types, strict=False):
            edges.setdefault((a.id, b.id, rel), _edge(a.id, b.id, rel))
    return Subgraph(nodes=list(nodes.values()), edges=list(edges.values())), highlight


def _edge(a: str, b: str, rel: str) -> Any:
    from graph.store import GraphEdge

    return GraphEdge(a, b, rel)
