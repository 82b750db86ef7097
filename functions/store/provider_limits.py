"""The fleet-wide limit on requests to each provider (FirestoreProviderLimiter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from google.cloud import firestore

from functions.limits import Permit, ProviderRate, ProviderState
from functions.store import collections as c
from functions.store._firestore import _infra, _reads, _writes


class FirestoreProviderLimiter:
    """One document per provider, `provider_limits/{provider}`, holding its token
    bucket, in-flight slot leases (holder -> expiry), reservations and cool-down.

    `acquire` is one transaction (a read, and a write unless it was refused); the
    rules are `ProviderState.ask`. `release` is a blind field delete (one write, no
    read); `cool_down` a transaction only on a 429. A provider whose limit is off
    (per minute 0) costs nothing. A slot whose holder crashed lapses after
    `slot_seconds`. One document per provider holds a few requests a second: fine for
    research (50 a minute by default); a much faster provider would want shards.
    """

    def __init__(
        self, db: firestore.Client, rates: dict[str, ProviderRate], slot_seconds: float
    ) -> None:
        self._db = db
        self._rates = rates
        self._slot_seconds = slot_seconds

    def _ref(self, provider: str) -> Any:
        return self._db.collection(c.PROVIDER_LIMITS).document(provider)

    def _rate(self, provider: str) -> ProviderRate | None:
        rate = self._rates.get(provider)
        return rate if rate is not None and rate.enabled else None

    @_infra
    def acquire(self, provider: str, holder: str, now: datetime, max_wait: float) -> Permit:
        rate = self._rate(provider)
        if rate is None:
            return Permit(True)
        ref = self._ref(provider)

        @firestore.transactional
        def ask(transaction: Any) -> Permit:
            snap = ref.get(transaction=transaction)
            _reads()
            state = ProviderState.restore(snap.to_dict() if snap.exists else None, rate)
            before = state.to_doc()
            permit = state.ask(holder, now, rate, max_wait, self._slot_seconds)
            after = state.to_doc()
            # A refusal changes nothing the refill cannot recompute: no write.
            if permit.granted or any(after[k] != before[k] for k in ("slots", "reserved")):
                _writes()
                transaction.set(ref, after)
            return permit

        return cast(Permit, ask(self._db.transaction()))

    @_infra
    def release(self, provider: str, holder: str) -> None:
        if self._rate(provider) is None:
            return
        _writes()
        self._ref(provider).set(
            {
                "slots": {holder: firestore.DELETE_FIELD},
                "reserved": {holder: firestore.DELETE_FIELD},
            },
            merge=True,
        )

    @_infra
    def cool_down(self, provider: str, until: datetime) -> None:
        rate = self._rate(provider)
        if rate is None:
            return
        ref = self._ref(provider)

        @firestore.transactional
        def pause(transaction: Any) -> None:
            snap = ref.get(transaction=transaction)
            _reads()
            state = ProviderState.restore(snap.to_dict() if snap.exists else None, rate)
            if state.cool_down(until):
                _writes()
                transaction.set(ref, state.to_doc())

        pause(self._db.transaction())
