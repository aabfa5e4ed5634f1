"""Matching endpoints: need → achievements, achievement → enterprises, enterprise → achievements, free
text → achievements, challenge → solver teams. Results come from the matcher engine; what a caller may see
of them is decided by the visibility policy through the :class:`~api.gate.NeedGate`: an enterprise surfaced
only through a need the caller may not read is shown desensitised, with a fresh random handle."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import WORKSPACE_ROLES, Principal, require_roles
from api.deps import Engine, Store
from api.errors import ERROR_RESPONSES
from api.gate import Gate, NeedGate
from api.observability import MATCH_SECONDS
from api.policy import Act, Resource, Target, authorize, roles_for
from api.services.matching import conflict_policy, match_text, solver_index
from graph.model import Challenge, Confidentiality, Need, NodeLabel
from matcher.results import MatchResult

router = APIRouter(prefix="/api", tags=["matching"], responses=ERROR_RESPONSES)
K = Query(10, ge=1, le=50, description="how many matches at most")
WEAK = Query(False, description="also list candidates under the confidence threshold (flagged by their "
             "confidence; ``is_gap`` is unchanged): for a broker who wants to look past a gap verdict")


class TextQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: str = Field(min_length=2, max_length=2000, description="a need or a technology, in Chinese")
    k: int = Field(10, ge=1, le=50)


def need_for_matches(gate: NeedGate, need_id: str) -> Need:
    """The need whose matches the caller asks for, under the role table (404 when it may not read it)."""
    need = gate.readable(need_id, audit=None)
    authorize(gate.viewer, Resource.NEED_MATCHES, Act.READ,
              Target(enterprise_id=need.enterprise_id, readable=True))
    if need.confidentiality != Confidentiality.PUBLIC:
        gate.audit.record(gate.viewer, "view_matches", NodeLabel.NEED, need_id, "full")
    return need


@router.get("/needs/{need_id}/matches", response_model=MatchResult, summary="Achievements for a need")
def need_matches(need_id: str, gate: Gate, k: int = K, include_weak: bool = WEAK,
                 *, engine: Engine,
                 principal: Principal = Depends(require_roles(*roles_for(Resource.NEED_MATCHES, Act.READ)))
                 ) -> MatchResult:
    need = need_for_matches(gate, need_id)
    with MATCH_SECONDS.labels("need_achievement").time():  # the need just read: the engine reads it no more
        return engine.match_need(need, k=k, include_weak=include_weak)


@router.get("/achievements/{achievement_id}/enterprises", response_model=MatchResult,
            summary="Enterprises that could absorb an achievement (broker, bureau)")
def achievement_matches(achievement_id: str, gate: Gate, k: int = K, include_weak: bool = WEAK,
                        *, store: Store, engine: Engine,
                        principal: Principal = Depends(
                            require_roles(*roles_for(Resource.ACHIEVEMENT_ENTERPRISES, Act.READ)))) -> MatchResult:
    store.require_node(NodeLabel.ACHIEVEMENT, achievement_id)
    with MATCH_SECONDS.labels("achievement_enterprise").time():
        result = engine.match_achievement(achievement_id, k=k, include_weak=include_weak)
    return gate.enterprise_matches(result)


@router.get("/enterprises/{enterprise_id}/achievements", response_model=MatchResult,
            summary="Achievements worth an enterprise's attention (the enterprise, its broker, the bureau)")
def enterprise_matches(enterprise_id: str, k: int = K, include_weak: bool = WEAK,
                       *, store: Store,
                       engine: Engine,
                       principal: Principal = Depends(WORKSPACE_ROLES)) -> MatchResult:
    authorize(principal, Resource.ENTERPRISE_RECOMMENDATIONS, Act.READ, Target(enterprise_id=enterprise_id))
    store.require_node(NodeLabel.ENTERPRISE, enterprise_id)
    with MATCH_SECONDS.labels("enterprise_achievement").time():
        return engine.match_enterprise(enterprise_id, k=k, include_weak=include_weak)


@router.post("/search", response_model=MatchResult, summary="Achievements for a free-text need or technology")
def search(body: TextQuery, engine: Engine,
           principal: Principal = Depends(require_roles(*roles_for(Resource.SEARCH, Act.READ)))) -> MatchResult:
    with MATCH_SECONDS.labels("search").time():
        return match_text(engine, body.text, body.k)


# --- challenge → solvers --------------------------------------------------------------------------

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


def rank_challenge_solvers(request: Request, challenge_id: str, k: int) -> SolverRankingOut:
    """The ranked individual solvers of a challenge (the teams: ``GET /api/challenges/{id}/teams``)."""
    from matcher.solvers.ranking import rank_solvers

    store = request.app.state.store
    challenge = store.require_node(NodeLabel.CHALLENGE, challenge_id)
    assert isinstance(challenge, Challenge)
    ranking = rank_solvers(store, challenge, k=k, index=solver_index(request.app.state),
                           policy=conflict_policy(request.app.state))
    return SolverRankingOut(challenge_id=challenge_id, solvers=[_solver_out(m) for m in ranking.matches],
                            removed=[_solver_out(m) for m in ranking.removed])


@router.get("/challenges/{challenge_id}/solvers", response_model=SolverRankingOut,
            summary="Solver candidates for a challenge, conflicts of interest removed (bureau)")
def challenge_solvers(request: Request, challenge_id: str, k: int = K,
                      principal: Principal = Depends(
                          require_roles(*roles_for(Resource.CHALLENGE_SOLVERS, Act.READ)))) -> SolverRankingOut:
    return rank_challenge_solvers(request, challenge_id, k)
