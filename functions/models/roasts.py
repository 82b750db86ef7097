"""The roast card and its hard limits, the roast, and the cached record served for it."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import ConfigDict, Field, field_validator

from functions.metering import Spend
from functions.models.base import Frozen
from functions.models.movies import Movie, MovieDetails
from functions.models.research import Truth, Usage

# The roast card's hard limits (the Worker's prompt rules). The JSON schema sent to
# Grok and the validation of its answer are both built from these numbers.
CARD_HEADLINE_MAX_WORDS = 12
CARD_CONTENT_PARAGRAPHS = 3
CARD_CONTENT_MAX_WORDS = 150
CARD_CHIPS_ITEMS = (2, 3)
CARD_CHIP_WORDS = (2, 4)
CARD_VIBE_ITEMS = 6
CARD_VIBE_MAX_WORDS = 12
CARD_OPINION_MAX_WORDS = 65
CARD_SIMILAR_ITEMS = 4
CARD_SIMILAR_CONTEXT_MAX_WORDS = 8
CARD_SIMILAR_MAX_WORDS = 20  # title and context together
# Between a similar movie's title and its context: "Title - context" (a spaced
# hyphen, en or em dash; titles have colons and unspaced hyphens of their own).
_SIMILAR_SEPARATOR = re.compile(r"\s[-\u2013\u2014]\s")


def word_count(text: str) -> int:
    return len(text.split())


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def similar_context(item: str) -> str:
    """The context part of "Title - context" or "Title (context)"; "" for a bare title."""
    parts = _SIMILAR_SEPARATOR.split(item)
    if len(parts) > 1:
        return parts[-1]
    text = item.strip()
    if text.endswith(")") and "(" in text:
        return text[text.rindex("(") + 1 : -1]
    return ""


class RoastCard(Frozen):
    """The roast as the Worker's front end shows it. Every limit is hard: a card that
    breaks one is repaired once, then the movie fails (``invalid_roast``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    headline: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=3000)
    chips: list[str] = Field(min_length=CARD_CHIPS_ITEMS[0], max_length=CARD_CHIPS_ITEMS[1])
    internet_vibe: list[str] = Field(min_length=CARD_VIBE_ITEMS, max_length=CARD_VIBE_ITEMS)
    your_opinion: str = Field(min_length=1, max_length=1000)
    similar_movies: list[str] = Field(min_length=CARD_SIMILAR_ITEMS, max_length=CARD_SIMILAR_ITEMS)

    @field_validator("headline")
    @classmethod
    def _headline(cls, value: str) -> str:
        if word_count(value) > CARD_HEADLINE_MAX_WORDS:
            raise ValueError(f"at most {CARD_HEADLINE_MAX_WORDS} words")
        return value.strip()

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        found = len(paragraphs(value))
        if found != CARD_CONTENT_PARAGRAPHS:
            raise ValueError(
                f"{CARD_CONTENT_PARAGRAPHS} paragraphs separated by blank lines, not {found}"
            )
        if word_count(value) > CARD_CONTENT_MAX_WORDS:
            raise ValueError(f"at most {CARD_CONTENT_MAX_WORDS} words in all")
        return "\n\n".join(paragraphs(value))

    @field_validator("chips")
    @classmethod
    def _chips(cls, value: list[str]) -> list[str]:
        low, high = CARD_CHIP_WORDS
        for chip in value:
            if not low <= word_count(chip) <= high:
                raise ValueError(f"each chip has {low} to {high} words")
        return [c.strip() for c in value]

    @field_validator("internet_vibe")
    @classmethod
    def _vibe(cls, value: list[str]) -> list[str]:
        if any(not v.strip() or word_count(v) > CARD_VIBE_MAX_WORDS for v in value):
            raise ValueError(f"each item has 1 to {CARD_VIBE_MAX_WORDS} words")
        return [v.strip() for v in value]

    @field_validator("your_opinion")
    @classmethod
    def _opinion(cls, value: str) -> str:
        if word_count(value) > CARD_OPINION_MAX_WORDS:
            raise ValueError(f"at most {CARD_OPINION_MAX_WORDS} words")
        return value.strip()

    @field_validator("similar_movies")
    @classmethod
    def _similar(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip():
                raise ValueError("each item names a movie")
            if (
                word_count(similar_context(item)) > CARD_SIMILAR_CONTEXT_MAX_WORDS
                or word_count(item) > CARD_SIMILAR_MAX_WORDS
            ):
                raise ValueError(
                    f"each item is a title with at most {CARD_SIMILAR_CONTEXT_MAX_WORDS} "
                    "words of context"
                )
        return [v.strip() for v in value]


class Roast(Frozen):
    """The roast of a movie (Grok), written from its truth."""

    movie_id: int
    card: RoastCard
    model: str
    created_at: datetime
    # The run that paid for this roast, so a redelivery after a crash between "roast
    # stored" and "outcome recorded" still counts the movie as generated, not cached.
    correlation_id: str | None = None
    usage: Usage = Usage()
    # What generating it cost: calls (retries included) and tokens.
    spend: Spend = Spend()


class RoastRecord(Frozen):
    """What the roast cache holds: everything `GET /movie/{id}` serves, in one document,
    so a warm read costs one Firestore get."""

    movie: Movie
    details: MovieDetails
    truth: Truth
    roast: Roast
