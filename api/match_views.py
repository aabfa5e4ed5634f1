"""What the service shows of the matcher: a need's ranked achievements, one match, the verdicts given,
and a verdict recorded (through the engine, so the ranking learns from it). The engine itself is
injected; this module never builds one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.auth import Principal
from graph.model import Feedback, Need, NodeLabel, RejectReason, Verdict
from graph.store import GraphEdge, GraphNode, GraphStore, Subgraph
from graph.zh import REJECT_REASON_ZH, VERDICT_ZH  # noqa: F401  (VERDICT_ZH: re-exported to the pages)
from matcher.results import Explanation, Match, MatchResult, Question

if TYPE_CHECKING:
    from matcher.engine import MatchEngine

REASON_ZH = REJECT_REASON_ZH  # the Chinese names live in graph.zh
_VERDICTS = (
    f"MATCH (f:{NodeLabel.FEEDBACK.value} {{query_id: $qid}}) WHERE f.question = $question "
    "RETURN properties(f) AS p ORDER BY f.at"
)


def need_matches(engine: MatchEngine, need: str | Need, k: int = 10, include_weak: bool = False) -> MatchResult:
    """The need's matches; given the need itself (read for this request), the engine does not read it again."""
    return engine.match_need(need, k=k, include_weak=include_weak)


def find_match(result: MatchResult, candidate_id: str) -> Match | None:
    return next((m for m in result.matches if m.candidate_id == candidate_id), None)


def verdict_records(store: GraphStore, query_id: str, question: Question = Question.NEED_ACHIEVEMENT
                    ) -> dict[str, Feedback]:
    """The standing verdict per candidate of one query: the latest one, unless it was withdrawn."""
    latest: dict[str, Feedback] = {}
    for r in store.read(_VERDICTS, qid=query_id, question=question.value):
        fb = Feedback.from_props(r["p"])
        if isinstance(fb, Feedback):
            latest[fb.candidate_id] = fb
    return {c: fb for c, fb in latest.items() if fb.verdict != Verdict.WITHDRAWN}


def verdicts_for(store: GraphStore, query_id: str) -> dict[str, str]:
    """The standing verdict (accept / reject) per candidate of one need."""
    return {c: fb.verdict.value for c, fb in verdict_records(store, query_id).items()}


def record_verdict(
    engine: MatchEngine, principal: Principal, question: Question, query_id: str, candidate_id: str, verdict: Verdict,
    reason: RejectReason | None, comment: str,
) -> Feedback:
    """Hand the verdict to the engine, which stores the Feedback node and learns from it."""
    # the broker's own id links the verdict to the broker (GAVE); others are recorded by user id
    return engine.record_feedback(question, query_id, candidate_id, verdict, reason, comment,
                                  user=principal.broker_id or principal.user_id)


def match_subgraph(store: GraphStore, need_id: str, achievement_id: str, explanation: Explanation | None = None
                   ) -> tuple[Subgraph, list[str]]:
    """The achievement's neighbourhood, the need's enterprise and segments, the paths between them, and the
    earlier relationship the explanation names (so that what the sentence says is also drawn)."""
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
    for explained in (explanation.graph_paths if explanation else []):
        steps = explained.nodes
        if any(step.label in (NodeLabel.NEED.value, NodeLabel.CHALLENGE.value) for step in steps):
            continue  # drawn only from the graph itself, where their confidentiality is known
        for step in steps:
            nodes.setdefault(step.id, GraphNode(step.id, step.label, step.name, {}))
            highlight.append(step.id)
        for s, t, rel in zip(steps, steps[1:], explained.rel_types, strict=False):
            edges.setdefault((s.id, t.id, rel), _edge(s.id, t.id, rel))
    return Subgraph(nodes=list(nodes.values()), edges=list(edges.values())), highlight


def _edge(a: str, b: str, rel: str) -> GraphEdge:
    return GraphEdge(a, b, rel)
