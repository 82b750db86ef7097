"""The fleet-wide limit on requests to each provider (FirestoreProviderLimiter)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore

from functions.errors import InfrastructureUnavailable
from functions.limits import Permit, ProviderRate, ProviderState
from functions.store import collections as c
from functions.store._firestore import _infra, _reads, _writes

T = TypeVar("T")
# A write that lost the race to another instance's is retried on a fresh read.
MAX_RACES = 20


class FirestoreProviderLimiter:
    """One document per provider, `provider_limits/{provider}`, holding its token
    bucket, in-flight slot leases (holder -> expiry), reservations and cool-down; the
    rules are `ProviderState.ask`.

    `acquire` reads the document and, unless it was refused, writes it back on the
    condition that nobody wrote it meanwhile (else it reads again): no transaction,
    so callers racing for one document never queue on a lock (the emulator's lock
    timeouts, production's contention), and the threads of one instance take turns
    on a local lock first. `release` is a blind field delete (one write, no read);
    `cool_down` the same conditional write, only on a 429. A provider whose limit is
    off (per minute 0) costs nothing. A slot whose holder crashed lapses after
    `slot_seconds`. One document holds a few requests a second: research's default
    (50 a minute) by far; a much faster provider would want shards.
    """

    def __init__(
        self, db: firestore.Client, rates: dict[str, ProviderRate], slot_seconds: float
    ) -> None:
        self._db = db
        self._rates = rates
        self._slot_seconds = slot_seconds
        self._locks = {provider: threading.Lock() for provider in rates}

    def _ref(self, provider: str) -> Any:
        return self._db.collection(c.PROVIDER_LIMITS).document(provider)

    def _rate(self, provider: str) -> ProviderRate | None:
        rate = self._rates.get(provider)
        return rate if rate is not None and rate.enabled else None

    def _update(
        self, provider: str, rate: ProviderRate, change: Callable[[ProviderState], tuple[T, bool]]
    ) -> T:
        """Read the state, apply `change` (its result, and whether to write), and
        write it back unless someone else wrote first; then try again."""
        ref = self._ref(provider)
        with self._locks[provider]:
            for _ in range(MAX_RACES):
                snap = ref.get()
                _reads()
                state = ProviderState.restore(snap.to_dict() if snap.exists else None, rate)
                result, write = change(state)
                if not write:
                    return result
                _writes()
                try:
                    if snap.exists:
                        option = self._db.write_option(last_update_time=snap.update_time)
                        ref.update(state.to_doc(), option=option)
                    else:
                        ref.create(state.to_doc())
                    return result
                except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound, gexc.Aborted):
                    time.sleep(random.uniform(0.005, 0.03))
        raise InfrastructureUnavailable(f"firestore: {provider} limit too contended")

    @_infra
    def acquire(self, provider: str, holder: str, now: datetime, max_wait: float) -> Permit:
        rate = self._rate(provider)
        if rate is None:
            return Permit(True)

        def ask(state: ProviderState) -> tuple[Permit, bool]:
            before = (dict(state.slots or {}), dict(state.reserved or {}))
            permit = state.ask(holder, now, rate, max_wait, self._slot_seconds)
            # A refusal changes nothing the refill cannot recompute: no write.
            changed = (state.slots, state.reserved) != before
            return permit, permit.granted or changed

        return self._update(provider, rate, ask)

    @_infra
    def release(self, provider: str, holder: str) -> None:
        if self._rate(provider) is None:
            return
        # Under the same local lock: a release landing between another thread's read
        # and conditional write would make that write lose and read again.
        with self._locks[provider]:
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
        self._update(provider, rate, lambda state: (None, state.cool_down(until)))
