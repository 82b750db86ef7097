"""The daily upstream budget: today's spend against its ceilings, the reservation a
generation makes before it pays, its settlement afterwards, and the one ALERT a day
when the budget runs out (`GET /budget`, and every generation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.config import Settings
from functions.errors import BudgetExhausted
from functions.metering import Spend
from functions.models import utcnow
from functions.observability import Journal
from functions.ports import DailyBudget

# Paid calls a movie costs when neither its truth nor its roast is cached.
CALLS_PER_NEW_MOVIE = 2


@dataclass
class BudgetPolicy:
    settings: Settings
    daily: DailyBudget
    journal: Journal
    clock: Callable[[], datetime] = utcnow

    def _day(self) -> str:
        return self.clock().date().isoformat()

    def budget_state(self) -> dict[str, Any]:
        calls, cost = self.daily.spent(self._day())
        s = self.settings
        return {
            "day": self._day(),
            "calls": calls,
            "call_ceiling": s.daily_call_budget,
            "estimated_cost_usd": cost,
            "cost_ceiling_usd": s.daily_cost_budget_usd,
            "remaining_calls": max(0, s.daily_call_budget - calls),
            # Exhausted once a new movie (research + roast) no longer fits: exactly
            # when reserve starts refusing it (and raises the alert).
            "exhausted": calls + CALLS_PER_NEW_MOVIE > s.daily_call_budget
            or cost >= s.daily_cost_budget_usd,
        }

    def _seconds_to_midnight(self) -> int:
        now = self.clock()
        return 86400 - (now.hour * 3600 + now.minute * 60 + now.second)

    def reserve(self, calls: int, correlation_id: str | None) -> None:
        """Check today's spend, then reserve the calls about to be made.

        Check-then-reserve is not one atomic step, so callers racing at the edge can
        overshoot: by at most the generations in flight at that moment, each with
        its reserved calls plus retries. In exchange nothing here is a transaction
        on a hot document.
        """
        day = self._day()
        spent_calls, spent_cost = self.daily.spent(day)
        s = self.settings
        if spent_calls + calls > s.daily_call_budget or spent_cost >= s.daily_cost_budget_usd:
            if self.daily.claim_alert(day):
                self.journal.log(
                    "ALERT",
                    "daily upstream budget exhausted: no new roasts until 00:00 UTC",
                    correlation_id,
                    calls=spent_calls,
                    call_ceiling=s.daily_call_budget,
                    estimated_cost_usd=spent_cost,
                    cost_ceiling_usd=s.daily_cost_budget_usd,
                )
            raise BudgetExhausted(self._seconds_to_midnight())
        self.daily.add(day, calls, 0.0)

    def settle(self, reserved: int, spend: Spend) -> None:
        """Replace the reservation with what was actually spent (retries included)."""
        self.daily.add(*self.settlement(reserved, spend))

    def settlement(self, reserved: int, spend: Spend) -> tuple[str, int, float]:
        """(day, calls, cost) that replace a reservation with what was spent."""
        return self._day(), spend.paid_calls - reserved, spend.cost_usd
