"""The daily budget's two pools: what public callers may spend, and the rest."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from functions.metering import COST_DECIMALS


class BudgetPool(str, enum.Enum):
    """Who a paid call is charged to.

    Public on-demand generation (a cache miss on `GET /movie` without the admin key)
    draws on its own share of the day, so anonymous traffic can never spend what the
    nightly run needs; the nightly runs and admin requests keep the rest.
    """

    PUBLIC = "public"
    NIGHTLY = "nightly"


@dataclass(frozen=True)
class PoolSpend:
    calls: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class DaySpend:
    """One UTC day's paid calls and cost: the whole day, and the public pool's part."""

    total: PoolSpend = PoolSpend()
    public: PoolSpend = PoolSpend()

    def pool(self, pool: BudgetPool) -> PoolSpend:
        if pool is BudgetPool.PUBLIC:
            return self.public
        return PoolSpend(
            self.total.calls - self.public.calls,
            round(self.total.cost_usd - self.public.cost_usd, COST_DECIMALS),
        )
