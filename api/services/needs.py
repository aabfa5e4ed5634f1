"""Posting and changing a need, and what follows either: the checks of the role table, the write with its
edges, and bringing the matcher, the need's standing matches and its brokers up to date. The JSON routes
(``api/routes/needs.py``) and the pages (``api/routes/web.py``) both post and change needs through these."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.datastructures import State

from api.auth import Principal, Role
from api.deps import ensure_storable
from api.errors import ApiError
from api.gate import NeedGate
from api.policy import Act, Resource, Target, authorize, permits
from graph.model import (
    Confidentiality,
    CooperationMode,
    Maturity,
    Need,
    NodeLabel,
    Relation,
    RelType,
)
from graph.store import GraphStore

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
SegmentId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
#: confidentiality from most open to most closed: a change towards the start lowers it
_OPENNESS = [Confidentiality.PUBLIC, Confidentiality.BROKERS, Confidentiality.PRIVATE]


class NeedIn(BaseModel):
    """A need as an enterprise (or its broker, or the bureau on its behalf) posts it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200, description="one line: what is needed")
    description: str = Field("", max_length=5000)
    enterprise_id: str | None = Field(
        None, max_length=128, description="the posting enterprise; enterprise users may leave it empty"
    )
    segment_ids: list[SegmentId] = Field([], max_length=10, description="ChainSegment ids the need belongs to")
    budget_wan: float | None = Field(None, ge=0, le=1e7)
    deadline: date | None = None
    cooperation_modes: list[CooperationMode] = Field([], max_length=6)
    min_maturity: Maturity | None = Field(
        None, description="the least maturity the enterprise will take (研发/小试/中试/样品/产业化); read from the "
        "text (中试以上) when absent"
    )
    confidentiality: Confidentiality = Confidentiality.PUBLIC
    sector: str = Field("", max_length=100)
    keywords: list[Keyword] = Field([], max_length=20)
    contact_name: str = Field("", max_length=50, description="联系人")
    contact_phone: str = Field("", max_length=30, pattern=r"^[0-9+\-() 转]*$")
    region: str | None = Field(None, max_length=40, description="所在县区")


def lowers_confidentiality(before: Confidentiality, after: Confidentiality) -> bool:
    return _OPENNESS.index(after) < _OPENNESS.index(before)


def create_need(store: GraphStore, principal: Principal, body: NeedIn) -> Need:
    """Check the poster's right to post for the enterprise and write the need with its edges at once."""
    enterprise_id = body.enterprise_id
    if principal.role == Role.ENTERPRISE:
        if enterprise_id and enterprise_id != principal.enterprise_id:
            raise ApiError(403, "企业只能为本企业发布需求", "enterprise_id")
        enterprise_id = principal.enterprise_id
    if not enterprise_id:
        raise ApiError(422, "请指定发布需求的企业（enterprise_id）", "enterprise_id")
    if not permits(principal, Resource.NEED, Act.CREATE, Target(enterprise_id=enterprise_id)):
        raise ApiError(403, "你只能为所服务的企业发布需求", "enterprise_id")
    if store.get_props(NodeLabel.ENTERPRISE, enterprise_id) is None:
        raise ApiError(422, f"没有 id 为 {enterprise_id!r} 的企业", "enterprise_id")
    for i, seg in enumerate(body.segment_ids):
        if store.get_props(NodeLabel.CHAIN_SEGMENT, seg) is None:
            raise ApiError(422, f"没有 id 为 {seg!r} 的产业链环节", f"segment_ids.{i}")
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
        contact_name=body.contact_name,
        contact_phone=body.contact_phone,
        region=body.region,
    )
    ensure_storable(need)
    rels = [Relation(type=RelType.POSTED, source_label=NodeLabel.ENTERPRISE, source_id=enterprise_id,
                     target_label=NodeLabel.NEED, target_id=need.id)]
    rels += [Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.NEED, source_id=need.id,
                      target_label=NodeLabel.CHAIN_SEGMENT, target_id=seg, props={"method": "confirmed"})
             for seg in body.segment_ids]
    store.write_batch([need], rels)
    return need


def change_need(gate: NeedGate, need_id: str, changes: dict[str, object]) -> Need:
    """Apply ``changes`` to a need the caller manages, under the role table; returns the updated need."""
    need = gate.readable(need_id, audit=None)
    principal, target = gate.viewer, Target(enterprise_id=need.enterprise_id)
    authorize(principal, Resource.NEED, Act.UPDATE, target)
    new_conf = changes.get("confidentiality")
    if isinstance(new_conf, Confidentiality) and lowers_confidentiality(need.confidentiality, new_conf):
        authorize(principal, Resource.NEED, Act.LOWER_CONFIDENTIALITY, target)
    if changes.get("reveal_identity") is not None and bool(changes["reveal_identity"]) != need.reveal_identity:
        authorize(principal, Resource.NEED, Act.REVEAL_IDENTITY, target)
    updated = Need.model_validate({**need.model_dump(), **{k: v for k, v in changes.items() if v is not None}})
    ensure_storable(updated)
    gate.store.update_node(updated)
    return updated


def after_need(state: State, need: Need, posted: bool = False) -> None:
    """Bring the matcher, the need's standing matches and (for a new need) its brokers up to date."""
    state.upkeep.after_need(need, posted=posted)
