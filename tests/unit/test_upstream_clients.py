"""The TMDB, Perplexity and Grok clients on an httpx.Client whose transport is a respx
router: wire format, parsing, bounded retries and typed errors, with no sockets.

tenacity sleeps through ``tenacity.nap.sleep``, which calls ``time.sleep`` looked up
in ``tenacity.nap``'s globals; the autouse ``naps`` fixture swaps that module
reference for a recorder, so retries cost no time and the waits can be asserted.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx
import tenacity.nap
from pydantic import SecretStr

from functions import metering
from functions.errors import MovieNotFound, UpstreamBadResponse, UpstreamError, UpstreamUnavailable
from functions.models import Movie, Truth, Usage
from functions.upstream.chat import ChatClient
from functions.upstream.grok import GrokRoaster
from functions.upstream.http import MAX_RETRY_AFTER_SECONDS, RetryPolicy
from functions.upstream.perplexity import PerplexityResearcher
from functions.upstream.tmdb import TmdbCatalog

TMDB_BASE = "https://tmdb.test/3"
PPLX_BASE = "https://pplx.test"
XAI_BASE = "https://xai.test/v1"
TMDB_TOKEN = "tmdb-SECRET-read-token-9f8e7d6c"
PPLX_KEY = "pplx-SECRET-key-1a2b3c4d"
XAI_KEY = "xai-SECRET-key-5e6f7a8b"
SECRETS = (TMDB_TOKEN, PPLX_KEY, XAI_KEY)

NOW_PLAYING_URL = f"{TMDB_BASE}/movie/now_playing"
PPLX_URL = f"{PPLX_BASE}/chat/completions"
XAI_URL = f"{XAI_BASE}/chat/completions"

POLICY = RetryPolicy(max_attempts=3, backoff_initial_seconds=0.5, backoff_max_seconds=4.0)
MOVIE = Movie(id=550, title="Fight Club", overview="Soap.", release_date="1999-10-15")
TRUTH = Truth(
    movie_id=550,
    brief="A brief.",
    model="sonar",
    created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
)


@pytest.fixture(autouse=True)
def naps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait tenacity would have slept, in order; nothing actually sleeps."""
    slept: list[float] = []
    monkeypatch.setattr(tenacity.nap, "time", SimpleNamespace(sleep=slept.append))
    return slept


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(assert_all_called=False)


@pytest.fixture
def client(router: respx.Router) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(router.handler)) as http:
        yield http


def catalog(client: httpx.Client, **kw: Any) -> TmdbCatalog:
    options: dict[str, Any] = {"token": SecretStr(TMDB_TOKEN), "policy": POLICY, **kw}
    return TmdbCatalog(client=client, base_url=TMDB_BASE, **options)


def chat(client: httpx.Client, service: str, base: str, key: str | None, model: str, **kw: Any) -> ChatClient:
    return ChatClient(
        service=service,
        client=client,
        base_url=base,
        api_key=SecretStr(key) if key is not None else None,
        model=model,
        policy=kw.pop("policy", POLICY),
        **kw,
    )


def researcher(client: httpx.Client, key: str | None = PPLX_KEY, **kw: Any) -> PerplexityResearcher:
    return PerplexityResearcher(chat(client, "research", PPLX_BASE, key, "sonar", **kw))


def roaster(client: httpx.Client, key: str | None = XAI_KEY, **kw: Any) -> GrokRoaster:
    return GrokRoaster(chat(client, "roast", XAI_BASE, key, "grok-test", **kw))


def raw_movie(movie_id: int, title: str | None = None) -> dict[str, Any]:
    return {
        "id": movie_id,
        "title": title or f"Title {movie_id}",
        "overview": f"Overview {movie_id}",
        "release_date": "2026-11-20",
        "poster_path": f"/p{movie_id}.jpg",
        "original_language": "en",
        "vote_average": 7.5,
        "popularity": 12.3,  # a field we do not model: ignored
    }


def completion(content: Any = "  A roast.  ", **extra: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "model": "whatever",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 123, "completion_tokens": 45, "total_tokens": 168},
        **extra,
    }


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=completion() if body is None else body)


def assert_no_secret(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    for secret in SECRETS:
        assert secret not in rendered


# ------------------------------------------------------------------------- TMDB


def test_now_playing_fetches_every_page_dedupes_and_skips_malformed(
    client: httpx.Client, router: respx.Router
) -> None:
    pages = {
        1: [raw_movie(1), raw_movie(2), {"id": "not-a-number", "title": "Broken"}],
        2: [raw_movie(3), raw_movie(2, title="Duplicate of 2"), {"title": "no id"}],
        3: [raw_movie(4), raw_movie(1, title="Duplicate of 1")],
    }

    def serve(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(
            200, json={"page": page, "results": pages[page], "total_pages": 3, "total_results": 8}
        )

    route = router.get(NOW_PLAYING_URL).mock(side_effect=serve)
    with metering.ledger() as book:
        movies = catalog(client, region="IN").now_playing()

    assert [m.id for m in movies] == [1, 2, 3, 4]
    assert [m.title for m in movies] == ["Title 1", "Title 2", "Title 3", "Title 4"]
    assert movies[0] == Movie(
        id=1,
        title="Title 1",
        overview="Overview 1",
        release_date="2026-11-20",
        poster_path="/p1.jpg",
        original_language="en",
        vote_average=7.5,
    )
    assert route.call_count == 3
    requested = sorted(int(c.request.url.params["page"]) for c in route.calls)
    assert requested == [1, 2, 3]
    for call in route.calls:
        assert call.request.method == "GET"
        assert call.request.url.params["region"] == "IN"
        assert call.request.headers["Authorization"] == f"Bearer {TMDB_TOKEN}"
        assert call.request.headers["Accept"] == "application/json"
    # Pages 2..3 run on a thread pool, and their calls still land in our ledger.
    assert book.spend().tmdb.calls == 3


def test_now_playing_without_region_sends_no_region_param(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.get(NOW_PLAYING_URL).mock(
        return_value=httpx.Response(200, json={"results": [raw_movie(7)], "total_pages": 1})
    )
    assert [m.id for m in catalog(client).now_playing()] == [7]
    assert route.call_count == 1
    assert dict(route.calls[0].request.url.params) == {"page": "1"}


def test_now_playing_stops_at_max_pages(client: httpx.Client, router: respx.Router) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"results": [raw_movie(page)], "total_pages": 400})

    route = router.get(NOW_PLAYING_URL).mock(side_effect=serve)
    movies = catalog(client, max_pages=2).now_playing()
    assert [m.id for m in movies] == [1, 2]
    assert sorted(int(c.request.url.params["page"]) for c in route.calls) == [1, 2]


def test_now_playing_fails_whole_when_a_later_page_never_answers(
    client: httpx.Client, router: respx.Router
) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "2":
            return httpx.Response(503)
        return httpx.Response(200, json={"results": [raw_movie(1)], "total_pages": 2})

    route = router.get(NOW_PLAYING_URL).mock(side_effect=serve)
    with pytest.raises(UpstreamUnavailable) as caught:
        catalog(client).now_playing()
    assert caught.value.service == "tmdb"
    assert route.call_count == 1 + POLICY.max_attempts
    assert_no_secret(caught.value)


def test_details_200(client: httpx.Client, router: respx.Router) -> None:
    route = router.get(f"{TMDB_BASE}/movie/550").mock(
        return_value=httpx.Response(200, json={**raw_movie(550, "Fight Club"), "runtime": 139})
    )
    movie = catalog(client).details(550)
    assert (movie.id, movie.title, movie.poster_path) == (550, "Fight Club", "/p550.jpg")
    assert route.call_count == 1
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {TMDB_TOKEN}"


def test_details_404_is_movie_not_found_without_retry(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.get(f"{TMDB_BASE}/movie/99999").mock(
        return_value=httpx.Response(404, json={"status_code": 34, "status_message": "not found"})
    )
    with pytest.raises(MovieNotFound) as caught:
        catalog(client).details(99999)
    assert caught.value.movie_id == 99999
    assert route.call_count == 1
    assert naps == []


def test_tmdb_without_token_raises_without_calling(client: httpx.Client, router: respx.Router) -> None:
    route = router.route().mock(return_value=httpx.Response(200, json={}))
    tmdb = catalog(client, token=None)
    with pytest.raises(UpstreamBadResponse) as caught:
        tmdb.now_playing()
    assert caught.value.service == "tmdb"
    with pytest.raises(UpstreamBadResponse):
        tmdb.details(1)
    assert route.call_count == 0


# ------------------------------------------------------------ chat completions


def test_perplexity_research_parses_content_usage_and_citations(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.post(PPLX_URL).mock(
        return_value=ok(completion("  The brief.\n", citations=["https://a.example", "https://b.example"]))
    )
    with metering.ledger() as book:
        truth = researcher(client).research(MOVIE)

    assert truth.movie_id == 550
    assert truth.brief == "The brief."
    assert truth.citations == ["https://a.example", "https://b.example"]
    assert truth.model == "sonar"
    assert truth.usage == Usage(prompt_tokens=123, completion_tokens=45)
    assert truth.created_at.tzinfo is not None

    assert route.call_count == 1
    request = route.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {PPLX_KEY}"
    sent = json.loads(request.content)
    assert sent["model"] == "sonar"
    assert sent["max_tokens"] == 700
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert "TMDB id: 550" in sent["messages"][1]["content"]
    assert "Fight Club (1999)" in sent["messages"][1]["content"]

    spend = book.spend()
    assert (spend.research.calls, spend.research.prompt_tokens, spend.research.completion_tokens) == (1, 123, 45)


def test_perplexity_citations_fall_back_to_search_results(
    client: httpx.Client, router: respx.Router
) -> None:
    results = [
        {"title": "A", "url": "https://a.example"},
        {"title": "no url"},
        "junk",
        {"title": "B", "url": "https://b.example"},
        {"title": "empty", "url": ""},
    ]
    router.post(PPLX_URL).mock(return_value=ok(completion("Brief.", search_results=results)))
    truth = researcher(client).research(MOVIE)
    assert truth.citations == ["https://a.example", "https://b.example"]


def test_citations_are_capped_at_twenty(client: httpx.Client, router: respx.Router) -> None:
    many = [f"https://{n}.example" for n in range(30)]
    router.post(PPLX_URL).mock(return_value=ok(completion("Brief.", citations=many)))
    assert researcher(client).research(MOVIE).citations == many[:20]


def test_missing_usage_counts_zero_tokens(client: httpx.Client, router: respx.Router) -> None:
    body = completion("Brief.")
    del body["usage"]
    router.post(PPLX_URL).mock(return_value=ok(body))
    truth = researcher(client).research(MOVIE)
    assert truth.usage == Usage(prompt_tokens=0, completion_tokens=0)
    assert truth.citations == []


def test_grok_roast_parses_content_and_usage(client: httpx.Client, router: respx.Router) -> None:
    route = router.post(XAI_URL).mock(return_value=ok(completion("\n Burn. \n")))
    with metering.ledger() as book:
        roast = roaster(client).roast(MOVIE, TRUTH)
    assert (roast.movie_id, roast.roast, roast.model) == (550, "Burn.", "grok-test")
    assert roast.usage == Usage(prompt_tokens=123, completion_tokens=45)
    request = route.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {XAI_KEY}"
    sent = json.loads(request.content)
    assert sent["model"] == "grok-test"
    assert "Research brief:\nA brief." in sent["messages"][1]["content"]
    assert book.spend().roast.calls == 1
    assert book.spend().research.calls == 0


# --------------------------------------------------------------------- retries


def test_429_honours_retry_after(client: httpx.Client, router: respx.Router, naps: list[float]) -> None:
    route = router.post(XAI_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(429, headers={"Retry-After": "7"}),
            ok(),
        ]
    )
    assert roaster(client).roast(MOVIE, TRUTH).roast == "A roast."
    assert route.call_count == 3
    assert naps == [0.0, 7.0]


def test_429_retry_after_is_capped(client: httpx.Client, router: respx.Router, naps: list[float]) -> None:
    router.post(XAI_URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3600"}), ok()]
    )
    roaster(client).roast(MOVIE, TRUTH)
    assert naps == [MAX_RETRY_AFTER_SECONDS]


def test_429_without_usable_retry_after_backs_off(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    router.post(XAI_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}),
            ok(),
        ]
    )
    roaster(client).roast(MOVIE, TRUTH)
    assert len(naps) == 1
    assert 0 < naps[0] <= POLICY.backoff_max_seconds


def test_500_then_200_succeeds_with_two_calls(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.post(PPLX_URL).mock(side_effect=[httpx.Response(500), ok()])
    with metering.ledger() as book:
        truth = researcher(client).research(MOVIE)
    assert truth.brief == "A roast."
    assert route.call_count == 2
    assert book.spend().research.calls == 2  # every attempt is a paid call
    assert len(naps) == 1 and 0 < naps[0] <= POLICY.backoff_max_seconds


@pytest.mark.parametrize(
    "fault",
    [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
)
def test_timeouts_and_connection_errors_are_retried(
    client: httpx.Client, router: respx.Router, fault: type[Exception]
) -> None:
    route = router.post(XAI_URL).mock(side_effect=[fault, ok()])
    assert roaster(client).roast(MOVIE, TRUTH).roast == "A roast."
    assert route.call_count == 2


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, content=b"<html>not json</html>"),
        httpx.Response(200, content=b""),
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"no": "choices"}),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, json=completion("   ")),
        httpx.Response(200, json=completion(None)),
        httpx.Response(200, json=completion("ok", usage="not an object")),
        httpx.Response(200, json={"choices": ["not an object"]}),
    ],
    ids=["html", "empty", "no-choice", "no-choices", "list", "blank", "null", "bad-usage", "bad-choice"],
)
def test_malformed_bodies_are_retried(
    client: httpx.Client, router: respx.Router, bad: httpx.Response
) -> None:
    route = router.post(PPLX_URL).mock(side_effect=[bad, ok(completion("Fine."))])
    assert researcher(client).research(MOVIE).brief == "Fine."
    assert route.call_count == 2


def test_malformed_tmdb_page_is_retried(client: httpx.Client, router: respx.Router) -> None:
    route = router.get(NOW_PLAYING_URL).mock(
        side_effect=[
            httpx.Response(200, content=b"{truncated"),
            httpx.Response(200, json={"results": "not a list"}),
            httpx.Response(200, json={"results": [raw_movie(5)], "total_pages": 1}),
        ]
    )
    assert [m.id for m in catalog(client).now_playing()] == [5]
    assert route.call_count == 3


@pytest.mark.parametrize("attempts", [1, 2, 4])
def test_exhausting_attempts_raises_unavailable_after_exactly_max_attempts(
    client: httpx.Client, router: respx.Router, naps: list[float], attempts: int
) -> None:
    route = router.post(XAI_URL).mock(return_value=httpx.Response(503))
    policy = RetryPolicy(max_attempts=attempts, backoff_initial_seconds=0.1, backoff_max_seconds=1.0)
    with pytest.raises(UpstreamUnavailable) as caught:
        roaster(client, policy=policy).roast(MOVIE, TRUTH)
    assert route.call_count == attempts
    assert len(naps) == attempts - 1
    assert caught.value.service == "roast"
    assert str(caught.value) == (
        f"roast: POST /v1/chat/completions: server error (503) after {attempts} attempts"
    )
    assert_no_secret(caught.value)


def test_timeouts_exhausting_attempts(client: httpx.Client, router: respx.Router) -> None:
    route = router.get(f"{TMDB_BASE}/movie/1").mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(UpstreamUnavailable) as caught:
        catalog(client).details(1)
    assert route.call_count == POLICY.max_attempts
    assert "timed out" in str(caught.value)
    assert_no_secret(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_client_errors_are_not_retried(
    client: httpx.Client, router: respx.Router, naps: list[float], status: int
) -> None:
    # The body echoes the key, as some APIs do: it must not reach our error.
    route = router.post(PPLX_URL).mock(
        return_value=httpx.Response(status, json={"error": f"bad key {PPLX_KEY}"})
    )
    with pytest.raises(UpstreamBadResponse) as caught:
        researcher(client).research(MOVIE)
    assert route.call_count == 1
    assert naps == []
    assert str(caught.value) == f"research: POST /chat/completions answered {status}"
    assert_no_secret(caught.value)


def test_tmdb_401_is_not_retried(client: httpx.Client, router: respx.Router) -> None:
    route = router.get(NOW_PLAYING_URL).mock(return_value=httpx.Response(401))
    with pytest.raises(UpstreamBadResponse) as caught:
        catalog(client).now_playing()
    assert route.call_count == 1
    assert str(caught.value) == "tmdb: GET /3/movie/now_playing answered 401"
    assert_no_secret(caught.value)


@pytest.mark.parametrize("make", [researcher, roaster], ids=["perplexity", "grok"])
def test_missing_api_key_raises_without_any_call(
    client: httpx.Client, router: respx.Router, make: Any
) -> None:
    route = router.route().mock(return_value=ok())
    client_under_test = make(client, key=None)
    with pytest.raises(UpstreamBadResponse) as caught:
        if isinstance(client_under_test, PerplexityResearcher):
            client_under_test.research(MOVIE)
        else:
            client_under_test.roast(MOVIE, TRUTH)
    assert "no API key configured" in str(caught.value)
    assert route.call_count == 0


def test_on_attempt_hook_sees_every_attempt(client: httpx.Client, router: respx.Router) -> None:
    seen: list[str] = []
    router.post(XAI_URL).mock(side_effect=[httpx.Response(502), httpx.ReadTimeout, ok()])
    roaster(client, on_attempt=seen.append).roast(MOVIE, TRUTH)
    assert seen == ["roast", "roast", "roast"]


def test_no_failure_mode_leaks_a_key(client: httpx.Client, router: respx.Router) -> None:
    """Every way a call can fail, for each client: the key is in no message."""
    faults: list[Any] = [
        httpx.Response(401, text=f"invalid {XAI_KEY} {PPLX_KEY} {TMDB_TOKEN}"),
        httpx.Response(500, text=f"oops {XAI_KEY} {PPLX_KEY} {TMDB_TOKEN}"),
        httpx.Response(429),
        httpx.Response(200, text=f"not json {XAI_KEY}"),
        httpx.ReadTimeout,
        httpx.ConnectError,
    ]
    for fault in faults:
        router.routes.clear()
        router.route().mock(side_effect=lambda request, fault=fault: _answer(request, fault))
        calls = [
            lambda: catalog(client).now_playing(),
            lambda: catalog(client).details(3),
            lambda: researcher(client).research(MOVIE),
            lambda: roaster(client).roast(MOVIE, TRUTH),
        ]
        for call in calls:
            with pytest.raises(UpstreamError) as caught:
                call()
            assert_no_secret(caught.value)


def _answer(request: httpx.Request, fault: Any) -> httpx.Response:
    if isinstance(fault, httpx.Response):
        return httpx.Response(fault.status_code, content=fault.content, headers=fault.headers)
    raise fault("simulated", request=request)
