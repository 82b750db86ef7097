"""The path items of the admin routes (the key always needed)."""

from __future__ import annotations

from typing import Any

from functions.api_contract import (
    CLEARABLE,
    LOG_LEVELS,
    LOGS_DEFAULT_LIMIT,
    LOGS_DEFAULT_OLDER_THAN_DAYS,
    LOGS_MAX_LIMIT,
    LOGS_MAX_OLDER_THAN_DAYS,
)
from functions.openapi.common import RETRY_AFTER, json_response, ref, resp
from functions.openapi.operation import ANY_ID_PARAM, MOVIE_ID_PARAM, RUN_ID_PARAM, operation
from functions.openapi.responses import UNAVAILABLE


def movie_debug() -> dict[str, Any]:
    """GET /movie/{id}/debug."""
    return {
        "get": operation(
            "movieDebug",
            "What each generation of a movie saw and made",
            "admin",
            {
                "200": json_response(ref("MovieDebug"), "The movie's debug entries, newest first."),
                "400": resp("BadRequest"),
                "404": resp("NotFound"),
            },
            admin=True,
            parameters=[MOVIE_ID_PARAM],
        )
    }


def cron_trigger() -> dict[str, Any]:
    """POST /cron/trigger."""
    return {
        "post": operation(
            "cronTrigger",
            "Start a manual run",
            "admin",
            {
                "202": json_response(
                    ref("TriggerAccepted"),
                    "The run exists (in_progress in /cron/status) and its message is published.",
                )
            },
            admin=True,
        )
    }


def cron_retry() -> dict[str, Any]:
    """POST /cron/retry."""
    return {
        "post": operation(
            "cronRetry",
            "Republish a run's failed movies into the same run",
            "admin",
            {
                "200": json_response(ref("RetryResult"), "The run had no failed movies."),
                "202": json_response(ref("RetryResult"), "The failed movies are republished."),
                "400": resp("BadRequest"),
                "404": resp("NotFound"),
                "502": resp("BadGateway"),
            },
            admin=True,
            parameters=[RUN_ID_PARAM],
        )
    }


def logs() -> dict[str, Any]:
    """GET and DELETE /logs."""
    return {
        "get": operation(
            "logs",
            "Recent log entries, newest first",
            "admin",
            {
                "200": json_response(ref("Logs"), "Log entries."),
                "400": resp("BadRequest"),
            },
            admin=True,
            parameters=[
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": (
                        f"How many; a number out of 1..{LOGS_MAX_LIMIT} is clamped into it "
                        f"(not refused), anything else means {LOGS_DEFAULT_LIMIT}."
                    ),
                    "schema": {"type": "integer", "default": LOGS_DEFAULT_LIMIT},
                },
                {
                    "name": "level",
                    "in": "query",
                    "required": False,
                    "description": (
                        "Only entries of this level (case-insensitive); another value is a 400."
                    ),
                    "schema": {"type": "string", "enum": list(LOG_LEVELS)},
                },
                {
                    **ANY_ID_PARAM,
                    "required": False,
                    "description": "Only this correlation id's entries.",
                },
            ],
        ),
        "delete": operation(
            "deleteLogs",
            "Delete old log entries",
            "admin",
            {
                "200": json_response(ref("LogsDeleted"), "How many entries were deleted."),
                "400": resp("BadRequest"),
            },
            admin=True,
            parameters=[
                {
                    "name": "olderThanDays",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": LOGS_MAX_OLDER_THAN_DAYS,
                        "default": LOGS_DEFAULT_OLDER_THAN_DAYS,
                    },
                }
            ],
        ),
    }


def debug() -> dict[str, Any]:
    """GET /debug."""
    return {
        "get": operation(
            "debug",
            "What a correlation id paid for; for a run, its outcomes and logs",
            "admin",
            {
                "200": json_response(
                    ref("Debug"), "The debug entries (and the run, for a run's id)."
                ),
                "400": resp("BadRequest"),
                "404": resp("NotFound"),
            },
            admin=True,
            parameters=[ANY_ID_PARAM],
        )
    }


def cache_clear() -> dict[str, Any]:
    """DELETE /cache/clear/{kind}."""
    return {
        "delete": operation(
            "cacheClear",
            "Empty one cache, or all of them",
            "admin",
            {
                "200": json_response(ref("CacheCleared"), "What was deleted."),
                "404": resp("NotFound"),
                "503": json_response(
                    {"oneOf": [ref("CacheCleared"), ref("Error")]},
                    "A cache could not be cleared now (CacheCleared with success false and "
                    "errors; the others were cleared), or admin routes are disabled, or "
                    f"{UNAVAILABLE}.",
                    {"Retry-After": RETRY_AFTER},
                ),
            },
            admin=True,
            parameters=[
                {
                    "name": "kind",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": list(CLEARABLE)},
                }
            ],
        )
    }


def budget() -> dict[str, Any]:
    """GET /budget."""
    return {
        "get": operation(
            "budget",
            "Today's upstream spend against its ceilings",
            "admin",
            {"200": json_response(ref("Budget"), "Today's budget.")},
            admin=True,
        )
    }
