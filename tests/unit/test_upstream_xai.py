"""xAI Grok's roast card, against respx: the exact chat body sent (structured output
with the card's schema, no penalties), the card parsed, cost from ``cost_in_usd_ticks``
else the price estimate, the one repair turn for a bad card and ``invalid_roast``
after a second; and, with Perplexity, what every attempt and answer records in the
metering ledger. The harness lives in test_upstream_clients.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from functions import metering
from functions.errors import InvalidRoast
from functions.models import Movie, MovieDetails, RoastCard, Usage
from functions.upstream import prompts
from tests.unit.test_upstream_clients import (  # noqa: F401  (fixtures)
    DETAILS,
    MOVIE,
    PPLX_URL,
    ROAST_PRICE,
    TRUTH,
    VALID_CARD,
    XAI_KEY,
    XAI_MODEL,
    XAI_URL,
    agent_answer,
    chat_answer,
    client,
    naps,
    ok,
    researcher,
    roaster,
    router,
)


def sent(route: respx.Route, n: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[n].request.content)
    return body


def roast(client: httpx.Client, **kw: Any) -> Any:
    return roaster(client, **kw).roast(MOVIE, DETAILS, TRUTH)


def usage_of(prompt: int, completion: int, cost: float, reported: bool) -> Usage:
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost, cost_reported=reported
    )


# ------------------------------------------------------------------ xAI: request


def test_xai_sends_a_structured_output_chat_body_with_a_bearer_key(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(XAI_URL).mock(return_value=ok(chat_answer()))
    roast(client)

    assert route.call_count == 1
    request = route.calls[0].request
    assert str(request.url) == "https://xai.test/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {XAI_KEY}"
    body = sent(route)
    assert body == {
        "model": XAI_MODEL,
        "messages": prompts.roast_messages(MOVIE, DETAILS, TRUTH),
        "max_tokens": 1000,
        "temperature": 0.9,
        "top_p": 0.92,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "roast_card",
                "schema": prompts.roast_card_schema(),
                "strict": True,
            },
        },
    }
    # grok-4.20 / grok-4.3 answer 400 to either penalty, even at 0.
    assert "presence_penalty" not in body and "frequency_penalty" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    user = body["messages"][1]["content"]
    assert "TMDB id: 550" in user and user.endswith("Research:\nA brief.")


def test_roast_user_message_names_genres_rating_runtime_overview_and_research(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(XAI_URL).mock(return_value=ok(chat_answer()))
    truth = TRUTH.model_copy(update={"brief": "1. Plot: soap.\n2. Main characters: two."})
    roaster(client).roast(MOVIE, DETAILS, truth)
    system, user = sent(route)["messages"]
    assert system == {"role": "system", "content": prompts.ROAST_SYSTEM}
    assert user == {
        "role": "user",
        "content": (
            "Movie: Fight Club (1999). TMDB id: 550.\n"
            "Drama, Thriller | rating 8.4/10 | 139 min\n"
            "TMDB overview: Soap.\n\n"
            "Research:\n1. Plot: soap.\n2. Main characters: two."
        ),
    }


def test_roast_user_message_when_tmdb_knows_little(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(XAI_URL).mock(return_value=ok(chat_answer()))
    movie = Movie(id=77, title="Untitled", release_date="2026-11-20")
    roaster(client).roast(movie, MovieDetails(meta={"id": 77, "title": "Untitled"}), TRUTH)
    assert sent(route)["messages"][1]["content"].splitlines()[:3] == [
        "Movie: Untitled (2026). TMDB id: 77.",
        "genre unknown | rating not rated yet | runtime unknown",
        "TMDB overview: (none)",
    ]


def test_card_schema_matches_the_card_model() -> None:
    schema = prompts.roast_card_schema()
    assert set(schema["properties"]) == set(RoastCard.model_fields)
    assert schema["required"] == list(schema["properties"])
    assert schema["additionalProperties"] is False
    counts = {k: (v.get("minItems"), v.get("maxItems")) for k, v in schema["properties"].items()}
    assert counts == {
        "headline": (None, None), "content": (None, None), "chips": (2, 3),
        "internet_vibe": (6, 6), "your_opinion": (None, None), "similar_movies": (4, 4),
    }  # fmt: skip


# ------------------------------------------------------------------ xAI: answers


def test_xai_valid_card_is_parsed(client: httpx.Client, router: respx.Router) -> None:
    body = chat_answer(f"\n {json.dumps(VALID_CARD)} \n", model="grok-4.20-0309-non-reasoning")
    route = router.post(XAI_URL).mock(return_value=ok(body))
    result = roast(client)
    assert route.call_count == 1
    assert result.movie_id == 550
    assert result.card == RoastCard.model_validate(VALID_CARD)
    assert result.card.headline == "Fight Club punches itself out before the final reel"
    assert result.model == "grok-4.20-0309-non-reasoning"  # as served
    assert result.usage.model_dump() == {
        "prompt_tokens": 1200, "completion_tokens": 300,
        "cost_usd": pytest.approx(0.00225), "cost_reported": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 1000, "completion_tokens": 200,
          "completion_tokens_details": {"reasoning_tokens": 50},
          "cost_in_usd_ticks": 123_456_789},
         usage_of(1000, 250, 0.0123456789, True)),
        ({"prompt_tokens": 1000, "completion_tokens": 250, "cost_in_usd_ticks": 0},
         usage_of(1000, 250, 0.0, True)),
        ({"prompt_tokens": 1000, "completion_tokens": 250}, usage_of(1000, 250, 0.001875, False)),
        ({"prompt_tokens": 1000, "completion_tokens": 250, "cost_in_usd_ticks": None},
         usage_of(1000, 250, 0.001875, False)),
        ({"prompt_tokens": 1000, "completion_tokens": 250, "cost_in_usd_ticks": "18750000"},
         usage_of(1000, 250, 0.001875, False)),
        ({}, usage_of(0, 0, 0.0, False)),
    ],
    ids=["ticks-and-reasoning", "zero-ticks", "no-ticks", "ticks-null", "ticks-a-string",
         "no-usage"],
)  # fmt: skip
def test_xai_cost_from_ticks_else_price_estimate(
    client: httpx.Client, router: respx.Router, usage: dict[str, Any], expected: Usage
) -> None:
    router.post(XAI_URL).mock(return_value=ok(chat_answer(usage=usage)))
    with metering.ledger() as book:
        result = roast(client)
    assert result.usage.model_dump() == {
        **expected.model_dump(),
        "cost_usd": pytest.approx(expected.cost_usd),
    }
    spend = book.spend().roast
    assert (spend.calls, spend.prompt_tokens, spend.completion_tokens) == (
        1, expected.prompt_tokens, expected.completion_tokens,
    )  # fmt: skip
    assert spend.cost_usd == pytest.approx(expected.cost_usd)
    assert ROAST_PRICE.estimate(1000, 250) == pytest.approx(0.001875)


OVER_LIMIT = json.dumps({**VALID_CARD, "headline": " ".join(["word"] * 20)})
SECOND_USAGE = {"prompt_tokens": 1500, "completion_tokens": 280, "cost_in_usd_ticks": 25_000_000}


def test_over_limit_card_gets_one_repair_turn(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.post(XAI_URL).mock(
        side_effect=[ok(chat_answer(OVER_LIMIT)), ok(chat_answer(usage=SECOND_USAGE))]
    )
    with metering.ledger() as book:
        result = roast(client)

    assert route.call_count == 2
    first, second = sent(route, 0), sent(route, 1)
    assert second["messages"][:-2] == first["messages"]
    assistant, user = second["messages"][-2:]
    assert assistant == {"role": "assistant", "content": OVER_LIMIT}
    assert user["role"] == "user"
    assert user["content"].startswith("That card breaks these limits:\n- headline:")
    assert "at most 12 words" in user["content"]
    assert {**second, "messages": first["messages"]} == first  # same model, schema, limits
    assert naps == []
    assert result.card == RoastCard.model_validate(VALID_CARD)
    # The roast carries both answers' usage, and so does the ledger.
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2700, 580)
    assert result.usage.cost_usd == pytest.approx(0.00475)
    assert result.usage.cost_reported is True
    spend = book.spend().roast
    assert (spend.calls, spend.prompt_tokens, spend.completion_tokens) == (2, 2700, 580)
    assert spend.cost_usd == pytest.approx(0.00475)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("Here is your card!", "- the answer is not a JSON object"),
        ("```json\n" + json.dumps(VALID_CARD) + "\n```", "- the answer is not a JSON object"),
        ("[1, 2]", "- card: Input should be a valid dictionary"),
        (json.dumps({k: v for k, v in VALID_CARD.items() if k != "your_opinion"}),
         "- your_opinion: Field required"),
        (json.dumps({**VALID_CARD, "rating": 3}), "- rating: Extra inputs are not permitted"),
        (json.dumps({**VALID_CARD, "internet_vibe": VALID_CARD["internet_vibe"][:5]}),
         "- internet_vibe: List should"),
        (json.dumps({**VALID_CARD, "content": "One paragraph only."}),
         "- content: Value error, 3 paragraphs"),
    ],
    ids=["prose", "fenced", "list", "missing-field", "extra-field", "five-vibes", "one-paragraph"],
)  # fmt: skip
def test_each_kind_of_bad_card_is_named_in_the_repair_turn(
    client: httpx.Client, router: respx.Router, answer: str, problem: str
) -> None:
    route = router.post(XAI_URL).mock(side_effect=[ok(chat_answer(answer)), ok(chat_answer())])
    assert roast(client).card.chips == VALID_CARD["chips"]
    assert route.call_count == 2
    assert problem in sent(route, 1)["messages"][-1]["content"]


def test_two_bad_cards_are_an_invalid_roast(client: httpx.Client, router: respx.Router) -> None:
    route = router.post(XAI_URL).mock(
        side_effect=[ok(chat_answer(OVER_LIMIT)), ok(chat_answer(OVER_LIMIT, usage=SECOND_USAGE))]
    )
    with metering.ledger() as book, pytest.raises(InvalidRoast) as caught:
        roast(client)
    assert caught.value.reason == "invalid_roast"
    assert caught.value.service == "roast"
    assert "headline" in str(caught.value)
    assert route.call_count == 2
    spend = book.spend().roast  # both bad answers were billed
    assert (spend.calls, spend.prompt_tokens, spend.completion_tokens) == (2, 2700, 580)
    assert spend.cost_usd == pytest.approx(0.00475)


def test_a_fault_during_the_repair_turn_is_retried(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.post(XAI_URL).mock(
        side_effect=[ok(chat_answer(OVER_LIMIT)), httpx.Response(503), ok(chat_answer())]
    )
    assert roast(client).card == RoastCard.model_validate(VALID_CARD)
    assert route.call_count == 3
    assert sent(route, 2) == sent(route, 1)  # the repair, asked again
    assert len(naps) == 1


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"no": "choices"}),
        httpx.Response(200, json={"choices": ["not an object"]}),
        httpx.Response(200, json=chat_answer("   ")),
        httpx.Response(200, json={**chat_answer(), "choices": [{"message": {"content": None}}]}),
        httpx.Response(200, json=chat_answer(usage="not an object")),  # type: ignore[arg-type]
    ],
    ids=["no-choice", "no-choices", "bad-choice", "blank", "null", "bad-usage"],
)
def test_xai_malformed_bodies_are_retried(
    client: httpx.Client, router: respx.Router, bad: httpx.Response
) -> None:
    route = router.post(XAI_URL).mock(side_effect=[bad, ok(chat_answer())])
    assert roast(client).card == RoastCard.model_validate(VALID_CARD)
    assert route.call_count == 2


# ------------------------------------------------------------------ metering


def test_ledger_counts_every_attempt_and_each_answers_tokens_and_cost(
    client: httpx.Client, router: respx.Router
) -> None:
    router.post(PPLX_URL).mock(
        side_effect=[httpx.Response(500), ok(agent_answer())]
    )  # 900 / 400 / $0.0035
    router.post(XAI_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}),
            ok(chat_answer(OVER_LIMIT)),  # 1200 / 300 / 22_500_000 ticks
            ok(chat_answer(usage=SECOND_USAGE)),  # 1500 / 280 / 25_000_000 ticks
        ]
    )
    with metering.ledger() as outer:
        truth = researcher(client).research(MOVIE, DETAILS)
        with metering.ledger() as inner:
            result = roast(client)

    spend = outer.spend()
    assert (
        spend.research.calls,
        spend.research.prompt_tokens,
        spend.research.completion_tokens,
    ) == (2, 900, 400)
    assert (spend.roast.calls, spend.roast.prompt_tokens, spend.roast.completion_tokens) == (
        3,
        2700,
        580,
    )
    assert spend.tmdb.calls == 0
    assert spend.paid_calls == 5
    assert spend.cost_usd == 0.00825  # 0.0035 reported + 47_500_000 ticks
    assert spend.research.cost_usd == pytest.approx(truth.usage.cost_usd)
    assert spend.roast.cost_usd == pytest.approx(result.usage.cost_usd)
    # A ledger opened inside sees only its own block; the outer one sees it too.
    assert inner.spend().research.calls == 0
    assert inner.spend().roast == spend.roast
