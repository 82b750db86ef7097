"""call_json's retry contract, seen through the three clients: what is retried (429
honouring Retry-After or x-ratelimit-reset, 5xx, timeouts) and how long it waits, and
what is not (any other 4xx: UpstreamRejected naming provider, status and error code,
after exactly one request). The harness lives in test_upstream_clients.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from functions import metering
from functions.errors import UpstreamBadResponse, UpstreamRejected, UpstreamUnavailable
from functions.upstream.http import MAX_RETRY_AFTER_SECONDS, RetryPolicy, error_code, retry_after
from functions.upstream.perplexity import PerplexityResearcher
from tests.unit.test_upstream_clients import (  # noqa: F401  (fixtures)
    DETAILS,
    MOVIE,
    NOW_PLAYING_URL,
    POLICY,
    PPLX_URL,
    TRUTH,
    VALID_CARD,
    XAI_URL,
    agent_answer,
    assert_no_secret,
    catalog,
    chat_answer,
    client,
    naps,
    ok,
    researcher,
    roaster,
    router,
)

# ------------------------------------------------------------------ retries


def test_429_honours_retry_after(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.post(XAI_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(429, headers={"Retry-After": "7"}),
            ok(chat_answer()),
        ]
    )
    assert roaster(client).roast(MOVIE, DETAILS, TRUTH).card.headline == VALID_CARD["headline"]
    assert route.call_count == 3
    assert naps == [0.0, 7.0]


def test_429_retry_after_is_capped(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    router.post(XAI_URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3600"}), ok(chat_answer())]
    )
    roaster(client).roast(MOVIE, DETAILS, TRUTH)
    assert naps == [MAX_RETRY_AFTER_SECONDS]


def _pplx_429(**headers: str) -> httpx.Response:
    return httpx.Response(
        429,
        json={
            "error": {
                "message": "Rate limit exceeded",
                "type": "request_rate_limit_exceeded",
                "code": 429,
            }
        },
        headers=headers,
    )


def test_429_waits_until_the_epoch_in_x_ratelimit_reset(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    reset = int(time.time()) + 12  # Perplexity sends the reset as an epoch second
    route = router.post(PPLX_URL).mock(
        side_effect=[
            _pplx_429(**{"x-ratelimit-limit": "50", "x-ratelimit-reset": str(reset)}),
            ok(agent_answer()),
        ]
    )
    assert researcher(client).research(MOVIE, DETAILS).brief == "The brief. [1]"
    assert route.call_count == 2
    assert len(naps) == 1
    assert 10.0 < naps[0] <= 12.0


def test_429_x_ratelimit_reset_far_in_the_future_is_capped(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    reset = int(time.time()) + 3600
    router.post(PPLX_URL).mock(
        side_effect=[_pplx_429(**{"x-ratelimit-reset": str(reset)}), ok(agent_answer())]
    )
    researcher(client).research(MOVIE, DETAILS)
    assert naps == [MAX_RETRY_AFTER_SECONDS]


def test_429_without_usable_retry_after_backs_off(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    router.post(XAI_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}),
            ok(chat_answer()),
        ]
    )
    roaster(client).roast(MOVIE, DETAILS, TRUTH)
    assert len(naps) == 1
    assert 0 < naps[0] <= POLICY.backoff_max_seconds


NOW = 1_790_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "-3"}, 0.0),
        ({"x-ratelimit-reset": str(int(NOW) + 12)}, 12.0),  # epoch second
        ({"x-ratelimit-reset": str(int(NOW) - 5)}, 0.0),  # already past
        ({"x-ratelimit-reset": "5"}, 5.0),  # seconds from now
        ({"Retry-After": "3", "x-ratelimit-reset": str(int(NOW) + 30)}, 3.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"x-ratelimit-reset": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_the_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(httpx.Response(429, headers=headers), now=NOW) == expected


def test_500_then_200_succeeds_with_two_calls(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.post(PPLX_URL).mock(side_effect=[httpx.Response(500), ok(agent_answer())])
    with metering.ledger() as book:
        truth = researcher(client).research(MOVIE, DETAILS)
    assert truth.brief == "The brief. [1]"
    assert route.call_count == 2
    assert book.spend().research.calls == 2  # every attempt is a call
    assert len(naps) == 1 and 0 < naps[0] <= POLICY.backoff_max_seconds


@pytest.mark.parametrize(
    "fault",
    [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
)
def test_timeouts_and_connection_errors_are_retried(
    client: httpx.Client, router: respx.Router, fault: type[Exception]
) -> None:
    route = router.post(XAI_URL).mock(side_effect=[fault, ok(chat_answer())])
    assert roaster(client).roast(MOVIE, DETAILS, TRUTH).card.chips == VALID_CARD["chips"]
    assert route.call_count == 2


@pytest.mark.parametrize("attempts", [1, 2, 4])
def test_exhausting_attempts_raises_unavailable_after_exactly_max_attempts(
    client: httpx.Client, router: respx.Router, naps: list[float], attempts: int
) -> None:
    route = router.post(XAI_URL).mock(return_value=httpx.Response(503))
    policy = RetryPolicy(
        max_attempts=attempts, backoff_initial_seconds=0.1, backoff_max_seconds=1.0
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        roaster(client, policy=policy).roast(MOVIE, DETAILS, TRUTH)
    assert route.call_count == attempts
    assert len(naps) == attempts - 1
    assert caught.value.service == "roast"
    assert str(caught.value) == (
        f"roast: POST /v1/chat/completions: server error (503) after {attempts} attempts"
    )
    assert caught.value.reason == f"xai: server error (503) after {attempts} attempts"
    assert_no_secret(caught.value)


# ------------------------------------------------------------------ 4xx: rejected, never retried

REJECTIONS: list[tuple[str, int, Any, str]] = [
    (
        "perplexity",
        403,
        {
            "error": {
                "message": "Sonar is now the Agent API. Use /v1/responses instead of /v1/sonar.",
                "type": "chat_completions_not_available",
                "code": 403,
            }
        },
        "perplexity: 403 chat_completions_not_available",
    ),
    (
        "perplexity",
        400,
        {
            "error": {
                "message": 'invalid request body: json: unknown field "messages"',
                "type": "invalid_request",
                "code": 400,
                "param": "messages",
            }
        },
        "perplexity: 400 invalid_request",
    ),
    (
        "perplexity",
        400,
        {
            "error": {
                "message": "model is not supported: sonar",
                "type": "invalid_model",
                "code": 400,
            }
        },
        "perplexity: 400 invalid_model",
    ),
    (
        "perplexity",
        401,
        {"error": {"message": "Invalid API key provided.", "type": "invalid_api_key", "code": 401}},
        "perplexity: 401 invalid_api_key",
    ),
    (
        "xai",
        404,
        {
            "code": "Some requested entity was not found",
            "error": "The model grok-4-fast-non-reasoning does not exist or your team does not "
            "have access to it.",
        },
        "xai: 404 Some requested entity was not found",
    ),
    (
        "xai",
        400,
        {
            "code": "Client specified an invalid argument",
            "error": "Model grok-4.20-non-reasoning does not support parameter presencePenalty.",
        },
        "xai: 400 Client specified an invalid argument",
    ),
    ("xai", 403, "<html>Forbidden</html>", "xai: 403 error"),
    (
        "tmdb",
        401,
        {"success": False, "status_code": 7, "status_message": "Invalid API key."},
        "tmdb: 401 status_code 7",
    ),
    ("tmdb", 404, {"success": False, "status_code": 34}, "tmdb: 404 status_code 34"),
]
PROVIDERS: dict[str, tuple[str, str, str, Callable[[httpx.Client], Any]]] = {
    # provider: (url, service, "METHOD path", the call)
    "perplexity": (
        PPLX_URL,
        "research",
        "POST /v1/agent",
        lambda c: researcher(c).research(MOVIE, DETAILS),
    ),
    "xai": (
        XAI_URL,
        "roast",
        "POST /v1/chat/completions",
        lambda c: roaster(c).roast(MOVIE, DETAILS, TRUTH),
    ),
    "tmdb": (
        NOW_PLAYING_URL,
        "tmdb",
        "GET /3/movie/now_playing",
        lambda c: catalog(c).now_playing(),
    ),
}


@pytest.mark.parametrize(
    ("provider", "status", "body", "reason"),
    REJECTIONS,
    ids=[
        "pplx-403-retired-chat-completions",
        "pplx-400-unknown-field",
        "pplx-400-bare-sonar",
        "pplx-401-bad-key",
        "xai-404-retired-model",
        "xai-400-penalties",
        "xai-403-not-json",
        "tmdb-401-bad-key",
        "tmdb-404-list",
    ],
)
def test_4xx_is_rejected_with_provider_status_and_code_after_one_request(
    client: httpx.Client,
    router: respx.Router,
    naps: list[float],
    provider: str,
    status: int,
    body: Any,
    reason: str,
) -> None:
    url, service, request_line, call = PROVIDERS[provider]
    answer = (
        httpx.Response(status, json=body)
        if isinstance(body, dict)
        else httpx.Response(status, text=body)
    )
    route = router.route(url=url).mock(return_value=answer)
    with metering.ledger() as book, pytest.raises(UpstreamRejected) as caught:
        call(client)
    error = caught.value
    assert error.reason == reason
    assert (error.service, error.provider, error.status) == (service, provider, status)
    assert str(error) == f"{service}: {request_line} answered {reason.split(' ', 1)[1]}"
    assert route.call_count == 1
    assert naps == []
    assert getattr(book.spend(), service).calls == 1  # the refused attempt still counts
    assert_no_secret(error)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"error": {"message": "m", "type": "invalid_request", "code": 400}}, "invalid_request"),
        ({"error": {"message": "m", "code": 400}}, "400"),
        (
            {"code": "Client specified an invalid argument", "error": "x"},
            "Client specified an invalid argument",
        ),
        ({"success": False, "status_code": 7, "status_message": "m"}, "status_code 7"),
        ({"error": "a bare string"}, "error"),
        ({"code": 400}, "error"),
        (["a", "list"], "error"),
        ({"code": "x" * 200}, "x" * 80),
    ],
)
def test_error_code_names_the_providers_error(body: Any, code: str) -> None:
    assert error_code(httpx.Response(400, json=body)) == code


def test_error_code_of_a_body_that_is_not_json() -> None:
    assert error_code(httpx.Response(400, text="<html>Bad Request</html>")) == "error"


@pytest.mark.parametrize("make", [researcher, roaster], ids=["perplexity", "xai"])
def test_missing_api_key_raises_without_any_call(
    client: httpx.Client, router: respx.Router, make: Any
) -> None:
    route = router.route().mock(return_value=ok({}))
    under_test = make(client, key=None)
    with pytest.raises(UpstreamBadResponse) as caught:
        if isinstance(under_test, PerplexityResearcher):
            under_test.research(MOVIE, DETAILS)
        else:
            under_test.roast(MOVIE, DETAILS, TRUTH)
    provider = "perplexity" if make is researcher else "xai"
    assert caught.value.reason == f"{provider}: no API key configured"
    assert route.call_count == 0
