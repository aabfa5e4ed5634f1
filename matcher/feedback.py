"""Brokers' verdicts on matches: stored in the graph, and the re-ranker they train.

A verdict is a ``Feedback`` node (``ABOUT`` both sides of the pair, ``GAVE`` from the broker) carrying the
pair's features as the engine saw them. Every verdict retrains the re-ranker; the new one replaces the old with
one assignment, so a ranking in flight keeps the re-ranker it started with.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from graph.exceptions import ValidationError
from graph.model import Feedback, NodeLabel, RejectReason, Relation, RelType, Verdict
from graph.store import GraphStore
from matcher.rerank import FeedbackExample, FeedbackReranker
from matcher.results import Question

log = logging.getLogger(__name__)

SIDES = {
    Question.NEED_ACHIEVEMENT: (NodeLabel.NEED, NodeLabel.ACHIEVEMENT),
    Question.ACHIEVEMENT_ENTERPRISE: (NodeLabel.ACHIEVEMENT, NodeLabel.ENTERPRISE),
    Question.ENTERPRISE_ACHIEVEMENT: (NodeLabel.ENTERPRISE, NodeLabel.ACHIEVEMENT),
}


@dataclass(frozen=True)
class _Ordered:
    order: str
    example: FeedbackExample
    withdrawn: bool = False


def _example(fb: Feedback) -> _Ordered:
    ex = FeedbackExample(
        question=fb.question, query_id=fb.query_id, candidate_id=fb.candidate_id,
        accepted=fb.verdict == Verdict.ACCEPT, features=dict(fb.features), weight=fb.strength,
    )
    return _Ordered(order=(fb.at.isoformat() if fb.at else ""), example=ex, withdrawn=fb.verdict == Verdict.WITHDRAWN)


class FeedbackBook:
    def __init__(self, store: GraphStore | None) -> None:
        self.store = store
        self.reranker = FeedbackReranker()
        self._examples: list[FeedbackExample] = []
        # the latest verdict on a pair is the one that teaches; a withdrawn verdict removes it
        self._by_pair: dict[tuple[str, str, str], tuple[str, FeedbackExample]] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def load(self) -> None:
        """Every verdict in the graph, oldest first; the re-ranker trained on them."""
        examples: list[_Ordered] = []
        seen: set[str] = set()
        if self.store is not None:
            for props in self.store.all_props(NodeLabel.FEEDBACK):
                try:
                    fb = Feedback.from_props(props)
                    examples.append(_example(fb))
                    seen.add(fb.id)
                except Exception as exc:  # one unreadable record must not stop the engine
                    log.warning("skipping feedback %s: %s", props.get("id"), exc)
        examples.sort(key=lambda e: e.order)
        with self._lock:
            self._by_pair = {}
            for ordered in examples:
                self._take(ordered)
            self._examples = [ex for _, ex in self._by_pair.values()]
            self._seen = seen
            self.reranker = FeedbackReranker().fit(self._examples)

    def _take(self, ordered: _Ordered) -> None:
        ex = ordered.example
        key = (ex.question, ex.query_id, ex.candidate_id)
        held = self._by_pair.get(key)
        if held is not None and held[0] > ordered.order:  # an older verdict arriving late teaches nothing
            return
        if ordered.withdrawn:
            self._by_pair.pop(key, None)
        else:
            self._by_pair[key] = (ordered.order, ex)

    def learn(self, fb: Feedback) -> None:
        """Add one verdict (recorded here or by another process) and retrain."""
        with self._lock:
            if fb.id in self._seen:
                return
            self._seen.add(fb.id)
            self._take(_example(fb))
            self._examples = [ex for _, ex in self._by_pair.values()]
            self.reranker = FeedbackReranker().fit(self._examples)

    def record(
        self,
        question: str | Question,
        query_id: str,
        candidate_id: str,
        verdict: str | Verdict,
        reason: str | RejectReason | None,
        comment: str,
        user: str,
        pair_features: Callable[[Question, str, str], Mapping[str, float]],
        strength: float = 1.0,
    ) -> Feedback:
        """Store a broker's verdict on one match in the graph and retrain the re-ranker, so the next ranking
        already reflects it. ``strength``: how many plain verdicts this one is worth (a signed contract teaches
        more than a click)."""
        try:
            question = Question(question)
            verdict = Verdict(verdict)
            reason = RejectReason(reason) if reason else None
        except ValueError as exc:
            raise ValidationError(f"bad feedback: {exc}", field="feedback") from exc
        query_label, cand_label = SIDES[question]
        features = dict(pair_features(question, query_id, candidate_id))
        now = datetime.now(UTC)
        key = f"{question.value}|{query_id}|{candidate_id}|{now.isoformat()}|{user}"
        fb = Feedback(
            id="fb-" + hashlib.sha1(key.encode()).hexdigest()[:16],
            question=question.value, query_id=query_id, candidate_id=candidate_id, verdict=verdict,
            reason=reason, comment=comment, user=user, at=now, features=features, strength=strength,
        )
        if self.store is not None:
            rels = [
                Relation(type=RelType.ABOUT, source_label=NodeLabel.FEEDBACK, source_id=fb.id,
                         target_label=query_label, target_id=query_id),
                Relation(type=RelType.ABOUT, source_label=NodeLabel.FEEDBACK, source_id=fb.id,
                         target_label=cand_label, target_id=candidate_id),
            ]
            if user and self.store.get_props(NodeLabel.BROKER, user) is not None:
                rels.append(Relation(type=RelType.GAVE, source_label=NodeLabel.BROKER, source_id=user,
                                     target_label=NodeLabel.FEEDBACK, target_id=fb.id))
            report = self.store.write_batch([fb], rels)
            missing = [r for r in report.missing_endpoints if r.type == RelType.ABOUT]
            if missing:
                log.warning("feedback %s: %d ABOUT endpoints not in the graph", fb.id, len(missing))
        self.learn(fb)
        return fb
