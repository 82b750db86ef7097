"""Perplexity's Agent API (the research brief), against respx: the exact body sent
(no Sonar chat fields), answers parsed from bodies shaped like the sheet's example and
a recorded full response, reported cost else the price estimate, sources kept, and the
status handling: ``failed`` is retried, ``incomplete`` is asked once more with twice
the output limit, then fails as ``truncated``. The harness lives in
test_upstream_clients.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from functions import metering
from functions.errors import TruncatedAnswer, UpstreamUnavailable
from functions.models import Movie, MovieDetails, SearchResult, Usage
from functions.upstream import prompts
from tests.unit.test_upstream_clients import (  # noqa: F401  (fixtures)
    DETAILS,
    MOVIE,
    PPLX_KEY,
    PPLX_MODEL,
    PPLX_URL,
    RESEARCH_PRICE,
    agent_answer,
    client,
    naps,
    ok,
    researcher,
    router,
)

# The sheet's minimal example response, filled in.
SHEET_EXAMPLE: dict[str, Any] = {
    "id": "resp_1",
    "status": "completed",
    "model": "perplexity/sonar",
    "output": [
        {
            "type": "search_results",
            "results": [
                {
                    "id": 1,
                    "url": "https://example.org/fight-club",
                    "title": "Fight Club (1999)",
                    "snippet": "An insomniac office worker forms an underground club.",
                }
            ],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Fight Club is a 1999 film. [1]"}],
        },
    ],
    "usage": {
        "input_tokens": 900,
        "output_tokens": 400,
        "total_tokens": 1300,
        "cost": {"currency": "USD", "total_cost": 0.0035},
    },
}

# Shaped like vercel/ai's recorded Agent API fixture (2026-09): the full response
# object, results without a `date` where the source has none, usage keys left out
# when zero (input_cost, reasoning tokens), cost broken down with total_cost.
VERCEL_STYLE: dict[str, Any] = {
    "background": False,
    "completed_at": 1790374547,
    "created_at": 1790374540,
    "error": None,
    "id": "resp_8762b9bb",
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": 3000,
    "model": "perplexity/sonar",
    "object": "response",
    "output": [
        {
            "queries": ["Fight Club 1999 plot reception"],
            "results": [
                {
                    "date": "1999-10-15",
                    "id": 1,
                    "last_updated": "2026-09-25",
                    "snippet": "Fight Club is a 1999 American film directed by David Fincher.",
                    "source": "web",
                    "title": "Fight Club - Wikipedia",
                    "url": "https://en.wikipedia.org/wiki/Fight_Club",
                },
                {
                    "id": 2,
                    "last_updated": "2026-09-23",
                    "snippet": "Critics were divided on release.",
                    "source": "web",
                    "title": "Fight Club reviews",
                    "url": "https://reviews.example/fight-club",
                },
            ],
            "type": "search_results",
        },
        {
            "content": [
                {
                    "annotations": [],
                    "text": "1. Plot: an insomniac meets a soap salesman. [1][2]",
                    "type": "output_text",
                }
            ],
            "id": "msg_944a7d76",
            "role": "assistant",
            "status": "completed",
            "type": "message",
        },
    ],
    "status": "completed",
    "store": False,
    "tool_choice": {"type": "web_search"},
    "tools": [{"type": "web_search"}],
    "usage": {
        "cost": {
            "currency": "USD",
            "output_cost": 0.00002,
            "tool_calls_cost": 0.001,
            "tool_calls_cost_details": {"search_web": 0.001},
            "total_cost": 0.00119,
        },
        "input_tokens": 3007,
        "input_tokens_details": {"cache_read_input_tokens": 1780, "cached_tokens": 1780},
        "output_tokens": 36,
        "tool_calls_details": {"search_web": {"cost_usd": 0.001, "invocation": 1}},
        "total_tokens": 3043,
    },
    "user": None,
}


def sent(route: respx.Route, n: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[n].request.content)
    return body


def research(client: httpx.Client, **kw: Any) -> Any:
    return researcher(client, **kw).research(MOVIE, DETAILS)


# ------------------------------------------------------------------ Perplexity: request


def test_perplexity_sends_the_agent_api_body_with_a_bearer_key(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(PPLX_URL).mock(return_value=ok(agent_answer()))
    research(client)

    assert route.call_count == 1
    request = route.calls[0].request
    assert str(request.url) == "https://pplx.test/v1/agent"
    assert request.headers["Authorization"] == f"Bearer {PPLX_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert sent(route) == {
        "model": "perplexity/sonar",
        "instructions": prompts.RESEARCH_INSTRUCTIONS,
        "input": (
            "Movie: Fight Club (1999). TMDB id: 550.\n"
            "Genres: Drama, Thriller.\n"
            "Director: David Fincher.\n"
            "Original language: English."
        ),
        "max_output_tokens": 3000,
        "temperature": 0.3,
        "tools": [{"type": "web_search", "filters": {"search_recency_filter": "month"}}],
        "tool_choice": {"type": "web_search"},
        "store": False,
    }


# Parasite (2019), trimmed: original language Korean, but English is the first spoken
# language listed, so the name must be looked up by code.
PARASITE: dict[str, Any] = {
    "id": 496243,
    "title": "Parasite",
    "original_title": "\uae30\uc0dd\ucda9",
    "original_language": "ko",
    "overview": "All unemployed, Ki-taek's family takes peculiar interest in the Parks.",
    "release_date": "2019-05-30",
    "genres": [
        {"id": 35, "name": "Comedy"},
        {"id": 53, "name": "Thriller"},
        {"id": 18, "name": "Drama"},
    ],
    "runtime": 133,
    "vote_average": 8.5,
    "spoken_languages": [
        {"english_name": "English", "iso_639_1": "en", "name": "English"},
        {
            "english_name": "Korean",
            "iso_639_1": "ko",
            "name": "\ud55c\uad6d\uc5b4/\uc870\uc120\ub9d0",
        },
    ],
}


def test_perplexity_input_names_title_year_genres_director_and_language(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(PPLX_URL).mock(return_value=ok(agent_answer()))
    details = MovieDetails(meta=PARASITE, director="Bong Joon Ho")
    researcher(client).research(details.movie, details)
    assert sent(route)["input"].splitlines() == [
        "Movie: Parasite (2019). TMDB id: 496243.",
        "Genres: Comedy, Thriller, Drama.",  # names, in TMDB's order, not ids
        "Director: Bong Joon Ho.",
        "Original language: Korean.",  # the English name of original_language, not "ko"
    ]


def test_perplexity_input_says_what_tmdb_did_not_know(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(PPLX_URL).mock(return_value=ok(agent_answer()))
    bare = MovieDetails(
        meta={"id": 77, "title": "Untitled", "genres": [], "original_language": "xx"}
    )
    researcher(client).research(Movie(id=77, title="Untitled"), bare)
    assert sent(route)["input"].splitlines() == [
        "Movie: Untitled (unknown year). TMDB id: 77.",
        "Genres: unknown.",
        "Director: unknown.",
        "Original language: xx.",  # no spoken language names it: the code
    ]


def test_request_body_is_what_research_sends(client: httpx.Client, router: respx.Router) -> None:
    route = router.post(PPLX_URL).mock(return_value=ok(agent_answer()))
    under_test = researcher(client)
    under_test.research(MOVIE, DETAILS)
    assert sent(route) == under_test.request_body(MOVIE, DETAILS, 3000)
    assert "Soap" not in sent(route)["input"]  # the overview is for the roast, not the research


def test_perplexity_body_has_none_of_the_fields_the_agent_api_refuses(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(PPLX_URL).mock(return_value=ok(agent_answer()))
    research(client)
    body = sent(route)
    refused = {
        "messages", "max_tokens", "search_recency_filter", "web_search_options",
        "return_citations", "return_images", "return_related_questions", "stop",
        "presence_penalty", "frequency_penalty", "text",
    }  # fmt: skip
    assert refused.isdisjoint(body)
    assert "preset" not in body and "models" not in body  # a preset may run another model


def test_perplexity_body_follows_the_settings(client: httpx.Client, router: respx.Router) -> None:
    route = router.post(PPLX_URL).mock(return_value=ok(agent_answer()))
    researcher(
        client, base_url="https://pplx.test/", max_output_tokens=1200, search_recency="week",
        temperature=0.1,
    ).research(MOVIE, DETAILS)  # fmt: skip
    assert str(route.calls[0].request.url) == PPLX_URL  # no double slash
    body = sent(route)
    assert body["max_output_tokens"] == 1200
    assert body["temperature"] == 0.1
    assert body["tools"] == [{"type": "web_search", "filters": {"search_recency_filter": "week"}}]


# ------------------------------------------------------------------ Perplexity: answers


def test_perplexity_parses_the_sheets_example(client: httpx.Client, router: respx.Router) -> None:
    router.post(PPLX_URL).mock(return_value=ok(SHEET_EXAMPLE))
    before = datetime.now(UTC)
    truth = research(client)

    assert truth.movie_id == 550
    assert truth.brief == "Fight Club is a 1999 film. [1]"
    assert truth.citations == ["https://example.org/fight-club"]
    assert truth.search_results == [
        SearchResult(
            title="Fight Club (1999)",
            url="https://example.org/fight-club",
            date=None,
            snippet="An insomniac office worker forms an underground club.",
        )
    ]
    assert truth.model == "perplexity/sonar"
    assert truth.usage == Usage(
        prompt_tokens=900, completion_tokens=400, cost_usd=0.0035, cost_reported=True
    )
    assert before <= truth.created_at <= datetime.now(UTC) + timedelta(seconds=1)


def test_perplexity_parses_a_full_response_object(
    client: httpx.Client, router: respx.Router
) -> None:
    router.post(PPLX_URL).mock(return_value=ok(VERCEL_STYLE))
    with metering.ledger() as book:
        truth = research(client)

    assert truth.brief == "1. Plot: an insomniac meets a soap salesman. [1][2]"
    assert truth.citations == [
        "https://en.wikipedia.org/wiki/Fight_Club",
        "https://reviews.example/fight-club",
    ]
    assert [(r.title, r.date, r.snippet) for r in truth.search_results] == [
        ("Fight Club - Wikipedia", "1999-10-15",
         "Fight Club is a 1999 American film directed by David Fincher."),
        ("Fight Club reviews", None, "Critics were divided on release."),
    ]  # fmt: skip
    assert truth.usage == Usage(
        prompt_tokens=3007, completion_tokens=36, cost_usd=0.00119, cost_reported=True
    )
    research_spend = book.spend().research
    assert (research_spend.calls, research_spend.prompt_tokens) == (1, 3007)
    assert (research_spend.completion_tokens, research_spend.cost_usd) == (36, 0.00119)


def test_truth_keeps_the_model_as_run_else_the_configured_one(
    client: httpx.Client, router: respx.Router
) -> None:
    router.post(PPLX_URL).mock(
        side_effect=[ok(agent_answer(model="perplexity/sonar-2026-10")), ok(agent_answer(model=""))]
    )
    assert research(client).model == "perplexity/sonar-2026-10"
    assert research(client).model == PPLX_MODEL


def test_truth_source_is_perplexity_sonar(client: httpx.Client, router: respx.Router) -> None:
    """The Worker's truth_source, for the model PlotBurn runs (perplexity/sonar)."""
    router.post(PPLX_URL).mock(
        side_effect=[ok(agent_answer(model="perplexity/sonar")), ok(agent_answer(model=""))]
    )
    assert research(client).source == "perplexity:sonar"
    assert research(client).source == "perplexity:sonar"  # the configured model, when unnamed


def usage_of(prompt: int, completion: int, cost: float, reported: bool) -> Usage:
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost, cost_reported=reported
    )


ESTIMATE_900_400 = 900 * 0.25 / 1e6 + 400 * 2.5 / 1e6 + 0.0025  # RESEARCH_PRICE


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"output_tokens": 36, "cost": {"total_cost": 0.001}}, usage_of(0, 36, 0.001, True)),
        ({"input_tokens": 900, "output_tokens": 400}, usage_of(900, 400, ESTIMATE_900_400, False)),
        ({"input_tokens": 900, "output_tokens": 400, "cost": None},
         usage_of(900, 400, ESTIMATE_900_400, False)),
        ({"input_tokens": 900, "output_tokens": 400, "cost": {"currency": "USD"}},
         usage_of(900, 400, ESTIMATE_900_400, False)),
        ({"input_tokens": 900, "output_tokens": 400, "cost": {"total_cost": "0.0035"}},
         usage_of(900, 400, ESTIMATE_900_400, False)),
        ({"input_tokens": 900, "output_tokens": 400, "cost": {"total_cost": True}},
         usage_of(900, 400, ESTIMATE_900_400, False)),
        ({"cost": {"total_cost": 0}}, usage_of(0, 0, 0.0, True)),
        ({}, usage_of(0, 0, RESEARCH_PRICE.per_request, False)),
        (None, usage_of(0, 0, RESEARCH_PRICE.per_request, False)),
    ],
    ids=["zero-input-left-out", "no-cost", "cost-null", "cost-without-total", "total-a-string",
         "total-a-bool", "total-zero", "usage-empty", "usage-null"],
)  # fmt: skip
def test_perplexity_usage_reported_cost_else_price_estimate(
    client: httpx.Client, router: respx.Router, usage: Any, expected: Usage
) -> None:
    body = agent_answer()
    body["usage"] = usage
    router.post(PPLX_URL).mock(return_value=ok(body))
    with metering.ledger() as book:
        truth = research(client)
    assert truth.usage.model_dump() == {
        **expected.model_dump(),
        "cost_usd": pytest.approx(expected.cost_usd),
    }
    spend = book.spend().research
    assert (spend.prompt_tokens, spend.completion_tokens) == (
        expected.prompt_tokens,
        expected.completion_tokens,
    )
    assert spend.cost_usd == pytest.approx(expected.cost_usd)


def test_perplexity_sources_are_filtered_and_capped(
    client: httpx.Client, router: respx.Router
) -> None:
    many = [{"url": f"https://{n}.example", "title": f"T{n}"} for n in range(30)]
    body = agent_answer(
        results=[{"title": "A", "url": "https://a.example"}, {"title": "no url"}, "junk",
                 {"title": "B", "url": "https://b.example", "snippet": None}]
    )  # fmt: skip
    body["output"].insert(0, {"type": "fetch_url_results", "contents": [{"url": "https://x"}]})
    body["output"].append({"type": "search_results", "results": many})
    router.post(PPLX_URL).mock(return_value=ok(body))
    truth = research(client)
    expected = ["https://a.example", "https://b.example"] + [
        f"https://{n}.example" for n in range(18)
    ]
    assert truth.citations == expected  # MAX_SOURCES = 20, in the order found
    assert [r.url for r in truth.search_results] == expected
    assert truth.search_results[1] == SearchResult(title="B", url="https://b.example", snippet="")


def test_perplexity_brief_joins_only_the_messages_output_text(
    client: httpx.Client, router: respx.Router
) -> None:
    body = agent_answer()
    body["output"] = [
        {"type": "reasoning", "content": [{"type": "output_text", "text": "thinking..."}]},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "  First part. "},
            {"type": "refusal", "text": "ignored"},
            {"type": "output_text", "text": "Second part.\n"},
        ]},
    ]  # fmt: skip
    router.post(PPLX_URL).mock(return_value=ok(body))
    assert research(client).brief == "First part. Second part."


@pytest.mark.parametrize(
    "bad",
    [
        {"url": "https://long.example", "snippet": "x" * 6000},
        {"url": "https://d.example", "date": 20261001},
    ],
)
def test_one_unusable_source_does_not_sink_the_answer(
    client: httpx.Client, router: respx.Router, bad: dict[str, Any]
) -> None:
    """SearchResult validation errors are ValueErrors, so call_json treats the whole
    (billed) answer as malformed, retries it and fails. A source we cannot keep
    should be dropped, like a malformed TMDB list entry."""
    good = {"url": "https://a.example", "title": "A"}
    router.post(PPLX_URL).mock(return_value=ok(agent_answer(results=[good, bad])))
    assert research(client).citations == ["https://a.example"]


def test_a_source_with_an_empty_url_is_skipped(client: httpx.Client, router: respx.Router) -> None:
    results = [{"url": "", "title": "empty"}, {"url": "https://a.example", "title": "A"}]
    router.post(PPLX_URL).mock(return_value=ok(agent_answer(results=results)))
    assert research(client).citations == ["https://a.example"]


# ------------------------------------------------------------------ Perplexity: status

FAILED_RUN = {
    "id": "resp_f", "status": "failed", "model": PPLX_MODEL, "output": [],
    "error": {"code": "internal_error", "message": "the run failed"},
}  # fmt: skip


def test_http_200_failed_run_is_retried_then_succeeds(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.post(PPLX_URL).mock(side_effect=[ok(FAILED_RUN), ok(SHEET_EXAMPLE)])
    with metering.ledger() as book:
        truth = research(client)
    assert truth.brief == "Fight Club is a 1999 film. [1]"
    assert route.call_count == 2
    assert sent(route, 1) == sent(route, 0)  # the same question again
    assert len(naps) == 1 and 0 < naps[0] <= 4.0  # backoff, like a 5xx
    spend = book.spend().research
    assert (spend.calls, spend.prompt_tokens, spend.completion_tokens) == (2, 900, 400)
    assert spend.cost_usd == 0.0035  # only the answer we used carries usage


def test_failed_runs_outlasting_the_attempts_are_unavailable(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(PPLX_URL).mock(return_value=ok(FAILED_RUN))
    with pytest.raises(UpstreamUnavailable) as caught:
        research(client)
    assert route.call_count == 3
    assert str(caught.value) == (
        "research: POST /v1/agent: answer reported a failure "
        "(status failed, code internal_error) after 3 attempts"
    )
    assert caught.value.reason == (
        "perplexity: answer reported a failure (status failed, code internal_error) "
        "after 3 attempts"
    )


def incomplete(text: str = "1. Plot: an insomn", **usage: Any) -> dict[str, Any]:
    return agent_answer(
        text, status="incomplete", incomplete_details={"reason": "max_output_tokens"},
        usage={"input_tokens": 900, "output_tokens": 3000, "cost": {"total_cost": 0.008}, **usage},
    )  # fmt: skip


def test_incomplete_answer_is_asked_again_with_twice_the_output_limit(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.post(PPLX_URL).mock(side_effect=[ok(incomplete()), ok(SHEET_EXAMPLE)])
    with metering.ledger() as book:
        truth = research(client)

    assert route.call_count == 2
    first, second = sent(route, 0), sent(route, 1)
    assert (first["max_output_tokens"], second["max_output_tokens"]) == (3000, 6000)
    assert {**second, "max_output_tokens": 3000} == first  # nothing else changes
    assert naps == []  # a new question, not a retry: no wait
    assert truth.brief == "Fight Club is a 1999 film. [1]"
    assert truth.citations == ["https://example.org/fight-club"]
    # Both answers are billed: the truth and the ledger carry both.
    assert (truth.usage.prompt_tokens, truth.usage.completion_tokens) == (1800, 3400)
    assert truth.usage.cost_usd == pytest.approx(0.0115)
    assert truth.usage.cost_reported is True
    spend = book.spend().research
    assert (spend.calls, spend.prompt_tokens, spend.completion_tokens) == (2, 1800, 3400)
    assert spend.cost_usd == pytest.approx(0.0115)


def test_incomplete_twice_is_a_truncated_answer(client: httpx.Client, router: respx.Router) -> None:
    route = router.post(PPLX_URL).mock(return_value=ok(incomplete()))
    with metering.ledger() as book, pytest.raises(TruncatedAnswer) as caught:
        researcher(client, max_output_tokens=1000).research(MOVIE, DETAILS)
    assert caught.value.reason == "truncated"
    assert caught.value.service == "research"
    assert "max_output_tokens=2000" in str(caught.value)
    assert route.call_count == 2
    assert [sent(route, n)["max_output_tokens"] for n in (0, 1)] == [1000, 2000]
    spend = book.spend().research
    assert (spend.calls, spend.completion_tokens) == (2, 6000)
    assert spend.cost_usd == pytest.approx(0.016)


def test_ask_is_one_request_and_truth_from_keeps_its_usage(
    client: httpx.Client, router: respx.Router
) -> None:
    """`make smoke` asks once and builds the truth itself."""
    route = router.post(PPLX_URL).mock(return_value=ok(incomplete()))
    under_test = researcher(client)
    answer = under_test.ask(MOVIE, DETAILS, 500)
    assert (answer.status, answer.text, answer.search_results) == (
        "incomplete",
        "1. Plot: an insomn",
        [],
    )
    assert route.call_count == 1 and sent(route)["max_output_tokens"] == 500
    truth = under_test.truth_from(MOVIE, answer)
    assert truth.usage == answer.usage == usage_of(900, 3000, 0.008, True)


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, content=b"<html>not json</html>"),
        httpx.Response(200, content=b""),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, json={"output": []}),
        httpx.Response(200, json={"status": "completed", "output": "text"}),
        httpx.Response(200, json={"status": "completed",
                                  "output": [{"type": "search_results", "results": []}]}),
        httpx.Response(200, json=agent_answer(status="in_progress")),
        httpx.Response(200, json=agent_answer(usage="not an object")),  # type: ignore[arg-type]
        httpx.Response(200, json={**agent_answer(),
                                  "output": [{"type": "message", "content": "x"}]}),
    ],
    ids=["html", "empty", "list", "no-status", "output-not-list", "no-text", "in-progress",
         "usage-not-object", "content-not-list"],
)  # fmt: skip
def test_perplexity_malformed_bodies_are_retried(
    client: httpx.Client, router: respx.Router, bad: httpx.Response
) -> None:
    route = router.post(PPLX_URL).mock(side_effect=[bad, ok(agent_answer("Fine."))])
    assert research(client).brief == "Fine."
    assert route.call_count == 2
