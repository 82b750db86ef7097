"""PlotBurn's data: movies, research, roasts, runs and the messages between functions.

Everything that crosses a boundary (a Pub/Sub message, an upstream body, a Firestore
document) is validated here, at the edge, so the use cases only see well-formed values.

The models live in one module per kind (``base``, ``movies``, ``research``, ``roasts``,
``runs``, ``messages``); every public name is re-exported here, so callers import
from ``functions.models`` alone.
"""

from __future__ import annotations

from functions.models.base import (
    MAX_MOVIE_ID,
    Frozen,
    LogSeverity,
    bad_id,
    epoch_ms,
    iso,
    utcnow,
)
from functions.models.budget import BudgetPool, DaySpend, PoolSpend
from functions.models.messages import (
    CORRELATION_ID_PATTERN,
    MAX_MESSAGE_BYTES,
    NightlyMessage,
    RoastMessage,
    decode_message,
)
from functions.models.movies import MOVIE_META_FIELDS, Movie, MovieDetails, NowPlaying
from functions.models.research import SearchResult, Truth, Usage
from functions.models.roasts import (
    CARD_CHIP_WORDS,
    CARD_CHIPS_ITEMS,
    CARD_CONTENT_MAX_WORDS,
    CARD_CONTENT_PARAGRAPHS,
    CARD_HEADLINE_MAX_WORDS,
    CARD_OPINION_MAX_WORDS,
    CARD_SIMILAR_CONTEXT_MAX_WORDS,
    CARD_SIMILAR_ITEMS,
    CARD_SIMILAR_MAX_WORDS,
    CARD_VIBE_ITEMS,
    CARD_VIBE_MAX_WORDS,
    Roast,
    RoastCard,
    RoastRecord,
    paragraphs,
    similar_context,
    word_count,
)
from functions.models.runs import MovieOutcome, Outcome, Run, RunStatus, Trigger

__all__ = [
    "CARD_CHIPS_ITEMS",
    "CARD_CHIP_WORDS",
    "CARD_CONTENT_MAX_WORDS",
    "CARD_CONTENT_PARAGRAPHS",
    "CARD_HEADLINE_MAX_WORDS",
    "CARD_OPINION_MAX_WORDS",
    "CARD_SIMILAR_CONTEXT_MAX_WORDS",
    "CARD_SIMILAR_ITEMS",
    "CARD_SIMILAR_MAX_WORDS",
    "CARD_VIBE_ITEMS",
    "CARD_VIBE_MAX_WORDS",
    "CORRELATION_ID_PATTERN",
    "MAX_MESSAGE_BYTES",
    "MAX_MOVIE_ID",
    "MOVIE_META_FIELDS",
    "BudgetPool",
    "DaySpend",
    "Frozen",
    "LogSeverity",
    "Movie",
    "MovieDetails",
    "MovieOutcome",
    "NightlyMessage",
    "NowPlaying",
    "Outcome",
    "PoolSpend",
    "Roast",
    "RoastCard",
    "RoastMessage",
    "RoastRecord",
    "Run",
    "RunStatus",
    "SearchResult",
    "Trigger",
    "Truth",
    "Usage",
    "bad_id",
    "decode_message",
    "epoch_ms",
    "iso",
    "paragraphs",
    "similar_context",
    "utcnow",
    "word_count",
]
