"""Deal-fit features: is the achievement mature enough, offered under a cooperation mode the demand accepts,
and priced within the budget? Unknown values score 0.5 (neither for nor against). ``maturity_short`` is 1 when
the need states a floor (中试以上) and the achievement is known to be below it: the enterprise said it will not
take it, however well the texts match."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graph.model import MATURITY_ORDER
from matcher.features.base import Demand, GraphContext

_TOP = max(MATURITY_ORDER.values())


class FitFeatures:
    name = "fit"
    features = ("maturity", "cooperation_fit", "budget_fit", "maturity_short")

    def compute(self, ctx: GraphContext, demand: Demand, supply_ids: Sequence[str]) -> dict[str, np.ndarray]:
        n = len(supply_ids)
        # Python lists, one array each at the end (an element written into an array costs more than the test)
        maturity, coop, budget, short = [0.5] * n, [0.5] * n, [0.5] * n, [0.0] * n
        for i, sid in enumerate(supply_ids):
            info = ctx.supply.get(sid)
            if info is None:
                continue
            if info.maturity is not None:
                maturity[i] = info.maturity / _TOP
                if demand.min_maturity is not None and info.maturity < demand.min_maturity:
                    short[i] = 1.0
            if info.cooperation and demand.cooperation:
                coop[i] = 1.0 if info.cooperation & demand.cooperation else 0.0
            if info.price_wan is not None and demand.budget_wan is not None:
                over = info.price_wan > demand.budget_wan
                budget[i] = demand.budget_wan / max(info.price_wan, 1e-9) if over else 1.0
        return {name: np.array(values, dtype=np.float32) for name, values in
                (("maturity", maturity), ("cooperation_fit", coop), ("budget_fit", budget), ("maturity_short", short))}
