"""揭榜挂帅 challenges: the bureau drafts, publishes and edits them; every workspace role reads published ones."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query

from api.audit import AuditLog
from api.auth import Principal, Role, require_roles
from api.deps import Page, PageOut, ensure_storable, get_audit, get_store, page_params
from api.errors import ERROR_RESPONSES, ApiError
from api.policy import Act, Resource, Target, permits, roles_for
from graph.model import Challenge, ChallengeStatus, NodeLabel, Relation, RelType
from graph.store import GraphStore

router = APIRouter(prefix="/api/challenges", tags=["challenges"], responses=ERROR_RESPONSES)
BUREAU = require_roles(*roles_for(Resource.CHALLENGE, Act.CREATE))
READERS = require_roles(*roles_for(Resource.CHALLENGE, Act.READ))


class ChallengePage(PageOut):
    items: list[Challenge]


def visible_challenge(principal: Principal, challenge: Challenge) -> bool:
    return permits(principal, Resource.CHALLENGE, Act.READ,
                   Target(published=challenge.status != ChallengeStatus.DRAFT))


def _check_refs(store: GraphStore, body: Challenge) -> list[Relation]:
    rels = []
    if body.segment_id:
        if store.get_props(NodeLabel.CHAIN_SEGMENT, body.segment_id) is None:
            raise ApiError(422, f"no chain segment with id {body.segment_id!r}", "segment_id")
        rels.append(Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.CHALLENGE, source_id=body.id,
                             target_label=NodeLabel.CHAIN_SEGMENT, target_id=body.segment_id))
    if body.owner_id:
        for label in (NodeLabel.ENTERPRISE, NodeLabel.DEPARTMENT):
            if store.get_props(label, body.owner_id) is not None:
                rels.append(Relation(type=RelType.POSTED, source_label=label, source_id=body.owner_id,
                                     target_label=NodeLabel.CHALLENGE, target_id=body.id))
                break
        else:
            raise ApiError(422, f"no enterprise or department with id {body.owner_id!r}", "owner_id")
    return rels


@router.get("", response_model=ChallengePage, summary="List challenges (drafts only for the bureau)")
def list_challenges(
    page: Page = Depends(page_params),
    status: ChallengeStatus | None = None,
    q: str | None = Query(None, max_length=100),
    store: GraphStore = Depends(get_store),
    principal: Principal = Depends(READERS),
) -> ChallengePage:
    if status == ChallengeStatus.DRAFT and principal.role != Role.BUREAU:
        raise ApiError(403, "只有科技局可以查看草稿状态的榜单", "status")
    # drafts are filtered after the read, so read a little more than a page and page by hand
    rows = store.list_props(NodeLabel.CHALLENGE, where={"status": status}, text=q or None,
                            skip=0, limit=page.skip + page.page_size + 1 if principal.role == Role.BUREAU else 100_000)
    items = [c for c in (Challenge.from_props(r) for r in rows) if visible_challenge(principal, c)]  # type: ignore[arg-type]
    chunk = items[page.skip: page.skip + page.page_size]
    return ChallengePage(items=chunk, page=page.page, page_size=page.page_size,
                         has_more=len(items) > page.skip + page.page_size)


@router.get("/{challenge_id}", response_model=Challenge, summary="Read one challenge")
def get_challenge(challenge_id: str, store: GraphStore = Depends(get_store),
                  principal: Principal = Depends(READERS)) -> Challenge:
    challenge = store.require_node(NodeLabel.CHALLENGE, challenge_id)
    assert isinstance(challenge, Challenge)
    if not visible_challenge(principal, challenge):
        raise ApiError(404, f"没有 id 为 {challenge_id!r} 的揭榜挂帅榜单", "id")
    return challenge


@router.post("", response_model=Challenge, status_code=201, summary="Draft a challenge (bureau)")
def create_challenge(body: Challenge = Body(...), store: GraphStore = Depends(get_store),
                     audit: AuditLog = Depends(get_audit), principal: Principal = Depends(BUREAU)) -> Challenge:
    ensure_storable(body)
    rels = _check_refs(store, body)
    if store.get_props(NodeLabel.CHALLENGE, body.id) is not None:
        raise ApiError(409, f"Challenge with id {body.id!r} already exists", "id")
    store.write_batch([body], rels)
    audit.record(principal, "create_challenge", NodeLabel.CHALLENGE, body.id)
    return body


@router.put("/{challenge_id}", response_model=Challenge, summary="Replace a challenge (bureau)")
def update_challenge(challenge_id: str, body: Challenge = Body(...), store: GraphStore = Depends(get_store),
                     audit: AuditLog = Depends(get_audit), principal: Principal = Depends(BUREAU)) -> Challenge:
    if body.id != challenge_id:
        raise ApiError(422, f"the body's id {body.id!r} differs from the URL's {challenge_id!r}", "id")
    store.require_node(NodeLabel.CHALLENGE, challenge_id)
    ensure_storable(body)
    rels = _check_refs(store, body)
    store.update_node(body)
    store.upsert_relations(rels)
    audit.record(principal, "change_challenge", NodeLabel.CHALLENGE, body.id, body.status.value)
    return body


@router.delete("/{challenge_id}", status_code=204, summary="Delete a challenge (bureau)")
def delete_challenge(challenge_id: str, store: GraphStore = Depends(get_store),
                     audit: AuditLog = Depends(get_audit), principal: Principal = Depends(BUREAU)) -> None:
    store.delete_node(NodeLabel.CHALLENGE, challenge_id)
    audit.record(principal, "delete_challenge", NodeLabel.CHALLENGE, challenge_id)
