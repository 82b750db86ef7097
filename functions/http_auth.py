"""Who is asking an HTTP request: the admin key it presents (checked once per
request, see `usecases.admin_access`) and its rate-limit client key
(`client_identity`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flask

from functions.client_identity import client_key
from functions.http_requests import ApiError
from functions.usecases.admin_access import AdminThrottled, KeyCheck

if TYPE_CHECKING:
    from functions.bootstrap import App

KEY_CHECK_KEY = "plotburn.key_check"  # the request's KeyCheck, once made
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def presented_key(request: flask.Request) -> str | None:
    """The admin key as the Worker's clients send it (x-api-key) or as a bearer token."""
    api_key = request.headers.get("x-api-key")
    if api_key is not None:
        return api_key.strip()
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else None


def requester(request: flask.Request, app: App) -> str:
    """The client's rate-limit key (an HMAC of its address or IPv6 network)."""
    s = app.settings
    return client_key(request, s.trusted_proxy_hops, s.ipv6_prefix_bits, s.client_key_secret)


def key_check(request: flask.Request, app: App) -> KeyCheck:
    """The presented key, checked once per request (a wrong one counts once).
    Raises AdminThrottled while the client's wrong keys are over the limit."""
    done = request.environ.get(KEY_CHECK_KEY)
    if isinstance(done, KeyCheck):
        return done
    presented = presented_key(request)
    if presented is None:
        result = KeyCheck.ABSENT
    else:
        result = app.admin_access.check(
            app.settings.admin_token, presented, requester(request, app)
        )
    request.environ[KEY_CHECK_KEY] = result
    return result


def is_admin(request: flask.Request, app: App) -> bool:
    """Whether a public route's caller holds the admin key (for the full view, or to
    generate without a rate limit). A throttled client's key is not looked at."""
    try:
        return key_check(request, app) is KeyCheck.VALID
    except AdminThrottled:
        return False


def require_admin(request: flask.Request, app: App) -> None:
    problem = app.admin_access.problem(app.settings.admin_token)
    if problem is not None:
        raise ApiError(503, f"admin routes are disabled: {problem}")
    try:
        checked = key_check(request, app)
    except AdminThrottled as exc:
        raise ApiError(429, str(exc), {"Retry-After": str(exc.retry_after_seconds)}) from None
    if checked is KeyCheck.ABSENT:
        raise ApiError(401, "Missing x-api-key header", UNAUTHORIZED, "Unauthorized")
    if checked is not KeyCheck.VALID:
        raise ApiError(401, "Invalid API key", UNAUTHORIZED, "Unauthorized")
