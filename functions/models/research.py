"""Research: what a generation used, the web sources found and the brief built on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from functions.models.base import Frozen


class Usage(Frozen):
    """What one generation used: tokens in and out (Perplexity's input/output tokens,
    xAI's prompt/completion tokens) and its cost in USD, as the provider reported it
    where the answer carried one, else estimated from the list price."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_reported: bool = False

    def plus(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            cost_reported=self.cost_reported and other.cost_reported,
        )


class SearchResult(Frozen):
    """One web source Perplexity's search found (its ``search_results`` output item)."""

    title: str = Field("", max_length=1000)
    url: str = Field(max_length=2000)
    date: str | None = Field(None, max_length=40)
    snippet: str = Field("", max_length=5000)

    @field_validator("title", "snippet", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class Truth(Frozen):
    """The research brief on a movie (Perplexity), with the sources it was built on.
    ``citations`` are the sources' URLs, in the order the brief numbers them."""

    # The Worker's truth_source ("perplexity:sonar").
    source: str = "perplexity:sonar"
    movie_id: int
    brief: str
    citations: list[str] = Field(default_factory=list)
    search_results: list[SearchResult] = Field(default_factory=list)
    model: str
    created_at: datetime
    usage: Usage = Usage()
