"""Per-client token buckets shared by every instance (FirestoreRateLimiter)."""

from __future__ import annotations

import random
import time
from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud import firestore

from functions.config import RATE_LIMIT_TTL
from functions.limits import TokenBucket
from functions.store import collections as c
from functions.store._firestore import _infra, _reads, _writes

# A client's concurrent requests race for its bucket: each tries this many times.
CONTENDED_ATTEMPTS = 5


class FirestoreRateLimiter:
    """A token bucket per client: `rate_limits/{client}`. The bucket is read, refilled
    and spent with a write conditioned on the document being as read (no transaction:
    a locked document would queue a client's concurrent requests for seconds), so
    every instance shares it; each client has its own document, so there is no
    contention between clients. An idle bucket is full, so its document expires (TTL)
    an hour after its last use."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    @_infra
    def hit(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        ref = self._db.collection(c.RATE_LIMITS).document(client)
        for attempt in range(CONTENDED_ATTEMPTS):
            snap = ref.get()
            _reads()
            doc = (snap.to_dict() or {}) if snap.exists else {}
            bucket = TokenBucket.restore(doc.get("tokens"), doc.get("updated_at"), limit_per_minute)
            retry_after = bucket.take(now)
            if retry_after is not None:
                return retry_after
            spent = {
                "tokens": bucket.tokens,
                "updated_at": now,
                c.EXPIRE_AT_FIELD: now + RATE_LIMIT_TTL,
            }
            _writes()
            try:
                if snap.exists:
                    option = self._db.write_option(last_update_time=snap.update_time)
                    ref.update(spent, option=option)
                else:
                    ref.create(spent)
                return None
            except (gexc.FailedPrecondition, gexc.Aborted, gexc.AlreadyExists, gexc.NotFound):
                # Another request of this same client spent from the bucket first.
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
        # Still racing: only one client's own concurrent requests contend for its
        # bucket, so it is told to come back in a second (never let through unpaid).
        return 1

    @_infra
    def retry_after(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        snap = self._db.collection(c.RATE_LIMITS).document(client).get()
        _reads()
        doc = (snap.to_dict() or {}) if snap.exists else {}
        # The bucket as it would be now, refilled; nothing is written.
        bucket = TokenBucket.restore(doc.get("tokens"), doc.get("updated_at"), limit_per_minute)
        return bucket.take(now)
