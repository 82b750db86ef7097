"""The operator's schemas: log entries (/logs), what a correlation id paid for
(/debug, /movie/{id}/debug) and what a cache clear removed (/cache/clear/{kind})."""

from __future__ import annotations

from typing import Any

from functions.api_contract import CLEARABLE, LOG_LEVELS, LOGS_MAX_LIMIT
from functions.metering import SERVICES
from functions.openapi.common import (
    COUNT,
    MOVIE_ID,
    SEVERITY,
    STRINGS,
    TIMESTAMP,
    nullable,
    object_schema,
    ref,
)

OPS_SCHEMAS: dict[str, Any] = {
    "LogEntry": object_schema(
        {
            "timestamp": TIMESTAMP,
            "level": {"type": "string", "enum": list(LOG_LEVELS)},
            "correlationId": nullable({"type": "string"}),
            "endpoint": {
                "type": "string",
                "description": 'The route, or "pipeline" for a run\'s events.',
            },
            "method": {"type": "string", "description": 'The HTTP method, or "EVENT".'},
            "movieId": {"type": "integer"},
            "movieTitle": {"type": "string"},
            "responseStatus": {"type": "integer"},
            "duration": {**COUNT, "description": "Milliseconds."},
            "error": {"type": "string"},
            "metadata": {"type": "object", "description": "The event's further fields."},
            "message": {"type": "string", "description": "PlotBurn's addition: what happened."},
            "severity": {
                **SEVERITY,
                "description": (
                    "PlotBurn's addition: Cloud Logging's severity (level is the Worker's)."
                ),
            },
        },
        required=[
            "timestamp",
            "level",
            "correlationId",
            "endpoint",
            "method",
            "message",
            "severity",
        ],
        description="A log entry in the Worker's shape; optional fields only when known.",
    ),
    "Logs": object_schema(
        {
            "total": COUNT,
            "logs": {
                "type": "array",
                "maxItems": LOGS_MAX_LIMIT,
                "description": "Newest first.",
                "items": ref("LogEntry"),
            },
            "note": {"type": "string"},
        }
    ),
    "LogsDeleted": object_schema(
        {
            "success": {"type": "boolean"},
            "deleted_count": COUNT,
            "message": {"type": "string"},
            "note": {"type": "string"},
        }
    ),
    "ServiceSpend": object_schema(
        {
            "calls": COUNT,
            "prompt_tokens": COUNT,
            "completion_tokens": COUNT,
            "cost_usd": {"type": "number", "minimum": 0},
        }
    ),
    "MovieOutcome": object_schema(
        {
            "movie_id": MOVIE_ID,
            "outcome": {"type": "string", "enum": ["cached", "generated", "failed"]},
            "reason": nullable({"type": "string"}),
            "title": nullable({"type": "string"}),
            "recorded_at": TIMESTAMP,
            "spend": object_schema({s: ref("ServiceSpend") for s in SERVICES}),
        },
        description="How one movie of a run ended.",
    ),
    "DebugPayload": object_schema(
        {
            "movie": ref("MovieMeta"),
            "director": nullable({"type": "string"}),
            "truth": ref("TruthDocument"),
            "roast": ref("RoastCard"),
            "roast_model": {"type": "string"},
            "result": {"type": "string", "enum": ["generated"]},
            "correlationId": ref("AnyCorrelationId"),
            "timestamp": TIMESTAMP,
        },
        description="What one generation saw and made: TMDB's movie, the research, the card.",
    ),
    "DebugEntry": object_schema(
        {
            "key": {"type": "string", "description": "debug:<correlationId>:<movie id>"},
            "data": ref("DebugPayload"),
        }
    ),
    "Debug": object_schema(
        {
            "correlationId": ref("AnyCorrelationId"),
            "count": COUNT,
            "entries": {
                "type": "array",
                "description": "The generations this id paid for, newest first.",
                "items": ref("DebugEntry"),
            },
            "run": ref("Run"),
            "movies": {"type": "array", "items": ref("MovieOutcome")},
            "pending_movie_ids": {"type": "array", "items": MOVIE_ID},
            "logs": {
                "type": "array",
                "description": "The run's log entries, newest first.",
                "items": ref("LogEntry"),
            },
        },
        required=["correlationId", "count", "entries"],
        dependentRequired={
            "run": ["movies", "pending_movie_ids", "logs"],
            "movies": ["run"],
            "pending_movie_ids": ["run"],
            "logs": ["run"],
        },
        description=(
            "The Worker's {correlationId, count, entries}; when the id is a run's, also "
            "the run, its per-movie outcomes, the movies not landed yet, and its log entries."
        ),
    ),
    "MovieDebug": object_schema(
        {
            "movieId": MOVIE_ID,
            "count": COUNT,
            "entries": {"type": "array", "items": ref("DebugEntry")},
        }
    ),
    "CacheCleared": object_schema(
        {
            "success": {
                "type": "boolean",
                "description": "False when a cache could not be cleared (see errors).",
            },
            "deleted_count": COUNT,
            "deleted_keys": {
                **STRINGS,
                "description": "<cache>:<document id> of each deleted entry.",
            },
            "errors": {**STRINGS, "description": "Only when a cache could not be cleared."},
            "message": {"type": "string"},
            # PlotBurn's earlier fields, kept beside the Worker's.
            "cache": {"type": "string", "enum": list(CLEARABLE)},
            "removed": {**COUNT, "description": "Same as deleted_count."},
        },
        required=["success", "deleted_count", "deleted_keys", "message", "cache", "removed"],
    ),
}
