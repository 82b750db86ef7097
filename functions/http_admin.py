"""The `api` function's admin routes (the key is checked before any of these runs:
`http_api._dispatch`): runs, logs, debug entries, caches and the budget."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import flask

from functions.api_contract import (
    CLEARABLE,
    LOG_LEVELS,
    LOGS_DEFAULT_LIMIT,
    LOGS_DEFAULT_OLDER_THAN_DAYS,
    LOGS_MAX_LIMIT,
    LOGS_MAX_OLDER_THAN_DAYS,
)
from functions.http_requests import (
    ApiError,
    any_correlation_id,
    clamped_int,
    int_param,
    parse_movie_id,
    respond,
    run_id,
)
from functions.ports import CacheKind

if TYPE_CHECKING:
    from functions.bootstrap import App


def movie_debug(request: flask.Request, app: App, movie_id: str) -> flask.Response:
    found = app.operations.movie_debug_view(parse_movie_id(movie_id))
    if found is None:
        raise ApiError(404, f"no debug entries for movie {movie_id}")
    return respond(found)


def cron_trigger(request: flask.Request, app: App) -> flask.Response:
    correlation_id = app.nightly.trigger_manual()
    return respond(
        {
            "message": "Cron job started in background",
            "correlation_id": correlation_id,
            "status": "started",
            "check_status_at": "/cron/status",
        },
        202,
    )


def cron_retry(request: flask.Request, app: App) -> flask.Response:
    correlation_id = run_id(request)
    result = app.lifecycle.retry_failed(correlation_id)
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
    limit = clamped_int(request, "limit", LOGS_DEFAULT_LIMIT, 1, LOGS_MAX_LIMIT)
    level = request.args.get("level")
    if level is not None:
        level = level.upper()
        if level not in LOG_LEVELS:
            raise ApiError(400, f"level must be one of {', '.join(LOG_LEVELS)}")
    correlation_id = any_correlation_id(request) if "correlationId" in request.args else None
    return respond(app.operations.logs_view(limit, level, correlation_id))


def delete_logs(request: flask.Request, app: App) -> flask.Response:
    days = int_param(
        request, "olderThanDays", LOGS_DEFAULT_OLDER_THAN_DAYS, 0, LOGS_MAX_OLDER_THAN_DAYS
    )
    return respond(app.operations.delete_logs(days))


def debug(request: flask.Request, app: App) -> flask.Response:
    correlation_id = any_correlation_id(request)
    found = app.operations.debug_view(correlation_id)
    if found is None:
        raise ApiError(404, f"nothing recorded for correlationId {correlation_id}")
    return respond(found)


def cache_clear(request: flask.Request, app: App, kind: str) -> flask.Response:
    if kind not in CLEARABLE:
        raise ApiError(404, f"unknown cache {kind!r}; one of {', '.join(CLEARABLE)}")
    result = app.operations.clear_cache(cast("CacheKind", kind))
    return respond(result, 200 if result["success"] else 503)


def budget(request: flask.Request, app: App) -> flask.Response:
    return respond(app.budget.budget_state())
