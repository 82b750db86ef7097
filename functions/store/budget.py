"""The day's paid calls and cost, sharded (FirestoreBudget)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from functions.config import BUDGET_TTL
from functions.metering import COST_DECIMALS
from functions.models import utcnow
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

    def _shard(self, day: str, k: int) -> Any:
        return self._db.collection(c.BUDGETS).document(f"{day}-{k}")

    @_infra
    def spent(self, day: str) -> tuple[int, float]:
        calls, cost = 0, 0.0
        _reads(self.SHARDS)
        for snap in self._db.get_all([self._shard(day, k) for k in range(self.SHARDS)]):
            if snap.exists:
                doc = snap.to_dict() or {}
                calls += int(doc.get("calls", 0))
                cost += float(doc.get("cost_usd", 0.0))
        return calls, round(cost, COST_DECIMALS)

    @_infra
    def add(self, day: str, calls: int, cost_usd: float) -> None:
        staged = self.stage_add(day, calls, cost_usd)
        if staged is not None:
            _writes()
            commit_now(self._db, staged)

    def stage_add(self, day: str, calls: int, cost_usd: float) -> StagedWrite | None:
        """An increment of the day's spend on a random shard (None: nothing to add)."""
        if calls == 0 and cost_usd == 0:
            return None
        shard = self._shard(day, random.randrange(self.SHARDS))
        doc = {
            "day": day,
            "calls": firestore.Increment(calls),
            "cost_usd": firestore.Increment(cost_usd),
            c.EXPIRE_AT_FIELD: _day_start(day) + BUDGET_TTL,
        }
        return StagedWrite(lambda batch: batch.set(shard, doc, merge=True))

    @_infra
    def claim_alert(self, day: str) -> bool:
        _writes()
        try:
            self._db.collection(c.BUDGETS).document(f"{day}-alert").create(
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
