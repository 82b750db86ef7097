"""The OpenAPI 3.1 contract of the `api` function, served at `GET /openapi.json`.

The bodies are the Cloudflare Worker's JSON (../shared/seed-api.md), field for field,
with PlotBurn's added fields beside them. Built from the same constants `http_api`
validates with (id ranges, the correlation id patterns, the /logs and /feed limits,
the cache kinds), so the document cannot drift from the checks. Every object stays
open to added fields ("only add fields, never rename"); the unit tests check each
real response against it with unknown fields forbidden, so nothing goes undocumented.

`http_api` imports this module lazily (to serve it); this module imports `http_api`
at the top, never the other way round.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, get_args

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
from functions.feed import FEED_TYPES
from functions.metering import SERVICES
from functions.models import (
    CARD_CHIPS_ITEMS,
    CARD_SIMILAR_ITEMS,
    CARD_VIBE_ITEMS,
    CORRELATION_ID_PATTERN,
    MAX_MOVIE_ID,
    MOVIE_META_FIELDS,
    LogSeverity,
)
from functions.views import DISCLAIMER, POSTER_BASE

OPENAPI_VERSION = "3.1.0"
API_VERSION = "2.0.0"
CSP_HEADER = "Content-Security-Policy"
CORRELATION_HEADER = "x-correlation-id"
API_KEY_HEADER = "x-api-key"
NOW_PLAYING_CACHE_CONTROL = f"public, max-age={NOW_PLAYING_MAX_AGE_SECONDS}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


CORRELATION_RESPONSE_HEADER = {"$ref": "#/components/headers/CorrelationId"}


def _json(
    schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON response; every response carries the request's x-correlation-id."""
    return {
        "description": description,
        "headers": {CORRELATION_HEADER: CORRELATION_RESPONSE_HEADER, **(headers or {})},
        "content": {"application/json": {"schema": schema}},
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(
    properties: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """An object; all its properties are required unless `required` says otherwise."""
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
        **extra,
    }


COUNT = {"type": "integer", "minimum": 0}
MOVIE_ID = {"type": "integer", "minimum": 1, "maximum": MAX_MOVIE_ID}
TIMESTAMP = {"type": "string", "format": "date-time"}
DATE = {"type": "string", "format": "date"}
STRINGS = {"type": "array", "items": {"type": "string"}}
SEVERITY = {"type": "string", "enum": list(get_args(LogSeverity))}
RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}
REQUIRED_RETRY_AFTER = {**RETRY_AFTER, "required": True}


def _tmdb(properties: dict[str, Any]) -> dict[str, Any]:
    """An object inside TMDB's details, passed through as TMDB sent it."""
    return _object(properties, additionalProperties=True)


# TMDB's GET /movie/{id}, the 26 fields the Worker served as `movie`. A field TMDB
# did not send is null; id and title always come.
_META_TYPES: dict[str, dict[str, Any]] = {
    "adult": {"type": "boolean"},
    "backdrop_path": {"type": "string"},
    "belongs_to_collection": _tmdb(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "poster_path": _nullable({"type": "string"}),
            "backdrop_path": _nullable({"type": "string"}),
        }
    ),
    "budget": {"type": "integer", "minimum": 0},
    "genres": {
        "type": "array",
        "items": _tmdb({"id": {"type": "integer"}, "name": {"type": "string"}}),
    },
    "homepage": {"type": "string"},
    "id": MOVIE_ID,
    "imdb_id": {"type": "string"},
    "origin_country": STRINGS,
    "original_language": {"type": "string"},
    "original_title": {"type": "string"},
    "overview": {"type": "string"},
    "popularity": {"type": "number"},
    "poster_path": {"type": "string"},
    "production_companies": {
        "type": "array",
        "items": _tmdb(
            {
                "id": {"type": "integer"},
                "logo_path": _nullable({"type": "string"}),
                "name": {"type": "string"},
                "origin_country": {"type": "string"},
            }
        ),
    },
    "production_countries": {
        "type": "array",
        "items": _tmdb({"iso_3166_1": {"type": "string"}, "name": {"type": "string"}}),
    },
    "release_date": {"type": "string"},
    "revenue": {"type": "integer", "minimum": 0},
    "runtime": {"type": "integer", "minimum": 0},
    "spoken_languages": {
        "type": "array",
        "items": _tmdb(
            {
                "english_name": {"type": "string"},
                "iso_639_1": {"type": "string"},
                "name": {"type": "string"},
            }
        ),
    },
    "status": {"type": "string"},
    "tagline": {"type": "string"},
    "title": {"type": "string"},
    "video": {"type": "boolean"},
    "vote_average": {"type": "number"},
    "vote_count": {"type": "integer", "minimum": 0},
}
assert tuple(_META_TYPES) == MOVIE_META_FIELDS, "MovieMeta must describe exactly the 26 fields"

NOW_PLAYING_MOVIE_PROPERTIES: dict[str, Any] = {
    "id": MOVIE_ID,
    "title": {"type": "string"},
    "release_date": _nullable({**DATE, "description": "YYYY-MM-DD"}),
    "rating": {"type": "number", "description": "TMDB vote_average."},
    "votes": {**COUNT, "description": "TMDB vote_count."},
    "popularity": {"type": "number"},
    "overview": {"type": "string"},
    "poster_url": _nullable(
        {"type": "string", "pattern": "^" + POSTER_BASE.replace(".", "\\.") + "/"}
    ),
    "has_roast": {
        "type": "boolean",
        "description": "True when GET /movie/{id} is a cache hit (costs nothing upstream).",
    },
}

ROAST_DOCUMENT_PROPERTIES: dict[str, Any] = {
    "movie": _ref("MovieMeta"),
    "roast": _ref("RoastCard"),
    "generated_at": {**TIMESTAMP, "description": "When the roast was made."},
    "disclaimer": {"const": DISCLAIMER},
    "truth_source": {
        "type": "string",
        "description": 'The research\'s source, "perplexity:sonar".',
    },
    "truth_fetched_at": {**TIMESTAMP, "description": "When the research was made."},
    # PlotBurn's additions.
    "roast_model": {"type": "string", "description": "The xAI model that wrote the card."},
    "citations": {**STRINGS, "description": "The research's sources (URLs), in its order."},
}


def _feed_page(kind: str, item: dict[str, Any], description: str) -> dict[str, Any]:
    return _object(
        {
            "type": {"const": kind},
            "page": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1, "maximum": FEED_MAX_LIMIT},
            "total": COUNT,
            "total_pages": COUNT,
            "results": {"type": "array", "maxItems": FEED_MAX_LIMIT, "items": item},
        },
        description=description,
    )


_SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {
            "error": {
                "type": "string",
                "description": "What went wrong (the status' name, or a title).",
            },
            "message": {"type": "string", "description": "Why, in words an operator can act on."},
        },
        description='Every error response: {"error", "message"}.',
    ),
    "UnauthorizedError": _object(
        {
            "error": {"const": "Unauthorized"},
            "message": {"type": "string", "enum": ["Missing x-api-key header", "Invalid API key"]},
        },
        description="No key was presented (neither x-api-key nor a bearer token), or a wrong one.",
    ),
    "Dates": _object(
        {"maximum": DATE, "minimum": DATE},
        description="TMDB's now-playing date window, from its page 1.",
    ),
    "NowPlayingMovie": _object(
        NOW_PLAYING_MOVIE_PROPERTIES,
        description="A now-playing movie. All text is upstream data: render it as text.",
    ),
    "NowPlaying": _object(
        {
            "cached": {"type": "boolean", "description": "Served from the 23-hour list cache."},
            "page": {"const": 1},
            "total_pages": {"const": 1},
            "total_results": {
                **COUNT,
                "description": "Movies kept by the release window and genre filter.",
            },
            "dates": _nullable(_ref("Dates")),
            "movies": {"type": "array", "items": _ref("NowPlayingMovie")},
        },
        description=(
            "The Worker's choice of movies: TMDB now playing in the region, released "
            "within the window (10 to 3 days ago, UTC, inclusive), without excluded genres."
        ),
    ),
    "MovieMeta": _object(
        {
            name: schema if name in ("id", "title") else _nullable(schema)
            for name, schema in _META_TYPES.items()
        },
        description=(
            "TMDB's GET /movie/{id} details: these 26 fields as TMDB sent them (null when "
            "it did not). Nested objects are TMDB's and may carry further fields."
        ),
    ),
    "RoastCard": _object(
        {
            "headline": {"type": "string", "description": "At most 12 words."},
            "content": {
                "type": "string",
                "description": "Three paragraphs separated by blank lines, at most 150 words.",
            },
            "chips": {
                **STRINGS,
                "minItems": CARD_CHIPS_ITEMS[0],
                "maxItems": CARD_CHIPS_ITEMS[1],
                "description": "2 to 4 words each.",
            },
            "internet_vibe": {
                **STRINGS,
                "minItems": CARD_VIBE_ITEMS,
                "maxItems": CARD_VIBE_ITEMS,
                "description": "At most 12 words each.",
            },
            "your_opinion": {"type": "string", "description": "At most 65 words."},
            "similar_movies": {
                **STRINGS,
                "minItems": CARD_SIMILAR_ITEMS,
                "maxItems": CARD_SIMILAR_ITEMS,
                "description": "A title with at most 8 words of context each.",
            },
        },
        description=(
            "The roast card (Grok structured output). Untrusted text: never render it as HTML."
        ),
        additionalProperties=False,
    ),
    "RoastDocument": _object(
        ROAST_DOCUMENT_PROPERTIES,
        description="A roast as GET /movie/{id} serves it, without `cached` (the /feed form).",
    ),
    "MovieResponse": _object(
        {
            "cached": {"type": "boolean", "description": "True when served from the roast cache."},
            **ROAST_DOCUMENT_PROPERTIES,
        },
        description="The Worker's MovieResponse, plus roast_model and citations.",
    ),
    "SearchResult": _object(
        {
            "title": {"type": "string"},
            "url": {"type": "string"},
            "date": _nullable({"type": "string"}),
            "snippet": {"type": "string"},
        },
        description="A web source Perplexity's search found.",
    ),
    "TruthDocument": _object(
        {
            "source": {"type": "string", "description": '"perplexity:sonar"'},
            "fetchedAt": TIMESTAMP,
            "model": {"type": "string"},
            "citations": STRINGS,
            "searchResults": {"type": "array", "items": _ref("SearchResult")},
            "content": {"type": "string", "description": "The research brief (six sections)."},
            "usage": _object(
                {
                    "input_tokens": COUNT,
                    "output_tokens": COUNT,
                    "total_tokens": COUNT,
                    "cost": _object(
                        {
                            "currency": {"const": "USD"},
                            "total_cost": {"type": "number", "minimum": 0},
                        }
                    ),
                }
            ),
            "cost": {
                "type": "number",
                "minimum": 0,
                "description": "USD, as Perplexity reported it.",
            },
            "movieId": MOVIE_ID,
        },
        description=(
            "A stored truth (the research a roast was written from), in the Worker's field names."
        ),
    ),
    "FeedAllItem": _object(
        {
            **NOW_PLAYING_MOVIE_PROPERTIES,
            "roast": _nullable(_ref("RoastCard")),
            "roast_generated_at": _nullable(TIMESTAMP),
            "truth": _nullable({"type": "string", "description": "The research text."}),
            "truth_fetched_at": _nullable(TIMESTAMP),
        },
        description="A now-playing movie with its roast card and research, or nulls.",
    ),
    "FeedNowPlaying": _object(
        {
            "type": {"const": "now-playing"},
            "total": COUNT,
            "movies": {"type": "array", "items": _ref("NowPlayingMovie")},
            "dates": _nullable(_ref("Dates")),
        },
        description=(
            "type=now-playing: the cached list "
            "(has_roast tells the truth; the Worker's was always false)."
        ),
    ),
    "FeedRoastPage": _feed_page("roast", _ref("RoastDocument"), "type=roast: cached roasts."),
    "FeedTruthPage": _feed_page("truth", _ref("TruthDocument"), "type=truth: stored research."),
    "FeedAllPage": _feed_page(
        "all",
        _ref("FeedAllItem"),
        "type=all (default): the now-playing movies, with roast and truth.",
    ),
    "Feed": {
        "description": (
            "By `type`: an envelope (now-playing, roast, truth, all); with `id`, the one "
            "roast document (type=roast) or truth (type=truth)."
        ),
        "oneOf": [
            _ref("FeedNowPlaying"),
            _ref("FeedRoastPage"),
            _ref("FeedTruthPage"),
            _ref("FeedAllPage"),
            _ref("RoastDocument"),
            _ref("TruthDocument"),
        ],
    },
    "Generating": _object(
        {
            "message": {"type": "string"},
            "movie_id": MOVIE_ID,
            "status": {"const": "generating"},
        },
        description="Another caller is generating this movie's roast.",
    ),
    "Health": _object({"ok": {"const": True}}),
    "CorrelationId": {
        "type": "string",
        "pattern": CORRELATION_ID_PATTERN,
        "description": "A run's id: cron-<epoch ms> or manual-trigger-<epoch ms>.",
    },
    "AnyCorrelationId": {
        "type": "string",
        "pattern": SAFE_ID_PATTERN,
        "description": "Any correlation id: a run's, or a request's (from x-correlation-id).",
    },
    "RunStatus": {"type": "string", "enum": ["in_progress", "success", "partial", "failed"]},
    "TokenCount": _object({"prompt": COUNT, "completion": COUNT}),
    "Run": _object(
        {
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
            "upstream_calls": _object(
                {s: COUNT for s in SERVICES},
                description="Calls made per upstream service, retries included.",
            ),
            "tokens": _object(
                {s: _ref("TokenCount") for s in ("research", "roast")},
                description="Tokens reported by the LLM APIs' usage.",
            ),
            "estimated_cost_usd": {
                "type": "number",
                "minimum": 0,
                "description": (
                    "As the providers reported it (list-price estimate where they did not)."
                ),
            },
        },
        description=(
            "A nightly or manual run. The seed Worker's CronResult fields, plus added "
            "ones (never renamed). While in_progress, counters are live; a run shows "
            "as in_progress from the moment POST /cron/trigger answers 202."
        ),
    ),
    "Budget": _object(
        {
            "day": DATE,
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
        description="Today's (UTC) paid upstream spend against its ceilings.",
    ),
    "CronStatus": _object(
        {
            "last_run": _nullable(_ref("Run")),
            "history": {
                "type": "array",
                "maxItems": 10,
                "description": "The last 10 runs, newest first.",
                "items": _ref("Run"),
            },
            "total_runs": COUNT,
            "budget": _ref("Budget"),
        }
    ),
    "TriggerAccepted": _object(
        {
            "message": {"type": "string"},
            "correlation_id": _ref("CorrelationId"),
            "status": {"const": "started"},
            "check_status_at": {"const": "/cron/status"},
        }
    ),
    "RetryResult": _object(
        {
            "correlation_id": _ref("CorrelationId"),
            "retried_movie_ids": {"type": "array", "items": MOVIE_ID},
            "status": _ref("RunStatus"),
            "check_status_at": {"const": "/cron/status"},
        }
    ),
    "LogEntry": _object(
        {
            "timestamp": TIMESTAMP,
            "level": {"type": "string", "enum": list(LOG_LEVELS)},
            "correlationId": _nullable({"type": "string"}),
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
    "Logs": _object(
        {
            "total": COUNT,
            "logs": {
                "type": "array",
                "maxItems": LOGS_MAX_LIMIT,
                "description": "Newest first.",
                "items": _ref("LogEntry"),
            },
            "note": {"type": "string"},
        }
    ),
    "LogsDeleted": _object(
        {
            "success": {"type": "boolean"},
            "deleted_count": COUNT,
            "message": {"type": "string"},
            "note": {"type": "string"},
        }
    ),
    "ServiceSpend": _object(
        {
            "calls": COUNT,
            "prompt_tokens": COUNT,
            "completion_tokens": COUNT,
            "cost_usd": {"type": "number", "minimum": 0},
        }
    ),
    "MovieOutcome": _object(
        {
            "movie_id": MOVIE_ID,
            "outcome": {"type": "string", "enum": ["cached", "generated", "failed"]},
            "reason": _nullable({"type": "string"}),
            "title": _nullable({"type": "string"}),
            "recorded_at": TIMESTAMP,
            "spend": _object({s: _ref("ServiceSpend") for s in SERVICES}),
        },
        description="How one movie of a run ended.",
    ),
    "DebugPayload": _object(
        {
            "movie": _ref("MovieMeta"),
            "director": _nullable({"type": "string"}),
            "truth": _ref("TruthDocument"),
            "roast": _ref("RoastCard"),
            "roast_model": {"type": "string"},
            "result": {"type": "string", "enum": ["generated"]},
            "correlationId": _ref("AnyCorrelationId"),
            "timestamp": TIMESTAMP,
        },
        description="What one generation saw and made: TMDB's movie, the research, the card.",
    ),
    "DebugEntry": _object(
        {
            "key": {"type": "string", "description": "debug:<correlationId>:<movie id>"},
            "data": _ref("DebugPayload"),
        }
    ),
    "Debug": _object(
        {
            "correlationId": _ref("AnyCorrelationId"),
            "count": COUNT,
            "entries": {
                "type": "array",
                "description": "The generations this id paid for, newest first.",
                "items": _ref("DebugEntry"),
            },
            "run": _ref("Run"),
            "movies": {"type": "array", "items": _ref("MovieOutcome")},
            "pending_movie_ids": {"type": "array", "items": MOVIE_ID},
            "logs": {
                "type": "array",
                "description": "The run's log entries, newest first.",
                "items": _ref("LogEntry"),
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
    "MovieDebug": _object(
        {
            "movieId": MOVIE_ID,
            "count": COUNT,
            "entries": {"type": "array", "items": _ref("DebugEntry")},
        }
    ),
    "CacheCleared": _object(
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

_UNAVAILABLE = "Firestore or Pub/Sub is unavailable (retry shortly)"
_RESPONSES: dict[str, Any] = {
    "BadRequest": _json(_ref("Error"), "A parameter is missing or malformed."),
    "Unauthorized": _json(
        _ref("UnauthorizedError"),
        "Missing or wrong key (x-api-key or Authorization: Bearer).",
        {"WWW-Authenticate": {"required": True, "schema": {"const": "Bearer"}}},
    ),
    "NotFound": _json(_ref("Error"), "No such resource."),
    "PayloadTooLarge": _json(
        _ref("Error"), f"The request carries a body over {MAX_BODY_BYTES} bytes."
    ),
    "TooManyRequests": _json(
        _ref("Error"),
        "This client's requests that need a new (paid) roast are over the per-minute limit.",
        {"Retry-After": REQUIRED_RETRY_AFTER},
    ),
    "BadGateway": _json(_ref("Error"), "An upstream API failed after bounded retries."),
    "Unavailable": _json(
        _ref("Error"),
        f"{_UNAVAILABLE}, then with Retry-After; or, with PLOTBURN_REQUIRE_KEY, the key "
        "is required but PLOTBURN_ADMIN_TOKEN is not set.",
        {"Retry-After": RETRY_AFTER},
    ),
    "AdminUnavailable": _json(
        _ref("Error"),
        "Admin routes are disabled (PLOTBURN_ADMIN_TOKEN is not set), or "
        f"{_UNAVAILABLE} (then with Retry-After).",
        {"Retry-After": RETRY_AFTER},
    ),
}

# Admin routes: the key as the Worker's clients send it, or as a bearer token.
ADMIN: list[dict[str, list[str]]] = [{"adminApiKey": []}, {"adminBearer": []}]
# Public routes: open, unless PLOTBURN_REQUIRE_KEY is set (then as ADMIN).
KEYABLE: list[dict[str, list[str]]] = [{}, *ADMIN]
OPEN: list[dict[str, list[str]]] = []

RUN_ID_PARAM = {
    "name": "correlationId",
    "in": "query",
    "required": True,
    "description": "A run's id: cron-<epoch ms> or manual-trigger-<epoch ms>.",
    "schema": _ref("CorrelationId"),
}
ANY_ID_PARAM = {
    "name": "correlationId",
    "in": "query",
    "required": True,
    "description": (
        "Any correlation id of a safe form (letters, digits, . _ : -, at most 128): a "
        "run's, or a request's from its x-correlation-id."
    ),
    "schema": _ref("AnyCorrelationId"),
}
MOVIE_ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "TMDB movie id.",
    "schema": MOVIE_ID,
}


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Any],
    *,
    admin: bool = False,
    keyable: bool = True,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    responses = dict(responses)
    responses.setdefault("413", _resp("PayloadTooLarge"))
    if admin:
        responses.setdefault("401", _resp("Unauthorized"))
        responses.setdefault("503", _resp("AdminUnavailable"))
    elif keyable:
        responses.setdefault("401", _resp("Unauthorized"))
        responses.setdefault("503", _resp("Unavailable"))
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": ADMIN if admin else KEYABLE if keyable else OPEN,
        "parameters": [
            *(parameters or []),
            {"$ref": "#/components/parameters/CorrelationIdHeader"},
        ],
        "responses": dict(sorted(responses.items())),
    }
    if description:
        op["description"] = description
    return op


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": _operation(
                "healthz",
                "Liveness (never needs a key)",
                "public",
                {"200": _json(_ref("Health"), "Up.")},
                keyable=False,
            )
        },
        "/now-playing": {
            "get": _operation(
                "nowPlaying",
                "The movies now playing, and whether each roast is ready",
                "public",
                {
                    "200": _json(
                        _ref("NowPlaying"),
                        "The now-playing list (cached 23 h). Costs at most two Firestore reads.",
                        {
                            "Cache-Control": {
                                "required": True,
                                "description": (
                                    "Clients and CDNs may reuse it this long; "
                                    "a new roast shows in has_roast within it."
                                ),
                                "schema": {"const": NOW_PLAYING_CACHE_CONTROL},
                            }
                        },
                    ),
                    "502": _resp("BadGateway"),
                },
            )
        },
        "/movie/{id}": {
            "get": _operation(
                "movie",
                "A movie's roast card, with its TMDB details",
                "public",
                {
                    "200": _json(
                        _ref("MovieResponse"),
                        "The movie, its roast card and where the facts came from.",
                    ),
                    "202": _json(
                        _ref("Generating"),
                        "Another caller is generating this roast; retry after Retry-After.",
                        {"Retry-After": REQUIRED_RETRY_AFTER},
                    ),
                    "400": _resp("BadRequest"),
                    "404": _resp("NotFound"),
                    "429": _resp("TooManyRequests"),
                    "502": _resp("BadGateway"),
                    "503": _json(
                        _ref("Error"),
                        "The daily upstream budget is exhausted, or Firestore is unavailable "
                        "(both with Retry-After); or, with PLOTBURN_REQUIRE_KEY, the key is "
                        "required but PLOTBURN_ADMIN_TOKEN is not set.",
                        {"Retry-After": RETRY_AFTER},
                    ),
                },
                parameters=[MOVIE_ID_PARAM],
                description=(
                    "A cache hit costs nothing upstream. On a miss the roast is generated "
                    "(TMDB details, research, roast card), once across all callers. Public "
                    "callers may generate only now-playing movies (404 otherwise) and are "
                    "rate-limited (429); the admin key may generate any movie."
                ),
            )
        },
        "/movie/{id}/debug": {
            "get": _operation(
                "movieDebug",
                "What each generation of a movie saw and made",
                "admin",
                {
                    "200": _json(_ref("MovieDebug"), "The movie's debug entries, newest first."),
                    "400": _resp("BadRequest"),
                    "404": _resp("NotFound"),
                },
                admin=True,
                parameters=[MOVIE_ID_PARAM],
            )
        },
        "/feed": {
            "get": _operation(
                "feed",
                "Browse the now-playing list, cached roasts and research",
                "public",
                {
                    "200": _json(_ref("Feed"), "A page, or one document with `id`."),
                    "400": _json(
                        _ref("Error"),
                        'An unknown type (error: "Invalid type. Use: now-playing, roast, '
                        'truth, or all"), a bad page, limit or id, or id with a type other '
                        "than roast or truth.",
                    ),
                    "404": _json(
                        _ref("Error"),
                        "The now-playing list is not cached yet (now-playing, all), or no "
                        "roast or truth for that id.",
                    ),
                },
                parameters=[
                    {
                        "name": "type",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(FEED_TYPES), "default": "all"},
                    },
                    {
                        "name": "page",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": FEED_MAX_PAGE,
                            "default": 1,
                        },
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": FEED_MAX_LIMIT,
                            "default": FEED_DEFAULT_LIMIT,
                        },
                    },
                    {
                        "name": "id",
                        "in": "query",
                        "required": False,
                        "description": "One movie's document; with type=roast or type=truth only.",
                        "schema": MOVIE_ID,
                    },
                ],
                description="Reads the caches only, never TMDB.",
            )
        },
        "/cron/trigger": {
            "post": _operation(
                "cronTrigger",
                "Start a manual run",
                "admin",
                {
                    "202": _json(
                        _ref("TriggerAccepted"),
                        (
                            "The run exists (in_progress in /cron/status) "
                            "and its message is published."
                        ),
                    )
                },
                admin=True,
            )
        },
        "/cron/status": {
            "get": _operation(
                "cronStatus",
                "The last run, the last 10 runs, and today's budget",
                "public",
                {"200": _json(_ref("CronStatus"), "Status.")},
            )
        },
        "/cron/retry": {
            "post": _operation(
                "cronRetry",
                "Republish a run's failed movies into the same run",
                "admin",
                {
                    "200": _json(_ref("RetryResult"), "The run had no failed movies."),
                    "202": _json(_ref("RetryResult"), "The failed movies are republished."),
                    "400": _resp("BadRequest"),
                    "404": _resp("NotFound"),
                    "502": _resp("BadGateway"),
                },
                admin=True,
                parameters=[RUN_ID_PARAM],
            )
        },
        "/logs": {
            "get": _operation(
                "logs",
                "Recent log entries, newest first",
                "admin",
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
            "delete": _operation(
                "deleteLogs",
                "Delete old log entries",
                "admin",
                {
                    "200": _json(_ref("LogsDeleted"), "How many entries were deleted."),
                    "400": _resp("BadRequest"),
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
        },
        "/debug": {
            "get": _operation(
                "debug",
                "What a correlation id paid for; for a run, its outcomes and logs",
                "admin",
                {
                    "200": _json(_ref("Debug"), "The debug entries (and the run, for a run's id)."),
                    "400": _resp("BadRequest"),
                    "404": _resp("NotFound"),
                },
                admin=True,
                parameters=[ANY_ID_PARAM],
            )
        },
        "/cache/clear/{kind}": {
            "delete": _operation(
                "cacheClear",
                "Empty one cache, or all of them",
                "admin",
                {
                    "200": _json(_ref("CacheCleared"), "What was deleted."),
                    "404": _resp("NotFound"),
                    "503": _json(
                        {"oneOf": [_ref("CacheCleared"), _ref("Error")]},
                        "A cache could not be cleared now (CacheCleared with success false and "
                        "errors; the others were cleared), or admin routes are disabled, or "
                        f"{_UNAVAILABLE}.",
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
        },
        "/budget": {
            "get": _operation(
                "budget",
                "Today's upstream spend against its ceilings",
                "admin",
                {"200": _json(_ref("Budget"), "Today's budget.")},
                admin=True,
            )
        },
        "/dashboard": {
            "get": _operation(
                "dashboard",
                "The operator dashboard (HTML, read-only)",
                "public",
                {
                    "200": {
                        "description": (
                            "A self-contained page that reads /cron/status, /now-playing "
                            "and, for movies whose has_roast is true only, /movie/{id}."
                        ),
                        "headers": {
                            CORRELATION_HEADER: CORRELATION_RESPONSE_HEADER,
                            CSP_HEADER: {"required": True, "schema": {"type": "string"}},
                        },
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            )
        },
        "/openapi.json": {
            "get": _operation(
                "openapi",
                "This document",
                "public",
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
                "The Cloudflare Worker's JSON, field for field, with PlotBurn's added fields "
                'beside it. Every error is {"error": "...", "message": "..."}. An '
                'unknown route answers 404 {"error": "Not found"}; a known route with '
                "another method answers 405 with Allow. No route reads a request body; one "
                f"over {MAX_BODY_BYTES} bytes is refused with 413.\n\n"
                "Admin routes take the key as `x-api-key: <PLOTBURN_ADMIN_TOKEN>` (the "
                "Worker's header) or `Authorization: Bearer <PLOTBURN_ADMIN_TOKEN>`: a "
                "missing or wrong key gets 401; with no token configured they answer 503 "
                "(never open). With PLOTBURN_REQUIRE_KEY set, every route but /healthz "
                "needs the key, as the Worker's did when its secret was set.\n\n"
                "Every response carries `x-correlation-id`: the request's own when it sent "
                "a safe one (letters, digits, . _ : -, at most 128), else `<epoch ms>-<hex>`. "
                "GET /debug?correlationId= finds what that request generated."
            ),
        },
        "tags": [
            {"name": "public", "description": "No key needed, unless PLOTBURN_REQUIRE_KEY is set."},
            {"name": "admin", "description": "x-api-key or Bearer PLOTBURN_ADMIN_TOKEN."},
        ],
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "responses": _RESPONSES,
            "parameters": {
                "CorrelationIdHeader": {
                    "name": CORRELATION_HEADER,
                    "in": "header",
                    "required": False,
                    "description": (
                        "The request's correlation id, echoed in the response; one of another "
                        "form is replaced by a new one, not refused."
                    ),
                    "schema": _ref("AnyCorrelationId"),
                }
            },
            "headers": {
                "CorrelationId": {
                    "description": (
                        "The request's correlation id (its x-correlation-id, or a new one)."
                    ),
                    "required": True,
                    "schema": _ref("AnyCorrelationId"),
                }
            },
            "securitySchemes": {
                "adminApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": API_KEY_HEADER,
                    "description": "The value of PLOTBURN_ADMIN_TOKEN (the Worker's header).",
                },
                "adminBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The value of PLOTBURN_ADMIN_TOKEN.",
                },
            },
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
