"""Matching endpoints: need → achievements, achievement → enterprises, enterprise → achievements, free
text → achievements, challenge → solver teams. Results come from the matcher engine unchanged, except
that an enterprise surfaced only through a need the caller may not read is shown desensitised."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.access import Visibility, may_see_matches, need_visibility
from api.audit import AuditLog
from api.auth import WORKSPACE_ROLES, Principal, Role, require_roles
from api.deps import get_audit, get_engine, get_store
from api.errors import ERROR_RESPONSES, ApiError
from api.routes.needs import load_need
from graph.model import Challenge, Confidentiality, Need, NodeLabel
from graph.store import GraphStore
from matcher.results import Explanation, Match, MatchResult

router = APIRouter(prefix="/api", tags=["matching"], responses=ERROR_RESPONSES)
K = Query(10, ge=1, le=50, description="how many matches at most")
WEAK = Query(False, description="also list candidates under the confidence threshold (flagged by their "
             "confidence; ``is_gap`` is unchanged): for a broker who wants to look past a gap verdict")
HIDDEN_NAME = "（未公开的企业）"


class TextQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: str = Field(min_length=2, max_length=2000, description="a need or a technology, in Chinese")
    k: int = Field(10, ge=1, le=50)


def desensitise(match: Match) -> Match:
    """The match without anything naming the enterprise: chain segments and shared terms stay."""
    opaque = "hidden-" + hashlib.sha1(match.candidate_id.encode("utf-8")).hexdigest()[:10]
    terms = match.explanation.shared_terms
    sentence = "同属" + "、".join(s.name for s in match.explanation.chain_path) if match.explanation.chain_path else ""
    if terms:
        sentence += ("；" if sentence else "") + "共有关键词 " + "/".join(terms[:5])
    return match.model_copy(update={
        "candidate_id": opaque, "name": HIDDEN_NAME, "via": [], "features": {}, "contributions": {},
        "explanation": Explanation(shared_terms=terms, chain_path=match.explanation.chain_path,
                                   chain_relation=match.explanation.chain_relation, sentence=sentence),
    })


def _hidden_needs(store: GraphStore, principal: Principal, need_ids: list[str]) -> set[str]:
    hidden = set()
    for nid in need_ids:
        node = store.get_node(NodeLabel.NEED, nid)
        if isinstance(node, Need) and need_visibility(principal, node) != Visibility.FULL:
            hidden.add(nid)
    return hidden


def guard_enterprise_matches(store: GraphStore, audit: AuditLog, principal: Principal,
                             result: MatchResult) -> MatchResult:
    """Desensitise enterprises that surfaced through needs the caller may not read."""
    out = []
    for m in result.matches:
        via_needs = [v for v in m.via if store.find_label(v) == NodeLabel.NEED.value]
        hidden = _hidden_needs(store, principal, via_needs) if via_needs else set()
        if hidden and not principal.may_act_for(m.candidate_id):
            for nid in sorted(hidden):
                audit.record(principal, "view_need", NodeLabel.NEED, nid, "desensitised match")
            out.append(desensitise(m))
        else:
            out.append(m)
    return result.model_copy(update={"matches": out})


@router.get("/needs/{need_id}/matches", response_model=MatchResult, summary="Achievements for a need")
def need_matches(need_id: str, k: int = K, include_weak: bool = WEAK, store: GraphStore = Depends(get_store),
                 audit: AuditLog = Depends(get_audit), engine: Any = Depends(get_engine),
                 principal: Principal = Depends(WORKSPACE_ROLES)) -> MatchResult:
    need = load_need(store, need_id)
    if not may_see_matches(principal, need):
        raise ApiError(403, "you may see matches only of needs you work on")
    if need.confidentiality != Confidentiality.PUBLIC:
        audit.record(principal, "view_matches", NodeLabel.NEED, need_id)
    return engine.match_need(need_id, k=k, include_weak=include_weak)


@router.get("/achievements/{achievement_id}/enterprises", response_model=MatchResult,
            summary="Enterprises that could absorb an achievement (broker, bureau)")
def achievement_matches(achievement_id: str, k: int = K, include_weak: bool = WEAK,
                        store: GraphStore = Depends(get_store),
                        audit: AuditLog = Depends(get_audit), engine: Any = Depends(get_engine),
                        principal: Principal = Depends(require_roles(Role.BROKER, Role.BUREAU))) -> MatchResult:
    store.require_node(NodeLabel.ACHIEVEMENT, achievement_id)
    result = engine.match_achievement(achievement_id, k=k, include_weak=include_weak)
    return guard_enterprise_matches(store, audit, principal, result)


@router.get("/enterprises/{enterprise_id}/achievements", response_model=MatchResult,
            summary="Achievements worth an enterprise's attention (the enterprise, its broker, the bureau)")
def enterprise_matches(enterprise_id: str, k: int = K, include_weak: bool = WEAK,
                       store: GraphStore = Depends(get_store),
                       engine: Any = Depends(get_engine),
                       principal: Principal = Depends(WORKSPACE_ROLES)) -> MatchResult:
    store.require_node(NodeLabel.ENTERPRISE, enterprise_id)
    if not principal.may_act_for(enterprise_id):
        raise ApiError(403, "you may see recommendations only for enterprises you act for")
    return engine.match_enterprise(enterprise_id, k=k, include_weak=include_weak)


def match_text(engine: Any, text: str, k: int) -> MatchResult:
    """Achievements for a free text, ranked as if it were a need (nothing is written).

    A bare text has no enterprise or chain segment behind it, so confidences run lower than for a posted
    need; weak candidates are listed too (with their confidence and ``is_gap`` set) because a search is
    exploration, not a recommendation."""
    probe = Need(id="query-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], name=text[:200],
                 description=text)
    return engine.match_need(probe, k=k, include_weak=True)


@router.post("/search", response_model=MatchResult, summary="Achievements for a free-text need or technology")
def search(body: TextQuery, engine: Any = Depends(get_engine),
           principal: Principal = Depends(WORKSPACE_ROLES)) -> MatchResult:
    return match_text(engine, body.text, body.k)


# --- challenge → solvers --------------------------------------------------------------------------

_SOLVER_LOCK = threading.Lock()


def solver_index(request: Request) -> Any:
    """One solver index per app, built on first use (it reads every work in the graph)."""
    from matcher.solvers.ranking import SolverIndex

    with _SOLVER_LOCK:
        index = getattr(request.app.state, "solver_index", None)
        if index is None:
            # the dense scorer only where an encoder is configured; build_channels reads the global settings
            scorer = "lexical" if request.app.state.settings.embedder == "none" else "combined"
            index = SolverIndex.build(request.app.state.store, scorer=scorer)
            request.app.state.solver_index = index
    return index


class SolverOut(BaseModel):
    id: str
    label: str
    name: str
    score: float
    explanation: str
    conflicts: list[str] = []


class SolverRankingOut(BaseModel):
    challenge_id: str
    solvers: list[SolverOut]
    removed: list[SolverOut]


def _solver_out(m: Any) -> SolverOut:
    return SolverOut(id=m.solver.id, label=str(m.solver.label), name=m.name, score=float(m.score),
                     explanation=m.explanation, conflicts=[c.reason for c in m.conflicts])


@router.get("/challenges/{challenge_id}/solvers", response_model=SolverRankingOut,
            summary="Solver candidates for a challenge, conflicts of interest removed (bureau)")
def challenge_solvers(request: Request, challenge_id: str, k: int = K, store: GraphStore = Depends(get_store),
                      principal: Principal = Depends(require_roles(Role.BUREAU))) -> SolverRankingOut:
    from matcher.solvers.ranking import rank_solvers

    challenge = store.require_node(NodeLabel.CHALLENGE, challenge_id)
    assert isinstance(challenge, Challenge)
    ranking = rank_solvers(store, challenge, k=k, index=solver_index(request))
    return SolverRankingOut(challenge_id=challenge_id, solvers=[_solver_out(m) for m in ranking.matches],
                            removed=[_solver_out(m) for m in ranking.removed])
