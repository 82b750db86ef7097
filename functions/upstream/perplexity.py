"""Perplexity's Agent API: the research brief ("truth") of a movie, sources kept.

``POST {base}/v1/agent`` with a model (never a preset, which may run another vendor's
model), the brief as ``instructions``, the movie as ``input`` and the web-search tool.
Sonar chat completions, which the Worker used, answer 403 since 2026-09-27.

The answer's ``status`` decides: ``completed`` is used; ``failed`` (which can come
with HTTP 200) is retried like a 5xx; ``incomplete`` at the output limit is asked once
more with twice the limit, then fails as ``truncated``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from functions.errors import TruncatedAnswer
from functions.metering import Price
from functions.models import Movie, MovieDetails, SearchResult, Truth, Usage, utcnow
from functions.upstream import prompts
from functions.upstream.http import FailedAnswer, Gate, RetryPolicy, post_billed

SERVICE = "research"
PROVIDER = "perplexity"
# Sources kept with a truth (the brief cites them by number).
MAX_SOURCES = 20


@dataclass(frozen=True)
class AgentAnswer:
    status: str  # completed | incomplete
    text: str
    model: str
    search_results: list[SearchResult]
    usage: Usage


def _usage(body: dict[str, Any], price: Price) -> Usage:
    raw = body.get("usage") or {}
    input_tokens = int(raw.get("input_tokens") or 0)
    output_tokens = int(raw.get("output_tokens") or 0)
    cost = raw.get("cost") if isinstance(raw.get("cost"), dict) else None
    reported = cost.get("total_cost") if cost else None
    if isinstance(reported, (int, float)) and not isinstance(reported, bool):
        return Usage(
            prompt_tokens=input_tokens,
            completion_tokens=output_tokens,
            cost_usd=float(reported),
            cost_reported=True,
        )
    return Usage(
        prompt_tokens=input_tokens,
        completion_tokens=output_tokens,
        cost_usd=price.estimate(input_tokens, output_tokens),
    )


def _search_results(output: list[Any]) -> list[SearchResult]:
    found: list[SearchResult] = []
    for item in output:
        if isinstance(item, dict) and item.get("type") == "search_results":
            for result in item.get("results") or []:
                if not (isinstance(result, dict) and isinstance(result.get("url"), str)):
                    continue
                if not result["url"].strip():
                    continue
                try:
                    found.append(SearchResult.model_validate(result))
                except ValidationError:
                    continue  # one unusable source must not sink the brief
    return found[:MAX_SOURCES]


def _message_text(output: list[Any]) -> str:
    # The raw JSON has no output_text (that is an SDK helper): join the message parts.
    return "".join(
        part["text"]
        for item in output
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict)
        and part.get("type") == "output_text"
        and isinstance(part.get("text"), str)
    ).strip()


def parse_answer(body: Any, price: Price) -> AgentAnswer:
    """An Agent API response body; raises FailedAnswer for a failed run and
    ValueError/KeyError/TypeError for a body of the wrong shape (both retried)."""
    status = body["status"]
    if status == "failed":
        error = body.get("error")
        code = (error.get("code") or error.get("type")) if isinstance(error, dict) else None
        raise FailedAnswer(f"status failed, code {code or 'unknown'}")
    output = body["output"]
    if not isinstance(output, list):
        raise TypeError("output is not a list")
    usage = _usage(body, price)
    if status == "incomplete":
        return AgentAnswer(
            "incomplete", _message_text(output), str(body.get("model") or ""), [], usage
        )
    if status != "completed":
        raise ValueError(f"unexpected status {status!r}")
    text = _message_text(output)
    if not text:
        raise ValueError("completed answer without text")
    return AgentAnswer(
        "completed", text, str(body.get("model") or ""), _search_results(output), usage
    )


@dataclass
class PerplexityResearcher:
    client: httpx.Client
    base_url: str
    api_key: SecretStr | None
    model: str
    policy: RetryPolicy
    price: Price
    max_output_tokens: int = 3000
    search_recency: str = "month"
    temperature: float = 0.3
    # The provider's fleet-wide limit (None: unlimited, as `make smoke` calls).
    gate: Gate | None = None

    def request_body(
        self, movie: Movie, details: MovieDetails, max_output_tokens: int
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "instructions": prompts.RESEARCH_INSTRUCTIONS,
            "input": prompts.research_input(movie, details),
            "max_output_tokens": max_output_tokens,
            "temperature": self.temperature,
            "tools": [
                {"type": "web_search", "filters": {"search_recency_filter": self.search_recency}}
            ],
            "tool_choice": {"type": "web_search"},
            "store": False,
        }

    def ask(self, movie: Movie, details: MovieDetails, max_output_tokens: int) -> AgentAnswer:
        """One research request, answered completed or incomplete (`make smoke`)."""
        return post_billed(
            self.client,
            service=SERVICE,
            provider=PROVIDER,
            url=f"{self.base_url.rstrip('/')}/v1/agent",
            api_key=self.api_key,
            key_variable="PERPLEXITY_API_KEY",
            policy=self.policy,
            body=self.request_body(movie, details, max_output_tokens),
            validate=lambda body: parse_answer(body, self.price),
            gate=self.gate,
        )

    def research(self, movie: Movie, details: MovieDetails) -> Truth:
        answer = self.ask(movie, details, self.max_output_tokens)
        usage = answer.usage
        if answer.status == "incomplete":
            answer = self.ask(movie, details, self.max_output_tokens * 2)
            usage = usage.plus(answer.usage)
            if answer.status == "incomplete":
                raise TruncatedAnswer(
                    SERVICE, f"still incomplete at max_output_tokens={self.max_output_tokens * 2}"
                )
        return self.truth_from(movie, answer, usage)

    def truth_from(self, movie: Movie, answer: AgentAnswer, usage: Usage | None = None) -> Truth:
        model = answer.model or self.model
        return Truth(
            source=f"perplexity:{model.removeprefix('perplexity/')}",
            movie_id=movie.id,
            brief=answer.text,
            citations=[r.url for r in answer.search_results],
            search_results=answer.search_results,
            model=model,
            created_at=utcnow(),
            usage=usage or answer.usage,
        )
