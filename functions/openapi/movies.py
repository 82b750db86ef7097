"""The movie schemas: TMDB's details (MovieMeta), the now-playing list, the roast card
and the roast as GET /movie/{id} serves it."""

from __future__ import annotations

from typing import Any

from functions.models import (
    CARD_CHIPS_ITEMS,
    CARD_SIMILAR_ITEMS,
    CARD_VIBE_ITEMS,
    MOVIE_META_FIELDS,
)
from functions.openapi.common import (
    COUNT,
    DATE,
    MOVIE_ID,
    STRINGS,
    TIMESTAMP,
    nullable,
    object_schema,
    ref,
)
from functions.views import DISCLAIMER, POSTER_BASE


def _tmdb(properties: dict[str, Any]) -> dict[str, Any]:
    """An object inside TMDB's details, passed through as TMDB sent it."""
    return object_schema(properties, additionalProperties=True)


# TMDB's GET /movie/{id}, the 26 fields the Worker served as `movie`. A field TMDB
# did not send is null; id and title always come.
_META_TYPES: dict[str, dict[str, Any]] = {
    "adult": {"type": "boolean"},
    "backdrop_path": {"type": "string"},
    "belongs_to_collection": _tmdb(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "poster_path": nullable({"type": "string"}),
            "backdrop_path": nullable({"type": "string"}),
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
                "logo_path": nullable({"type": "string"}),
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
    "release_date": nullable({**DATE, "description": "YYYY-MM-DD"}),
    "rating": {"type": "number", "description": "TMDB vote_average."},
    "votes": {**COUNT, "description": "TMDB vote_count."},
    "popularity": {"type": "number"},
    "overview": {"type": "string"},
    "poster_url": nullable(
        {"type": "string", "pattern": "^" + POSTER_BASE.replace(".", "\\.") + "/"}
    ),
    "has_roast": {
        "type": "boolean",
        "description": "True when GET /movie/{id} is a cache hit (costs nothing upstream).",
    },
}

ROAST_DOCUMENT_PROPERTIES: dict[str, Any] = {
    "movie": ref("MovieMeta"),
    "roast": ref("RoastCard"),
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


MOVIE_SCHEMAS: dict[str, Any] = {
    "Dates": object_schema(
        {"maximum": DATE, "minimum": DATE},
        description="TMDB's now-playing date window, from its page 1.",
    ),
    "NowPlayingMovie": object_schema(
        NOW_PLAYING_MOVIE_PROPERTIES,
        description="A now-playing movie. All text is upstream data: render it as text.",
    ),
    "NowPlaying": object_schema(
        {
            "cached": {"type": "boolean", "description": "Served from the 23-hour list cache."},
            "page": {"const": 1},
            "total_pages": {"const": 1},
            "total_results": {
                **COUNT,
                "description": "Movies kept by the release window and genre filter.",
            },
            "dates": nullable(ref("Dates")),
            "movies": {"type": "array", "items": ref("NowPlayingMovie")},
        },
        description=(
            "The Worker's choice of movies: TMDB now playing in the region, released "
            "within the window (10 to 3 days ago, UTC, inclusive), without excluded genres."
        ),
    ),
    "MovieMeta": object_schema(
        {
            name: schema if name in ("id", "title") else nullable(schema)
            for name, schema in _META_TYPES.items()
        },
        description=(
            "TMDB's GET /movie/{id} details: these 26 fields as TMDB sent them (null when "
            "it did not). Nested objects are TMDB's and may carry further fields."
        ),
    ),
    "RoastCard": object_schema(
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
    "RoastDocument": object_schema(
        ROAST_DOCUMENT_PROPERTIES,
        description="A roast as GET /movie/{id} serves it, without `cached` (the /feed form).",
    ),
    "MovieResponse": object_schema(
        {
            "cached": {"type": "boolean", "description": "True when served from the roast cache."},
            **ROAST_DOCUMENT_PROPERTIES,
        },
        description="The Worker's MovieResponse, plus roast_model and citations.",
    ),
}
