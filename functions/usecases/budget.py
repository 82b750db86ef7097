"""The daily upstream budget: today's spend against its ceilings, the reservation a
generation makes before it pays, its settlement afterwards, and the one ALERT a day
when the budget runs out (`GET /budget`, and every generation)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.config import Settings
from functions.errors import BudgetExhausted
from functions.metering import COST_DECIMALS, Spend
from functions.models import BudgetPool, PoolSpend, utcnow
from functions.observability import Journal
from functions.ports import DailyBudget

# Paid calls a movie costs when neither its truth nor its roast is cached.
CALLS_PER_NEW_MOVIE = 2


@dataclass(frozen=True)
class PoolCeiling:
    calls: int
    cost_usd: float


@dataclass
class BudgetPolicy:
    settings: Settings
    daily: DailyBudget
    journal: Journal
    clock: Callable[[], datetime] = utcnow

    def _day(self) -> str:
        return self.clock().date().isoformat()

    def ceiling(self, pool: BudgetPool) -> PoolCeiling:
        """A pool's part of the day's ceilings: the public share, or the rest."""
        s = self.settings
        share = s.public_budget_share
        if pool is BudgetPool.NIGHTLY:
            share = 1.0 - share
        # The epsilon keeps 10 x 0.7 = 6.999... from flooring to 6.
        calls = math.floor(s.daily_call_budget * share + 1e-9)
        return PoolCeiling(calls, s.daily_cost_budget_usd * share)

    def _pool_state(self, spent: PoolSpend, ceiling: PoolCeiling) -> dict[str, Any]:
        return {
            "calls": spent.calls,
            "call_ceiling": ceiling.calls,
            "estimated_cost_usd": spent.cost_usd,
            "cost_ceiling_usd": round(ceiling.cost_usd, COST_DECIMALS),
            "remaining_calls": max(0, ceiling.calls - spent.calls),
            # Exhausted once a new movie (research + roast) no longer fits: exactly
            # when reserve starts refusing it (and raises the alert).
            "exhausted": _exhausted(spent, ceiling, CALLS_PER_NEW_MOVIE),
        }

    def budget_state(self) -> dict[str, Any]:
        """`GET /budget` (admin): the day's spend, and each pool's."""
        day = self._day()
        spent = self.daily.spent_by_pool(day)
        s = self.settings
        pools = {
            pool.value: self._pool_state(spent.pool(pool), self.ceiling(pool))
            for pool in BudgetPool
        }
        return {
            "day": day,
            "calls": spent.total.calls,
            "call_ceiling": s.daily_call_budget,
            "estimated_cost_usd": spent.total.cost_usd,
            "cost_ceiling_usd": s.daily_cost_budget_usd,
            "remaining_calls": max(0, s.daily_call_budget - spent.total.calls),
            # What the operator cares about: whether tonight's run can still pay.
            "exhausted": pools[BudgetPool.NIGHTLY.value]["exhausted"],
            "public_share": s.public_budget_share,
            "pools": pools,
        }

    def _seconds_to_midnight(self) -> int:
        now = self.clock()
        return 86400 - (now.hour * 3600 + now.minute * 60 + now.second)

    def reserve(
        self, calls: int, correlation_id: str | None, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> None:
        """Check the pool's spend today, then reserve the calls about to be made.

        Check-then-reserve is not one atomic step, so callers racing at the edge can
        overshoot: by at most the generations in flight at that moment, each with
        its reserved calls plus retries. In exchange nothing here is a transaction
        on a hot document.
        """
        day = self._day()
        spent = self.daily.spent_by_pool(day).pool(pool)
        ceiling = self.ceiling(pool)
        if _exhausted(spent, ceiling, calls):
            self._alert_once(day, pool, spent, ceiling, correlation_id)
            raise BudgetExhausted(self._seconds_to_midnight())
        self.daily.add(day, calls, 0.0, pool)

    def _alert_once(
        self,
        day: str,
        pool: BudgetPool,
        spent: PoolSpend,
        ceiling: PoolCeiling,
        correlation_id: str | None,
    ) -> None:
        if not self.daily.claim_alert(day, pool):
            return
        figures: dict[str, Any] = {
            "pool": pool.value,
            "calls": spent.calls,
            "call_ceiling": ceiling.calls,
            "estimated_cost_usd": spent.cost_usd,
            "cost_ceiling_usd": round(ceiling.cost_usd, COST_DECIMALS),
        }
        if pool is BudgetPool.PUBLIC:
            # Anonymous traffic spending its share is worth a look, not a page: the
            # night's share is untouched.
            self.journal.log(
                "WARNING",
                "public share of the daily budget spent: public cache misses get 503 "
                "until 00:00 UTC; the nightly share is untouched",
                correlation_id,
                **figures,
            )
            return
        self.journal.log(
            "ALERT",
            "daily upstream budget exhausted: no new roasts until 00:00 UTC",
            correlation_id,
            **figures,
        )

    def settle(self, reserved: int, spend: Spend, pool: BudgetPool = BudgetPool.NIGHTLY) -> None:
        """Replace the reservation with what was actually spent (retries included)."""
        self.daily.add(*self.settlement(reserved, spend, pool))

    def settlement(
        self, reserved: int, spend: Spend, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> tuple[str, int, float, BudgetPool]:
        """(day, calls, cost, pool) that replace a reservation with what was spent."""
        return self._day(), spend.paid_calls - reserved, spend.cost_usd, pool


def _exhausted(spent: PoolSpend, ceiling: PoolCeiling, calls: int) -> bool:
    return spent.calls + calls > ceiling.calls or spent.cost_usd >= ceiling.cost_usd
