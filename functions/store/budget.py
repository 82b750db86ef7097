"""The day's paid calls and cost, sharded (FirestoreBudget)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore import DocumentReference

from functions.config import BUDGET_TTL
from functions.metering import COST_DECIMALS
from functions.models import BudgetPool, DaySpend, PoolSpend, utcnow
from functions.store import collections as c
from functions.store._firestore import StagedWrite, _infra, _reads, _writes, commit_now


class FirestoreBudget:
    """The day's spend, sharded over a few documents so that a 500-movie night does
    not send every increment to one hot document. Reads sum the shards in one
    round trip; writes are server-side increments on a random shard (no transaction,
    no lock)."""

    SHARDS = 8

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _shard(self, day: str, k: int) -> DocumentReference:
        return self._db.collection(c.BUDGETS).document(f"{day}-{k}")

    def spent(self, day: str) -> tuple[int, float]:
        total = self.spent_by_pool(day).total
        return total.calls, total.cost_usd

    @_infra
    def spent_by_pool(self, day: str) -> DaySpend:
        # Each shard holds the day's totals and, beside them, the public pool's part:
        # both pools come from the same one round trip.
        sums = {"calls": 0.0, "cost_usd": 0.0, "public_calls": 0.0, "public_cost_usd": 0.0}
        _reads(self.SHARDS)
        for snap in self._db.get_all([self._shard(day, k) for k in range(self.SHARDS)]):
            if snap.exists:
                doc = snap.to_dict() or {}
                for name in sums:
                    sums[name] += float(doc.get(name, 0))
        return DaySpend(
            total=PoolSpend(int(sums["calls"]), round(sums["cost_usd"], COST_DECIMALS)),
            public=PoolSpend(
                int(sums["public_calls"]), round(sums["public_cost_usd"], COST_DECIMALS)
            ),
        )

    @_infra
    def add(
        self, day: str, calls: int, cost_usd: float, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> None:
        staged = self.stage_add(day, calls, cost_usd, pool)
        if staged is not None:
            _writes()
            commit_now(self._db, staged)

    def stage_add(
        self, day: str, calls: int, cost_usd: float, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> StagedWrite | None:
        """An increment of the day's spend on a random shard (None: nothing to add)."""
        if calls == 0 and cost_usd == 0:
            return None
        shard = self._shard(day, random.randrange(self.SHARDS))
        doc: dict[str, Any] = {
            "day": day,
            "calls": firestore.Increment(calls),
            "cost_usd": firestore.Increment(cost_usd),
            c.EXPIRE_AT_FIELD: _day_start(day) + BUDGET_TTL,
        }
        if pool is BudgetPool.PUBLIC:
            doc["public_calls"] = firestore.Increment(calls)
            doc["public_cost_usd"] = firestore.Increment(cost_usd)
        return StagedWrite(lambda batch: batch.set(shard, doc, merge=True))

    @_infra
    def claim_alert(self, day: str, pool: BudgetPool = BudgetPool.NIGHTLY) -> bool:
        _writes()
        # The nightly pool keeps the document id it had before there were pools.
        name = f"{day}-alert" if pool is BudgetPool.NIGHTLY else f"{day}-{pool.value}-alert"
        try:
            self._db.collection(c.BUDGETS).document(name).create(
                {
                    "day": day,
                    "alerted_at": utcnow(),
                    c.EXPIRE_AT_FIELD: _day_start(day) + BUDGET_TTL,
                }
            )
        except gexc.AlreadyExists:
            return False
        return True


def _day_start(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)
