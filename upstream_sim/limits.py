"""The providers' own rate limits, enforced: a token bucket per service
(``rate_per_minute``, ``rate_burst``; 0 per minute: no limit). A request over it is
answered 429 as the provider answers it (Perplexity's ``request_rate_limit_exceeded``
with its x-ratelimit-* headers, TMDB's status_code 25 with Retry-After, xAI's error)
and counted in stats as ``rate_limited``. Unlike the injected faults this depends on
timing, as the real limits do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ProviderBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        # service -> (per_minute, burst, tokens, updated_at)
        self._buckets: dict[str, tuple[float, int, float, float]] = {}

    def reset(self) -> None:
        """Every bucket full again."""
        with self._lock:
            self._buckets.clear()

    def take(self, service: str, per_minute: float, burst: int) -> float | None:
        """None if the request is within the limit, else seconds until a token."""
        if per_minute <= 0:
            return None
        now = self._clock()
        per_second = per_minute / 60.0
        with self._lock:
            known = self._buckets.get(service)
            if known is None or known[:2] != (per_minute, burst):
                tokens, updated = float(burst), now
            else:
                tokens = min(float(burst), known[2] + (now - known[3]) * per_second)
                updated = now
            if tokens >= 1.0:
                self._buckets[service] = (per_minute, burst, tokens - 1.0, updated)
                return None
            self._buckets[service] = (per_minute, burst, tokens, updated)
            return (1.0 - tokens) / per_second
