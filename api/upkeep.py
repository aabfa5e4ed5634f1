"""What follows a change of the data, in one place: the matcher's indexes, the needs' standing matches
(:mod:`matcher.standing`) and the notifications (:mod:`api.notifications`).

A need posted or edited is brought up to date at once (its page and the broker's queue show it on the next
view); achievements added or changed are followed up in the background (:class:`api.jobs.JobRunner`): the
needs they might answer are re-ranked and whoever waits for such an achievement is told, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from api.jobs import JobRunner
from api.notifications import Notifier
from graph.model import Achievement, Need, NodeLabel
from graph.store import GraphStore
from matcher.standing import StandingMatches

log = logging.getLogger(__name__)
_SEGMENTS_OF = (
    f"MATCH (x)-[:IN_SEGMENT]->(s:{NodeLabel.CHAIN_SEGMENT.value}) WHERE x.id IN $ids RETURN x.id AS id, s.id AS seg"
)
STALE_BATCH = 200


class Upkeep:
    """Keeps derived state current after writes; ``engine_if_built`` never triggers an index build."""

    def __init__(self, store: GraphStore, jobs: JobRunner, notifier: Notifier,
                 engine_if_built: Callable[[], Any | None]) -> None:
        self.store, self.jobs, self.notifier, self._engine = store, jobs, notifier, engine_if_built

    def standing(self) -> StandingMatches | None:
        engine = self._engine()
        return StandingMatches(self.store, engine) if engine is not None else None

    def _segments(self, ids: Sequence[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for r in self.store.read(_SEGMENTS_OF, ids=list(ids)):
            out.setdefault(r["id"], set()).add(r["seg"])
        return out

    def recalibrate(self) -> None:
        """Refit the confidence on the brokers' verdicts and deals, in the background (matcher.recalibration)."""
        engine = self._engine()
        if engine is None or not hasattr(engine, "recalibrate"):
            return

        def run() -> None:
            found = engine.recalibrate()
            log.info("recalibration: %s", found.line())

        self.jobs.submit("recalibrate", run)

    # -- needs -------------------------------------------------------------------------------------
    def after_need(self, need: Need, posted: bool = False) -> None:
        """A need written through the service: index, standing, and (when new) the brokers told."""
        engine = self._engine()
        if engine is not None:
            engine.reindex_need(need)
            standing = StandingMatches(self.store, engine)
            standing.refresh([need.id])
        if posted:
            self.notifier.new_need(need)
            self.notifier.new_need_in_segments(need, self._segments([need.id]).get(need.id, set()))

    def after_need_removed(self, need_id: str) -> None:
        engine = self._engine()
        if engine is not None:
            engine.remove_need(need_id)
        standing = self.standing()
        if standing is not None:
            standing.drop_orphans()

    # -- achievements ------------------------------------------------------------------------------
    def after_achievements(self, achievements: Sequence[Achievement]) -> None:
        """Achievements written through the service: indexed now; needs re-ranked and people told later."""
        if not achievements:
            return
        engine = self._engine()
        if engine is not None:
            engine.index_achievements(list(achievements))
        self.jobs.submit("achievements-followup", lambda: self._follow_up(list(achievements)))

    def _follow_up(self, achievements: list[Achievement]) -> None:
        engine = self._engine()
        if engine is None:
            return
        fits = StandingMatches(self.store, engine).after_achievements(achievements)
        self.notifier.new_fits(fits)
        self.notifier.new_achievements(achievements, engine, self._segments([a.id for a in achievements]))

    # -- bulk loads and start-up -------------------------------------------------------------------
    def after_load(self) -> None:
        """A file was loaded: bring the engine up to date with the graph, then follow up what changed."""
        self.jobs.submit("load-followup", self._after_load)

    def _after_load(self) -> None:
        engine = self._engine()
        if engine is None:
            return
        before = dict(engine.achievement_hashes())
        engine.sync()
        changed = [i for i, h in engine.achievement_hashes().items() if before.get(i) != h]
        if changed:
            rows = self.store.read(f"MATCH (a:{NodeLabel.ACHIEVEMENT.value}) WHERE a.id IN $ids "
                                   "RETURN properties(a) AS p", ids=changed)
            achs = [a for a in (Achievement.from_props(r["p"]) for r in rows) if isinstance(a, Achievement)]
            self._follow_up(achs)
        self.refresh_stale()

    def refresh_stale(self) -> int:
        """Standings missing or made by another engine, recomputed in batches (start-up, after loads)."""
        standing = self.standing()
        if standing is None:
            return 0
        stale = standing.stale()
        for start in range(0, len(stale), STALE_BATCH):
            standing.refresh(stale[start : start + STALE_BATCH])
        standing.drop_orphans()
        if stale:
            log.info("refreshed %d need standings", len(stale))
        return len(stale)
