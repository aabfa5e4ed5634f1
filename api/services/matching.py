"""Matching a free text, and the app's solver index and 回避 rules: what the search route, the home page,
saved-search notifications and the challenge routes and pages share."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

from starlette.datastructures import State

from graph.model import Need
from matcher.results import MatchResult

if TYPE_CHECKING:
    from matcher.engine import MatchEngine
    from matcher.solvers.coi import ConflictPolicy
    from matcher.solvers.ranking import SolverIndex

_SOLVER_LOCK = threading.Lock()


def match_text(engine: MatchEngine, text: str, k: int) -> MatchResult:
    """Achievements for a free text, ranked as if it were a need (nothing is written).

    A bare text has no enterprise or chain segment behind it, so confidences run lower than for a posted
    need; weak candidates are listed too (with their confidence and ``is_gap`` set) because a search is
    exploration, not a recommendation."""
    probe = Need(id="query-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], name=text[:200],
                 description=text)
    return engine.match_need(probe, k=k, include_weak=True)


def solver_index(state: State) -> SolverIndex:
    """One solver index per app, opened on first use: the stored one of the data directory when the graph's works
    are those it was built from, else built and stored (:mod:`matcher.solvers.stored`). Its dense rows come from
    the vector store the engine fills, and it encodes challenges with the engine's encoder when the engine is up
    (one model in memory)."""
    from matcher.solvers.stored import solvers_root, stored_solver_index

    with _SOLVER_LOCK:
        index = getattr(state, "solver_index", None)
        if index is None:
            # the dense scorer only where an encoder is configured
            settings = state.settings
            scorer = "lexical" if settings.embedder == "none" else "combined"
            engine = state.engine_if_built() if hasattr(state, "engine_if_built") else None
            encoder = getattr(engine, "embedder", None) if scorer == "combined" else None
            index = stored_solver_index(state.store, scorer, solvers_root(settings.data_dir), settings=settings,
                                        encoder=encoder)
            state.solver_index = index
    return index


def conflict_policy(state: State) -> ConflictPolicy:
    """The 回避 rules the settings configure."""
    from matcher.solvers.coi import ConflictPolicy

    return ConflictPolicy.from_settings(state.settings)
