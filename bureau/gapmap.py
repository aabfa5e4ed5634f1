"""The chain gap map: for every chain segment, demand (needs, challenges) against supply (achievements,
talents, platforms, enterprises able to absorb), the needs nothing answers, and the deals done.

Whether a need is unmet is a question for the matcher; the map takes it as a ``need_is_unmet`` callable so
it works with the matcher's engine (:func:`engine_need_is_unmet`), with the graph's own record of solved
needs (:func:`graph_need_is_unmet`) or with anything a test passes. Segments with much unmet demand,
absolutely and as a share, rank first as "卡脖子" candidates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graph.model import ChallengeStatus, NodeLabel
from graph.store import GraphStore

NeedIsUnmet = Callable[[str], bool]

#: challenges in these states have a solver; the rest still stand as unmet demand
_SETTLED_CHALLENGES = (
    ChallengeStatus.AWARDED.value, ChallengeStatus.IN_PROGRESS.value, ChallengeStatus.ACCEPTED.value,
)


@dataclass
class SegmentGap:
    segment_id: str
    segment_name: str
    chain_id: str
    chain_name: str
    position: str
    order: int
    needs: int = 0
    challenges: int = 0
    open_challenges: int = 0
    unmet_need_ids: list[str] = field(default_factory=list)
    achievements: int = 0
    talents: int = 0
    platforms: int = 0
    enterprises: int = 0  # enterprises in the segment able to absorb a technology
    deals: int = 0
    deal_amount_wan: float = 0.0

    @property
    def demand(self) -> int:
        return self.needs + self.challenges

    @property
    def unmet_needs(self) -> int:
        return len(self.unmet_need_ids)

    @property
    def unmet_demand(self) -> int:
        return self.unmet_needs + self.open_challenges

    @property
    def supply(self) -> int:
        return self.achievements + self.talents + self.platforms + self.enterprises

    @property
    def unmet_share(self) -> float:
        return self.unmet_demand / self.demand if self.demand else 0.0

    @property
    def score(self) -> float:
        """卡脖子 score: unmet demand weighted by how much of the segment's demand it is. Ten unmet needs out of
        ten outrank ten out of a hundred; one unmet need out of one stays small."""
        return round(self.unmet_demand * self.unmet_share, 4)

    def as_row(self) -> dict[str, Any]:
        return {
            "chain": self.chain_name, "segment": self.segment_name, "segment_id": self.segment_id,
            "position": self.position, "needs": self.needs, "challenges": self.challenges,
            "unmet_needs": self.unmet_needs, "open_challenges": self.open_challenges,
            "achievements": self.achievements, "talents": self.talents, "platforms": self.platforms,
            "enterprises": self.enterprises, "deals": self.deals, "deal_amount_wan": self.deal_amount_wan,
            "unmet_share": round(self.unmet_share, 3), "score": self.score,
        }


@dataclass
class ChainGap:
    chain_id: str
    name: str
    priority: bool
    segments: list[SegmentGap]
    upstream_of: list[tuple[str, str]]

    @property
    def unmet_demand(self) -> int:
        return sum(s.unmet_demand for s in self.segments)


@dataclass
class GapMap:
    chains: list[ChainGap]

    @property
    def segments(self) -> list[SegmentGap]:
        return [s for c in self.chains for s in c.segments]

    def ranked(self, limit: int | None = None, min_score: float = 0.0) -> list[SegmentGap]:
        """卡脖子 candidates: segments by score, ties broken by thinner supply."""
        ranked = sorted(
            (s for s in self.segments if s.score > min_score),
            key=lambda s: (-s.score, s.supply, s.segment_id),
        )
        return ranked[:limit] if limit else ranked

    def segment(self, segment_id: str) -> SegmentGap:
        for s in self.segments:
            if s.segment_id == segment_id:
                return s
        raise KeyError(segment_id)

    def unmet_need_ids(self, chain_id: str | None = None) -> list[str]:
        return [n for c in self.chains if chain_id in (None, c.chain_id) for s in c.segments for n in s.unmet_need_ids]


def graph_need_is_unmet(store: GraphStore) -> NeedIsUnmet:
    """Without the matcher: a need is unmet while it is open and no achievement SOLVES it."""
    rows = store.read(
        "MATCH (n:Need) OPTIONAL MATCH (a:Achievement)-[:SOLVES]->(n) "
        "WITH n, count(a) AS solved RETURN n.id AS id, n.status AS status, solved"
    )
    unmet = {r["id"] for r in rows if (r["status"] or "open") == "open" and not r["solved"]}
    return unmet.__contains__


def engine_need_is_unmet(engine: Any, **match_kwargs: Any) -> NeedIsUnmet:
    """Ask the matcher: a need is unmet when no candidate reaches the confidence threshold (``is_gap``)."""
    cache: dict[str, bool] = {}

    def unmet(need_id: str) -> bool:
        if need_id not in cache:
            cache[need_id] = bool(engine.match_need(need_id, **match_kwargs).is_gap)
        return cache[need_id]

    return unmet


def _members(store: GraphStore, label: NodeLabel) -> dict[str, list[dict[str, Any]]]:
    lbl = NodeLabel(label).value  # a closed enum member, never input
    # only what the map reads (a count, a status, what says an enterprise can absorb): not every property of
    # every achievement, which at a province's size is most of the view's time
    rows = store.read(
        f"MATCH (x:{lbl})-[:IN_SEGMENT]->(s:ChainSegment) RETURN s.id AS seg, x.id AS id, x.status AS status, "
        "x.high_tech AS high_tech, x.tech_sme AS tech_sme, x.size AS size"
    )
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["seg"]].append({k: r[k] for k in ("id", "status", "high_tech", "tech_sme", "size")})
    return out


def build_gap_map(
    store: GraphStore, need_is_unmet: NeedIsUnmet | None = None, chain_ids: Iterable[str] | None = None
) -> GapMap:
    """The gap map of every chain (or of ``chain_ids``); ``need_is_unmet`` defaults to the graph's record."""
    unmet = need_is_unmet or graph_need_is_unmet(store)
    wanted = set(chain_ids) if chain_ids is not None else None
    needs = _members(store, NodeLabel.NEED)
    challenges = _members(store, NodeLabel.CHALLENGE)
    achievements = _members(store, NodeLabel.ACHIEVEMENT)
    platforms = _members(store, NodeLabel.PLATFORM)
    enterprises = _members(store, NodeLabel.ENTERPRISE)
    talents: dict[str, set[str]] = defaultdict(set)
    # A segment's talents: those placed in it, and the inventors of its achievements.
    for query in (
        "MATCH (t:Talent)-[:IN_SEGMENT]->(s:ChainSegment) RETURN s.id AS seg, t.id AS t",
        "MATCH (t:Talent)-[:INVENTED]->(:Achievement)-[:IN_SEGMENT]->(s:ChainSegment) RETURN s.id AS seg, t.id AS t",
    ):
        for r in store.read(query):
            talents[r["seg"]].add(r["t"])
    hosts = {r["id"] for r in store.read("MATCH (e:Enterprise)-[:HOSTS]->(:Platform) RETURN DISTINCT e.id AS id")}
    deals: dict[str, tuple[int, float]] = {}
    for r in store.read(
        "MATCH (a:Achievement)-[:IN_SEGMENT]->(s:ChainSegment) MATCH (a)-[d:TRANSFERRED_TO]->(:Enterprise) "
        "RETURN s.id AS seg, count(d) AS n, sum(coalesce(d.amount_wan, d.amount, 0)) AS amount"
    ):
        deals[r["seg"]] = (int(r["n"]), float(r["amount"] or 0))

    chains: list[ChainGap] = []
    for chain in store.chain_topology():
        if wanted is not None and chain["id"] not in wanted:
            continue
        segs = []
        for s in chain["segments"]:
            sid = s["id"]
            seg_needs = needs.get(sid, [])
            seg_chal = challenges.get(sid, [])
            gap = SegmentGap(
                segment_id=sid,
                segment_name=s["name"],
                chain_id=chain["id"],
                chain_name=chain["name"],
                position=s.get("position") or "",
                order=int(s.get("order") or 0),
                needs=len(seg_needs),
                challenges=len(seg_chal),
                open_challenges=sum(1 for c in seg_chal if c.get("status") not in _SETTLED_CHALLENGES),
                unmet_need_ids=sorted(n["id"] for n in seg_needs if unmet(n["id"])),
                achievements=len(achievements.get(sid, [])),
                talents=len(talents.get(sid, ())),
                platforms=len(platforms.get(sid, [])),
                enterprises=sum(1 for e in enterprises.get(sid, []) if _can_absorb(e, hosts)),
                deals=deals.get(sid, (0, 0.0))[0],
                deal_amount_wan=deals.get(sid, (0, 0.0))[1],
            )
            segs.append(gap)
        segs.sort(key=lambda g: (g.order, g.segment_id))
        chains.append(
            ChainGap(
                chain_id=chain["id"],
                name=chain["name"],
                priority=bool(chain.get("priority")),
                segments=segs,
                upstream_of=[(e["source"], e["target"]) for e in chain["upstream_of"]],
            )
        )
    chains.sort(key=lambda c: (not c.priority, c.chain_id))  # the plan's leading chains first
    return GapMap(chains=chains)


def _can_absorb(enterprise: dict[str, Any], hosts: set[str]) -> bool:
    """An enterprise can take up a technology if it is recognised as innovative, is not small, or runs a platform."""
    return bool(
        enterprise.get("high_tech")
        or enterprise.get("tech_sme")
        or enterprise.get("size") in ("大型", "中型")
        or enterprise.get("id") in hosts
    )
