"""揭榜挂帅 challenges: the bureau drafts, publishes and edits them; every workspace role reads published ones.
The bureau also gets the recommended teams (bounded fit, conflicts of interest, a weak-fit warning), moves a
challenge through its lifecycle, reviews the applications and awards it; enterprises and brokers apply
(揭榜申报) under the role table's rules. The logic is :mod:`bureau.challenges`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role, require_roles
from api.deps import Audit, PageOut, PageParams, Store, ensure_storable
from api.errors import ERROR_RESPONSES, ApiError
from api.gate import Gate
from api.policy import Act, Resource, Target, authorize, permits, roles_for
from bureau.challenges import TeamAdvice
from graph.exceptions import NotFoundError, ValidationError
from graph.model import Challenge, ChallengeApplication, ChallengeStatus, NodeLabel, Relation, RelType
from graph.store import GraphStore
from graph.zh import APPLICATION_STATUS_ZH

router = APIRouter(prefix="/api/challenges", tags=["challenges"], responses=ERROR_RESPONSES)
BUREAU = require_roles(*roles_for(Resource.CHALLENGE, Act.CREATE))
READERS = require_roles(*roles_for(Resource.CHALLENGE, Act.READ))


class ChallengePage(PageOut):
    items: list[Challenge]


def visible_challenge(principal: Principal, challenge: Challenge) -> bool:
    return permits(principal, Resource.CHALLENGE, Act.READ,
                   Target(published=challenge.status != ChallengeStatus.DRAFT))


def for_reader(gate: Gate, challenge: Challenge) -> Challenge:
    """The challenge as this caller may see it: the needs it was drafted from only where the caller reads
    them in full (a non-public need's id is not for every reader of a published notice)."""
    if gate.viewer.role == Role.BUREAU or not challenge.source_need_ids:
        return challenge
    hidden = gate.hidden_needs(challenge.source_need_ids)
    return challenge.model_copy(update={"source_need_ids": [n for n in challenge.source_need_ids if n not in hidden]})


def _check_refs(store: GraphStore, body: Challenge) -> list[Relation]:
    rels = []
    if body.segment_id:
        if store.get_props(NodeLabel.CHAIN_SEGMENT, body.segment_id) is None:
            raise ApiError(422, "没有这个产业链环节", "segment_id")
        rels.append(Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.CHALLENGE, source_id=body.id,
                             target_label=NodeLabel.CHAIN_SEGMENT, target_id=body.segment_id))
    if body.owner_id:
        for label in (NodeLabel.ENTERPRISE, NodeLabel.DEPARTMENT):
            if store.get_props(label, body.owner_id) is not None:
                rels.append(Relation(type=RelType.POSTED, source_label=label, source_id=body.owner_id,
                                     target_label=NodeLabel.CHALLENGE, target_id=body.id))
                break
        else:
            raise ApiError(422, "发榜单位须为系统中的企业或部门", "owner_id")
    return rels


@router.get("", response_model=ChallengePage, summary="List challenges (drafts only for the bureau)")
def list_challenges(
    gate: Gate,
    page: PageParams,
    status: ChallengeStatus | None = None,
    q: str | None = Query(None, max_length=100),
    *, store: Store,
    principal: Principal = Depends(READERS),
) -> ChallengePage:
    if status == ChallengeStatus.DRAFT and principal.role != Role.BUREAU:
        raise ApiError(403, "只有科技局可以查看草稿状态的榜单", "status")
    # drafts are filtered after the read, so read a little more than a page and page by hand
    rows = store.list_props(NodeLabel.CHALLENGE, where={"status": status}, text=q or None,
                            skip=0, limit=page.skip + page.page_size + 1 if principal.role == Role.BUREAU else 100_000)
    items = [c for c in (Challenge.from_props(r) for r in rows) if visible_challenge(principal, c)]
    chunk = items[page.skip: page.skip + page.page_size]
    return ChallengePage(items=[for_reader(gate, c) for c in chunk], page=page.page, page_size=page.page_size,
                         has_more=len(items) > page.skip + page.page_size)


@router.get("/{challenge_id}", response_model=Challenge, summary="Read one challenge")
def get_challenge(challenge_id: str, gate: Gate, store: Store,
                  principal: Principal = Depends(READERS)) -> Challenge:
    return for_reader(gate, readable_challenge(store, principal, challenge_id))


def readable_challenge(store: GraphStore, principal: Principal, challenge_id: str) -> Challenge:
    """The challenge when the caller may read it; else the 404 a missing one gets (drafts are the bureau's)."""
    challenge = store.get_node(NodeLabel.CHALLENGE, challenge_id)
    if not isinstance(challenge, Challenge) or not visible_challenge(principal, challenge):
        raise ApiError(404, "没有该揭榜挂帅榜单，或它尚未发布", "id")
    return challenge


@router.post("", response_model=Challenge, status_code=201, summary="Draft a challenge (bureau)")
def create_challenge(body: Challenge = Body(...), *, store: Store,
                     audit: Audit, principal: Principal = Depends(BUREAU)) -> Challenge:
    ensure_storable(body)
    rels = _check_refs(store, body)
    if store.get_props(NodeLabel.CHALLENGE, body.id) is not None:
        raise ApiError(409, "已有同一编号的榜单", "id")
    store.write_batch([body], rels)
    audit.record(principal, "create_challenge", NodeLabel.CHALLENGE, body.id)
    return body


@router.put("/{challenge_id}", response_model=Challenge, summary="Replace a challenge (bureau)")
def update_challenge(challenge_id: str, body: Challenge = Body(...), *, store: Store,
                     audit: Audit, principal: Principal = Depends(BUREAU)) -> Challenge:
    if body.id != challenge_id:
        raise ApiError(422, "请求体中的编号与网址中的不一致", "id")
    store.require_node(NodeLabel.CHALLENGE, challenge_id)
    ensure_storable(body)
    rels = _check_refs(store, body)
    store.update_node(body)
    store.upsert_relations(rels)
    audit.record(principal, "change_challenge", NodeLabel.CHALLENGE, body.id, body.status.value)
    return body


@router.delete("/{challenge_id}", status_code=204, summary="Delete a challenge (bureau)")
def delete_challenge(challenge_id: str, store: Store,
                     audit: Audit, principal: Principal = Depends(BUREAU)) -> None:
    store.delete_node(NodeLabel.CHALLENGE, challenge_id)
    audit.record(principal, "delete_challenge", NodeLabel.CHALLENGE, challenge_id)


# --- the lifecycle, teams, applications, review and award -----------------------------------------

SOLVER_READERS = require_roles(*roles_for(Resource.CHALLENGE_SOLVERS, Act.READ))
APPLICANTS = require_roles(*roles_for(Resource.CHALLENGE_APPLICATION, Act.CREATE))
APPLICATION_READERS = require_roles(*roles_for(Resource.CHALLENGE_APPLICATION, Act.READ))
REVIEWERS = require_roles(*roles_for(Resource.CHALLENGE_APPLICATION, Act.REVIEW))


def _domain_error(exc: Exception) -> ApiError:
    if isinstance(exc, NotFoundError):
        return ApiError(404, "没有该揭榜申报", "application_id")
    if isinstance(exc, ValidationError):
        return ApiError(422, str(exc), getattr(exc, "field", None))
    raise exc


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ChallengeStatus = Field(description="the status to move to (awarding goes through /award)")


@router.post("/{challenge_id}/status", response_model=Challenge, summary="Move a challenge along its lifecycle "
             "(bureau): publish, open applications, withdraw, start, accept, fail")
def move_challenge(challenge_id: str, body: StatusIn, store: Store,
                   audit: Audit, principal: Principal = Depends(BUREAU)) -> Challenge:
    from bureau.challenges import change_status

    readable_challenge(store, principal, challenge_id)
    try:
        updated = change_status(store, challenge_id, body.status)
    except ValidationError as exc:
        raise ApiError(409, str(exc), "status") from None
    audit.record(principal, "challenge_status", NodeLabel.CHALLENGE, challenge_id, updated.status.value)
    return updated


@router.get("/{challenge_id}/teams", response_model=TeamAdvice,
            summary="Recommended teams with a bounded fit (0-100), what each member covers, conflicts of interest "
            "and a weak-fit warning (bureau)")
def challenge_teams(request: Request, challenge_id: str, n: int = Query(3, ge=1, le=10),
                    *, store: Store, principal: Principal = Depends(SOLVER_READERS)
                    ) -> TeamAdvice:
    from api.routes.matching import conflict_policy, solver_index
    from bureau.challenges import recommend_teams

    challenge = readable_challenge(store, principal, challenge_id)
    return recommend_teams(store, challenge, solver_index(request), n_teams=n, policy=conflict_policy(request))


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    applicant: str = Field(max_length=200, description="the applicant unit, `Institution:<id>` or `Enterprise:<id>`")
    team_name: str = Field("", max_length=100)
    lead_id: str = Field(max_length=128, description="the lead, a Talent id")
    members: list[str] = Field([], max_length=30, description="Talent ids or names of the other members")
    partner_id: str | None = Field(None, max_length=128, description="a local Enterprise that industrialises")
    plan: str = Field("", max_length=3000)
    budget_wan: float | None = Field(None, ge=0)


class ApplicationOut(BaseModel):
    id: str
    challenge_id: str
    team_name: str
    applicant_label: str
    applicant_id: str
    lead_id: str | None
    lead_name: str
    member_ids: list[str]
    member_names: list[str]
    partner_id: str | None
    plan: str
    budget_wan: float | None
    submitted_at: datetime | None
    status: str
    status_zh: str
    review_score: int | None = None  # the bureau's review: for the bureau only
    review_comment: str | None = None


def _out(app: ChallengeApplication, principal: Principal) -> ApplicationOut:
    bureau = principal.role == Role.BUREAU
    return ApplicationOut(
        id=app.id, challenge_id=app.challenge_id, team_name=app.team_name, applicant_label=app.applicant_label,
        applicant_id=app.applicant_id, lead_id=app.lead_id, lead_name=app.lead_name, member_ids=app.member_ids,
        member_names=app.member_names, partner_id=app.partner_id, plan=app.plan, budget_wan=app.budget_wan,
        submitted_at=app.submitted_at, status=app.status.value, status_zh=APPLICATION_STATUS_ZH[app.status.value],
        review_score=app.review_score if bureau else None, review_comment=app.review_comment if bureau else None)


def _target(app: ChallengeApplication) -> Target:
    ent = app.applicant_id if app.applicant_label == NodeLabel.ENTERPRISE.value else None
    return Target(enterprise_id=ent, submitter_id=app.submitted_by)


@router.get("/{challenge_id}/applications", response_model=list[ApplicationOut],
            summary="Applications (揭榜申报) to a challenge: the bureau sees all, others those they submitted")
def list_applications(challenge_id: str, store: Store,
                      principal: Principal = Depends(APPLICATION_READERS)) -> list[ApplicationOut]:
    from bureau.challenges import applications_for

    readable_challenge(store, principal, challenge_id)
    return [_out(a, principal) for a in applications_for(store, challenge_id)
            if permits(principal, Resource.CHALLENGE_APPLICATION, Act.READ, _target(a))]


@router.post("/{challenge_id}/applications", response_model=ApplicationOut, status_code=201,
             summary="Apply to a challenge with a team (an enterprise for itself; a broker for a university's or "
             "institute's team, or an enterprise it serves)")
def apply_to_challenge(challenge_id: str, body: ApplicationIn, store: Store,
                       audit: Audit, principal: Principal = Depends(APPLICANTS)
                       ) -> ApplicationOut:
    from bureau.challenges import ApplicationForm, FormErrors, parse_applicant, submit_application

    challenge = readable_challenge(store, principal, challenge_id)
    try:
        label, applicant_id = parse_applicant(body.applicant)
    except FormErrors as exc:
        raise ApiError(422, str(exc), "applicant") from None
    authorize(principal, Resource.CHALLENGE_APPLICATION, Act.CREATE,
              Target(enterprise_id=applicant_id if label == NodeLabel.ENTERPRISE.value else None))
    form = ApplicationForm(applicant=body.applicant, team_name=body.team_name, lead_id=body.lead_id,
                           members="\n".join(body.members), partner_id=body.partner_id or "", plan=body.plan,
                           budget_wan="" if body.budget_wan is None else str(body.budget_wan))
    try:
        app = submit_application(store, challenge, form, principal.user_id)
    except FormErrors as exc:
        raise ApiError(422, str(exc), exc.field) from None
    except ValidationError as exc:
        raise ApiError(409, str(exc), "status") from None
    audit.record(principal, "apply_challenge", NodeLabel.APPLICATION, app.id)
    return _out(app, principal)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=0, le=100)
    decision: Literal["shortlisted", "declined"]
    comment: str = Field("", max_length=1000)


@router.post("/{challenge_id}/applications/{application_id}/review", response_model=ApplicationOut,
             summary="Review an application: a score out of 100, the decision and an opinion (bureau)")
def review_application(challenge_id: str, application_id: str, body: ReviewIn,
                       store: Store, audit: Audit,
                       principal: Principal = Depends(REVIEWERS)) -> ApplicationOut:
    from bureau.challenges import review_application as review

    readable_challenge(store, principal, challenge_id)
    try:
        app = review(store, challenge_id, application_id, str(body.score), body.comment, body.decision,
                     principal.user_id)
    except (NotFoundError, ValidationError) as exc:
        raise _domain_error(exc) from None
    audit.record(principal, "review_application", NodeLabel.APPLICATION, app.id, app.status.value)
    return _out(app, principal)


class AwardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    application_id: str = Field(max_length=128)


@router.post("/{challenge_id}/award", response_model=Challenge,
             summary="Award the challenge to one application: its talents solve it (bureau)")
def award_challenge(challenge_id: str, body: AwardIn, store: Store,
                    audit: Audit, principal: Principal = Depends(BUREAU)) -> Challenge:
    from bureau.challenges import award

    readable_challenge(store, principal, challenge_id)
    try:
        updated, app = award(store, challenge_id, body.application_id)
    except NotFoundError:
        raise ApiError(404, "没有该揭榜申报", "application_id") from None
    except ValidationError as exc:
        raise ApiError(409, str(exc), exc.field) from None
    audit.record(principal, "award_challenge", NodeLabel.CHALLENGE, challenge_id, app.team_name)
    return updated

