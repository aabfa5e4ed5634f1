"""Verdicts on matches: accept, or reject with a reason from the fixed list (plus free text). The engine
stores each verdict as a Feedback node and its re-ranker learns from it at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.access import may_manage_need, may_see_matches
from api.audit import AuditLog
from api.auth import WORKSPACE_ROLES, Principal, Role
from api.deps import get_audit, get_engine, get_store
from api.errors import ERROR_RESPONSES, ApiError
from api.routes.needs import load_need
from graph.model import Feedback, NodeLabel, RejectReason, Verdict
from graph.store import GraphStore
from matcher.results import Question

router = APIRouter(prefix="/api/feedback", tags=["feedback"], responses=ERROR_RESPONSES)
_QUERY_LABEL = {
    Question.NEED_ACHIEVEMENT: (NodeLabel.NEED, NodeLabel.ACHIEVEMENT),
    Question.ACHIEVEMENT_ENTERPRISE: (NodeLabel.ACHIEVEMENT, NodeLabel.ENTERPRISE),
    Question.ENTERPRISE_ACHIEVEMENT: (NodeLabel.ENTERPRISE, NodeLabel.ACHIEVEMENT),
}
_BY_QUERY = (
    f"MATCH (f:{NodeLabel.FEEDBACK.value} {{query_id: $qid}}) RETURN properties(f) AS p ORDER BY f.at DESC LIMIT 200"
)


class FeedbackIn(BaseModel):
    """A verdict on one match. A rejection needs a reason; reason ``other`` needs a comment."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    question: Question = Question.NEED_ACHIEVEMENT
    query_id: str = Field(min_length=1, max_length=128, description="the need / achievement / enterprise asked about")
    candidate_id: str = Field(min_length=1, max_length=128, description="the matched achievement / enterprise")
    verdict: Verdict
    reason: RejectReason | None = None
    comment: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _reason_fits(self) -> FeedbackIn:
        if self.verdict == Verdict.REJECT and self.reason is None:
            raise ValueError("reason: a rejection needs a reason from the list")
        if self.verdict == Verdict.ACCEPT and self.reason is not None:
            raise ValueError("reason: only a rejection takes a reason")
        if self.reason == RejectReason.OTHER and not self.comment:
            raise ValueError("comment: reason 'other' needs a comment")
        return self


class FeedbackOut(BaseModel):
    id: str
    question: str
    query_id: str
    candidate_id: str
    verdict: Verdict
    reason: RejectReason | None
    comment: str
    user: str


def may_judge(store: GraphStore, principal: Principal, question: Question, query_id: str) -> bool:
    """Who may give a verdict: those working on the need, brokers and the bureau on supply questions,
    an enterprise (or its broker) on its own recommendations."""
    if question == Question.NEED_ACHIEVEMENT:
        need = load_need(store, query_id)
        return may_manage_need(principal, need) or (principal.role == Role.BROKER and may_see_matches(principal, need))
    if question == Question.ACHIEVEMENT_ENTERPRISE:
        return principal.role in (Role.BROKER, Role.BUREAU)
    return principal.may_act_for(query_id)


def give_verdict(store: GraphStore, engine: Any, audit: AuditLog, principal: Principal, body: FeedbackIn) -> Feedback:
    query_label, cand_label = _QUERY_LABEL[body.question]
    if store.get_props(query_label, body.query_id) is None:
        raise ApiError(404, f"no {query_label.value} with id {body.query_id!r}", "query_id")
    if store.get_props(cand_label, body.candidate_id) is None:
        raise ApiError(404, f"no {cand_label.value} with id {body.candidate_id!r}", "candidate_id")
    if not may_judge(store, principal, body.question, body.query_id):
        raise ApiError(403, "you may judge only matches of what you work on")
    # the broker's own id links the verdict to the broker (GAVE); others are recorded by user id
    feedback = engine.record_feedback(body.question, body.query_id, body.candidate_id, body.verdict,
                                      body.reason, body.comment, user=principal.broker_id or principal.user_id)
    audit.record(principal, "feedback", query_label, body.query_id, f"{body.verdict.value} {body.candidate_id}")
    return feedback


def feedback_out(fb: Feedback) -> FeedbackOut:
    return FeedbackOut(id=fb.id, question=fb.question, query_id=fb.query_id, candidate_id=fb.candidate_id,
                       verdict=fb.verdict, reason=fb.reason, comment=fb.comment, user=fb.user)


@router.post("", response_model=FeedbackOut, status_code=201, summary="Accept or reject a match")
def post_feedback(body: FeedbackIn, store: GraphStore = Depends(get_store), engine: Any = Depends(get_engine),
                  audit: AuditLog = Depends(get_audit), principal: Principal = Depends(WORKSPACE_ROLES)) -> FeedbackOut:
    return feedback_out(give_verdict(store, engine, audit, principal, body))


@router.get("", response_model=list[FeedbackOut], summary="Verdicts given on one query, newest first")
def list_feedback(query_id: str = Query(..., min_length=1, max_length=128),
                  question: Question = Question.NEED_ACHIEVEMENT, store: GraphStore = Depends(get_store),
                  principal: Principal = Depends(WORKSPACE_ROLES)) -> list[FeedbackOut]:
    query_label, _ = _QUERY_LABEL[question]
    if store.get_props(query_label, query_id) is None:
        raise ApiError(404, f"no {query_label.value} with id {query_id!r}", "query_id")
    if not may_judge(store, principal, question, query_id):
        raise ApiError(403, "you may read verdicts only of what you work on")
    return [feedback_out(Feedback.from_props(r["p"])) for r in store.read(_BY_QUERY, qid=query_id)]  # type: ignore[arg-type]
