"""The `api` function's routes, in the Worker's JSON (../shared/seed-api.md).

Every error is `{"error": "<what>", "message": "<why>"}`. Bad input gets a 4xx that
says what is wrong; unknown routes 404, wrong methods 405 (with Allow). Admin routes
take the key as `x-api-key: <token>` (the Worker's header) or `Authorization: Bearer
<token>`, compared in constant time, and answer 503 when no token is configured:
never open. With PLOTBURN_REQUIRE_KEY every route but /healthz needs it.

Each request has a correlation id: the caller's `x-correlation-id` when it is of a
safe form, else `<epoch ms>-<random>`; it is echoed in the response header and names
the debug entries of anything the request generates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule

from functions import views
from functions.api_contract import (
    CLEARABLE,
    FEED_DEFAULT_LIMIT,
    FEED_MAX_LIMIT,
    FEED_MAX_PAGE,
    LOG_LEVELS,
    LOGS_DEFAULT_LIMIT,
    LOGS_DEFAULT_OLDER_THAN_DAYS,
    LOGS_MAX_LIMIT,
    LOGS_MAX_OLDER_THAN_DAYS,
    MAX_BODY_BYTES,
    NOW_PLAYING_MAX_AGE_SECONDS,
    SAFE_ID_PATTERN,
)
from functions.errors import (
    BudgetExhausted,
    GenerationInProgress,
    InfrastructureUnavailable,
    MovieNotFound,
    NotOnDemand,
    RateLimited,
    UpstreamError,
)
from functions.feed import FEED_TYPES, INVALID_TYPE, FeedNotFound
from functions.models import CORRELATION_ID_PATTERN, bad_id, epoch_ms, utcnow
from functions.observability import emit, log_scope
from functions.ports import CacheKind

if TYPE_CHECKING:
    from functions.bootstrap import App

CORS_HEADERS = "Authorization, Content-Type, x-api-key, x-correlation-id"

ROUTES = Map(
    [
        Rule("/healthz", endpoint="healthz", methods=["GET"]),
        Rule("/now-playing", endpoint="now_playing", methods=["GET"]),
        Rule("/movie/<movie_id>", endpoint="movie", methods=["GET"]),
        Rule("/movie/<movie_id>/debug", endpoint="movie_debug", methods=["GET"]),
        Rule("/feed", endpoint="feed", methods=["GET"]),
        Rule("/cron/trigger", endpoint="cron_trigger", methods=["POST"]),
        Rule("/cron/status", endpoint="cron_status", methods=["GET"]),
        Rule("/cron/retry", endpoint="cron_retry", methods=["POST"]),
        Rule("/logs", endpoint="logs", methods=["GET"]),
        Rule("/logs", endpoint="delete_logs", methods=["DELETE"]),
        Rule("/debug", endpoint="debug", methods=["GET"]),
        Rule("/cache/clear/<kind>", endpoint="cache_clear", methods=["DELETE"]),
        Rule("/budget", endpoint="budget", methods=["GET"]),
        Rule("/dashboard", endpoint="dashboard", methods=["GET"]),
        Rule("/openapi.json", endpoint="openapi", methods=["GET"]),
    ],
    strict_slashes=False,
)
ADMIN_ENDPOINTS = {
    "cron_trigger", "cron_retry", "logs", "delete_logs", "debug", "movie_debug",
    "cache_clear", "budget",
}  # fmt: skip
OPEN_ENDPOINTS = {"healthz"}  # even with PLOTBURN_REQUIRE_KEY


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.title = title


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(
        json.dumps(body, ensure_ascii=False, default=str),
        status=status,
        mimetype="application/json",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "x-correlation-id, Retry-After"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error(
    status: int, message: str, headers: dict[str, str] | None = None, title: str | None = None
) -> flask.Response:
    """The Worker's error body: what went wrong (the status' name), and why."""
    return respond(
        {"error": title or HTTP_STATUS_CODES.get(status, "Error"), "message": message},
        status,
        headers,
    )


def _presented_key(request: flask.Request) -> str | None:
    """The admin key as the Worker's clients send it (x-api-key) or as a bearer token."""
    api_key = request.headers.get("x-api-key")
    if api_key is not None:
        return api_key.strip()
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else None


def _is_admin(request: flask.Request, app: App) -> bool:
    configured = app.settings.admin_token
    presented = _presented_key(request)
    if configured is None or not configured.get_secret_value() or presented is None:
        return False
    # Compared in constant time, whatever the presented value's length or content.
    return hmac.compare_digest(
        presented.encode("utf-8", "replace"), configured.get_secret_value().encode("utf-8")
    )


def _require_admin(request: flask.Request, app: App) -> None:
    configured = app.settings.admin_token
    if configured is None or not configured.get_secret_value():
        raise ApiError(503, "admin routes are disabled: PLOTBURN_ADMIN_TOKEN is not set")
    if _presented_key(request) is None:
        raise ApiError(
            401, "Missing x-api-key header", {"WWW-Authenticate": "Bearer"}, "Unauthorized"
        )
    if not _is_admin(request, app):
        raise ApiError(401, "Invalid API key", {"WWW-Authenticate": "Bearer"}, "Unauthorized")


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


def _clamped_int(request: flask.Request, name: str, default: int, low: int, high: int) -> int:
    """The Worker's way with limits: a number out of range is clamped, junk is the default."""
    raw = (request.args.get(name) or "").strip()
    if not re.fullmatch(r"-?[0-9]{1,12}", raw):
        return default
    return min(high, max(low, int(raw)))


def _run_id(request: flask.Request) -> str:
    value = request.args.get("correlationId")
    if not value:
        raise ApiError(400, "correlationId is required")
    if not re.fullmatch(CORRELATION_ID_PATTERN, value):
        raise ApiError(400, "correlationId is malformed")
    return value


def _any_correlation_id(request: flask.Request) -> str:
    value = request.args.get("correlationId")
    if not value:
        raise ApiError(400, "correlationId query parameter is required")
    if not re.fullmatch(SAFE_ID_PATTERN, value):
        raise ApiError(400, "correlationId may use only letters, digits and . _ : - (at most 128)")
    return value


def request_correlation_id(request: flask.Request) -> str:
    """The caller's x-correlation-id when it is safe to store and echo, else a new one."""
    offered = (request.headers.get("x-correlation-id") or "").strip()
    if re.fullmatch(SAFE_ID_PATTERN, offered):
        return offered
    return f"{epoch_ms(utcnow())}-{secrets.token_hex(4)}"


def _request_id(request: flask.Request) -> str:
    """This request's correlation id, as `handle` chose it."""
    chosen = request.environ.get(_REQUEST_ID_KEY)
    return chosen if isinstance(chosen, str) else request_correlation_id(request)


def _movie_id(movie_id: str) -> int:
    if bad_id(movie_id):
        raise ApiError(400, "movie id must be a positive integer")
    return int(movie_id)


# ---------------------------------------------------------------------- handlers


def healthz(request: flask.Request, app: App) -> flask.Response:
    return respond({"ok": True})


def now_playing(request: flask.Request, app: App) -> flask.Response:
    return respond(
        app.pipeline.now_playing_view(),
        headers={"Cache-Control": f"public, max-age={NOW_PLAYING_MAX_AGE_SECONDS}"},
    )


def movie(request: flask.Request, app: App, movie_id: str) -> flask.Response:
    wanted = _movie_id(movie_id)
    client = (
        None
        if _is_admin(request, app)
        else client_key(request, app.settings.trusted_proxy_hops, app.settings.client_key_secret)
    )
    try:
        record, cached = app.pipeline.movie(wanted, client=client, request_id=_request_id(request))
    except MovieNotFound:
        raise ApiError(404, f"movie {movie_id} not found") from None
    except NotOnDemand as exc:
        raise ApiError(404, str(exc)) from None
    except RateLimited as exc:
        raise ApiError(429, str(exc), {"Retry-After": str(exc.retry_after_seconds)}) from None
    except BudgetExhausted as exc:
        raise ApiError(
            503,
            "daily upstream budget exhausted; cached roasts are still served",
            {"Retry-After": str(exc.retry_after_seconds)},
        ) from None
    except GenerationInProgress as exc:
        return respond(
            {
                "message": "this movie's roast is being generated; retry shortly",
                "movie_id": wanted,
                "status": "generating",
            },
            202,
            {"Retry-After": str(exc.retry_after_seconds)},
        )
    return respond(views.movie_response(record, cached))


def movie_debug(request: flask.Request, app: App, movie_id: str) -> flask.Response:
    found = app.pipeline.movie_debug_view(_movie_id(movie_id))
    if found is None:
        raise ApiError(404, f"no debug entries for movie {movie_id}")
    return respond(found)


def feed(request: flask.Request, app: App) -> flask.Response:
    kind = request.args.get("type", "all")
    if kind not in FEED_TYPES:
        raise ApiError(400, INVALID_TYPE, title=INVALID_TYPE)
    page = _int_param(request, "page", 1, 1, FEED_MAX_PAGE)
    limit = _int_param(request, "limit", FEED_DEFAULT_LIMIT, 1, FEED_MAX_LIMIT)
    view = app.pipeline.feed
    try:
        raw_id = request.args.get("id")
        if raw_id is not None:
            if kind not in ("roast", "truth"):
                raise ApiError(400, "id goes with type=roast or type=truth")
            return respond(view.one(kind, _movie_id(raw_id)))
        return respond(view.page(kind, page, limit))
    except FeedNotFound as exc:
        raise ApiError(404, str(exc)) from None


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
    correlation_id = _run_id(request)
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
    limit = _clamped_int(request, "limit", LOGS_DEFAULT_LIMIT, 1, LOGS_MAX_LIMIT)
    level = request.args.get("level")
    if level is not None:
        level = level.upper()
        if level not in LOG_LEVELS:
            raise ApiError(400, f"level must be one of {', '.join(LOG_LEVELS)}")
    correlation_id = _any_correlation_id(request) if "correlationId" in request.args else None
    return respond(app.pipeline.logs_view(limit, level, correlation_id))


def delete_logs(request: flask.Request, app: App) -> flask.Response:
    days = _int_param(
        request, "olderThanDays", LOGS_DEFAULT_OLDER_THAN_DAYS, 0, LOGS_MAX_OLDER_THAN_DAYS
    )
    return respond(app.pipeline.delete_logs(days))


def debug(request: flask.Request, app: App) -> flask.Response:
    correlation_id = _any_correlation_id(request)
    found = app.pipeline.debug_view(correlation_id)
    if found is None:
        raise ApiError(404, f"nothing recorded for correlationId {correlation_id}")
    return respond(found)


def cache_clear(request: flask.Request, app: App, kind: str) -> flask.Response:
    if kind not in CLEARABLE:
        raise ApiError(404, f"unknown cache {kind!r}; one of {', '.join(CLEARABLE)}")
    result = app.pipeline.clear_cache(cast("CacheKind", kind))
    return respond(result, 200 if result["success"] else 503)


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
    "movie_debug": movie_debug,
    "feed": feed,
    "cron_trigger": cron_trigger,
    "cron_status": cron_status,
    "cron_retry": cron_retry,
    "logs": logs,
    "delete_logs": delete_logs,
    "debug": debug,
    "cache_clear": cache_clear,
    "dashboard": dashboard,
    "openapi": openapi_document,
}


_REQUEST_ID_KEY = "plotburn.correlation_id"
_AUTHORIZED_KEY = "plotburn.authorized"  # set once the admin key was checked


def handle(request: flask.Request, app: App) -> flask.Response:
    correlation_id = request_correlation_id(request)
    request.environ[_REQUEST_ID_KEY] = correlation_id
    started = time.monotonic()
    with log_scope(request.path, request.method):
        response = _dispatch(request, app)
    response.headers["x-correlation-id"] = correlation_id
    duration_ms = int((time.monotonic() - started) * 1000)
    # Every request is a log line (Cloud Logging); what changes state is also kept
    # for /logs, as the Worker logged its requests: only once the key was checked, so
    # an anonymous caller cannot make PlotBurn write to Firestore.
    if request.method in ("POST", "DELETE") and request.environ.get(_AUTHORIZED_KEY):
        with log_scope(request.path, request.method):
            app.pipeline.journal.log(
                "INFO" if response.status_code < 400 else "WARNING",
                f"{request.method} {request.path} answered {response.status_code}",
                correlation_id,
                response_status=response.status_code,
                duration_ms=duration_ms,
            )
    else:
        emit(
            "INFO" if response.status_code < 500 else "ERROR",
            f"{request.method} {request.path} answered {response.status_code}",
            correlation_id,
            response_status=response.status_code,
            duration_ms=duration_ms,
        )
    return response


def _dispatch(request: flask.Request, app: App) -> flask.Response:
    try:
        if request.method == "OPTIONS":
            return respond(
                {},
                204,
                {
                    "Access-Control-Allow-Methods": "GET, POST, DELETE",
                    "Access-Control-Allow-Headers": CORS_HEADERS,
                },
            )
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
        adapter = ROUTES.bind("plotburn", path_info=request.path)
        try:
            endpoint, args = adapter.match(method=request.method)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            raise ApiError(
                405, f"method {request.method} not allowed", {"Allow": allowed}
            ) from None
        except NotFound:
            raise ApiError(404, f"no route {request.path}", title="Not found") from None
        if endpoint in ADMIN_ENDPOINTS or (
            app.settings.require_key and endpoint not in OPEN_ENDPOINTS
        ):
            _require_admin(request, app)
            request.environ[_AUTHORIZED_KEY] = True
        return HANDLERS[endpoint](request, app, **args)
    except ApiError as exc:
        return error(exc.status, exc.message, exc.headers, exc.title)
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
