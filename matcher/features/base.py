"""Graph features of a (supply, demand) pair: what the graph knows beyond the two texts.

Supply is an achievement; demand is a party that could absorb it (a need, with the enterprise that posted it,
or an enterprise on its own). :class:`GraphContext` loads the facts the feature families read from the graph
in a handful of bulk queries (segments, chain order, owners, inventors, collaborations, earlier deals,
regions), so scoring a few hundred candidates never issues one query per candidate. The graph stays the
source of truth: the context is reloaded from it by the engine's index upkeep, persisted beside the indexes
(:meth:`GraphContext.to_dict`) so a restart serves at once, and never changed in place once readers see it
(:meth:`GraphContext.evolve` copies what an edit touches).

Every feature family is a module with one class implementing :class:`FeatureFamily`; values are in [0, 1]
(0.5 = unknown where a preference applies) so contributions are comparable.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import numpy as np

from graph.model import MATURITY_ORDER, Maturity, NodeLabel, RelType
from graph.store import GraphStore

L, R = NodeLabel, RelType


@dataclass(slots=True)
class SupplyInfo:
    id: str
    name: str = ""
    maturity: int | None = None  # index in MATURITY_ORDER
    cooperation: frozenset[str] = frozenset()
    price_wan: float | None = None
    region: str | None = None
    owners: dict[str, str] = field(default_factory=dict)  # org/talent id -> name
    inventors: dict[str, str] = field(default_factory=dict)
    segments: set[str] = field(default_factory=set)


@dataclass
class Demand:
    """The absorbing side of a pair: a need and/or an enterprise, with what is known about them."""

    need_id: str | None = None
    enterprise_ids: list[str] = field(default_factory=list)
    segments: set[str] = field(default_factory=set)
    region: str | None = None
    budget_wan: float | None = None
    cooperation: frozenset[str] = frozenset()
    #: the least maturity the demand accepts, as ``MATURITY_ORDER`` rank (None: not stated)
    min_maturity: int | None = None


@dataclass
class Segment:
    id: str
    name: str
    chain_id: str
    position: str = ""
    order: int = 0


@dataclass
class GraphContext:
    supply: dict[str, SupplyInfo] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    chain_names: dict[str, str] = field(default_factory=dict)
    downstream: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # seg -> segs it feeds
    upstream: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # seg -> segs feeding it
    collaborators: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    affiliations: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # talent -> orgs
    deals_into: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # enterprise -> achievement ids
    names: dict[str, str] = field(default_factory=dict)  # any node id -> display name
    labels: dict[str, str] = field(default_factory=dict)
    enterprise_region: dict[str, str] = field(default_factory=dict)
    enterprise_segments: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    need_segments: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    need_enterprise: dict[str, str] = field(default_factory=dict)
    enterprise_needs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def load(cls, store: GraphStore) -> GraphContext:
        """Everything the feature families read, in a few bulk reads."""
        ctx = cls()
        for row in store.read(
            "MATCH (s:ChainSegment) RETURN s.id AS id, s.name AS name, s.chain_id AS chain, "
            "s.position AS position, s.order AS ord"
        ):
            ctx.segments[row["id"]] = Segment(row["id"], row["name"] or row["id"], row["chain"] or "",
                                              row["position"] or "", int(row["ord"] or 0))
            ctx.names[row["id"]], ctx.labels[row["id"]] = row["name"] or row["id"], L.CHAIN_SEGMENT.value
        for row in store.read("MATCH (c:IndustryChain) RETURN c.id AS id, c.name AS name"):
            ctx.chain_names[row["id"]] = row["name"] or row["id"]
        for row in store.read("MATCH (a:ChainSegment)-[:UPSTREAM_OF]->(b:ChainSegment) RETURN a.id AS a, b.id AS b"):
            ctx.downstream[row["a"]].add(row["b"])
            ctx.upstream[row["b"]].add(row["a"])
        for row in store.read(
            "MATCH (a:Achievement) RETURN a.id AS id, a.name AS name, a.maturity AS maturity, "
            "a.cooperation_modes AS coop, a.price_wan AS price, a.region AS region"
        ):
            ctx.supply[row["id"]] = supply_info(row)
            ctx.names[row["id"]], ctx.labels[row["id"]] = row["name"] or row["id"], L.ACHIEVEMENT.value
        for label in (L.INSTITUTION, L.ENTERPRISE, L.TALENT):
            lbl = label.value
            for row in store.read(
                f"MATCH (o:{lbl})-[r]->(a:Achievement) WHERE type(r) IN $types "
                "RETURN o.id AS o, o.name AS name, a.id AS a, type(r) AS t",
                types=[R.OWNS.value, R.INVENTED.value],
            ):
                info = ctx.supply.get(row["a"])
                if info is None:
                    continue
                target = info.inventors if row["t"] == R.INVENTED.value else info.owners
                target[row["o"]] = row["name"] or row["o"]
                ctx.names[row["o"]], ctx.labels[row["o"]] = row["name"] or row["o"], lbl
        for row in store.read(
            "MATCH (t:Talent)-[:AFFILIATED_WITH]->(o) RETURN t.id AS t, o.id AS o, o.name AS name, labels(o)[0] AS l"
        ):
            ctx.affiliations[row["t"]].add(row["o"])
            ctx.names[row["o"]], ctx.labels[row["o"]] = row["name"] or row["o"], row["l"]
        for row in store.read("MATCH (a)-[:COLLABORATED_WITH]-(b) RETURN DISTINCT a.id AS a, b.id AS b"):
            ctx.collaborators[row["a"]].add(row["b"])
        for row in store.read("MATCH (a:Achievement)-[:TRANSFERRED_TO]->(e:Enterprise) RETURN a.id AS a, e.id AS e"):
            ctx.deals_into[row["e"]].add(row["a"])
        for row in store.read("MATCH (e:Enterprise) RETURN e.id AS id, e.name AS name, e.region AS region"):
            ctx.names[row["id"]], ctx.labels[row["id"]] = row["name"] or row["id"], L.ENTERPRISE.value
            if row["region"]:
                ctx.enterprise_region[row["id"]] = row["region"]
        for row in store.read("MATCH (e:Enterprise)-[:LOCATED_IN]->(r:Region) RETURN e.id AS e, r.id AS r"):
            ctx.enterprise_region.setdefault(row["e"], row["r"])
        in_segment: tuple[tuple[NodeLabel, dict[str, set[str]] | None], ...] = (
            (L.ACHIEVEMENT, None), (L.ENTERPRISE, ctx.enterprise_segments), (L.NEED, ctx.need_segments))
        for label, into in in_segment:
            lbl = label.value
            for row in store.read(f"MATCH (x:{lbl})-[:IN_SEGMENT]->(s:ChainSegment) RETURN x.id AS x, s.id AS s"):
                if into is None:
                    if row["x"] in ctx.supply:
                        ctx.supply[row["x"]].segments.add(row["s"])
                else:
                    into[row["x"]].add(row["s"])
        for row in store.read("MATCH (n:Need) RETURN n.id AS id, n.enterprise_id AS e, n.name AS name"):
            ctx.names[row["id"]], ctx.labels[row["id"]] = row["name"] or row["id"], L.NEED.value
            if row["e"]:
                ctx.need_enterprise[row["id"]] = row["e"]
        for row in store.read("MATCH (e:Enterprise)-[:POSTED]->(n:Need) RETURN e.id AS e, n.id AS n"):
            ctx.need_enterprise.setdefault(row["n"], row["e"])
        for need, ent in ctx.need_enterprise.items():
            ctx.enterprise_needs[ent].add(need)
        return ctx

    def load_need(self, store: GraphStore, need_id: str) -> None:
        """Re-read one need's segments and posting enterprise: a need posted or edited after :meth:`load`."""
        segments = {r["s"] for r in store.read(
            "MATCH (:Need {id: $id})-[:IN_SEGMENT]->(s:ChainSegment) RETURN s.id AS s", id=need_id)}
        if segments:
            self.need_segments[need_id] = segments
        else:
            self.need_segments.pop(need_id, None)
        rows = store.read("MATCH (e:Enterprise)-[:POSTED]->(:Need {id: $id}) RETURN e.id AS e", id=need_id)
        enterprise = rows[0]["e"] if rows else None
        old = self.need_enterprise.get(need_id)
        if old and old != enterprise:
            self.enterprise_needs[old].discard(need_id)
        if enterprise:
            self.need_enterprise[need_id] = enterprise
            self.enterprise_needs[enterprise].add(need_id)

    # -- persistence and copy-on-write ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (sets as sorted lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "supply":
                out[f.name] = [[s.id, s.name, s.maturity, sorted(s.cooperation), s.price_wan, s.region, s.owners,
                                s.inventors, sorted(s.segments)] for s in value.values()]
            elif f.name == "segments":
                out[f.name] = [[s.id, s.name, s.chain_id, s.position, s.order] for s in value.values()]
            else:
                out[f.name] = {k: sorted(v) if isinstance(v, set) else v for k, v in value.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphContext:
        ctx = cls()
        for f in fields(ctx):
            value = data.get(f.name)
            if value is None:
                continue
            if f.name == "supply":
                ctx.supply = {r[0]: SupplyInfo(r[0], r[1], r[2], frozenset(r[3]), r[4], r[5], dict(r[6]), dict(r[7]),
                                               set(r[8])) for r in value}
            elif f.name == "segments":
                ctx.segments = {r[0]: Segment(*r) for r in value}
            else:
                target = getattr(ctx, f.name)
                for k, v in value.items():
                    target[k] = set(v) if isinstance(v, list) else v
        return ctx

    def evolve(self, *names: str) -> GraphContext:
        """A shallow copy whose ``names`` containers (and their set values) are copies: an edit changes those in
        the copy while readers keep using this one."""
        out = copy.copy(self)
        for name in names:
            value = getattr(self, name)
            if isinstance(value, defaultdict):
                dup: dict = defaultdict(value.default_factory)
                dup.update({k: set(v) if isinstance(v, set) else v for k, v in value.items()})
            else:
                dup = dict(value)
            setattr(out, name, dup)
        return out

    def orgs_behind(self, achievement_id: str) -> dict[str, str]:
        """Owners, inventors and the inventors' institutions of an achievement (id -> name)."""
        info = self.supply.get(achievement_id)
        if info is None:
            return {}
        out = dict(info.owners)
        out.update(info.inventors)
        for talent in info.inventors:
            for org in self.affiliations.get(talent, ()):
                out[org] = self.names.get(org, org)
        return out


def supply_info(row: dict) -> SupplyInfo:
    maturity = row.get("maturity")
    order = None
    if maturity:
        try:
            order = MATURITY_ORDER[Maturity(maturity)]
        except ValueError:
            order = None
    price = row.get("price")
    return SupplyInfo(
        id=row["id"],
        name=row.get("name") or row["id"],
        maturity=order,
        cooperation=frozenset(row.get("coop") or []),
        price_wan=float(price) if price is not None else None,
        region=row.get("region"),
    )


class FeatureFamily(Protocol):
    """One family of pair features (chain position, earlier collaboration, region, fit ...)."""

    @property
    def name(self) -> str: ...

    @property
    def features(self) -> tuple[str, ...]: ...

    def compute(self, ctx: GraphContext, demand: Demand, supply_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Each feature's value for every supply id, in [0, 1]."""
