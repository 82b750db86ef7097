"""Who holds the admin key: the token's rules, the comparison, and the throttle on
wrong guesses.

- The token counts only at MIN_ADMIN_TOKEN_LENGTH characters or more (surrounding
  whitespace never counts). A shorter one turns the admin routes off (503), as an
  unset one does; the public routes are unaffected. Why is logged once per instance,
  never the token.
- Both sides are hashed (SHA-256) and the digests compared in constant time, so
  neither the token's length nor its content shows in the timing.
- Wrong keys are counted per client (the rate limiter's bucket under
  THROTTLE_PREFIX): ADMIN_FAILURES_PER_MINUTE at once, then one more every
  60/ADMIN_FAILURES_PER_MINUTE seconds. While a client's bucket is empty it is
  throttled: every key it presents is refused, the right one included, so a guesser
  learns nothing more until it refills. A right key costs nothing otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from pydantic import SecretStr

from functions.models import utcnow
from functions.observability import emit
from functions.ports import RateLimiter

MIN_ADMIN_TOKEN_LENGTH = 32
ADMIN_FAILURES_PER_MINUTE = 5
THROTTLE_PREFIX = "admin-auth-"


class KeyCheck(Enum):
    ABSENT = "absent"  # no key presented
    VALID = "valid"
    INVALID = "invalid"


class AdminThrottled(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("too many wrong admin keys from this client; retry later")
        self.retry_after_seconds = retry_after_seconds


def token_problem(configured: SecretStr | None) -> str | None:
    """Why the admin routes are off, or None when the token is usable."""
    token = configured.get_secret_value().strip() if configured is not None else ""
    if not token:
        return "PLOTBURN_ADMIN_TOKEN is not set"
    if len(token) < MIN_ADMIN_TOKEN_LENGTH:
        return f"PLOTBURN_ADMIN_TOKEN is shorter than {MIN_ADMIN_TOKEN_LENGTH} characters"
    return None


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


def matches(presented: str, configured: SecretStr) -> bool:
    """Constant-time comparison of the digests (whatever the lengths)."""
    return hmac.compare_digest(
        _digest(presented.strip()), _digest(configured.get_secret_value().strip())
    )


@dataclass
class AdminAccess:
    rate_limits: RateLimiter
    clock: Callable[[], datetime] = utcnow
    _warned: set[str] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def problem(self, configured: SecretStr | None) -> str | None:
        """Why the admin routes are off (logged once per reason), or None."""
        problem = token_problem(configured)
        if problem is not None:
            with self._lock:
                first = problem not in self._warned
                self._warned.add(problem)
            if first:
                emit("ERROR", f"admin routes are disabled: {problem}")
        return problem

    def check(self, configured: SecretStr | None, presented: str | None, client: str) -> KeyCheck:
        """Whether `presented` is the admin key. Raises AdminThrottled while this
        client's wrong guesses are over the limit, whatever it presents."""
        if presented is None:
            return KeyCheck.ABSENT
        if configured is None or self.problem(configured) is not None:
            return KeyCheck.INVALID
        bucket = THROTTLE_PREFIX + client
        now = self.clock()
        blocked = self.rate_limits.retry_after(bucket, now, ADMIN_FAILURES_PER_MINUTE)
        if blocked is not None:
            raise AdminThrottled(blocked)
        if matches(presented, configured):
            return KeyCheck.VALID
        emit("WARNING", "api: wrong admin key presented")
        self.rate_limits.hit(bucket, now, ADMIN_FAILURES_PER_MINUTE)
        return KeyCheck.INVALID
