"""The fleet-wide limit in front of one provider: every request (each attempt) takes a
token and an in-flight slot from the shared `ProviderLimiter` first and gives the slot
back after it; a 429 pauses the provider for every instance.

No capacity yet: the request waits here for the limiter's computed time, within
`max_wait` and never past the deadline of the work holding a lease
(`functions.limits.waits_until`). Longer than that: `ProviderBusy` (retryable), so the
delivery is handed back to Pub/Sub without having sent or paid for anything.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.errors import ProviderBusy, RetryableError
from functions.limits import wait_deadline
from functions.models import utcnow
from functions.ports import ProviderLimiter

log = logging.getLogger(__name__)

# A 429 without Retry-After or x-ratelimit-reset (xAI documents none) pauses the
# provider this long; our own backoff spaces the retries after that.
DEFAULT_COOL_DOWN_SECONDS = 1.0


@dataclass
class ProviderGate:
    limiter: ProviderLimiter
    provider: str  # research | roast | tmdb: the limiter's document
    max_wait_seconds: float
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def _allowed_wait(self, started: float) -> float:
        deadline = started + self.max_wait_seconds
        lease_bound = wait_deadline()
        if lease_bound is not None:
            deadline = min(deadline, lease_bound)
        return max(0.0, deadline - self.monotonic())

    def _take(self, holder: str) -> None:
        started = self.monotonic()
        while True:
            allowed = self._allowed_wait(started)
            permit = self.limiter.acquire(self.provider, holder, self.clock(), allowed)
            if permit.granted:
                return
            if permit.wait_seconds > allowed:
                if permit.reserved:
                    self._release(holder)
                raise ProviderBusy(self.provider, permit.wait_seconds)
            self.sleep(permit.wait_seconds)

    def _release(self, holder: str) -> None:
        try:
            self.limiter.release(self.provider, holder)
        except RetryableError as exc:
            # The slot lapses by itself shortly; the answer we have is not lost for it.
            log.warning("%s: giving back an in-flight slot failed (%s)", self.provider, exc)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a token and an in-flight slot for one request."""
        holder = uuid.uuid4().hex
        self._take(holder)
        try:
            yield
        finally:
            self._release(holder)

    def rate_limited(self, retry_after: float | None) -> None:
        """The provider answered 429: nobody sends to it until it said to retry."""
        seconds = DEFAULT_COOL_DOWN_SECONDS if retry_after is None else retry_after
        if seconds <= 0:
            return
        try:
            self.limiter.cool_down(self.provider, self.clock() + timedelta(seconds=seconds))
        except RetryableError as exc:
            log.warning("%s: recording the cool-down failed (%s)", self.provider, exc)
