"""Per-client token buckets shared by every instance (FirestoreRateLimiter)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from google.cloud import firestore
from google.cloud.firestore import Transaction

from functions.config import RATE_LIMIT_TTL
from functions.limits import TokenBucket
from functions.store import collections as c
from functions.store._firestore import _infra, _reads, _writes


class FirestoreRateLimiter:
    """A token bucket per client: `rate_limits/{client}`. The bucket is read, refilled
    and spent in a transaction, so every instance shares it; each client has its own
    document, so there is no contention between clients. An idle bucket is full, so
    its document expires (TTL) an hour after its last use."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    @_infra
    def hit(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        ref = self._db.collection(c.RATE_LIMITS).document(client)

        @firestore.transactional
        def take(transaction: Transaction) -> int | None:
            snap = ref.get(transaction=transaction)
            _reads()
            doc = (snap.to_dict() or {}) if snap.exists else {}
            bucket = TokenBucket.restore(doc.get("tokens"), doc.get("updated_at"), limit_per_minute)
            retry_after = bucket.take(now)
            if retry_after is not None:
                return retry_after
            _writes()
            transaction.set(
                ref,
                {
                    "tokens": bucket.tokens,
                    "updated_at": now,
                    c.EXPIRE_AT_FIELD: now + RATE_LIMIT_TTL,
                },
            )
            return None

        return cast("int | None", take(self._db.transaction()))

    @_infra
    def retry_after(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        snap = self._db.collection(c.RATE_LIMITS).document(client).get()
        _reads()
        doc = (snap.to_dict() or {}) if snap.exists else {}
        # The bucket as it would be now, refilled; nothing is written.
        bucket = TokenBucket.restore(doc.get("tokens"), doc.get("updated_at"), limit_per_minute)
        return bucket.take(now)
