"""技术需求: enterprises post needs; everyone reads them through the access policy (full or desensitised),
and every view of a non-public need goes to the audit log."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.access import NeedView, Visibility, may_manage_need, need_visibility, view_need
from api.audit import AuditLog
from api.auth import WORKSPACE_ROLES, Principal, Role, require_roles
from api.deps import Page, PageOut, get_audit, get_store, page_params
from api.errors import ERROR_RESPONSES, ApiError
from graph.model import Confidentiality, CooperationMode, Maturity, Need, NeedStatus, NodeLabel, Relation, RelType
from graph.store import GraphStore

router = APIRouter(prefix="/api/needs", tags=["needs"], responses=ERROR_RESPONSES)
POSTERS = require_roles(Role.ENTERPRISE, Role.BROKER, Role.BUREAU)


class NeedIn(BaseModel):
    """A need as an enterprise (or its broker, or the bureau on its behalf) posts it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200, description="one line: what is needed")
    description: str = Field("", max_length=5000)
    enterprise_id: str | None = Field(
        None, max_length=128, description="the posting enterprise; enterprise users may leave it empty"
    )
    segment_ids: list[str] = Field([], max_length=10, description="ChainSegment ids the need belongs to")
    budget_wan: float | None = Field(None, ge=0, le=1e7)
    deadline: date | None = None
    cooperation_modes: list[CooperationMode] = Field([], max_length=6)
    min_maturity: Maturity | None = Field(
        None, description="the least maturity the enterprise will take (研发/小试/中试/样品/产业化); read from the "
        "text (中试以上) when absent"
    )
    confidentiality: Confidentiality = Confidentiality.PUBLIC
    sector: str = Field("", max_length=100)
    keywords: list[str] = Field([], max_length=20)


class NeedPatch(BaseModel):
    """Fields of a need that may be changed after posting; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    budget_wan: float | None = Field(None, ge=0, le=1e7)
    deadline: date | None = None
    cooperation_modes: list[CooperationMode] | None = Field(None, max_length=6)
    min_maturity: Maturity | None = None
    confidentiality: Confidentiality | None = None
    status: NeedStatus | None = None
    keywords: list[str] | None = Field(None, max_length=20)
    reveal_identity: bool | None = Field(None, description="the enterprise agrees to show its name and text")


class NeedPage(PageOut):
    items: list[NeedView]


def load_need(store: GraphStore, need_id: str) -> Need:
    node = store.require_node(NodeLabel.NEED, need_id)
    assert isinstance(node, Need)
    return node


def read_need(store: GraphStore, audit: AuditLog, principal: Principal, need: Need) -> NeedView:
    """The caller's view of a need, audited when the need is not public; 404 when hidden."""
    view = view_need(store, principal, need)
    if view is None:
        raise ApiError(404, f"no Need with id {need.id!r}", "id")
    if need.confidentiality != Confidentiality.PUBLIC:
        audit.record(principal, "view_need", NodeLabel.NEED, need.id,
                     "desensitised" if view.desensitised else "full")
    return view


def read_needs(store: GraphStore, audit: AuditLog, principal: Principal, needs: list[Need]) -> list[NeedView]:
    """The caller's views of several needs (hidden ones left out), their audit written in one transaction."""
    views = [v for v in (view_need(store, principal, n) for n in needs) if v is not None]
    audit.record_many(principal, "view_need", NodeLabel.NEED, [
        (v.id, "desensitised" if v.desensitised else "full") for v in views
        if v.confidentiality != Confidentiality.PUBLIC
    ])
    return views


def create_need(store: GraphStore, principal: Principal, body: NeedIn) -> Need:
    """Validate the poster's right to post for the enterprise and write the need with its edges at once."""
    enterprise_id = body.enterprise_id
    if principal.role == Role.ENTERPRISE:
        if enterprise_id and enterprise_id != principal.enterprise_id:
            raise ApiError(403, "an enterprise may post needs only for itself", "enterprise_id")
        enterprise_id = principal.enterprise_id
    if not enterprise_id:
        raise ApiError(422, "enterprise_id is required", "enterprise_id")
    if store.get_props(NodeLabel.ENTERPRISE, enterprise_id) is None:
        raise ApiError(422, f"no enterprise with id {enterprise_id!r}", "enterprise_id")
    if not principal.may_act_for(enterprise_id):
        raise ApiError(403, "you may post needs only for enterprises you look after", "enterprise_id")
    for i, seg in enumerate(body.segment_ids):
        if store.get_props(NodeLabel.CHAIN_SEGMENT, seg) is None:
            raise ApiError(422, f"no chain segment with id {seg!r}", f"segment_ids.{i}")
    need = Need(
        id=f"need-{uuid.uuid4().hex[:12]}",
        name=body.name,
        description=body.description,
        enterprise_id=enterprise_id,
        budget_wan=body.budget_wan,
        deadline=body.deadline,
        cooperation_modes=body.cooperation_modes,
        min_maturity=body.min_maturity,
        confidentiality=body.confidentiality,
        sector=body.sector,
        keywords=body.keywords,
        posted_on=datetime.now(UTC).date(),
    )
    rels = [Relation(type=RelType.POSTED, source_label=NodeLabel.ENTERPRISE, source_id=enterprise_id,
                     target_label=NodeLabel.NEED, target_id=need.id)]
    rels += [Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.NEED, source_id=need.id,
                      target_label=NodeLabel.CHAIN_SEGMENT, target_id=seg) for seg in body.segment_ids]
    store.write_batch([need], rels)
    return need


def reindex_need(request: Request, need: Need) -> None:
    """Bring the match engine up to date with a need just written (its text and its chain context)."""
    engine = request.app.state.engine_if_built()
    if engine is not None:
        engine.reindex_need(need)


def visible_needs(
    store: GraphStore, principal: Principal, page: Page, enterprise_id: str | None = None,
    status: NeedStatus | None = None, q: str | None = None,
) -> tuple[list[Need], bool]:
    """Needs the caller may see at all (in full or desensitised), one page of them."""
    if principal.role == Role.ADMIN:
        return [], False
    where = {"enterprise_id": enterprise_id, "status": status}
    rows = store.list_props(NodeLabel.NEED, where=where, text=q or None, skip=page.skip, limit=page.page_size + 1)
    needs = [Need.from_props(r) for r in rows]
    return needs[: page.page_size], len(needs) > page.page_size  # type: ignore[return-value]


@router.get("", response_model=NeedPage, summary="List needs visible to the caller")
def list_needs(
    page: Page = Depends(page_params),
    enterprise_id: str | None = Query(None, max_length=128),
    status: NeedStatus | None = None,
    mine: bool = Query(False, description="only needs of enterprises the caller acts for"),
    q: str | None = Query(None, max_length=100, description="name contains, or exact id"),
    store: GraphStore = Depends(get_store),
    audit: AuditLog = Depends(get_audit),
    principal: Principal = Depends(WORKSPACE_ROLES),
) -> NeedPage:
    if mine and principal.role == Role.ENTERPRISE:
        enterprise_id = principal.enterprise_id
    needs, more = visible_needs(store, principal, page, enterprise_id, status, q)
    if mine:
        needs = [n for n in needs if may_manage_need(principal, n)]
    if q:
        # a name search must not confirm what a hidden need is called
        needs = [n for n in needs if need_visibility(principal, n) == Visibility.FULL]
    items = read_needs(store, audit, principal, needs)
    return NeedPage(items=items, page=page.page, page_size=page.page_size, has_more=more)


@router.post("", response_model=NeedView, status_code=201, summary="Post a need")
def post_need(request: Request, body: NeedIn, store: GraphStore = Depends(get_store),
              audit: AuditLog = Depends(get_audit), principal: Principal = Depends(POSTERS)) -> NeedView:
    need = create_need(store, principal, body)
    reindex_need(request, need)
    audit.record(principal, "post_need", NodeLabel.NEED, need.id, need.confidentiality.value)
    return read_need(store, audit, principal, need)


@router.get("/{need_id}", response_model=NeedView, summary="Read one need (desensitised if not yours)")
def get_need(need_id: str, store: GraphStore = Depends(get_store), audit: AuditLog = Depends(get_audit),
             principal: Principal = Depends(WORKSPACE_ROLES)) -> NeedView:
    return read_need(store, audit, principal, load_need(store, need_id))


@router.patch("/{need_id}", response_model=NeedView, summary="Change a need you manage")
def patch_need(request: Request, need_id: str, body: NeedPatch, store: GraphStore = Depends(get_store),
               audit: AuditLog = Depends(get_audit), principal: Principal = Depends(POSTERS)) -> NeedView:
    need = load_need(store, need_id)
    if not may_manage_need(principal, need):
        raise ApiError(403, "you may change only needs of enterprises you act for")
    changes = body.model_dump(exclude_unset=True)
    if "reveal_identity" in changes and principal.role != Role.ENTERPRISE and principal.role != Role.BUREAU:
        raise ApiError(403, "only the enterprise itself agrees to reveal its identity", "reveal_identity")
    updated = Need.model_validate({**need.model_dump(), **{k: v for k, v in changes.items() if v is not None}})
    store.update_node(updated)
    reindex_need(request, updated)
    audit.record(principal, "change_need", NodeLabel.NEED, need_id, ",".join(sorted(changes)))
    return read_need(store, audit, principal, updated)


@router.delete("/{need_id}", status_code=204, summary="Withdraw a need you manage")
def delete_need(need_id: str, store: GraphStore = Depends(get_store), audit: AuditLog = Depends(get_audit),
                principal: Principal = Depends(POSTERS)) -> None:
    need = load_need(store, need_id)
    if not may_manage_need(principal, need):
        raise ApiError(403, "you may withdraw only needs of enterprises you act for")
    store.delete_node(NodeLabel.NEED, need_id)
    audit.record(principal, "delete_need", NodeLabel.NEED, need_id)
