"""Earlier-relationship features: has the demand's enterprise already worked with the people or institutions
behind the achievement (a COLLABORATED_WITH edge, or an earlier TRANSFERRED_TO deal from them)?
Trust built on an earlier deal is the strongest predictor brokers name for a transfer that closes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.features.base import Demand, GraphContext


def earlier_links(ctx: GraphContext, achievement_id: str, enterprise_id: str) -> list[str]:
    """Ids of the orgs/talents behind the achievement that worked with or sold to the enterprise before."""
    behind = ctx.orgs_behind(achievement_id)
    linked = [o for o in behind if enterprise_id in ctx.collaborators.get(o, ())]
    bought = ctx.deals_into.get(enterprise_id, set())
    for other in bought:
        if other == achievement_id:
            continue
        for org in ctx.orgs_behind(other):
            if org in behind and org not in linked:
                linked.append(org)
    return linked


class CollaborationFeatures:
    name = "collaboration"
    features = ("prior_collaboration",)

    def compute(self, ctx: GraphContext, demand: Demand, supply_ids: Sequence[str]) -> dict[str, np.ndarray]:
        out = np.zeros(len(supply_ids), dtype=np.float32)
        for i, sid in enumerate(supply_ids):
            if any(earlier_links(ctx, sid, e) for e in demand.enterprise_ids):
                out[i] = 1.0
        return {"prior_collaboration": out}
