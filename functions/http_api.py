"""The `api` function's routes: parse and validate the request, call the pipeline,
map the result or error to JSON with a fitting status.

Every error is `{"error": "..."}`. Bad input gets a 4xx that says what is wrong;
unknown routes 404, wrong methods 405 (with Allow). Admin routes take the token only
from `Authorization: Bearer`, compare it in constant time, and answer 503 when no
token is configured: never open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from functions.errors import (
    BudgetExhausted,
    GenerationInProgress,
    InfrastructureUnavailable,
    MovieNotFound,
    NotOnDemand,
    RateLimited,
    UpstreamError,
)
from functions.models import CORRELATION_ID_PATTERN, bad_id
from functions.observability import emit

if TYPE_CHECKING:
    from functions.bootstrap import App

MAX_BODY_BYTES = 16 * 1024
LOGS_DEFAULT_LIMIT = 50
LOGS_MAX_LIMIT = 500
CACHE_KINDS = ("roast", "now-playing", "truth")

ROUTES = Map(
    [
        Rule("/healthz", endpoint="healthz", methods=["GET"]),
        Rule("/now-playing", endpoint="now_playing", methods=["GET"]),
        Rule("/movie/<movie_id>", endpoint="movie", methods=["GET"]),
        Rule("/cron/trigger", endpoint="cron_trigger", methods=["POST"]),
        Rule("/cron/status", endpoint="cron_status", methods=["GET"]),
        Rule("/cron/retry", endpoint="cron_retry", methods=["POST"]),
        Rule("/logs", endpoint="logs", methods=["GET"]),
        Rule("/debug", endpoint="debug", methods=["GET"]),
        Rule("/cache/clear/<kind>", endpoint="cache_clear", methods=["DELETE"]),
        Rule("/budget", endpoint="budget", methods=["GET"]),
        Rule("/dashboard", endpoint="dashboard", methods=["GET"]),
        Rule("/openapi.json", endpoint="openapi", methods=["GET"]),
    ],
    strict_slashes=False,
)
ADMIN_ENDPOINTS = {"cron_trigger", "cron_retry", "logs", "debug", "cache_clear", "budget"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(
        json.dumps(body, ensure_ascii=False, default=str),
        status=status,
        mimetype="application/json",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Access-Control-Allow-Origin"] = "*"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error(status: int, message: str, headers: dict[str, str] | None = None) -> flask.Response:
    return respond({"error": message}, status, headers)


def _is_admin(request: flask.Request, app: App) -> bool:
    configured = app.settings.admin_token
    if configured is None or not configured.get_secret_value():
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = configured.get_secret_value().encode("utf-8")
    # Compared in constant time, whatever the presented value's length or content.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode("utf-8", "replace"), expected
    )


def _require_admin(request: flask.Request, app: App) -> None:
    configured = app.settings.admin_token
    if configured is None or not configured.get_secret_value():
        raise ApiError(503, "admin routes are disabled: PLOTBURN_ADMIN_TOKEN is not set")
    if not _is_admin(request, app):
        raise ApiError(401, "missing or invalid admin token", {"WWW-Authenticate": "Bearer"})


def client_key(request: flask.Request, trusted_proxy_hops: int, secret: bytes) -> str:
    """Who is asking, as Google's front end reports it.

    The front end appends the address it received the request from to
    X-Forwarded-For, after whatever the client sent. Only that appended entry (or the
    one `trusted_proxy_hops` before the end, behind our own proxies) is trusted:
    everything to its left is the client's to forge. The key is a keyed hash
    (HMAC with `secret`): a plain hash of an IPv4 address could be reversed by
    trying all 2**32 of them, so client addresses are never stored, even as hashes.
    """
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    index = len(hops) - 1 - trusted_proxy_hops
    address = hops[index] if 0 <= index < len(hops) else (request.remote_addr or "unknown")
    return hmac.new(secret, address.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:24]


def _int_param(request: flask.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _correlation_id(request: flask.Request) -> str:
    value = request.args.get("correlationId")
    if not value:
        raise ApiError(400, "correlationId is required")
    if not re.fullmatch(CORRELATION_ID_PATTERN, value):
        raise ApiError(400, "correlationId is malformed")
    return value


# ---------------------------------------------------------------------- handlers


def healthz(request: flask.Request, app: App) -> flask.Response:
    return respond({"ok": True})


def now_playing(request: flask.Request, app: App) -> flask.Response:
    return respond({"movies": app.pipeline.now_playing_view()})


def movie(request: flask.Request, app: App, movie_id: str) -> flask.Response:
    if bad_id(movie_id):
        raise ApiError(400, "movie id must be a positive integer")
    client = (
        None
        if _is_admin(request, app)
        else client_key(request, app.settings.trusted_proxy_hops, app.settings.client_key_secret)
    )
    try:
        record = app.pipeline.movie(int(movie_id), client=client)
    except MovieNotFound:
        raise ApiError(404, f"movie {movie_id} not found") from None
    except NotOnDemand as exc:
        raise ApiError(404, str(exc)) from None
    except RateLimited as exc:
        raise ApiError(429, str(exc), {"Retry-After": str(exc.retry_after_seconds)}) from None
    except BudgetExhausted as exc:
        raise ApiError(
            503, "daily upstream budget exhausted; cached roasts are still served",
            {"Retry-After": str(exc.retry_after_seconds)},
        ) from None
    except GenerationInProgress as exc:
        return respond(
            {
                "message": "this movie's roast is being generated; retry shortly",
                "movie_id": int(movie_id),
                "status": "generating",
            },
            202,
            {"Retry-After": str(exc.retry_after_seconds)},
        )
    return respond(record.to_json())


def cron_trigger(request: flask.Request, app: App) -> flask.Response:
    correlation_id = app.pipeline.trigger_manual()
    return respond(
        {
            "message": "Cron job started in background",
            "correlation_id": correlation_id,
            "status": "started",
            "check_status_at": "/cron/status",
        },
        202,
    )


def cron_status(request: flask.Request, app: App) -> flask.Response:
    return respond(app.pipeline.status())


def cron_retry(request: flask.Request, app: App) -> flask.Response:
    correlation_id = _correlation_id(request)
    result = app.pipeline.retry_failed(correlation_id)
    if result is None:
        raise ApiError(404, f"run {correlation_id} not found")
    run, retried = result
    return respond(
        {
            "correlation_id": correlation_id,
            "retried_movie_ids": retried,
            "status": run.status.value,
            "check_status_at": "/cron/status",
        },
        202 if retried else 200,
    )


def logs(request: flask.Request, app: App) -> flask.Response:
    limit = _int_param(request, "limit", LOGS_DEFAULT_LIMIT, 1, LOGS_MAX_LIMIT)
    return respond({"logs": app.pipeline.journal.recent(limit)})


def debug(request: flask.Request, app: App) -> flask.Response:
    correlation_id = _correlation_id(request)
    found = app.pipeline.debug(correlation_id)
    if found is None:
        raise ApiError(404, f"run {correlation_id} not found")
    return respond(found)


def cache_clear(request: flask.Request, app: App, kind: str) -> flask.Response:
    if kind not in CACHE_KINDS:
        raise ApiError(404, f"unknown cache {kind!r}; one of {', '.join(CACHE_KINDS)}")
    removed = app.pipeline.clear_cache(kind)  # type: ignore[arg-type]
    return respond({"cache": kind, "removed": removed})


def budget(request: flask.Request, app: App) -> flask.Response:
    return respond(app.pipeline.budget_state())


def dashboard(request: flask.Request, app: App) -> flask.Response:
    from functions import dashboard as page

    return page.response()


def openapi_document(request: flask.Request, app: App) -> flask.Response:
    from functions import openapi  # imported here: it reads this module's limits

    return respond(openapi.document())


HANDLERS: dict[str, Callable[..., flask.Response]] = {
    "budget": budget,
    "healthz": healthz,
    "now_playing": now_playing,
    "movie": movie,
    "cron_trigger": cron_trigger,
    "cron_status": cron_status,
    "cron_retry": cron_retry,
    "logs": logs,
    "debug": debug,
    "cache_clear": cache_clear,
    "dashboard": dashboard,
    "openapi": openapi_document,
}


def handle(request: flask.Request, app: App) -> flask.Response:
    try:
        if request.method == "OPTIONS":
            return respond({}, 204, {"Access-Control-Allow-Methods": "GET, POST, DELETE", "Access-Control-Allow-Headers": "Authorization, Content-Type"})
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
        adapter = ROUTES.bind("plotburn", path_info=request.path)
        try:
            endpoint, args = adapter.match(method=request.method)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            raise ApiError(405, f"method {request.method} not allowed", {"Allow": allowed}) from None
        except NotFound:
            raise ApiError(404, "no such route") from None
        if endpoint in ADMIN_ENDPOINTS:
            _require_admin(request, app)
        return HANDLERS[endpoint](request, app, **args)
    except ApiError as exc:
        return error(exc.status, exc.message, exc.headers)
    except InfrastructureUnavailable:
        emit("WARNING", "api: storage or messaging unavailable", path=request.path)
        return error(503, "temporarily unavailable; retry shortly", {"Retry-After": "5"})
    except UpstreamError as exc:
        emit("WARNING", f"api: upstream failed: {exc}", path=request.path)
        return error(502, f"upstream {exc.service} unavailable; retry later")
    except HTTPException as exc:  # werkzeug-level problems, e.g. a malformed request
        return error(exc.code or 400, exc.description or "bad request")
    except Exception as exc:  # a bug: say so in the log, keep the response clean
        emit("ERROR", f"api: unhandled {type(exc).__name__}: {exc}", path=request.path)
        return error(500, "internal error")
