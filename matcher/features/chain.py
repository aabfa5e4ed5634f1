"""Chain position features: is the achievement in the demand's chain segment, one step up or down the same
chain (it supplies the demand's segment, or the demand supplies it), or only in the same chain?"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.features.base import Demand, GraphContext


def chain_relation(ctx: GraphContext, supply_segs: set[str], demand_segs: set[str]) -> tuple[str, list[str]]:
    """The closest chain relation between two sets of segments and the segment ids that show it."""
    if not supply_segs or not demand_segs:
        return "", []
    same = sorted(supply_segs & demand_segs)
    if same:
        return "same_segment", [same[0]]
    for s in sorted(supply_segs):
        for d in sorted(demand_segs):
            if d in ctx.downstream.get(s, ()):
                return "upstream", [s, d]  # the achievement's segment feeds the demand's
            if s in ctx.downstream.get(d, ()):
                return "downstream", [d, s]
    chains = {ctx.segments[s].chain_id for s in supply_segs if s in ctx.segments}
    for d in sorted(demand_segs):
        if d in ctx.segments and ctx.segments[d].chain_id in chains:
            s = next(x for x in sorted(supply_segs) if x in ctx.segments and ctx.segments[x].chain_id in chains)
            return "same_chain", [s, d]
    return "", []


class ChainFeatures:
    name = "chain"
    features = ("chain_same_segment", "chain_adjacent", "chain_same_chain")

    def compute(self, ctx: GraphContext, demand: Demand, supply_ids: Sequence[str]) -> dict[str, np.ndarray]:
        out = {f: np.zeros(len(supply_ids), dtype=np.float32) for f in self.features}
        if not demand.segments:
            return out
        known: dict[frozenset[str], str] = {}  # candidates share few segment sets: one relation each
        for i, sid in enumerate(supply_ids):
            info = ctx.supply.get(sid)
            if info is None:
                continue
            segs = frozenset(info.segments)
            rel = known.get(segs)
            if rel is None:
                rel = known[segs] = chain_relation(ctx, info.segments, demand.segments)[0]
            if rel == "same_segment":
                out["chain_same_segment"][i] = 1.0
            elif rel in ("upstream", "downstream"):
                out["chain_adjacent"][i] = 1.0
            elif rel == "same_chain":
                out["chain_same_chain"][i] = 1.0
        return out
