"""The OpenAPI 3.1 contract of the `api` function, served at `GET /openapi.json`.

Built from the same constants `http_api` validates with (id ranges, the correlation
id pattern, the logs limit, the cache kinds), so the document cannot drift from the
checks. Response bodies are described as they are today; every object stays open to
added fields ("only add fields, never rename"), and the unit tests check each real
response against it with unknown fields forbidden, so nothing goes undocumented.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from functions.http_api import (
    CACHE_KINDS,
    LOGS_DEFAULT_LIMIT,
    LOGS_MAX_LIMIT,
    MAX_BODY_BYTES,
)
from functions.metering import SERVICES
from functions.models import CORRELATION_ID_PATTERN, MAX_MOVIE_ID

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
CSP_HEADER = "Content-Security-Policy"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


COUNT = {"type": "integer", "minimum": 0}
MOVIE_ID = {"type": "integer", "minimum": 1, "maximum": MAX_MOVIE_ID}
TIMESTAMP = {"type": "string", "format": "date-time"}
RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "Every error response: a message that says what is wrong.",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Movie": {
        "type": "object",
        "description": "A movie as TMDB lists it. All text is upstream data: render it as text.",
        "required": [
            "id", "title", "overview", "release_date", "poster_path",
            "original_language", "vote_average",
        ],
        "properties": {
            "id": MOVIE_ID,
            "title": {"type": "string", "maxLength": 500},
            "overview": {"type": "string", "maxLength": 10000},
            "release_date": _nullable({"type": "string", "maxLength": 32}),
            "poster_path": _nullable(
                {"type": "string", "maxLength": 500,
                 "description": "Path under https://image.tmdb.org/t/p/{size}"}
            ),
            "original_language": _nullable({"type": "string", "maxLength": 16}),
            "vote_average": _nullable({"type": "number"}),
        },
    },
    "NowPlayingMovie": {
        "allOf": [
            _ref("Movie"),
            {
                "type": "object",
                "required": ["roast_ready"],
                "properties": {
                    "roast_ready": {
                        "type": "boolean",
                        "description": "True when GET /movie/{id} is a cache hit (costs nothing).",
                    }
                },
            },
        ]
    },
    "NowPlaying": {
        "type": "object",
        "required": ["movies"],
        "properties": {"movies": {"type": "array", "items": _ref("NowPlayingMovie")}},
    },
    "MovieWithRoast": {
        "allOf": [
            _ref("Movie"),
            {
                "type": "object",
                "required": ["truth", "roast", "roast_ready"],
                "properties": {
                    "truth": {
                        "type": "object",
                        "description": "The research brief (Perplexity) the roast was written from.",
                        "required": ["brief", "citations", "model", "created_at"],
                        "properties": {
                            "brief": {"type": "string"},
                            "citations": {"type": "array", "items": {"type": "string"}},
                            "model": {"type": "string"},
                            "created_at": TIMESTAMP,
                        },
                    },
                    "roast": {
                        "type": "object",
                        "description": "The roast (Grok). Untrusted text: never render it as HTML.",
                        "required": ["text", "card", "model", "created_at"],
                        "properties": {
                            "text": {"type": "string", "description": "Headline and content."},
                            "card": _ref("RoastCard"),
                            "model": {"type": "string"},
                            "created_at": TIMESTAMP,
                        },
                    },
                    "roast_ready": {"const": True},
                },
            },
        ]
    },
    "Generating": {
        "type": "object",
        "description": "Another caller is generating this movie's roast.",
        "required": ["message", "movie_id", "status"],
        "properties": {
            "message": {"type": "string"},
            "movie_id": MOVIE_ID,
            "status": {"const": "generating"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["ok"],
        "properties": {"ok": {"const": True}},
    },
    "CorrelationId": {"type": "string", "pattern": CORRELATION_ID_PATTERN},
    "RunStatus": {"type": "string", "enum": ["in_progress", "success", "partial", "failed"]},
    "TokenCount": {
        "type": "object",
        "required": ["prompt", "completion"],
        "properties": {"prompt": COUNT, "completion": COUNT},
    },
    "Run": {
        "type": "object",
        "description": (
            "A nightly or manual run. The seed Worker's CronResult fields, plus added "
            "ones (never renamed). While in_progress, counters are live."
        ),
        "required": [
            "timestamp", "trigger", "correlation_id", "movies_fetched", "roasts_processed",
            "roasts_cached", "roasts_generated", "roasts_failed", "failed_movie_ids",
            "failure_reasons", "duration_ms", "status", "finished_at", "error",
            "upstream_calls", "tokens", "estimated_cost_usd",
        ],
        "properties": {
            "timestamp": {**TIMESTAMP, "description": "When the run started."},
            "trigger": {"type": "string", "enum": ["scheduled", "manual"]},
            "correlation_id": _ref("CorrelationId"),
            "movies_fetched": COUNT,
            "roasts_processed": COUNT,
            "roasts_cached": COUNT,
            "roasts_generated": COUNT,
            "roasts_failed": COUNT,
            "failed_movie_ids": {"type": "array", "items": MOVIE_ID},
            "failure_reasons": {
                "type": "object",
                "description": "Failed movie id -> why it failed.",
                "propertyNames": {"pattern": "^[1-9][0-9]*$"},
                "additionalProperties": {"type": "string"},
            },
            "duration_ms": _nullable({**COUNT, "description": "null while in_progress"}),
            "status": _ref("RunStatus"),
            "finished_at": _nullable(TIMESTAMP),
            "error": _nullable(
                {"type": "string", "description": "Why the run could not start at all."}
            ),
            "upstream_calls": {
                "type": "object",
                "description": "Calls made per upstream service, retries included.",
                "required": list(SERVICES),
                "properties": {s: COUNT for s in SERVICES},
            },
            "tokens": {
                "type": "object",
                "description": "Tokens reported by the LLM APIs' usage.",
                "required": ["research", "roast"],
                "properties": {s: _ref("TokenCount") for s in ("research", "roast")},
            },
            "estimated_cost_usd": {
                "type": "number",
                "minimum": 0,
                "description": "From the configured per-model prices (PLOTBURN_PRICE_*).",
            },
        },
    },
    "Budget": {
        "type": "object",
        "description": "Today's (UTC) paid upstream spend against its ceilings.",
        "required": [
            "day", "calls", "call_ceiling", "remaining_calls", "estimated_cost_usd",
            "cost_ceiling_usd", "exhausted",
        ],
        "properties": {
            "day": {"type": "string", "format": "date"},
            "calls": {"type": "integer"},
            "call_ceiling": COUNT,
            "estimated_cost_usd": {"type": "number"},
            "cost_ceiling_usd": {"type": "number", "minimum": 0},
            "remaining_calls": COUNT,
            "exhausted": {
                "type": "boolean",
                "description": "True once a new movie (research + roast, 2 calls) no longer fits "
                "under the call ceiling, or the cost ceiling is reached: no new generation then.",
            },
        },
    },
    "CronStatus": {
        "type": "object",
        "required": ["last_run", "history", "total_runs", "budget"],
        "properties": {
            "last_run": _nullable(_ref("Run")),
            "history": {
                "type": "array",
                "maxItems": 10,
                "description": "The last 10 runs, newest first.",
                "items": _ref("Run"),
            },
            "total_runs": COUNT,
            "budget": _ref("Budget"),
        },
    },
    "TriggerAccepted": {
        "type": "object",
        "required": ["message", "correlation_id", "status", "check_status_at"],
        "properties": {
            "message": {"type": "string"},
            "correlation_id": _ref("CorrelationId"),
            "status": {"const": "started"},
            "check_status_at": {"const": "/cron/status"},
        },
    },
    "RetryResult": {
        "type": "object",
        "required": ["correlation_id", "retried_movie_ids", "status", "check_status_at"],
        "properties": {
            "correlation_id": _ref("CorrelationId"),
            "retried_movie_ids": {"type": "array", "items": MOVIE_ID},
            "status": _ref("RunStatus"),
            "check_status_at": {"const": "/cron/status"},
        },
    },
    "LogEntry": {
        "type": "object",
        "description": "A structured log entry; further fields depend on the event.",
        "required": ["severity", "message"],
        "properties": {
            "severity": {
                "type": "string",
                "enum": ["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT"],
            },
            "message": {"type": "string"},
            "correlation_id": _nullable({"type": "string"}),
            "timestamp": TIMESTAMP,
            "created_at": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "Logs": {
        "type": "object",
        "required": ["logs"],
        "properties": {
            "logs": {
                "type": "array",
                "maxItems": LOGS_MAX_LIMIT,
                "description": "Newest first.",
                "items": _ref("LogEntry"),
            }
        },
    },
    "ServiceSpend": {
        "type": "object",
        "required": ["calls", "prompt_tokens", "completion_tokens", "cost_usd"],
        "properties": {
            "calls": COUNT,
            "prompt_tokens": COUNT,
            "completion_tokens": COUNT,
            "cost_usd": {"type": "number", "minimum": 0},
        },
    },
    "RoastCard": {
        "type": "object",
        "description": "The roast card (Grok structured output). Untrusted text: never render it as HTML.",
        "required": ["headline", "content", "chips", "internet_vibe", "your_opinion", "similar_movies"],
        "additionalProperties": False,
        "properties": {
            "headline": {"type": "string"},
            "content": {"type": "string", "description": "Three paragraphs separated by blank lines."},
            "chips": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
            "internet_vibe": {"type": "array", "items": {"type": "string"}, "minItems": 6, "maxItems": 6},
            "your_opinion": {"type": "string"},
            "similar_movies": {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 4},
        },
    },
    "MovieOutcome": {
        "type": "object",
        "description": "How one movie of a run ended.",
        "required": ["movie_id", "outcome", "reason", "title", "recorded_at", "spend"],
        "properties": {
            "movie_id": MOVIE_ID,
            "outcome": {"type": "string", "enum": ["cached", "generated", "failed"]},
            "reason": _nullable({"type": "string"}),
            "title": _nullable({"type": "string"}),
            "recorded_at": TIMESTAMP,
            "spend": {
                "type": "object",
                "required": list(SERVICES),
                "properties": {s: _ref("ServiceSpend") for s in SERVICES},
            },
        },
    },
    "Debug": {
        "type": "object",
        "required": ["run", "movies", "pending_movie_ids", "logs"],
        "properties": {
            "run": _ref("Run"),
            "movies": {"type": "array", "items": _ref("MovieOutcome")},
            "pending_movie_ids": {"type": "array", "items": MOVIE_ID},
            "logs": {"type": "array", "items": _ref("LogEntry")},
        },
    },
    "CacheCleared": {
        "type": "object",
        "required": ["cache", "removed"],
        "properties": {
            "cache": {"type": "string", "enum": list(CACHE_KINDS)},
            "removed": COUNT,
        },
    },
}

_RESPONSES: dict[str, Any] = {
    "BadRequest": _json(_ref("Error"), "A parameter is missing or malformed."),
    "Unauthorized": _json(
        _ref("Error"),
        "Missing or wrong admin token.",
        {"WWW-Authenticate": {"schema": {"const": "Bearer"}}},
    ),
    "NotFound": _json(_ref("Error"), "No such resource."),
    "PayloadTooLarge": _json(
        _ref("Error"), f"The request carries a body over {MAX_BODY_BYTES} bytes."
    ),
    "TooManyRequests": _json(
        _ref("Error"),
        "This client's requests that need a new (paid) roast are over the per-minute limit.",
        {"Retry-After": RETRY_AFTER},
    ),
    "BadGateway": _json(_ref("Error"), "An upstream API failed after bounded retries."),
    "Unavailable": _json(
        _ref("Error"),
        "Firestore or Pub/Sub is unavailable (retry shortly).",
        {"Retry-After": RETRY_AFTER},
    ),
    "AdminUnavailable": _json(
        _ref("Error"),
        "Admin routes are disabled (PLOTBURN_ADMIN_TOKEN is not set), or Firestore or "
        "Pub/Sub is unavailable (then with Retry-After).",
        {"Retry-After": RETRY_AFTER},
    ),
}

ADMIN = [{"adminBearer": []}]
PUBLIC: list[dict[str, list[str]]] = []

CORRELATION_PARAM = {
    "name": "correlationId",
    "in": "query",
    "required": True,
    "description": "A run's id: cron-<epoch ms> or manual-trigger-<epoch ms>.",
    "schema": _ref("CorrelationId"),
}


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Any],
    *,
    admin: bool = False,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    responses = dict(responses)
    responses.setdefault("413", _resp("PayloadTooLarge"))
    if admin:
        responses.setdefault("401", _resp("Unauthorized"))
        responses.setdefault("503", _resp("AdminUnavailable"))
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": ADMIN if admin else PUBLIC,
        "responses": dict(sorted(responses.items())),
    }
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    return op


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": _operation(
                "healthz", "Liveness", "public",
                {"200": _json(_ref("Health"), "Up.")},
            )
        },
        "/now-playing": {
            "get": _operation(
                "nowPlaying", "The movies now playing, and whether each roast is ready", "public",
                {
                    "200": _json(_ref("NowPlaying"), "The now-playing list (cached 23 h)."),
                    "502": _resp("BadGateway"),
                    "503": _resp("Unavailable"),
                },
            )
        },
        "/movie/{id}": {
            "get": _operation(
                "movie", "A movie with its truth and roast", "public",
                {
                    "200": _json(_ref("MovieWithRoast"), "The movie, its truth and its roast."),
                    "202": _json(
                        _ref("Generating"),
                        "Another caller is generating this roast; retry after Retry-After.",
                        {"Retry-After": RETRY_AFTER},
                    ),
                    "400": _resp("BadRequest"),
                    "404": _resp("NotFound"),
                    "429": _resp("TooManyRequests"),
                    "502": _resp("BadGateway"),
                    "503": _json(
                        _ref("Error"),
                        "The daily upstream budget is exhausted, or Firestore is unavailable.",
                        {"Retry-After": RETRY_AFTER},
                    ),
                },
                parameters=[
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "description": "TMDB movie id.",
                        "schema": MOVIE_ID,
                    }
                ],
                description=(
                    "A cache hit costs nothing. On a miss the roast is generated (research, "
                    "then roast), once across all callers. Public callers may generate only "
                    "now-playing movies (404 otherwise) and are rate-limited (429); the admin "
                    "token may generate any movie."
                ),
            )
        },
        "/cron/trigger": {
            "post": _operation(
                "cronTrigger", "Start a manual run", "admin",
                {"202": _json(_ref("TriggerAccepted"), "The run's message is published.")},
                admin=True,
            )
        },
        "/cron/status": {
            "get": _operation(
                "cronStatus", "The last run, the last 10 runs, and today's budget", "public",
                {
                    "200": _json(_ref("CronStatus"), "Status."),
                    "503": _resp("Unavailable"),
                },
            )
        },
        "/cron/retry": {
            "post": _operation(
                "cronRetry", "Republish a run's failed movies into the same run", "admin",
                {
                    "200": _json(_ref("RetryResult"), "The run had no failed movies."),
                    "202": _json(_ref("RetryResult"), "The failed movies are republished."),
                    "400": _resp("BadRequest"),
                    "404": _resp("NotFound"),
                    "502": _resp("BadGateway"),
                },
                admin=True,
                parameters=[CORRELATION_PARAM],
            )
        },
        "/logs": {
            "get": _operation(
                "logs", "Recent log entries, newest first", "admin",
                {
                    "200": _json(_ref("Logs"), "Log entries."),
                    "400": _resp("BadRequest"),
                },
                admin=True,
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": LOGS_MAX_LIMIT,
                            "default": LOGS_DEFAULT_LIMIT,
                        },
                    }
                ],
            )
        },
        "/debug": {
            "get": _operation(
                "debug", "A run, its per-movie outcomes and its log entries", "admin",
                {
                    "200": _json(_ref("Debug"), "The run."),
                    "400": _resp("BadRequest"),
                    "404": _resp("NotFound"),
                },
                admin=True,
                parameters=[CORRELATION_PARAM],
            )
        },
        "/cache/clear/{kind}": {
            "delete": _operation(
                "cacheClear", "Empty one cache", "admin",
                {
                    "200": _json(_ref("CacheCleared"), "How many documents were removed."),
                    "404": _resp("NotFound"),
                },
                admin=True,
                parameters=[
                    {
                        "name": "kind",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(CACHE_KINDS)},
                    }
                ],
            )
        },
        "/budget": {
            "get": _operation(
                "budget", "Today's upstream spend against its ceilings", "admin",
                {"200": _json(_ref("Budget"), "Today's budget.")},
                admin=True,
            )
        },
        "/dashboard": {
            "get": _operation(
                "dashboard", "The operator dashboard (HTML, read-only)", "public",
                {
                    "200": {
                        "description": (
                            "A self-contained page that reads /cron/status, /now-playing "
                            "and, for ready roasts only, /movie/{id}."
                        ),
                        "headers": {CSP_HEADER: {"schema": {"type": "string"}}},
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            )
        },
        "/openapi.json": {
            "get": _operation(
                "openapi", "This document", "public",
                {"200": _json({"type": "object"}, "The OpenAPI 3.1 document.")},
            )
        },
    }


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "PlotBurn api",
            "version": API_VERSION,
            "summary": "Nightly movie roasts: public reads, admin operations.",
            "description": (
                "JSON in and out. Every error is {\"error\": \"...\"}. An unknown route "
                "answers 404; a known route with another method answers 405 with Allow. "
                "No route reads a request body; one over "
                f"{MAX_BODY_BYTES} bytes is refused with 413. Admin routes take "
                "`Authorization: Bearer <PLOTBURN_ADMIN_TOKEN>`: a missing or wrong token "
                "gets 401; with no token configured they answer 503 (never open)."
            ),
        },
        "tags": [
            {"name": "public", "description": "No authentication."},
            {"name": "admin", "description": "Bearer PLOTBURN_ADMIN_TOKEN."},
        ],
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "responses": _RESPONSES,
            "securitySchemes": {
                "adminBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The value of PLOTBURN_ADMIN_TOKEN.",
                }
            },
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
