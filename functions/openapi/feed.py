"""The /feed schemas: the stored research (TruthDocument) and the pages of GET /feed."""

from __future__ import annotations

from typing import Any

from functions.api_contract import FEED_MAX_LIMIT
from functions.openapi.common import (
    COUNT,
    MOVIE_ID,
    STRINGS,
    TIMESTAMP,
    nullable,
    object_schema,
    ref,
)
from functions.openapi.movies import NOW_PLAYING_MOVIE_PROPERTIES


def _feed_page(kind: str, item: dict[str, Any], description: str) -> dict[str, Any]:
    return object_schema(
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


FEED_SCHEMAS: dict[str, Any] = {
    "SearchResult": object_schema(
        {
            "title": {"type": "string"},
            "url": {"type": "string"},
            "date": nullable({"type": "string"}),
            "snippet": {"type": "string"},
        },
        description="A web source Perplexity's search found.",
    ),
    "TruthDocument": object_schema(
        {
            "source": {"type": "string", "description": '"perplexity:sonar"'},
            "fetchedAt": TIMESTAMP,
            "model": {"type": "string"},
            "citations": STRINGS,
            "searchResults": {"type": "array", "items": ref("SearchResult")},
            "content": {"type": "string", "description": "The research brief (six sections)."},
            "usage": object_schema(
                {
                    "input_tokens": COUNT,
                    "output_tokens": COUNT,
                    "total_tokens": COUNT,
                    "cost": object_schema(
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
    "FeedAllItem": object_schema(
        {
            **NOW_PLAYING_MOVIE_PROPERTIES,
            "roast": nullable(ref("RoastCard")),
            "roast_generated_at": nullable(TIMESTAMP),
            "truth": nullable({"type": "string", "description": "The research text."}),
            "truth_fetched_at": nullable(TIMESTAMP),
        },
        description="A now-playing movie with its roast card and research, or nulls.",
    ),
    "FeedNowPlaying": object_schema(
        {
            "type": {"const": "now-playing"},
            "total": COUNT,
            "movies": {"type": "array", "items": ref("NowPlayingMovie")},
            "dates": nullable(ref("Dates")),
        },
        description=(
            "type=now-playing: the cached list "
            "(has_roast tells the truth; the Worker's was always false)."
        ),
    ),
    "FeedRoastPage": _feed_page("roast", ref("RoastDocument"), "type=roast: cached roasts."),
    "FeedTruthPage": _feed_page("truth", ref("TruthDocument"), "type=truth: stored research."),
    "FeedAllPage": _feed_page(
        "all",
        ref("FeedAllItem"),
        "type=all (default): the now-playing movies, with roast and truth.",
    ),
    "Feed": {
        "description": (
            "By `type`: an envelope (now-playing, roast, truth, all); with `id`, the one "
            "roast document (type=roast) or truth (type=truth)."
        ),
        "oneOf": [
            ref("FeedNowPlaying"),
            ref("FeedRoastPage"),
            ref("FeedTruthPage"),
            ref("FeedAllPage"),
            ref("RoastDocument"),
            ref("TruthDocument"),
        ],
    },
}
