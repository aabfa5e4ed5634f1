"""Verdicts on matches: accept, or reject with a reason from the fixed list (plus free text). The engine
stores each verdict as a Feedback node and its re-ranker learns from it at once. Who may give and read them
is the role table's (:mod:`api.policy`): those who act for the enterprise the verdict is about, and the bureau."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.audit import AuditLog
from api.auth import Principal, require_roles
from api.deps import Audit, Engine
from api.errors import ERROR_RESPONSES, ApiError
from api.gate import Gate, NeedGate
from api.policy import Act, Resource, Target, authorize, permits, roles_for
from api.services.feedback import verdicts_on
from graph.model import LABEL_ZH, Feedback, NodeLabel, RejectReason, Verdict
from matcher.results import Question

if TYPE_CHECKING:
    from matcher.engine import MatchEngine

router = APIRouter(prefix="/api/feedback", tags=["feedback"], responses=ERROR_RESPONSES)
JUDGES = require_roles(*roles_for(Resource.VERDICT, Act.CREATE))
_QUERY_LABEL = {
    Question.NEED_ACHIEVEMENT: (NodeLabel.NEED, NodeLabel.ACHIEVEMENT),
    Question.ACHIEVEMENT_ENTERPRISE: (NodeLabel.ACHIEVEMENT, NodeLabel.ENTERPRISE),
    Question.ENTERPRISE_ACHIEVEMENT: (NodeLabel.ENTERPRISE, NodeLabel.ACHIEVEMENT),
}


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
            raise ValueError("reason: 拒绝时请从列表中选择原因")
        if self.verdict == Verdict.ACCEPT and self.reason is not None:
            raise ValueError("reason: 只有拒绝时才填写原因")
        if self.reason == RejectReason.OTHER and not self.comment:
            raise ValueError("comment: 原因选“其他”时请填写说明")
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


def verdict_target(gate: NeedGate, question: Question, query_id: str, candidate_id: str | None) -> Target:
    """The record a verdict is about, for the role table: the need's enterprise, the enterprise recommended
    an achievement, or the enterprise an achievement was recommended to."""
    if question == Question.NEED_ACHIEVEMENT:
        need = gate.readable(query_id, audit=None)  # 404 for a need the caller may not read
        return Target(enterprise_id=need.enterprise_id)
    if question == Question.ENTERPRISE_ACHIEVEMENT:
        return Target(enterprise_id=query_id)
    return Target(enterprise_id=candidate_id)


def give_verdict(gate: NeedGate, engine: MatchEngine, audit: AuditLog, principal: Principal,
                 body: FeedbackIn) -> Feedback:
    store = gate.store
    query_label, cand_label = _QUERY_LABEL[body.question]
    authorize(principal, Resource.VERDICT, Act.CREATE,
              verdict_target(gate, body.question, body.query_id, body.candidate_id))
    if store.get_props(query_label, body.query_id) is None:
        raise ApiError(404, f"没有 id 为 {body.query_id!r} 的{LABEL_ZH[query_label]}", "query_id")
    if store.get_props(cand_label, body.candidate_id) is None:
        raise ApiError(404, f"没有 id 为 {body.candidate_id!r} 的{LABEL_ZH[cand_label]}", "candidate_id")
    # the broker's own id links the verdict to the broker (GAVE); others are recorded by user id
    feedback = engine.record_feedback(body.question, body.query_id, body.candidate_id, body.verdict,
                                      body.reason, body.comment, user=principal.broker_id or principal.user_id)
    audit.record(principal, "feedback", query_label, body.query_id, f"{body.verdict.value} {body.candidate_id}")
    return feedback


def feedback_out(fb: Feedback) -> FeedbackOut:
    return FeedbackOut(id=fb.id, question=fb.question, query_id=fb.query_id, candidate_id=fb.candidate_id,
                       verdict=fb.verdict, reason=fb.reason, comment=fb.comment, user=fb.user)


@router.post("", response_model=FeedbackOut, status_code=201, summary="Accept or reject a match")
def post_feedback(body: FeedbackIn, gate: Gate, engine: Engine, audit: Audit,
                  principal: Principal = Depends(JUDGES)) -> FeedbackOut:
    return feedback_out(give_verdict(gate, engine, audit, principal, body))


@router.get("", response_model=list[FeedbackOut], summary="Verdicts given on one query, newest first")
def list_feedback(gate: Gate, query_id: str = Query(..., min_length=1, max_length=128),
                  question: Question = Question.NEED_ACHIEVEMENT,
                  principal: Principal = Depends(require_roles(*roles_for(Resource.VERDICT, Act.READ)))
                  ) -> list[FeedbackOut]:
    store = gate.store
    query_label, _ = _QUERY_LABEL[question]
    if question != Question.ACHIEVEMENT_ENTERPRISE:
        authorize(principal, Resource.VERDICT, Act.READ, verdict_target(gate, question, query_id, None))
    if store.get_props(query_label, query_id) is None:
        raise ApiError(404, f"没有 id 为 {query_id!r} 的{LABEL_ZH[query_label]}", "query_id")
    # verdicts on the enterprises an achievement was recommended to: only those about enterprises one acts for
    return [feedback_out(fb) for fb in verdicts_on(store, query_id) if (
        question != Question.ACHIEVEMENT_ENTERPRISE
        or permits(principal, Resource.VERDICT, Act.READ, Target(enterprise_id=fb.candidate_id)))]
