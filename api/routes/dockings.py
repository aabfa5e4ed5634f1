"""对接 through the API: open a docking for an accepted match, record contacts and notes, move it on, sign the
contract or abandon it; and each caller's notifications and subscriptions. Same service and rules as the
pages (:mod:`api.docking`, the role table's ``Resource.DOCKING`` and ``Resource.INBOX``)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, require_roles
from api.deps import Store
from api.docking import Contract, DockingService
from api.errors import ERROR_RESPONSES, ApiError
from api.gate import Gate
from api.policy import Act, Resource, authorize, roles_for
from api.services.subscriptions import own_subscription, subscriptions_of
from graph.model import (
    AbandonReason,
    ContactChannel,
    ContractType,
    Docking,
    DockingEvent,
    DockingStage,
    NodeLabel,
    Notification,
    Subscription,
)

router = APIRouter(prefix="/api", tags=["docking"], responses=ERROR_RESPONSES)
DOCKERS = require_roles(*roles_for(Resource.DOCKING, Act.READ))
INBOX = require_roles(*roles_for(Resource.INBOX, Act.READ))
SUBSCRIBERS = require_roles(*roles_for(Resource.INBOX, Act.CREATE))


def docking_service(request: Request) -> DockingService:
    s = request.app.state
    return DockingService(s.store, s.audit, s.notifier, s.engine_if_built(), getattr(s, "upkeep", None))


Service = Annotated[DockingService, Depends(docking_service)]


class DockingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    need_id: str = Field(min_length=1, max_length=128)
    achievement_id: str = Field(min_length=1, max_length=128)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    who: str = Field(min_length=1, max_length=100, description="the person at the achievement's side")
    channel: ContactChannel
    note: str = Field("", max_length=2000)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    note: str = Field(min_length=1, max_length=2000)


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: DockingStage


class AbandonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: AbandonReason
    note: str = Field("", max_length=1000)


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    contract_type: ContractType
    amount_wan: float = Field(ge=0, le=1e8)
    signed_on: date
    contract_no: str = Field(min_length=1, max_length=60)
    tech_amount_wan: float | None = Field(None, ge=0, le=1e8)
    registration_no: str = Field("", max_length=60)
    registered_on: date | None = None


class DockingOut(BaseModel):
    docking: Docking
    events: list[DockingEvent]


def _out(service: DockingService, docking: Docking) -> DockingOut:
    return DockingOut(docking=docking, events=service.events(docking))


@router.get("/dockings", response_model=list[Docking], summary="Dockings of the enterprises you act for")
def list_dockings(service: Service, stage: DockingStage | None = None,
                  principal: Principal = Depends(DOCKERS)) -> list[Docking]:
    return service.board(principal, stages=[stage] if stage else None, limit=500)


@router.post("/dockings", response_model=DockingOut, status_code=201, summary="Open a docking for a match")
def open_docking(body: DockingIn, gate: Gate, service: Service,
                 principal: Principal = Depends(require_roles(*roles_for(Resource.DOCKING, Act.CREATE)))
                 ) -> DockingOut:
    need = gate.readable(body.need_id, audit=None)
    return _out(service, service.open(principal, need, body.achievement_id))


@router.get("/dockings/{docking_id}", response_model=DockingOut, summary="One docking with its steps")
def get_docking(docking_id: str, service: Service, principal: Principal = Depends(DOCKERS)) -> DockingOut:
    return _out(service, service.get(principal, docking_id))


@router.post("/dockings/{docking_id}/contacts", response_model=DockingOut, summary="Record a contact")
def add_contact(docking_id: str, body: ContactIn, service: Service, principal: Principal = Depends(DOCKERS)
                ) -> DockingOut:
    docking = service.get(principal, docking_id)
    return _out(service, service.record_contact(principal, docking, body.who, body.channel, body.note))


@router.post("/dockings/{docking_id}/notes", response_model=DockingOut, summary="Record negotiation notes")
def add_note(docking_id: str, body: NoteIn, service: Service, principal: Principal = Depends(DOCKERS)) -> DockingOut:
    return _out(service, service.add_note(principal, service.get(principal, docking_id), body.note))


@router.post("/dockings/{docking_id}/stage", response_model=DockingOut, summary="Move a docking on")
def move_docking(docking_id: str, body: StageIn, service: Service, principal: Principal = Depends(DOCKERS)
                 ) -> DockingOut:
    if body.stage in (DockingStage.SIGNED, DockingStage.ABANDONED):
        raise ApiError(422, "签约与终止请用各自的接口（/contract、/abandon）", "stage")
    return _out(service, service.advance(principal, service.get(principal, docking_id), body.stage))


@router.post("/dockings/{docking_id}/abandon", response_model=DockingOut, summary="End a docking without a contract")
def abandon_docking(docking_id: str, body: AbandonIn, service: Service, principal: Principal = Depends(DOCKERS)
                    ) -> DockingOut:
    return _out(service, service.abandon(principal, service.get(principal, docking_id), body.reason, body.note))


@router.post("/dockings/{docking_id}/contract", response_model=DockingOut,
             summary="Record the signed contract (writes the deal the plan's targets count)")
def sign_docking(docking_id: str, body: ContractIn, service: Service, principal: Principal = Depends(DOCKERS)
                 ) -> DockingOut:
    contract = Contract(**body.model_dump())
    return _out(service, service.sign(principal, service.get(principal, docking_id), contract))


# --- notifications and subscriptions --------------------------------------------------------------

class NotificationPage(BaseModel):
    items: list[Notification]
    unread: int


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] | None = Field(None, max_length=500, description="None: all")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: str = Field(pattern="^(search|segment)$")
    query: str = Field("", max_length=200)
    segment_id: str | None = Field(None, max_length=128)


@router.get("/notifications", response_model=NotificationPage, summary="Your inbox, newest first")
def notifications(request: Request, unread: bool = False, page: int = Query(1, ge=1, le=10_000),
                  principal: Principal = Depends(INBOX)) -> NotificationPage:
    notifier = request.app.state.notifier
    return NotificationPage(items=notifier.inbox(principal, unread_only=unread, skip=(page - 1) * 50, limit=50),
                            unread=notifier.unread(principal))


@router.post("/notifications/read", summary="Mark notifications as read")
def read_notifications(request: Request, body: ReadIn, principal: Principal = Depends(INBOX)) -> dict[str, int]:
    return {"marked": request.app.state.notifier.mark_read(principal, body.ids)}


@router.get("/subscriptions", response_model=list[Subscription], summary="Your saved searches and subscriptions")
def list_subscriptions(store: Store, principal: Principal = Depends(SUBSCRIBERS)) -> list[Subscription]:
    return subscriptions_of(store, principal.user_id)


@router.post("/subscriptions", response_model=Subscription, status_code=201, summary="Save a search or subscribe")
def create_subscription(body: SubscriptionIn, store: Store,
                        principal: Principal = Depends(SUBSCRIBERS)) -> Subscription:
    authorize(principal, Resource.INBOX, Act.CREATE)
    if body.kind == "search" and len(body.query) < 2:
        raise ApiError(422, "保存的搜索至少 2 个字", "query")
    if body.kind == "segment" and (not body.segment_id
                                   or store.get_props(NodeLabel.CHAIN_SEGMENT, body.segment_id) is None):
        raise ApiError(422, "没有该产业链环节", "segment_id")
    sub = Subscription(id=f"sub-{uuid.uuid4().hex[:12]}", user_id=principal.user_id, kind=body.kind,
                       query=body.query if body.kind == "search" else "",
                       segment_id=body.segment_id if body.kind == "segment" else None, created_at=datetime.now(UTC))
    store.create_node(sub)
    return sub


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Remove one of your subscriptions")
def delete_subscription(subscription_id: str, store: Store, principal: Principal = Depends(SUBSCRIBERS)) -> None:
    if own_subscription(store, principal.user_id, subscription_id) is None:
        raise ApiError(404, "没有该订阅", "subscription_id")
    store.delete_node(NodeLabel.SUBSCRIPTION, subscription_id)


@router.post("/needs/{need_id}/escalate", status_code=204, summary="Submit an unmet need to the bureau (提交科技局)")
def escalate_need(need_id: str, gate: Gate, principal: Principal = Depends(
        require_roles(*roles_for(Resource.NEED, Act.ESCALATE)))) -> None:
    from api.policy import Target

    need = gate.readable(need_id, audit=None)
    authorize(principal, Resource.NEED, Act.ESCALATE, Target(enterprise_id=need.enterprise_id))
    if need.escalated_on is None:
        gate.store.update_node(need.model_copy(update={"escalated_on": datetime.now(UTC).date()}))
        gate.audit.record(principal, "escalate_need", NodeLabel.NEED, need_id)
