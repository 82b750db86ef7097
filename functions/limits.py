"""Rate-limit arithmetic, shared by the Firestore stores and the in-memory fakes: the
per-client bucket of paid requests, and the fleet-wide limit per upstream provider."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass
class TokenBucket:
    """`capacity` paid requests at once, refilled at `capacity` per minute.

    Unlike a fixed one-minute window, a client cannot spend twice its limit by
    bursting across a window boundary: after a burst it gets one more request every
    60/capacity seconds.
    """

    capacity: int
    tokens: float
    updated_at: datetime | None

    @classmethod
    def restore(
        cls, tokens: float | None, updated_at: datetime | None, capacity: int
    ) -> TokenBucket:
        if tokens is None or updated_at is None:
            return cls(capacity=capacity, tokens=float(capacity), updated_at=None)
        return cls(
            capacity=capacity, tokens=min(float(tokens), float(capacity)), updated_at=updated_at
        )

    @property
    def per_second(self) -> float:
        return self.capacity / 60.0

    def take(self, now: datetime) -> int | None:
        """Spend one token: None if there was one, else whole seconds until there is."""
        if self.updated_at is not None:
            elapsed = max(0.0, (now - self.updated_at).total_seconds())
            self.tokens = min(float(self.capacity), self.tokens + elapsed * self.per_second)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.per_second))


# ---------------------------------------------------------------- provider limits
#
# The fleet-wide limit on requests to one provider (research, roast, TMDB): a token
# bucket (`per_minute`, `burst`) and at most `in_flight` requests under way, with a
# shared "cool down until" set by a 429. The state is one document per provider
# (functions/store/provider_limits.py), read and written in a transaction; the rules
# are here, free of any client, so the Firestore store and the in-memory fake agree.

# A granted request's in-flight slot lapses this long after the call was due to
# start, unless released first: a crashed holder's slot comes back by itself.
SLOT_GRACE_SECONDS = 5.0
# How long a caller refused only for want of an in-flight slot waits before asking
# again (a slot is given back when a call ends, which we cannot predict).
SLOT_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class ProviderRate:
    """One provider's limit. `per_minute` 0 turns the limit off."""

    per_minute: float
    burst: int
    in_flight: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0

    @property
    def usable_burst(self) -> float:
        """The bucket we fill: one token short of the provider's burst (never below
        one), so a request that reaches the provider a few milliseconds early (network
        jitter, clock skew between instances) still finds a token waiting there."""
        return float(max(1, self.burst - 1))

    def seconds_for(self, requests: int) -> float:
        """The least time `requests` take at this rate from a full bucket."""
        if not self.enabled:
            return 0.0
        return max(0.0, requests - self.usable_burst) / self.per_second


@dataclass(frozen=True)
class Permit:
    """What `ProviderState.ask` decided. `granted`: go now (a token and a slot are
    yours; release the slot after the call). Otherwise wait `wait_seconds` and ask
    again; `reserved` says a token was set aside for you at that moment (so asking
    again then is all it takes), `cooling` that the provider is cooling down."""

    granted: bool
    wait_seconds: float = 0.0
    reserved: bool = False
    cooling: bool = False


@dataclass
class ProviderState:
    """The shared document's content: the bucket (`tokens` may go below zero: tokens
    promised to waiting callers), the in-flight slots and the reservations (holder ->
    moment), and the cool-down."""

    tokens: float
    updated_at: datetime | None = None
    slots: dict[str, datetime] | None = None
    reserved: dict[str, datetime] | None = None
    cool_down_until: datetime | None = None

    @classmethod
    def restore(cls, doc: dict[str, Any] | None, rate: ProviderRate) -> ProviderState:
        doc = doc or {}
        tokens = doc.get("tokens")
        return cls(
            tokens=rate.usable_burst if tokens is None else min(float(tokens), rate.usable_burst),
            updated_at=doc.get("updated_at"),
            slots=dict(doc.get("slots") or {}),
            reserved=dict(doc.get("reserved") or {}),
            cool_down_until=doc.get("cool_down_until"),
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "updated_at": self.updated_at,
            "slots": dict(self.slots or {}),
            "reserved": dict(self.reserved or {}),
            "cool_down_until": self.cool_down_until,
        }

    def _refill(self, now: datetime, rate: ProviderRate) -> None:
        if self.updated_at is not None:
            elapsed = max(0.0, (now - self.updated_at).total_seconds())
            self.tokens = min(rate.usable_burst, self.tokens + elapsed * rate.per_second)
        if self.updated_at is None or now > self.updated_at:
            self.updated_at = now

    def _expire(self, now: datetime, slot_seconds: float) -> None:
        self.slots = {h: t for h, t in (self.slots or {}).items() if t > now}
        # A reservation nobody came back for (its holder crashed while waiting).
        stale = timedelta(seconds=slot_seconds)
        self.reserved = {h: t for h, t in (self.reserved or {}).items() if t + stale > now}

    def ask(
        self,
        holder: str,
        now: datetime,
        rate: ProviderRate,
        max_wait: float,
        slot_seconds: float,
    ) -> Permit:
        """One request's turn: a token (now, or reserved up to `max_wait` ahead) and
        an in-flight slot. Mutates the state; the caller writes it back."""
        self._refill(now, rate)
        self._expire(now, slot_seconds)
        assert self.slots is not None and self.reserved is not None
        mine = self.reserved.get(holder)
        if self.cool_down_until is not None and self.cool_down_until > now:
            wait = (self.cool_down_until - now).total_seconds()
            return Permit(False, wait, reserved=mine is not None, cooling=True)
        if mine is None:
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                mine = now
            else:
                wait = (1.0 - self.tokens) / rate.per_second
                if wait > max_wait:
                    return Permit(False, wait)
                # Promise the next token to this caller: later callers queue behind
                # it, and nobody polls for it.
                self.tokens -= 1.0
                self.reserved[holder] = now + timedelta(seconds=wait)
                return Permit(False, wait, reserved=True)
        elif mine > now:
            return Permit(False, (mine - now).total_seconds(), reserved=True)
        if len(self.slots) >= rate.in_flight:
            self.reserved[holder] = mine
            return Permit(False, SLOT_POLL_SECONDS, reserved=True)
        self.reserved.pop(holder, None)
        self.slots[holder] = now + timedelta(seconds=slot_seconds)
        return Permit(True)

    def cool_down(self, until: datetime) -> bool:
        """Pause the provider until `until` (never shortening a longer pause)."""
        if self.cool_down_until is not None and self.cool_down_until >= until:
            return False
        self.cool_down_until = until
        return True


def run_allowance(movies: int, rate: ProviderRate, safety: float = 1.5) -> timedelta:
    """How long a night of `movies` new movies may legitimately take because of the
    research rate alone, with a safety factor."""
    return timedelta(seconds=rate.seconds_for(movies) * safety)


# How long a request may wait for its provider's capacity inside this delivery is
# bounded by the work that holds a lease meanwhile (a generation holds its movie's
# lease): it sets a deadline here, and no wait runs past it. A context variable, like
# metering's ledger, so the upstream clients need no extra parameter on every call.
_wait_deadline: ContextVar[float | None] = ContextVar("plotburn_wait_deadline", default=None)


@contextlib.contextmanager
def waits_until(deadline: float) -> Iterator[None]:
    """Within this block, no wait for provider capacity runs past `deadline`
    (a `time.monotonic()` value)."""
    token = _wait_deadline.set(deadline)
    try:
        yield
    finally:
        _wait_deadline.reset(token)


def wait_deadline() -> float | None:
    return _wait_deadline.get()


def estimated_finish(
    started_at: datetime, now: datetime, done: int, total: int, rate: ProviderRate
) -> datetime:
    """When an open run should end: no sooner than the research rate allows for all
    its movies, nor than its pace so far (time per landed movie) for the rest."""
    finish = max(now, started_at + timedelta(seconds=rate.seconds_for(total)))
    remaining = max(0, total - done)
    if done > 0 and remaining > 0:
        per_movie = max(0.0, (now - started_at).total_seconds()) / done
        finish = max(finish, now + timedelta(seconds=per_movie * remaining))
    return finish
