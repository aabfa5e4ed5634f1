"""The access policy in one place: who may read a need in full, who sees it desensitised, who not at all.

- public needs: every workspace role reads them in full;
- brokers-only needs: brokers and the bureau read them; other enterprises see the desensitised view;
- private needs: the posting enterprise, its assigned broker and the bureau read them; everyone else sees
  only the desensitised view (chain segment and key terms, no name, no text) until the enterprise sets
  ``reveal_identity``.
Admins manage keys and users and see no needs at all.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel

from api.auth import Principal, Role
from graph.model import Confidentiality, Need, NeedStatus, NodeLabel, RelType
from graph.store import GraphStore


class Visibility(StrEnum):
    FULL = "full"
    DESENSITISED = "desensitised"
    HIDDEN = "hidden"


def need_visibility(principal: Principal, need: Need) -> Visibility:
    """What ``principal`` may see of ``need``."""
    if principal.role == Role.ADMIN:
        return Visibility.HIDDEN
    if principal.role == Role.BUREAU or principal.may_act_for(need.enterprise_id):
        return Visibility.FULL
    if need.confidentiality == Confidentiality.PUBLIC or need.reveal_identity:
        return Visibility.FULL
    if need.confidentiality == Confidentiality.BROKERS and principal.role == Role.BROKER:
        return Visibility.FULL
    return Visibility.DESENSITISED


def may_manage_need(principal: Principal, need: Need) -> bool:
    """Whether the caller may edit the need, see its matches and give verdicts on them."""
    return principal.role == Role.BUREAU or principal.may_act_for(need.enterprise_id)


def may_see_matches(principal: Principal, need: Need) -> bool:
    """Matches of a need are for the people working on it, and for brokers on needs they may read."""
    if may_manage_need(principal, need):
        return True
    return principal.role == Role.BROKER and need_visibility(principal, need) == Visibility.FULL


class NeedView(BaseModel):
    """A need as one caller may see it; desensitised views carry no name, text or enterprise."""

    id: str
    desensitised: bool
    confidentiality: Confidentiality
    status: NeedStatus
    segments: list[str] = []
    key_terms: list[str] = []
    name: str | None = None
    description: str | None = None
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    budget_wan: float | None = None
    deadline: date | None = None
    posted_on: date | None = None
    sector: str = ""
    reveal_identity: bool = False
    can_manage: bool = False


_SEGMENTS = (
    f"MATCH (n:{NodeLabel.NEED.value} {{id: $id}})-[:{RelType.IN_SEGMENT.value}]->"
    f"(s:{NodeLabel.CHAIN_SEGMENT.value}) RETURN s.name AS name ORDER BY s.order"
)


def key_terms(need: Need, enterprise_name: str | None, limit: int = 6) -> list[str]:
    """The need's own keywords, else the top terms of its text; never a part of the enterprise name."""
    terms = list(need.keywords)
    if not terms:
        import jieba.analyse  # loaded lazily: the dictionary takes a second

        terms = jieba.analyse.extract_tags(need.text, topK=limit * 2)
    banned = enterprise_name or ""
    out: list[str] = []
    for term in terms:
        if len(term) < 2 or (banned and (term in banned or banned in term)) or term in out:
            continue
        out.append(term)
    return out[:limit]


def view_need(store: GraphStore, principal: Principal, need: Need) -> NeedView | None:
    """The caller's view of ``need``; None when it must not be shown at all."""
    visibility = need_visibility(principal, need)
    if visibility == Visibility.HIDDEN:
        return None
    segments = [r["name"] for r in store.read(_SEGMENTS, id=need.id)]
    ent_name = None
    if need.enterprise_id:
        props = store.get_props(NodeLabel.ENTERPRISE, need.enterprise_id)
        ent_name = props.get("name") if props else None
    base = {
        "id": need.id,
        "confidentiality": need.confidentiality,
        "status": need.status,
        "segments": segments,
        "key_terms": key_terms(need, ent_name),
        "budget_wan": need.budget_wan,
        "deadline": need.deadline,
        "posted_on": need.posted_on,
        "sector": need.sector,
        "reveal_identity": need.reveal_identity,
    }
    if visibility == Visibility.DESENSITISED:
        return NeedView(desensitised=True, **base)
    return NeedView(
        desensitised=False, name=need.name, description=need.description, enterprise_id=need.enterprise_id,
        enterprise_name=ent_name, can_manage=may_manage_need(principal, need), **base,
    )
