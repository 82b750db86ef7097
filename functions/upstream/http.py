"""One JSON call to an upstream API, with bounded, jittered retries (tenacity).

What is retried: 429 (honouring Retry-After or the provider's x-ratelimit-reset),
5xx, timeouts and connection errors, and 2xx bodies that are not the JSON we expect
or that report a failed run (a validator raises ``FailedAnswer``). What is not: any
other 4xx (a bad request, a bad key, a retired model or endpoint), which no retry can
fix; it raises UpstreamRejected naming the provider, the status and the provider's
error code. When retries run out the caller gets UpstreamUnavailable. Error messages
name the service, method and path, never headers or query strings (where keys live).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from functions import metering
from functions.errors import UpstreamBadResponse, UpstreamRejected, UpstreamUnavailable
from functions.models import Usage

log = logging.getLogger(__name__)

# Largest Retry-After we will sleep on inside one delivery; longer waits fail the
# attempt sooner and leave the rest to the run's retry (POST /cron/retry).
MAX_RETRY_AFTER_SECONDS = 30.0


class Gate(Protocol):
    """What stands between a call and its provider (functions/upstream/gate.py)."""

    def slot(self) -> contextlib.AbstractContextManager[None]: ...

    def rate_limited(self, retry_after: float | None) -> None: ...


class _Transient(Exception):
    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class _NotFound(Exception):
    pass


class FailedAnswer(Exception):
    """Raised by a validator for a 2xx whose body reports a failed run (Perplexity
    can answer HTTP 200 with ``status: "failed"``): transient, so it is retried."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 20.0


class _WaitRetryAfterOrBackoff:
    """Sleep what the server asked for on a 429, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        # initial * 2**(attempt-1), plus up to `initial` of random jitter so that
        # many roast workers failing together do not retry in lockstep.
        self._backoff = wait_exponential_jitter(
            multiplier=policy.backoff_initial_seconds,
            jitter=policy.backoff_initial_seconds,
            max=policy.backoff_max_seconds,
        )

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
        return float(self._backoff(state))


def _seconds(value: str) -> float | None:
    try:
        return float(value.strip())
    except ValueError:
        return None  # HTTP-date form or junk: fall back to our own backoff


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """How long the provider asked us to wait: ``Retry-After`` (seconds), else
    ``x-ratelimit-reset``, which Perplexity sends as an epoch second and others as
    seconds from now (a value past 1e9 can only be an epoch)."""
    explicit = _seconds(response.headers.get("retry-after", ""))
    if explicit is not None:
        return max(0.0, explicit)
    reset = _seconds(response.headers.get("x-ratelimit-reset", ""))
    if reset is None:
        return None
    if reset > 1e9:
        reset -= time.time() if now is None else now
    return max(0.0, reset)


def error_code(response: httpx.Response) -> str:
    """The provider's own name for an error, from the bodies they define:
    Perplexity ``{"error": {"type", "code"}}``, xAI ``{"code": "...", "error": "..."}``,
    TMDB ``{"status_code": 7}``. Falls back to "error" for a body we cannot read."""
    try:
        body = response.json()
    except ValueError:
        return "error"
    if not isinstance(body, dict):
        return "error"
    nested = body.get("error")
    if isinstance(nested, dict):
        kind = nested.get("type") or nested.get("code")
        if isinstance(kind, (str, int)) and str(kind):
            return str(kind)[:80]
    if "status_code" in body and isinstance(body["status_code"], int):
        return f"status_code {body['status_code']}"
    code = body.get("code")
    if isinstance(code, str) and code:
        return code[:80]
    return "error"


def call_json(
    client: httpx.Client,
    service: str,
    method: str,
    url: str,
    *,
    provider: str,
    policy: RetryPolicy,
    headers: dict[str, str],
    json_body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    validate: Callable[[Any], Any],
    not_found: Callable[[], Exception] | None = None,
    gate: Gate | None = None,
) -> Any:
    """Call and return ``validate(body)``.

    ``validate`` raises ValueError/KeyError/TypeError for a body of the wrong shape,
    or FailedAnswer for a body that reports a failure: both count as transient faults.
    With ``not_found``, a 404 raises that (no retry). ``provider`` (tmdb, perplexity,
    xai) names who refused a request in the UpstreamRejected reason. With ``gate``,
    each attempt first takes the provider's fleet-wide capacity (ProviderBusy, not an
    attempt, when there is none) and a 429 pauses the provider for everyone.
    """
    path = httpx.URL(url).path

    def attempt() -> Any:
        with gate.slot() if gate is not None else contextlib.nullcontext():
            return send()

    def send() -> Any:
        metering.record_call(service)
        try:
            response = client.request(method, url, headers=headers, json=json_body, params=params)
        except httpx.TimeoutException:
            raise _Transient("timed out") from None
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if status == 404 and not_found is not None:
            raise _NotFound()
        if status == 429:
            wait = retry_after(response)
            if gate is not None:
                gate.rate_limited(wait)
            raise _Transient("rate limited (429)", wait)
        if status >= 500:
            raise _Transient(f"server error ({status})")
        if status >= 400:
            code = error_code(response)
            raise UpstreamRejected(
                service, provider, status, code, f"{method} {path} answered {status} {code}"
            )
        try:
            return validate(response.json())
        except FailedAnswer as exc:
            raise _Transient(f"answer reported a failure ({exc})") from None
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            # AttributeError: e.g. a field that should be an object is a string.
            raise _Transient("malformed response body") from None

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=_WaitRetryAfterOrBackoff(policy),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
        before_sleep=lambda state: log.debug(
            "%s %s %s: retrying after attempt %d", service, method, path, state.attempt_number
        ),
    )
    try:
        return retrying(attempt)
    except _NotFound:
        assert not_found is not None
        raise not_found() from None
    except _Transient as exc:
        raise UpstreamUnavailable(
            service,
            f"{method} {path}: {exc.detail} after {policy.max_attempts} attempts",
            reason=f"{provider}: {exc.detail} after {policy.max_attempts} attempts",
        ) from None


class _Billed(Protocol):
    @property
    def usage(self) -> Usage: ...


BilledAnswer = TypeVar("BilledAnswer", bound=_Billed)


def post_billed(
    client: httpx.Client,
    *,
    service: str,
    provider: str,
    url: str,
    api_key: SecretStr | None,
    key_variable: str,
    policy: RetryPolicy,
    body: dict[str, Any],
    validate: Callable[[Any], BilledAnswer],
    gate: Gate | None = None,
) -> BilledAnswer:
    """POST to an LLM API with its bearer key, and record the answer's tokens and cost
    in the current ledger (an answer is billed whether or not it was complete)."""
    if api_key is None:
        raise UpstreamBadResponse(
            service, f"{key_variable} is not set", reason=f"{provider}: no API key configured"
        )
    answer: BilledAnswer = call_json(
        client,
        service,
        "POST",
        url,
        provider=provider,
        policy=policy,
        headers={"Authorization": f"Bearer {api_key.get_secret_value()}"},
        json_body=body,
        validate=validate,
        gate=gate,
    )
    usage = answer.usage
    metering.record_usage(service, usage.prompt_tokens, usage.completion_tokens, usage.cost_usd)
    return answer
