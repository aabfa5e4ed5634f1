"""Each need's matches as last computed, kept in the graph (``NeedStanding`` nodes) and kept current.

Bureau views (gap map, topics, the Excel report), a broker's work queue and the notifications read these
instead of asking the matcher about every need on every view: a view costs a read, not a full-corpus query
per need. They are refreshed incrementally:

- a need posted or edited: its own standing (:meth:`StandingMatches.refresh`);
- achievements added or changed: the needs whose text is closest to them, found through the needs index
  (:meth:`StandingMatches.after_achievements`), not every need;
- an engine with other channels or another confidence curve (``engine_version``): every standing is stale
  and refreshed by a background job (:meth:`StandingMatches.stale`).

A refresh reports the achievements that newly reached the confidence threshold for a need
(:class:`NewFit`), which is what the notifications announce — once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from graph.model import Achievement, NeedStanding, NodeLabel
from graph.store import GraphStore

log = logging.getLogger(__name__)

#: achievements kept per need (above and under the threshold, best first)
KEEP = 10
#: needs looked at per changed achievement (the closest texts in the needs index)
NEEDS_PER_ACHIEVEMENT = 20
_STANDINGS = (
    f"MATCH (s:{NodeLabel.NEED_STANDING.value}) WHERE $ids IS NULL OR s.id IN $ids RETURN properties(s) AS p"
)
_NEED_IDS = f"MATCH (n:{NodeLabel.NEED.value}) RETURN n.id AS id"
# every need's id as one list: a row per need costs the driver more than the graph (30,000 needs: 1.0 s vs 0.2 s)
_ALL_NEED_IDS = f"MATCH (n:{NodeLabel.NEED.value}) RETURN collect(n.id) AS ids"
_VERSIONS = f"MATCH (s:{NodeLabel.NEED_STANDING.value}) RETURN s.id AS id, s.engine_version AS v"
# what a gap map needs of every standing: its verdict and whether it is current (not the matches themselves)
_VERDICTS = (  # one list of [id, version, verdict] triples, as above (a missing value stays a null in its triple)
    f"MATCH (s:{NodeLabel.NEED_STANDING.value}) RETURN collect([s.id, s.engine_version, s.is_gap]) AS rows"
)
_DROP_ORPHANS = (
    f"MATCH (s:{NodeLabel.NEED_STANDING.value}) WHERE NOT EXISTS {{ MATCH (n:{NodeLabel.NEED.value} {{id: s.id}}) }} "
    "DELETE s"
)


@dataclass(frozen=True)
class NewFit:
    """An achievement that now reaches the confidence threshold for a need and did not before."""

    need_id: str
    achievement_id: str
    confidence: float


@dataclass(frozen=True)
class Verdicts:
    """Every need's stored gap verdict, read in one small query (no matches), and which needs' standings are
    missing or from another engine."""

    gaps: dict[str, bool]
    stale: list[str]
    missing: list[str]
    needs: int

    def unmet(self) -> Callable[[str], bool]:
        """``need_id -> is it a gap`` (a need without a standing counts as unmet, as in :func:`stored_unmet`)."""
        return lambda need_id: self.gaps.get(need_id, True)


@dataclass(frozen=True)
class RefreshProgress:
    """How far a batch refresh of standings has come (for a progress line)."""

    done: int
    total: int
    seconds: float

    def line(self) -> str:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return (f"需求匹配结果：已计算 {self.done:,} / {self.total:,}（{rate:.1f} 个/秒，"
                f"约剩 {left:.0f} 秒；Ctrl-C 可中断，已算好的会保留）")


def engine_version(engine: Any) -> str:
    """What the standings were computed with: the channels that answered (the lexical ones alone while the
    dense rows are being computed, whose results carry no gap verdict: such standings are stale once the dense
    channels answer) and the confidence threshold."""
    snapshot = getattr(engine, "achievements", None)
    channels = getattr(snapshot, "answering", None) or engine.channel_names
    raw = "|".join([*channels, f"{engine.gap_threshold:.6f}"])
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:12]


class StandingMatches:
    """Reads and refreshes ``NeedStanding`` nodes (see the module docstring)."""

    def __init__(self, store: GraphStore, engine: Any, keep: int = KEEP) -> None:
        self.store, self.engine, self.keep = store, engine, keep

    @property
    def version(self) -> str:
        return engine_version(self.engine)

    # -- reads -------------------------------------------------------------------------------------
    def read(self, need_ids: Iterable[str] | None = None) -> dict[str, NeedStanding]:
        ids = sorted(set(need_ids)) if need_ids is not None else None
        rows = self.store.read(_STANDINGS, ids=ids)
        out = {}
        for r in rows:
            node = NeedStanding.from_props(r["p"])
            assert isinstance(node, NeedStanding)
            out[node.id] = node
        return out

    def verdicts(self) -> Verdicts:
        """Each need's stored gap verdict and the stale standings: two small reads, whatever the matches."""
        version = self.version
        have = {i: (v, g) for r in self.store.read(_VERDICTS) for i, v, g in r["rows"]}
        needs = sorted(i for r in self.store.read(_ALL_NEED_IDS) for i in r["ids"])
        return Verdicts(
            gaps={n: bool(g) for n, (_, g) in have.items()},
            stale=[n for n in needs if n not in have or have[n][0] != version],
            missing=[n for n in needs if n not in have],
            needs=len(needs),
        )

    def unmet(self) -> Callable[[str], bool]:
        """``need_id -> is it a gap`` from the standings (bureau.gapmap's ``NeedIsUnmet``): one read of every
        standing's verdict; the needs without one yet are computed first, together, as one batch (never one
        full match per view and need)."""
        verdicts = self.verdicts()
        if verdicts.missing:
            log.info("computing %d missing need standings", len(verdicts.missing))
            self.refresh(verdicts.missing)
            verdicts.gaps.update({k: v.is_gap for k, v in self.read(verdicts.missing).items()})
        return verdicts.unmet()

    def missing(self) -> list[str]:
        """Needs without any standing."""
        have = {r["id"] for r in self.store.read(_VERSIONS)}
        return sorted(r["id"] for r in self.store.read(_NEED_IDS) if r["id"] not in have)

    def stale(self) -> list[str]:
        """Needs without a standing, or with one from another engine."""
        return self.verdicts().stale

    # -- writes ------------------------------------------------------------------------------------
    def refresh(self, need_ids: Sequence[str], announce: Iterable[str] = (), batch: int = 100,
                per_need: bool = False) -> list[NewFit]:
        """Recompute the standings of ``need_ids``; returns which of the ``announce`` achievements (those that
        just arrived or changed) newly reached the threshold for one of them. Each batch of needs is matched
        together (:meth:`MatchEngine.match_needs`: the same results as one :meth:`MatchEngine.match_need` each)
        and written in one transaction; ``per_need``: one ``match_need`` each (the earlier path, for comparison)."""
        changed = set(announce)
        fits: list[NewFit] = []
        version = self.version
        ids = list(dict.fromkeys(need_ids))
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            before = self.read(chunk) if changed else {}  # what was above the threshold: only to announce
            now = datetime.now(UTC)
            results = self._one_by_one(chunk) if per_need else self._together(chunk)
            fresh: list[NeedStanding] = []
            for need_id, result in results.items():
                standing = NeedStanding(
                    id=need_id, achievement_ids=[m.candidate_id for m in result.matches],
                    confidences=[round(float(m.confidence), 6) for m in result.matches],
                    threshold=float(result.threshold), best_confidence=float(result.best_confidence),
                    is_gap=bool(result.is_gap), engine_version=version, refreshed_at=now,
                )
                fresh.append(standing)
                fits.extend(f for f in _new_fits(before.get(need_id), standing) if f.achievement_id in changed)
            if fresh:
                self.store.upsert_nodes(fresh, batch_size=len(fresh))
        return fits

    def _together(self, need_ids: Sequence[str]) -> dict[str, Any]:
        try:
            results = self.engine.match_needs(need_ids, k=self.keep, include_weak=True)
        except Exception as exc:  # one unreadable need: the batch need by need, so that only that one is skipped
            log.warning("standings matched one by one: %s", exc)
            return self._one_by_one(need_ids)
        for need_id in need_ids:
            if need_id not in results:
                log.warning("standing of %s not refreshed: no such need (deleted meanwhile?)", need_id)
        return results

    def _one_by_one(self, need_ids: Sequence[str]) -> dict[str, Any]:
        results = {}
        for need_id in need_ids:
            try:
                results[need_id] = self.engine.match_need(need_id, k=self.keep, include_weak=True, explain=False)
            except Exception as exc:  # a need deleted meanwhile, or unreadable: skip it, say so
                log.warning("standing of %s not refreshed: %s", need_id, exc)
        return results

    def refresh_batch(self, need_ids: Sequence[str], progress: Callable[[RefreshProgress], None] | None = None,
                      batch: int = 200, per_need: bool = False) -> int:
        """Recompute many standings (a bureau refresh, a start-up catching up): written batch by batch, so an
        interruption (Ctrl-C between or inside batches) keeps every batch already written and the next run
        computes only what is still stale. Returns how many were computed."""
        ids = list(dict.fromkeys(need_ids))
        started = time.perf_counter()
        for start in range(0, len(ids), batch):
            self.refresh(ids[start : start + batch], batch=batch, per_need=per_need)
            if progress is not None:
                progress(RefreshProgress(min(start + batch, len(ids)), len(ids), time.perf_counter() - started))
        return len(ids)

    def needs_near(self, achievements: Sequence[Achievement], per: int = NEEDS_PER_ACHIEVEMENT) -> list[str]:
        """The needs whose text is closest to each achievement's (through the needs index)."""
        index = self.engine.needs
        if not len(index):
            return []
        found: list[str] = []
        from matcher.documents import achievement_text

        for ach in achievements:
            fused = index.query(achievement_text(ach), self.engine.fusion_for).fused
            top = np.argsort(-fused)[:per]
            found.extend(index.doc_ids[i] for i in top)
        return list(dict.fromkeys(found))

    def after_achievements(self, achievements: Sequence[Achievement]) -> list[NewFit]:
        """Refresh the needs the changed achievements could answer; which of them newly fit which need."""
        return self.refresh(self.needs_near(achievements), announce=[a.id for a in achievements])

    def drop_orphans(self) -> None:
        """Standings of needs that no longer exist."""
        self.store.write(_DROP_ORPHANS)


def stored_unmet(standings: dict[str, NeedStanding]) -> Callable[[str], bool]:
    """``need_id -> is it a gap`` from standings already read (no engine); a need without one counts as unmet."""

    def unmet(need_id: str) -> bool:
        found = standings.get(need_id)
        return found.is_gap if found is not None else True

    return unmet


def _new_fits(before: NeedStanding | None, after: NeedStanding) -> list[NewFit]:
    def above(s: NeedStanding | None) -> set[str]:
        if s is None:
            return set()
        return {a for a, c in zip(s.achievement_ids, s.confidences, strict=False) if c >= s.threshold}

    known = above(before)
    return [NewFit(after.id, a, c) for a, c in zip(after.achievement_ids, after.confidences, strict=False)
            if c >= after.threshold and a not in known]
