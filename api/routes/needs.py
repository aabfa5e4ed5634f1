"""技术需求: enterprises post needs; everyone reads them through the visibility policy (:mod:`api.policy`,
applied by :class:`api.gate.NeedGate`): in full, desensitised or not at all. Every full view of a non-public
need goes to the audit log. Who may change what is the role table's: lowering a need's confidentiality or
revealing its enterprise is for the enterprise itself."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import WORKSPACE_ROLES, Principal, require_roles
from api.deps import Audit, PageOut, PageParams, Store
from api.errors import ERROR_RESPONSES
from api.gate import Gate
from api.policy import Act, AnyNeedView, NeedView, Resource, Target, authorize, roles_for
from api.services.needs import Keyword, NeedIn, after_need, change_need, create_need
from graph.model import Confidentiality, CooperationMode, Maturity, NeedStatus, NodeLabel

router = APIRouter(prefix="/api/needs", tags=["needs"], responses=ERROR_RESPONSES)
POSTERS = require_roles(*roles_for(Resource.NEED, Act.CREATE))


class NeedPatch(BaseModel):
    """Fields of a need that may be changed after posting; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    budget_wan: float | None = Field(None, ge=0, le=1e7)
    deadline: date | None = None
    cooperation_modes: list[CooperationMode] | None = Field(None, max_length=6)
    min_maturity: Maturity | None = None
    confidentiality: Confidentiality | None = Field(
        None, description="raising it is for whoever manages the need; lowering it only for the enterprise itself")
    status: NeedStatus | None = None
    keywords: list[Keyword] | None = Field(None, max_length=20)
    reveal_identity: bool | None = Field(None, description="the enterprise itself agrees to show its name and text")
    contact_name: str | None = Field(None, max_length=50)
    contact_phone: str | None = Field(None, max_length=30, pattern=r"^[0-9+\-() 转]*$")
    region: str | None = Field(None, max_length=40)


class NeedPage(PageOut):
    items: list[AnyNeedView]


@router.get("", response_model=NeedPage, summary="List needs visible to the caller")
def list_needs(
    gate: Gate,
    page: PageParams,
    enterprise_id: str | None = Query(None, max_length=128, description="only needs of this enterprise that "
                                      "you may read in full"),
    status: NeedStatus | None = None,
    mine: bool = Query(False, description="only needs of enterprises the caller acts for"),
    q: str | None = Query(None, max_length=100, description="name contains, or exact id (needs you read in full)"),
    principal: Principal = Depends(WORKSPACE_ROLES),
) -> NeedPage:
    needs, more = gate.page(page.skip, page.page_size, enterprise_id=enterprise_id, status=status, text=q,
                            mine=mine)
    return NeedPage(items=gate.views(needs), page=page.page, page_size=page.page_size, has_more=more)


@router.post("", response_model=NeedView, status_code=201, summary="Post a need")
def post_need(request: Request, body: NeedIn, gate: Gate, store: Store,
              audit: Audit, principal: Principal = Depends(POSTERS)) -> NeedView:
    need = create_need(store, principal, body)
    after_need(request.app.state, need, posted=True)
    audit.record(principal, "post_need", NodeLabel.NEED, need.id, need.confidentiality.value)
    return gate.view(need)


@router.get("/{need_id}", response_model=NeedView, summary="Read one need you may read in full (else 404)")
def get_need(need_id: str, gate: Gate, principal: Principal = Depends(WORKSPACE_ROLES)) -> NeedView:
    return gate.view(gate.readable(need_id, with_context=True))


@router.patch("/{need_id}", response_model=NeedView, summary="Change a need you manage")
def patch_need(request: Request, need_id: str, body: NeedPatch, gate: Gate, audit: Audit,
               principal: Principal = Depends(POSTERS)) -> NeedView:
    changes = body.model_dump(exclude_unset=True)
    updated = change_need(gate, need_id, changes)
    after_need(request.app.state, updated)
    audit.record(principal, "change_need", NodeLabel.NEED, need_id, ",".join(sorted(changes)))
    return gate.view(updated)


@router.delete("/{need_id}", status_code=204, summary="Withdraw a need you manage")
def delete_need(request: Request, need_id: str, gate: Gate, audit: Audit,
                principal: Principal = Depends(POSTERS)) -> None:
    need = gate.readable(need_id, audit=None)
    authorize(principal, Resource.NEED, Act.DELETE, Target(enterprise_id=need.enterprise_id))
    gate.store.delete_node(NodeLabel.NEED, need_id)
    request.app.state.upkeep.after_need_removed(need_id)
    audit.record(principal, "delete_need", NodeLabel.NEED, need_id)
