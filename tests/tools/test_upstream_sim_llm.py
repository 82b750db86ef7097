"""The upstream simulator's LLM contracts as of late 2026 (../shared/upstream-apis.md):
Perplexity's Agent API (strict body, retired Sonar endpoints, output items, usage.cost,
incomplete and failed runs) and xAI's chat completions (live models only, no penalties,
structured output fitted to the requested schema, cost in ticks, overlong cards).

Error bodies are pinned exactly. TMDB, faults in general, concurrency and the control
API are in test_upstream_sim.py, which also holds the fixtures and request helpers.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from functions.metering import Price
from functions.models import CARD_HEADLINE_MAX_WORDS, RoastCard, Truth, word_count
from functions.upstream import prompts
from functions.upstream.grok import GrokRoaster
from functions.upstream.http import RetryPolicy
from functions.upstream.perplexity import PerplexityResearcher
from functions.upstream.tmdb import TmdbCatalog
from tests.tools.test_upstream_sim import (  # noqa: F401 (sim and http are fixtures)
    NO_FAULTS,
    RESEARCH_MODEL,
    ROAST_MODEL,
    agent_body,
    card_format,
    completion_text,
    http,
    movie_line,
    output_text,
    research,
    roast,
    roast_body,
    sim,
)
from upstream_sim.server import SimServer

DATED_ROAST_MODEL = "grok-4.20-0309-non-reasoning"
SONAR_PRICES = (0.25, 2.50)  # USD per million input and output tokens
TICKS_IN, TICKS_OUT = 12_500, 25_000  # xAI's $1.25 and $2.50 per million, in 1e-10 USD
RETIRED_BODY = {
    "error": {
        "message": (
            "Sonar is now the Agent API. Use /v1/responses instead of /v1/sonar. Migrate "
            "here: https://docs.perplexity.ai/docs/agent-api/migrate-from-sonar/overview"
        ),
        "type": "chat_completions_not_available",
        "code": 403,
    }
}
INVALID = "Client specified an invalid argument"


def agent_error(message: str, kind: str = "invalid_request", **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": 400, **extra}}


def card_of(response: httpx.Response) -> dict[str, Any]:
    card: dict[str, Any] = json.loads(completion_text(response))
    return card


# -- Perplexity: the retired Sonar endpoints and the request contract -------------------------


@pytest.mark.parametrize("path", ["/chat/completions", "/v1/sonar"])
def test_retired_sonar_endpoints_answer_403(sim: SimServer, http: httpx.Client, path: str) -> None:
    old = {"model": "sonar", "messages": [{"role": "user", "content": movie_line(1000)}]}
    for body in (old, agent_body(1000)):
        response = http.post(f"{sim.perplexity_base}{path}", json=body)
        assert response.status_code == 403
        assert response.json() == RETIRED_BODY
    assert sim.stats()["calls"]["research"] == 0  # never reaches the Agent API


@pytest.mark.parametrize(
    "field, value",
    [
        ("messages", [{"role": "user", "content": "TMDB id: 1000"}]),
        ("max_tokens", 700),
        ("search_recency_filter", "month"),
        ("web_search_options", {"search_context_size": "low"}),
        ("return_citations", True),
        ("stop", ["\n\n"]),
        ("presence_penalty", 0),
        ("text", {"format": {"type": "json_schema"}}),
    ],
)
def test_agent_api_rejects_unknown_fields_naming_them(
    sim: SimServer, http: httpx.Client, field: str, value: Any
) -> None:
    response = research(http, sim, 1000, agent_body(1000, **{field: value}))
    assert response.status_code == 400
    assert response.json() == agent_error(
        f'invalid request body: json: unknown field "{field}"', param=field
    )
    stats = sim.stats()
    assert stats["calls"]["research"] == 1 and stats["successes"]["research"] == 0


@pytest.mark.parametrize("model", ["sonar", "sonar-pro", "perplexity/sonar-pro", "grok-4.3"])
def test_agent_api_rejects_models_it_does_not_serve(
    sim: SimServer, http: httpx.Client, model: str
) -> None:
    response = research(http, sim, 1000, agent_body(1000, model=model))
    assert response.status_code == 400
    assert response.json() == agent_error(f"model is not supported: {model}", "invalid_model")


def test_agent_api_recency_filters(sim: SimServer, http: httpx.Client) -> None:
    def tools(recency: Any) -> list[dict[str, Any]]:
        return [{"type": "web_search", "filters": {"search_recency_filter": recency}}]

    for recency in ("hour", "day", "week", "month", "year"):
        assert research(http, sim, 1000, agent_body(1000, tools=tools(recency))).status_code == 200
    for recency in ("fortnight", "Month", None, 30):
        bad = research(http, sim, 1000, agent_body(1000, tools=tools(recency)))
        assert bad.status_code == 400, recency
        assert bad.json() == agent_error(
            "validation failed: tools[0]: search recency filter must be one of: "
            "hour day week month year"
        )
    # The first bad tool is named by its index.
    two = [{"type": "web_search"}, *tools("x")]
    assert (
        "tools[1]: search recency"
        in research(http, sim, 1000, agent_body(1000, tools=two)).json()["error"]["message"]
    )


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "invalid request body: not a JSON object"),
        (b'["a list"]', "invalid request body: not a JSON object"),
        (agent_body(1000, drop=("model",)), "one of model, models or preset is required"),
        (agent_body(1000, drop=("input",)), "validation failed: input is required"),
        (agent_body(1000, input=""), "validation failed: input is required"),
        (agent_body(1000, input=[{"type": "file", "url": "x"}]),
         "validation failed: input is required"),
        (agent_body(1000, preset="turbo", drop=("model",)), "unknown preset: turbo"),
        (agent_body(1000, instructions=["x"]), "validation failed: instructions must be a string"),
        (agent_body(1000, max_output_tokens=0),
         "validation failed: max_output_tokens must be a positive integer"),
        (agent_body(1000, max_output_tokens="3000"),
         "validation failed: max_output_tokens must be a positive integer"),
        (agent_body(1000, temperature=2.5),
         "validation failed: temperature must be between 0 and 2"),
        (agent_body(1000, top_p=-0.1), "validation failed: top_p must be between 0 and 1"),
        (agent_body(1000, tools={"type": "web_search"}),
         "validation failed: tools must be an array"),
        (agent_body(1000, tools=[{"type": "code"}]),
         "validation failed: tools[0]: unknown tool type"),
        (agent_body(1000, tools=[{"type": "web_search", "filters": ["month"]}]),
         "validation failed: tools[0]: filters must be an object"),
    ],
)  # fmt: skip
def test_agent_api_other_bad_bodies_are_400(
    sim: SimServer, http: httpx.Client, body: bytes | dict[str, Any], message: str
) -> None:
    url = f"{sim.perplexity_base}/v1/agent"
    if isinstance(body, bytes):
        response = http.post(url, content=body, headers={"Content-Type": "application/json"})
    else:
        response = http.post(url, json=body)
    assert response.status_code == 400
    assert response.json() == agent_error(message)
    assert sim.stats()["calls"]["research"] == 1  # authenticated, so counted
    assert sim.stats()["successes"]["research"] == 0


def test_agent_api_non_string_model_is_400_not_a_crash(sim: SimServer, http: httpx.Client) -> None:
    for value in (["perplexity/sonar"], {"id": "perplexity/sonar"}):
        response = research(http, sim, 1000, agent_body(1000, model=value))
        assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_model"
        preset = research(http, sim, 1000, agent_body(1000, preset=value, drop=("model",)))
        assert preset.status_code == 400 and preset.json()["error"]["type"] == "invalid_request"


def test_agent_api_only_accepts_post(sim: SimServer, http: httpx.Client) -> None:
    response = http.get(f"{sim.perplexity_base}/v1/agent")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"]["type"] == "invalid_request"


# -- Perplexity: answers ----------------------------------------------------------------------


def test_agent_answer_shape_usage_and_cost(sim: SimServer, http: httpx.Client) -> None:
    before = int(time.time())
    answer = research(http, sim, 1002)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {
        "id",
        "object",
        "created_at",
        "status",
        "model",
        "error",
        "incomplete_details",
        "output",
        "usage",
    }  # fmt: skip (no output_text, citations or choices in the raw JSON)
    assert body["status"] == "completed" and body["model"] == RESEARCH_MODEL
    assert body["error"] is None and body["incomplete_details"] is None
    assert body["id"].startswith("resp_") and body["created_at"] >= before
    assert [item["type"] for item in body["output"]] == ["search_results", "message"]
    title = http.get(f"{sim.tmdb_base}/movie/1002").json()["title"]
    results = body["output"][0]["results"]
    assert [r["id"] for r in results] == [1, 2, 3, 4]
    assert all({"id", "url", "title", "snippet"} <= set(r) for r in results)
    assert all(r["url"].startswith("https://") and title in r["title"] for r in results)
    assert ["date" in r for r in results] == [True, True, True, False]  # date is optional
    assert results[0]["url"].startswith("https://www.themoviedb.org/movie/1002-")
    message = body["output"][1]
    assert message["role"] == "assistant" and message["status"] == "completed"
    assert [part["type"] for part in message["content"]] == ["output_text"]
    assert message["content"][0]["annotations"] == []
    text = output_text(answer)
    assert text.startswith("[simulated] ") and title in text and text.count(". ") >= 3
    usage = body["usage"]
    assert usage["output_tokens"] == (len(text) + 3) // 4
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["tool_calls_details"]["search_web"]["invocation"] == 1
    cost = usage["cost"]
    assert cost["currency"] == "USD" and cost["tool_calls_cost"] > 0
    assert cost["input_cost"] == round(usage["input_tokens"] * SONAR_PRICES[0] / 1e6, 6)
    assert cost["output_cost"] == round(usage["output_tokens"] * SONAR_PRICES[1] / 1e6, 6)
    assert cost["total_cost"] == round(
        cost["input_cost"] + cost["output_cost"] + cost["tool_calls_cost"], 6
    )
    headers = answer.headers
    assert headers["x-ratelimit-limit"] == "50" and headers["x-ratelimit-remaining"] == "49"
    assert int(headers["x-ratelimit-reset"]) >= before and headers["x-request-id"]
    assert "retry-after" not in headers and "x-sim-fault" not in headers
    stats = sim.stats()
    assert stats["successes"]["research"] == 1
    assert stats["tokens"]["research"] == {
        "prompt": usage["input_tokens"], "completion": usage["output_tokens"],
    }  # fmt: skip
    assert stats["cost_usd"]["research"] == cost["total_cost"]


def test_without_web_search_the_answer_is_ungrounded(sim: SimServer, http: httpx.Client) -> None:
    answer = research(http, sim, 1000, agent_body(1000, drop=("tools", "tool_choice")))
    assert answer.status_code == 200
    body = answer.json()
    assert [item["type"] for item in body["output"]] == ["message"]
    usage = body["usage"]
    assert "tool_calls_details" not in usage and "tool_calls_cost" not in usage["cost"]
    assert usage["cost"]["total_cost"] == round(
        usage["cost"]["input_cost"] + usage["cost"]["output_cost"], 6
    )
    # A preset includes search (and may run another vendor's model).
    preset = research(http, sim, 1000, agent_body(1000, preset="fast", drop=("model", "tools")))
    assert preset.status_code == 200 and preset.json()["model"] == "openai/gpt-6-luna"
    assert preset.json()["output"][0]["type"] == "search_results"


def test_answer_over_max_output_tokens_is_incomplete(sim: SimServer, http: httpx.Client) -> None:
    for limit in (16, 1):  # the API's minimum is 16: less is raised to it
        answer = research(http, sim, 1000, agent_body(1000, max_output_tokens=limit))
        assert answer.status_code == 200
        body = answer.json()
        assert body["status"] == "incomplete" and body["error"] is None
        assert body["incomplete_details"] == {"reason": "max_output_tokens"}
        assert body["output"][-1]["status"] == "incomplete"
        assert body["usage"]["output_tokens"] == 16 and len(output_text(answer)) == 64
    whole = research(http, sim, 1000, agent_body(1000, max_output_tokens=3000))
    assert whole.json()["status"] == "completed" and len(output_text(whole)) > 64
    stats = sim.stats()
    assert stats["successes"]["research"] == 3  # a truncated answer is billed too
    completion = 16 + 16 + whole.json()["usage"]["output_tokens"]
    assert stats["tokens"]["research"]["completion"] == completion


def test_failed_run_is_http_200_with_status_failed(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(fail_first={"research": 1}, fail_first_kinds={"research": ["failed"]})
    failed = research(http, sim, 1000)
    assert failed.status_code == 200 and failed.headers["x-sim-fault"] == "failed"
    body = failed.json()
    assert body["status"] == "failed" and body["output"] == [] and "usage" not in body
    assert body["error"] == {"code": "internal_error", "message": "The agent run failed."}
    assert research(http, sim, 1000).json()["status"] == "completed"
    stats = sim.stats()
    assert stats["faults_injected"]["research"] == {**NO_FAULTS, "failed": 1}
    assert stats["successes"]["research"] == 1
    assert stats["calls_by_movie"]["research"] == {"1000": 2}


def test_perplexity_429_carries_ratelimit_reset_not_retry_after(
    sim: SimServer, http: httpx.Client
) -> None:
    sim.configure(fail_first={"research": 2}, fail_first_kinds=["429"], retry_after_seconds=30)
    before = time.time()
    limited = research(http, sim, 1000)
    after = time.time()
    assert limited.status_code == 429 and "retry-after" not in limited.headers
    assert limited.json() == {
        "error": {
            "message": "Rate limit exceeded. Please retry later.",
            "type": "request_rate_limit_exceeded",
            "code": 429,
        }
    }
    assert limited.headers["x-ratelimit-limit"] == "50"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    reset = int(limited.headers["x-ratelimit-reset"])  # epoch seconds
    assert math.ceil(before + 30) <= reset <= math.ceil(after + 30)
    sim.configure(retry_after_seconds=0)
    again = research(http, sim, 1000)
    assert again.status_code == 429 and int(again.headers["x-ratelimit-reset"]) <= time.time() + 1
    assert research(http, sim, 1000).status_code == 200
    assert sim.stats()["faults_injected"]["research"]["429"] == 2


def test_stats_cost_is_the_sum_of_reported_total_costs(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(fail_first={"research": 2}, fail_first_kinds=["failed", "malformed"])
    faulted = [research(http, sim, 1003) for _ in range(2)]  # a failed run, a malformed body
    assert [a.headers["x-sim-fault"] for a in faulted] == ["failed", "malformed"]
    sim.configure(fail_first={"research": 0})
    bodies = [
        agent_body(1003),
        agent_body(1004, drop=("tools", "tool_choice")),
        agent_body(1005, max_output_tokens=20),
        agent_body(None),
    ]
    answers = [research(http, sim, None, body) for body in bodies]
    billed = [a.json()["usage"] for a in answers]
    statuses = [a.json()["status"] for a in answers]
    assert statuses == ["completed", "completed", "incomplete", "completed"]
    stats = sim.stats()
    assert stats["cost_usd"]["research"] == round(sum(u["cost"]["total_cost"] for u in billed), 10)
    assert stats["tokens"]["research"] == {
        "prompt": sum(u["input_tokens"] for u in billed),
        "completion": sum(u["output_tokens"] for u in billed),
    }
    assert stats["calls_by_movie"]["research"] == {"1003": 3, "1004": 1, "1005": 1, "unknown": 1}


def test_input_forms_alias_and_movie_attribution(sim: SimServer, http: httpx.Client) -> None:
    as_items = [{"type": "message", "role": "user", "content": movie_line(1001)}]
    as_parts = [{"role": "user", "content": [{"type": "input_text", "text": movie_line(1001)}]}]
    for form in (as_items, as_parts):
        response = research(http, sim, 1001, agent_body(1001, input=form), path="/v1/responses")
        assert response.status_code == 200 and response.json()["status"] == "completed"
    for movie_id in (1000, 1000, None):
        assert research(http, sim, movie_id).status_code == 200
    unknown = research(http, sim, None, agent_body(None))
    assert output_text(unknown).startswith("[simulated] The Last Algorithm could not be matched")
    assert sim.stats()["calls_by_movie"]["research"] == {"1000": 2, "1001": 2, "unknown": 2}


def test_research_text_override(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(research_text_override={"1001": "Just facts.", "unknown": "Who knows."})
    assert output_text(research(http, sim, 1001)) == "Just facts."
    assert output_text(research(http, sim, None)) == "Who knows."
    assert output_text(research(http, sim, 1002)).startswith("[simulated] ")


# -- xAI: models, parameters and schemas -------------------------------------------------


@pytest.mark.parametrize(
    "model",
    ["grok-4-fast-non-reasoning", "grok-4-1-fast-non-reasoning", "grok-3", "grok-4.20", "sonar"],
)
def test_retired_and_unknown_models_are_404(sim: SimServer, http: httpx.Client, model: str) -> None:
    response = roast(http, sim, 1000, roast_body(1000, model=model))
    assert response.status_code == 404
    assert response.json() == {
        "code": "Some requested entity was not found",
        "error": f"The model {model} does not exist or your team does not have access to it.",
    }
    assert sim.stats()["calls"]["roast"] == 1 and sim.stats()["successes"]["roast"] == 0


@pytest.mark.parametrize(
    "field, wire_name",
    [("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")],
)
@pytest.mark.parametrize("value", [0, 0.5])
def test_penalties_are_400_even_at_zero(
    sim: SimServer, http: httpx.Client, field: str, wire_name: str, value: float
) -> None:
    response = roast(http, sim, 1000, roast_body(1000, **{field: value}))
    assert response.status_code == 400
    assert response.json() == {
        "code": INVALID,
        "error": f"Argument not supported on this model: {wire_name}",
    }


def _schema_with(**chips: Any) -> dict[str, Any]:
    schema = prompts.roast_card_schema()
    schema["properties"]["chips"] = {**schema["properties"]["chips"], **chips}
    return schema


@pytest.mark.parametrize(
    "schema, problem",
    [
        (_schema_with(items=[{"type": "string"}, {"type": "string"}]),
         "schema.properties.chips.items: array-form items are not supported"),
        (_schema_with(items={"type": "string", "enum": []}),
         "schema.properties.chips.items.enum must not be empty"),
        (_schema_with(minItems="2"),
         "schema.properties.chips.minItems must be a non-negative integer"),
        (_schema_with(maxItems=-1),
         "schema.properties.chips.maxItems must be a non-negative integer"),
        ({"type": "object", "properties": {"headline": True}},
         "schema.properties.headline: boolean schemas are not supported"),
        ({"type": "object", "properties": ["headline"]}, "schema.properties must be an object"),
        ("not a schema", "schema must be an object"),
    ],
)  # fmt: skip
def test_schemas_xai_rejects_are_400(
    sim: SimServer, http: httpx.Client, schema: Any, problem: str
) -> None:
    response = roast(http, sim, 1000, roast_body(1000, response_format=card_format(schema)))
    assert response.status_code == 400
    assert response.json() == {"code": INVALID, "error": f"Invalid response_format: {problem}"}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"drop": ("model",)}, "model is required"),
        ({"messages": []}, "messages must be a non-empty array"),
        ({"messages": [{"role": "critic", "content": "x"}]},
         "messages[0] must be an object with a valid role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content must be a string or an array"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"temperature": 2.5}, "temperature must be between 0 and 2"),
        ({"top_p": 1.5}, "top_p must be between 0 and 1"),
        ({"response_format": {"type": "xml"}},
         "response_format.type must be text, json_object or json_schema"),
    ],
)  # fmt: skip
def test_other_bad_chat_bodies_are_400(
    sim: SimServer, http: httpx.Client, changes: dict[str, Any], message: str
) -> None:
    response = roast(http, sim, 1000, roast_body(1000, **changes))
    assert response.status_code == 400
    assert response.json() == {"code": INVALID, "error": message}
    not_json = http.post(
        f"{sim.xai_base}/chat/completions",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400 and not_json.json()["code"] == INVALID


# -- xAI: answers ----------------------------------------------------------------------------


def test_roast_card_fits_the_schema_and_is_a_valid_roast_card(
    sim: SimServer, http: httpx.Client
) -> None:
    answer = roast(http, sim, 1002)
    assert answer.status_code == 200
    body = answer.json()
    assert body["object"] == "chat.completion" and body["model"] == DATED_ROAST_MODEL
    assert isinstance(body["created"], int) and body["id"]
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    schema = prompts.roast_card_schema()
    card = card_of(answer)
    assert list(card) == list(schema["properties"])  # exactly the schema's properties
    for name, sub in schema["properties"].items():
        if sub["type"] == "array":
            assert sub["minItems"] <= len(card[name]) <= sub["maxItems"], name
            assert all(isinstance(item, str) and item for item in card[name])
        else:
            assert isinstance(card[name], str) and card[name]
    valid = RoastCard.model_validate(card)
    title = http.get(f"{sim.tmdb_base}/movie/1002").json()["title"]
    assert valid.headline.startswith(f"[simulated] {title}")
    usage = body["usage"]
    assert usage["completion_tokens"] == (len(completion_text(answer)) + 3) // 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    ticks = usage["cost_in_usd_ticks"]
    assert ticks == usage["prompt_tokens"] * TICKS_IN + usage["completion_tokens"] * TICKS_OUT
    stats = sim.stats()
    assert stats["cost_usd"]["roast"] == round(ticks / 1e10, 10)
    assert stats["tokens"]["roast"] == {
        "prompt": usage["prompt_tokens"], "completion": usage["completion_tokens"],
    }  # fmt: skip
    assert stats["successes"]["roast"] == 1 and stats["calls_by_movie"]["roast"] == {"1002": 1}


def test_live_models_answer_with_their_dated_names(sim: SimServer, http: httpx.Client) -> None:
    names = {
        "grok-4.20-non-reasoning": DATED_ROAST_MODEL,
        DATED_ROAST_MODEL: DATED_ROAST_MODEL,
        "grok-4.20-reasoning": "grok-4.20-0309-reasoning",
        "grok-4.3": "grok-4.3",
    }
    ticks = 0
    for model, answered in names.items():
        response = roast(http, sim, 1000, roast_body(1000, model=model))
        assert response.status_code == 200 and response.json()["model"] == answered, model
        usage = response.json()["usage"]  # all four at $1.25 in, $2.50 out per million
        expected = usage["prompt_tokens"] * TICKS_IN + usage["completion_tokens"] * TICKS_OUT
        assert usage["cost_in_usd_ticks"] == expected
        ticks += usage["cost_in_usd_ticks"]
    stats = sim.stats()
    assert stats["successes"]["roast"] == len(names)
    assert stats["cost_usd"]["roast"] == round(ticks / 1e10, 10)


def test_the_answer_is_fitted_to_whatever_schema_is_asked_for(
    sim: SimServer, http: httpx.Client
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "headline": {"type": "string"},
            "chips": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
            "internet_vibe": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 8,
                "maxItems": 8,
            },
        },
        "required": ["headline", "chips", "internet_vibe"],
    }
    card = card_of(roast(http, sim, 1000, roast_body(1000, response_format=card_format(schema))))
    assert list(card) == ["headline", "chips", "internet_vibe"]
    assert len(card["chips"]) == 1 and len(card["internet_vibe"]) == 8
    full = card_of(roast(http, sim, 1000))
    assert card["headline"] == full["headline"] and card["chips"] == full["chips"][:1]
    assert card["internet_vibe"][:6] == full["internet_vibe"]


def test_answers_without_a_schema(sim: SimServer, http: httpx.Client) -> None:
    plain = completion_text(roast(http, sim, 1000, roast_body(1000, drop=("response_format",))))
    card = card_of(roast(http, sim, 1000))
    assert plain == f"{card['headline']}\n\n{card['content']}"
    json_object = roast(http, sim, 1000, roast_body(1000, response_format={"type": "json_object"}))
    assert card_of(json_object) == card


def test_max_tokens_cuts_the_answer_short(sim: SimServer, http: httpx.Client) -> None:
    answer = roast(http, sim, 1000, roast_body(1000, max_tokens=10))
    body = answer.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 10 and len(completion_text(answer)) == 40
    with pytest.raises(json.JSONDecodeError):
        card_of(answer)


def test_overlong_answers_break_the_headline_limit_then_stop(
    sim: SimServer, http: httpx.Client
) -> None:
    sim.configure(roast_overlong_answers={1004: 2})
    answers = [card_of(roast(http, sim, 1004)) for _ in range(3)]
    schema = prompts.roast_card_schema()
    for card in answers[:2]:
        assert list(card) == list(schema["properties"])  # still fits the schema
        assert word_count(card["headline"]) > CARD_HEADLINE_MAX_WORDS
        with pytest.raises(ValidationError) as caught:
            RoastCard.model_validate(card)
        assert [error["loc"] for error in caught.value.errors()] == [("headline",)]
    fixed = RoastCard.model_validate(answers[2])
    assert answers[0]["headline"].startswith(fixed.headline)
    assert RoastCard.model_validate(card_of(roast(http, sim, 1005)))  # other movies unaffected
    sim.reset()  # answer numbers restart with the counters
    with pytest.raises(ValidationError):
        RoastCard.model_validate(card_of(roast(http, sim, 1004)))


def test_roast_text_override_is_served_verbatim(sim: SimServer, http: httpx.Client) -> None:
    evil = '<script>alert("roast")</script> & <img src=x onerror=alert(1)>'
    sim.configure(roast_text_override={1001: evil})
    answer = roast(http, sim, 1001)
    assert completion_text(answer) == evil  # even though a schema was asked for
    assert answer.json()["usage"]["completion_tokens"] == (len(evil) + 3) // 4
    assert completion_text(roast(http, sim, 1002)) != evil
    sim.configure(roast_text_override={})  # dicts other than per-service ones are replaced
    assert RoastCard.model_validate(card_of(roast(http, sim, 1001)))


# -- PlotBurn's own clients' bodies ------------------------------------------------------------


def test_plotburn_clients_bodies_are_accepted(sim: SimServer, http: httpx.Client) -> None:
    """PlotBurn's own request bodies are accepted; the helpers send the same fields."""
    catalog = TmdbCatalog(
        client=http, base_url=sim.tmdb_base, token=SecretStr("k"), policy=RetryPolicy()
    )
    details = catalog.details(1006)
    movie = details.movie
    common: dict[str, Any] = {
        "client": http, "api_key": SecretStr("k"), "policy": RetryPolicy(), "price": Price(0, 0),
    }  # fmt: skip
    researcher = PerplexityResearcher(base_url=sim.perplexity_base, model=RESEARCH_MODEL, **common)
    agent = researcher.request_body(movie, details, 3000)
    assert agent.keys() == agent_body(1006).keys()
    assert agent["input"].splitlines() == [
        f"Movie: {movie.title} ({movie.release_date[:4]}). TMDB id: 1006.",  # type: ignore[index]
        f"Genres: {', '.join(details.genre_names)}.",
        f"Director: {details.director}.",
        f"Original language: {details.language_name}.",
    ]
    answer = research(http, sim, 1006, agent)
    assert answer.status_code == 200 and answer.json()["status"] == "completed"
    # The simulated brief names the same director as the simulated credits.
    assert details.director and f"directed by {details.director}" in output_text(answer)
    truth = Truth(
        movie_id=movie.id,
        brief=output_text(answer),
        model=RESEARCH_MODEL,
        created_at=datetime.now(UTC),
    )
    roaster = GrokRoaster(base_url=sim.xai_base, model=ROAST_MODEL, **common)
    chat = roaster.request_body(prompts.roast_messages(movie, details, truth))
    assert chat.keys() == roast_body(1006).keys()
    assert chat["response_format"] == card_format()
    burn = roast(http, sim, 1006, chat)
    assert burn.status_code == 200
    assert RoastCard.model_validate(card_of(burn)).headline.startswith(f"[simulated] {movie.title}")
    assert sim.stats()["calls_by_movie"]["research"] == {"1006": 1}
    assert sim.stats()["calls_by_movie"]["roast"] == {"1006": 1}
    assert sim.stats()["calls_by_movie"]["tmdb_details"] == {"1006": 1}  # credits appended
