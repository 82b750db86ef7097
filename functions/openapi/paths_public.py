"""The path items of the public routes (open unless PLOTBURN_REQUIRE_KEY is set)."""

from __future__ import annotations

from typing import Any

from functions.api_contract import FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT, FEED_MAX_PAGE
from functions.feed import FEED_TYPES
from functions.openapi.common import (
    CORRELATION_HEADER,
    CORRELATION_RESPONSE_HEADER,
    CSP_HEADER,
    MOVIE_ID,
    NOW_PLAYING_CACHE_CONTROL,
    REQUIRED_RETRY_AFTER,
    RETRY_AFTER,
    json_response,
    ref,
    resp,
)
from functions.openapi.operation import MOVIE_ID_PARAM, operation


def healthz() -> dict[str, Any]:
    """GET /healthz."""
    return {
        "get": operation(
            "healthz",
            "Liveness (never needs a key)",
            "public",
            {"200": json_response(ref("Health"), "Up.")},
            keyable=False,
        )
    }


def now_playing() -> dict[str, Any]:
    """GET /now-playing."""
    return {
        "get": operation(
            "nowPlaying",
            "The movies now playing, and whether each roast is ready",
            "public",
            {
                "200": json_response(
                    ref("NowPlaying"),
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
                "502": resp("BadGateway"),
            },
        )
    }


def movie() -> dict[str, Any]:
    """GET /movie/{id}."""
    return {
        "get": operation(
            "movie",
            "A movie's roast card, with its TMDB details",
            "public",
            {
                "200": json_response(
                    ref("MovieResponse"),
                    "The movie, its roast card and where the facts came from.",
                ),
                "202": json_response(
                    ref("Generating"),
                    "Another caller is generating this roast; retry after Retry-After.",
                    {"Retry-After": REQUIRED_RETRY_AFTER},
                ),
                "400": resp("BadRequest"),
                "404": resp("NotFound"),
                "429": resp("TooManyRequests"),
                "502": resp("BadGateway"),
                "503": json_response(
                    ref("Error"),
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
    }


def feed() -> dict[str, Any]:
    """GET /feed."""
    return {
        "get": operation(
            "feed",
            "Browse the now-playing list, cached roasts and research",
            "public",
            {
                "200": json_response(ref("Feed"), "A page, or one document with `id`."),
                "400": json_response(
                    ref("Error"),
                    'An unknown type (error: "Invalid type. Use: now-playing, roast, '
                    'truth, or all"), a bad page, limit or id, or id with a type other '
                    "than roast or truth.",
                ),
                "404": json_response(
                    ref("Error"),
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
    }


def cron_status() -> dict[str, Any]:
    """GET /cron/status."""
    return {
        "get": operation(
            "cronStatus",
            "The last run, the last 10 runs, and (with the admin key) today's budget",
            "public",
            {
                "200": json_response(
                    {"anyOf": [ref("PublicCronStatus"), ref("CronStatus")]},
                    "Status: without the admin key the public form (no budget, no spend, "
                    "failure reasons as codes); with it, everything.",
                )
            },
        )
    }


def dashboard() -> dict[str, Any]:
    """GET /dashboard."""
    return {
        "get": operation(
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
    }


def openapi_json() -> dict[str, Any]:
    """GET /openapi.json."""
    return {
        "get": operation(
            "openapi",
            "This document",
            "public",
            {"200": json_response({"type": "object"}, "The OpenAPI 3.1 document.")},
        )
    }
