"""Region feature: supply and demand in the same region (a local transfer is cheaper to broker and to
support under the city's policy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.features.base import Demand, GraphContext


def supply_regions(ctx: GraphContext, achievement_id: str) -> set[str]:
    info = ctx.supply.get(achievement_id)
    regions = {info.region} if info and info.region else set()
    return regions


class RegionFeatures:
    name = "region"
    features = ("same_region",)

    def compute(self, ctx: GraphContext, demand: Demand, supply_ids: Sequence[str]) -> dict[str, np.ndarray]:
        out = np.zeros(len(supply_ids), dtype=np.float32)
        if demand.region:
            for i, sid in enumerate(supply_ids):
                if demand.region in supply_regions(ctx, sid):
                    out[i] = 1.0
        return {"same_region": out}
