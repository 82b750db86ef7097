"""The `api` function's routes, in the Worker's JSON (../shared/seed-api.md).

Every error is `{"error": "<what>", "message": "<why>"}`. Bad input gets a 4xx that
says what is wrong; unknown routes 404, wrong methods 405 (with Allow). Admin routes
take the key as `x-api-key: <token>` (the Worker's header) or `Authorization: Bearer
<token>` (rules and throttle: `usecases.admin_access`), and answer 503 when no usable
token is configured: never open. With PLOTBURN_REQUIRE_KEY every route but /healthz needs it.

Each request has a correlation id: the caller's `x-correlation-id` when it is of a
safe form, else `<epoch ms>-<random>`; it is echoed in the response header and names
the debug entries of anything the request generates. Reading the request (keys, ids,
parameters) and the error body live in `http_requests`; the limits in `api_contract`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from functions import openapi, views
from functions.api_contract import (
    FEED_DEFAULT_LIMIT,
    FEED_MAX_LIMIT,
    FEED_MAX_PAGE,
    MAX_BODY_BYTES,
    NOW_PLAYING_MAX_AGE_SECONDS,
)
from functions.errors import (
    BudgetExhausted,
    GenerationInProgress,
    InfrastructureUnavailable,
    MovieNotFound,
    NotOnDemand,
    RateLimited,
    RecentlyFailed,
    UpstreamError,
)
from functions.feed import FEED_TYPES, INVALID_TYPE, FeedNotFound
from functions.http_admin import (
    budget,
    cache_clear,
    cron_retry,
    cron_trigger,
    debug,
    delete_logs,
    logs,
    movie_debug,
)
from functions.http_auth import is_admin, requester, require_admin
from functions.http_requests import (
    AUTHORIZED_KEY,
    REQUEST_ID_KEY,
    ApiError,
    error,
    int_param,
    parse_movie_id,
    request_correlation_id,
    request_id,
    respond,
)
from functions.observability import emit, log_scope

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
    # `//cron//trigger` is no route: never a redirect that names a real one.
    merge_slashes=False,
)
ADMIN_ENDPOINTS = {
    "cron_trigger", "cron_retry", "logs", "delete_logs", "debug", "movie_debug",
    "cache_clear", "budget",
}  # fmt: skip
OPEN_ENDPOINTS = {"healthz"}  # even with PLOTBURN_REQUIRE_KEY


# ---------------------------------------------------------------------- handlers


def healthz(request: flask.Request, app: App) -> flask.Response:
    return respond({"ok": True})


def now_playing(request: flask.Request, app: App) -> flask.Response:
    return respond(
        app.now_playing.now_playing_view(),
        headers={"Cache-Control": f"public, max-age={NOW_PLAYING_MAX_AGE_SECONDS}"},
    )


def movie(request: flask.Request, app: App, movie_id: str) -> flask.Response:
    wanted = parse_movie_id(movie_id)
    client = None if is_admin(request, app) else requester(request, app)
    try:
        record, cached = app.generation.movie(wanted, client=client, request_id=request_id(request))
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
    except RecentlyFailed as exc:
        raise ApiError(503, str(exc), {"Retry-After": str(exc.retry_after_seconds)}) from None
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


def feed(request: flask.Request, app: App) -> flask.Response:
    kind = request.args.get("type", "all")
    if kind not in FEED_TYPES:
        raise ApiError(400, INVALID_TYPE, title=INVALID_TYPE)
    page = int_param(request, "page", 1, 1, FEED_MAX_PAGE)
    limit = int_param(request, "limit", FEED_DEFAULT_LIMIT, 1, FEED_MAX_LIMIT)
    view = app.operations.feed
    try:
        raw_id = request.args.get("id")
        if raw_id is not None:
            if kind not in ("roast", "truth"):
                raise ApiError(400, "id goes with type=roast or type=truth")
            return respond(view.one(kind, parse_movie_id(raw_id)))
        return respond(view.page(kind, page, limit))
    except FeedNotFound as exc:
        raise ApiError(404, str(exc)) from None


def cron_status(request: flask.Request, app: App) -> flask.Response:
    # Budget figures and upstream error text only for the admin key's holder.
    return respond(app.lifecycle.status(full=is_admin(request, app)))


def dashboard(request: flask.Request, app: App) -> flask.Response:
    from functions import dashboard as page

    return page.response()


def openapi_document(request: flask.Request, app: App) -> flask.Response:
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


def handle(request: flask.Request, app: App) -> flask.Response:
    correlation_id = request_correlation_id(request)
    request.environ[REQUEST_ID_KEY] = correlation_id
    started = time.monotonic()
    with log_scope(request.path, request.method):
        response = _dispatch(request, app)
    response.headers["x-correlation-id"] = correlation_id
    duration_ms = int((time.monotonic() - started) * 1000)
    # Every request is a log line (Cloud Logging); what changes state is also kept
    # for /logs, as the Worker logged its requests: only once the key was checked, so
    # an anonymous caller cannot make PlotBurn write to Firestore.
    if request.method in ("POST", "DELETE") and request.environ.get(AUTHORIZED_KEY):
        with log_scope(request.path, request.method):
            app.journal.log(
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
        # request.path drops repeated leading slashes: `//cron/trigger` is no route.
        if request.environ.get("PATH_INFO", "").startswith("//"):
            raise ApiError(404, "no such route", title="Not found")
        adapter = ROUTES.bind("plotburn", path_info=request.path)
        try:
            endpoint, args = adapter.match(method=request.method)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            raise ApiError(
                405, f"method {request.method} not allowed", {"Allow": allowed}
            ) from None
        except (NotFound, RequestRedirect):
            raise ApiError(404, f"no route {request.path}", title="Not found") from None
        if endpoint in ADMIN_ENDPOINTS or (
            app.settings.require_key and endpoint not in OPEN_ENDPOINTS
        ):
            require_admin(request, app)
            request.environ[AUTHORIZED_KEY] = True
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
