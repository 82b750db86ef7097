"""The per-client rate limit's arithmetic, shared by the Firestore and in-memory stores."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


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
