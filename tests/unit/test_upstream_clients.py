"""The upstream clients' shared harness, TMDB (paging, dates, details with credits,
credentials, errors), the Pacer, and secret redaction across all three clients, on an
httpx.Client whose transport is a respx router (no sockets).

Siblings import the harness from here: test_upstream_retries.py (call_json's retry
and 4xx contract), test_upstream_perplexity.py (the Agent API) and
test_upstream_xai.py (the structured roast card, metering). Bodies follow the
providers' late-2026 APIs (README, "Upstream APIs").

tenacity sleeps through ``tenacity.nap.sleep``, which calls ``time.sleep`` looked up
in ``tenacity.nap``'s globals; the autouse ``naps`` fixture swaps that module
reference for a recorder, so retries cost no time and the waits can be asserted.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx
import tenacity.nap
from pydantic import SecretStr

from functions import metering
from functions.errors import (
    InvalidRoast,
    MovieNotFound,
    TruncatedAnswer,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from functions.metering import Price
from functions.models import MOVIE_META_FIELDS, Movie, MovieDetails, NowPlaying, Truth
from functions.upstream.grok import GrokRoaster
from functions.upstream.http import RetryPolicy
from functions.upstream.perplexity import PerplexityResearcher
from functions.upstream.tmdb import Pacer, TmdbCatalog

# ------------------------------------------------------------------ the harness

TMDB_BASE = "https://tmdb.test/3"
PPLX_BASE = "https://pplx.test"
XAI_BASE = "https://xai.test/v1"
TMDB_TOKEN = "tmdb-SECRET-read-token-9f8e7d6c"
TMDB_KEY = "0123456789abcdefSECRETv3key4567"  # a v3 key travels in the query string
PPLX_KEY = "pplx-SECRET-key-1a2b3c4d"
XAI_KEY = "xai-SECRET-key-5e6f7a8b"
SECRETS = (TMDB_TOKEN, TMDB_KEY, PPLX_KEY, XAI_KEY)

NOW_PLAYING_URL = f"{TMDB_BASE}/movie/now_playing"
PPLX_URL = f"{PPLX_BASE}/v1/agent"
XAI_URL = f"{XAI_BASE}/chat/completions"
PPLX_MODEL = "perplexity/sonar"
XAI_MODEL = "grok-4.20-non-reasoning"
RESEARCH_PRICE = Price(input_per_mtok=0.25, output_per_mtok=2.5, per_request=0.0025)
ROAST_PRICE = Price(input_per_mtok=1.25, output_per_mtok=2.5)

POLICY = RetryPolicy(max_attempts=3, backoff_initial_seconds=0.5, backoff_max_seconds=4.0)
# GET /movie/550?append_to_response=credits, as TMDB answers it (trimmed): the 26
# MovieMeta fields, the appended credits, and a field PlotBurn does not keep.
FIGHT_CLUB: dict[str, Any] = {
    "adult": False,
    "backdrop_path": "/hZkgoQYus5vegHoetLkCJzb17zJ.jpg",
    "belongs_to_collection": None,
    "budget": 63_000_000,
    "genres": [{"id": 18, "name": "Drama"}, {"id": 53, "name": "Thriller"}],
    "homepage": "http://www.foxmovies.com/movies/fight-club",
    "id": 550,
    "imdb_id": "tt0137523",
    "origin_country": ["US"],
    "original_language": "en",
    "original_title": "Fight Club",
    "overview": "Soap.",
    "popularity": 61.416,
    "poster_path": "/pB8BM7pdSp6B6Ih7QZ4DrQ3PmJK.jpg",
    "production_companies": [
        {
            "id": 508,
            "logo_path": "/7cxRWzi4LsVm4Utfpr1hfARNurT.png",
            "name": "Regency Enterprises",
            "origin_country": "US",
        },
    ],
    "production_countries": [{"iso_3166_1": "US", "name": "United States of America"}],
    "release_date": "1999-10-15",
    "revenue": 100_853_753,
    "runtime": 139,
    "spoken_languages": [{"english_name": "English", "iso_639_1": "en", "name": "English"}],
    "status": "Released",
    "tagline": "Mischief. Mayhem. Soap.",
    "title": "Fight Club",
    "video": False,
    "vote_average": 8.4,
    "vote_count": 26_280,
    "credits": {
        "cast": [
            {
                "id": 819,
                "name": "Edward Norton",
                "character": "Narrator",
                "order": 0,
                "known_for_department": "Acting",
            },
            {
                "id": 287,
                "name": "Brad Pitt",
                "character": "Tyler Durden",
                "order": 1,
                "known_for_department": "Acting",
            },
        ],
        "crew": [
            {
                "id": 7763,
                "name": "Jeff Cronenweth",
                "job": "Director of Photography",
                "department": "Camera",
            },
            {"id": 7467, "name": "David Fincher", "job": "Director", "department": "Directing"},
            {
                "id": 7474,
                "name": "Ross Grayson Bell",
                "job": "Producer",
                "department": "Production",
            },
        ],
    },
    "keywords": {"keywords": [{"id": 825, "name": "support group"}]},
}
MOVIE = Movie(
    id=550,
    title="Fight Club",
    overview="Soap.",
    release_date="1999-10-15",
    poster_path="/pB8BM7pdSp6B6Ih7QZ4DrQ3PmJK.jpg",
    original_language="en",
    vote_average=8.4,
    vote_count=26_280,
    popularity=61.416,
    genre_ids=[18, 53],
)
DETAILS = MovieDetails(meta=FIGHT_CLUB, director="David Fincher")
TRUTH = Truth(
    movie_id=550,
    brief="A brief.",
    model=PPLX_MODEL,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)

VALID_CARD: dict[str, Any] = {
    "headline": "Fight Club punches itself out before the final reel",
    "content": (
        "A man who cannot sleep finds a club.\n\nThe club finds soap.\n\nThe soap finds a twist."
    ),
    "chips": ["soap as philosophy", "the twist"],
    "internet_vibe": [
        "first rule is broken daily",
        "still quoted at every office party",
        "the twist aged well",
        "the message did not",
        "great score",
        "too long by twenty minutes",
    ],
    "your_opinion": "Watch it once for the craft; skip the speeches.",
    "similar_movies": [
        "Memento - a puzzle told backwards",
        "American Psycho - satire of the same decade",
        "The Machinist - another sleepless lead",
        "Mr. Robot - the same twist on television",
    ],
}


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


def researcher(client: httpx.Client, key: str | None = PPLX_KEY, **kw: Any) -> PerplexityResearcher:
    options: dict[str, Any] = {
        "base_url": PPLX_BASE, "model": PPLX_MODEL, "policy": POLICY, "price": RESEARCH_PRICE, **kw
    }  # fmt: skip
    return PerplexityResearcher(
        client=client, api_key=SecretStr(key) if key is not None else None, **options
    )


def roaster(client: httpx.Client, key: str | None = XAI_KEY, **kw: Any) -> GrokRoaster:
    options: dict[str, Any] = {
        "base_url": XAI_BASE, "model": XAI_MODEL, "policy": POLICY, "price": ROAST_PRICE, **kw
    }  # fmt: skip
    return GrokRoaster(
        client=client, api_key=SecretStr(key) if key is not None else None, **options
    )


def raw_movie(movie_id: int, title: str | None = None) -> dict[str, Any]:
    return {
        "id": movie_id,
        "title": title or f"Title {movie_id}",
        "overview": f"Overview {movie_id}",
        "release_date": "2026-11-20",
        "poster_path": f"/p{movie_id}.jpg",
        "original_language": "en",
        "vote_average": 7.5,
        "vote_count": 321,
        "popularity": 12.3,
        "genre_ids": [28, 18],
        "backdrop_path": f"/b{movie_id}.jpg",  # a field the list does not keep: ignored
    }


def agent_answer(
    text: str = "The brief. [1]",
    results: list[Any] | None = None,
    *,
    status: str = "completed",
    usage: dict[str, Any] | None = None,
    model: str = PPLX_MODEL,
    **extra: Any,
) -> dict[str, Any]:
    """A Perplexity Agent API response body (the sheet's example, filled in)."""
    output: list[Any] = []
    if results is not None:
        output.append({"type": "search_results", "results": results})
    output.append(
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
    )
    return {
        "id": "resp_1",
        "status": status,
        "model": model,
        "output": output,
        "usage": {
            "input_tokens": 900,
            "output_tokens": 400,
            "total_tokens": 1300,
            "cost": {"currency": "USD", "total_cost": 0.0035},
        }
        if usage is None
        else usage,
        **extra,
    }


def chat_answer(
    content: Any = None, *, usage: dict[str, Any] | None = None, model: str = XAI_MODEL
) -> dict[str, Any]:
    """An xAI chat completion body; the content defaults to a valid card."""
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": json.dumps(VALID_CARD) if content is None else content,
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
            "cost_in_usd_ticks": 22_500_000,
        }
        if usage is None
        else usage,
    }


def ok(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)


def assert_no_secret(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    rendered += repr(getattr(exc, "reason", "")) + repr(getattr(exc, "detail", ""))
    for secret in SECRETS:
        assert secret not in rendered


# ------------------------------------------------------------------ TMDB


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
        listed = catalog(client, region="IN").now_playing()

    assert isinstance(listed, NowPlaying)
    movies = listed.movies
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
        vote_count=321,
        popularity=12.3,
        genre_ids=[28, 18],
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
    assert book.spend().paid_calls == 0


def test_now_playing_without_region_sends_no_region_param(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.get(NOW_PLAYING_URL).mock(
        return_value=httpx.Response(200, json={"results": [raw_movie(7)], "total_pages": 1})
    )
    assert [m.id for m in catalog(client).now_playing().movies] == [7]
    assert route.call_count == 1
    assert dict(route.calls[0].request.url.params) == {"page": "1"}


def test_now_playing_stops_at_max_pages(client: httpx.Client, router: respx.Router) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"results": [raw_movie(page)], "total_pages": 400})

    route = router.get(NOW_PLAYING_URL).mock(side_effect=serve)
    movies = catalog(client, max_pages=2).now_playing().movies
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


def test_now_playing_keeps_the_dates_of_page_1(client: httpx.Client, router: respx.Router) -> None:
    window = {"maximum": "2026-11-30", "minimum": "2026-10-19"}

    def serve(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        dates = window if page == 1 else {"maximum": "2026-12-31", "minimum": "2026-01-01"}
        return httpx.Response(
            200, json={"dates": dates, "page": page, "results": [raw_movie(page)], "total_pages": 3}
        )

    router.get(NOW_PLAYING_URL).mock(side_effect=serve)
    listed = catalog(client, region="IN").now_playing()
    assert listed.dates == window
    assert [m.id for m in listed.movies] == [1, 2, 3]


@pytest.mark.parametrize(
    "dates",
    [None, "2026-11-30", {}, {"maximum": 20261130, "minimum": None}],
    ids=["absent", "a-string", "empty", "not-strings"],
)
def test_now_playing_without_usable_dates_has_none(
    client: httpx.Client, router: respx.Router, dates: Any
) -> None:
    body: dict[str, Any] = {"results": [raw_movie(1)], "total_pages": 1}
    if dates is not None:
        body["dates"] = dates
    router.get(NOW_PLAYING_URL).mock(return_value=httpx.Response(200, json=body))
    listed = catalog(client).now_playing()
    assert listed.dates is None and [m.id for m in listed.movies] == [1]


DETAILS_URL = f"{TMDB_BASE}/movie/550"


def test_details_is_one_request_with_the_credits_appended(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.get(DETAILS_URL).mock(return_value=ok(FIGHT_CLUB))
    with metering.ledger() as book:
        details = catalog(client).details(550)

    assert route.call_count == 1
    request = route.calls[0].request
    assert request.method == "GET"
    assert dict(request.url.params) == {"append_to_response": "credits"}
    assert request.headers["Authorization"] == f"Bearer {TMDB_TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert book.spend().tmdb.calls == 1
    assert details == DETAILS
    assert details.director == "David Fincher"
    assert details.movie == MOVIE  # the list-shaped movie of the same film


def test_details_meta_is_exactly_the_26_movie_meta_fields(
    client: httpx.Client, router: respx.Router
) -> None:
    router.get(DETAILS_URL).mock(return_value=ok(FIGHT_CLUB))
    meta = catalog(client).details(550).meta
    assert len(MOVIE_META_FIELDS) == 26
    assert list(meta) == list(MOVIE_META_FIELDS)
    assert meta == {name: FIGHT_CLUB[name] for name in MOVIE_META_FIELDS}  # as TMDB sent them
    assert "credits" not in meta and "keywords" not in meta


def test_details_fields_tmdb_left_out_are_none(client: httpx.Client, router: respx.Router) -> None:
    router.get(DETAILS_URL).mock(return_value=ok({"id": 550, "title": "Fight Club"}))
    details = catalog(client).details(550)
    assert list(details.meta) == list(MOVIE_META_FIELDS)
    present = {k: v for k, v in details.meta.items() if v is not None}
    assert present == {"id": 550, "title": "Fight Club"}
    assert details.director is None
    assert (details.genre_names, details.language_name) == ([], None)


@pytest.mark.parametrize(
    "credits",
    [
        None,
        {"cast": [], "crew": []},
        {"cast": [{"name": "Brad Pitt", "character": "Tyler Durden"}],
         "crew": [{"name": "Jeff Cronenweth", "job": "Director of Photography"},
                  {"name": "Someone", "job": "Assistant Director"},
                  {"name": "Alex", "department": "Directing"},
                  {"job": "Director"}]},
    ],
    ids=["no-credits", "empty-credits", "no-director-job"],
)  # fmt: skip
def test_details_without_a_director_has_none(
    client: httpx.Client, router: respx.Router, credits: Any
) -> None:
    body = {k: v for k, v in FIGHT_CLUB.items() if k != "credits"}
    if credits is not None:
        body["credits"] = credits
    router.get(DETAILS_URL).mock(return_value=ok(body))
    details = catalog(client).details(550)
    assert details.director is None
    assert details.meta["title"] == "Fight Club"


def test_details_director_is_the_first_crew_member_whose_job_is_director(
    client: httpx.Client, router: respx.Router
) -> None:
    crew = [
        {"name": "Jeff Cronenweth", "job": "Director of Photography", "department": "Camera"},
        {"name": "Lilly Wachowski", "job": "Director", "department": "Directing"},
        {"name": "Lana Wachowski", "job": "Director", "department": "Directing"},
    ]
    body = {**FIGHT_CLUB, "credits": {"cast": [], "crew": crew}}
    router.get(DETAILS_URL).mock(return_value=ok(body))
    assert catalog(client).details(550).director == "Lilly Wachowski"


def _without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in FIGHT_CLUB.items() if k not in names}


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, json=_without("id")),
        httpx.Response(200, json=_without("title")),
        httpx.Response(200, json={**FIGHT_CLUB, "id": "550"}),
        httpx.Response(200, json={**FIGHT_CLUB, "title": None}),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, content=b"{truncated"),
    ],
    ids=["no-id", "no-title", "id-a-string", "title-null", "list", "not-json"],
)
def test_malformed_details_are_retried(
    client: httpx.Client, router: respx.Router, bad: httpx.Response
) -> None:
    route = router.get(DETAILS_URL).mock(side_effect=[bad, ok(FIGHT_CLUB)])
    assert catalog(client).details(550) == DETAILS
    assert route.call_count == 2


def test_details_malformed_on_every_attempt_is_unavailable(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.get(DETAILS_URL).mock(return_value=ok(_without("id")))
    with pytest.raises(UpstreamUnavailable) as caught:
        catalog(client).details(550)
    assert route.call_count == POLICY.max_attempts
    assert caught.value.service == "tmdb"
    assert "malformed" in str(caught.value)


def test_details_404_status_34_is_movie_not_found_without_retry(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.get(f"{TMDB_BASE}/movie/99999").mock(
        return_value=httpx.Response(
            404,
            json={
                "success": False,
                "status_code": 34,
                "status_message": "The resource you requested could not be found.",
            },
        )
    )
    with pytest.raises(MovieNotFound) as caught:
        catalog(client).details(99999)
    assert caught.value.movie_id == 99999
    assert route.call_count == 1
    assert naps == []


TMDB_CALLS: dict[str, tuple[str, Callable[[TmdbCatalog], Any]]] = {
    "now_playing": (NOW_PLAYING_URL, lambda tmdb: tmdb.now_playing()),
    "details": (f"{TMDB_BASE}/movie/550", lambda tmdb: tmdb.details(550)),
}


@pytest.mark.parametrize("call", list(TMDB_CALLS))
@pytest.mark.parametrize(
    ("token", "key", "bearer", "api_key"),
    [
        (TMDB_TOKEN, None, TMDB_TOKEN, None),
        (None, TMDB_KEY, None, TMDB_KEY),
        (TMDB_TOKEN, TMDB_KEY, TMDB_TOKEN, None),  # both set: the key stays out of the URL
    ],
    ids=["token", "key", "both"],
)
def test_tmdb_credentials(
    client: httpx.Client,
    router: respx.Router,
    call: str,
    token: str | None,
    key: str | None,
    bearer: str | None,
    api_key: str | None,
) -> None:
    url, run = TMDB_CALLS[call]
    route = router.get(url).mock(
        return_value=httpx.Response(200, json={**raw_movie(550), "results": [raw_movie(550)]})
    )
    tmdb = catalog(
        client,
        token=SecretStr(token) if token else None,
        api_key=SecretStr(key) if key else None,
    )
    run(tmdb)
    assert route.call_count == 1
    request = route.calls[0].request
    assert request.headers.get("Authorization") == (f"Bearer {bearer}" if bearer else None)
    assert request.url.params.get("api_key") == api_key
    if api_key is None:
        assert TMDB_KEY not in str(request.url)


def test_tmdb_without_any_credential_raises_without_calling(
    client: httpx.Client, router: respx.Router
) -> None:
    route = router.route().mock(return_value=httpx.Response(200, json={}))
    tmdb = catalog(client, token=None, api_key=None)
    with pytest.raises(UpstreamBadResponse) as caught:
        tmdb.now_playing()
    assert caught.value.service == "tmdb"
    assert caught.value.reason == "tmdb: no API credential configured"
    with pytest.raises(UpstreamBadResponse):
        tmdb.details(1)
    assert route.call_count == 0


@pytest.mark.parametrize("credential", ["token", "api_key"])
def test_tmdb_401_status_code_7_is_rejected_once(
    client: httpx.Client, router: respx.Router, naps: list[float], credential: str
) -> None:
    route = router.get(NOW_PLAYING_URL).mock(
        return_value=httpx.Response(
            401,
            json={
                "success": False,
                "status_code": 7,
                "status_message": "Invalid API key: You must be granted a valid key.",
            },
        )
    )
    creds: dict[str, Any] = (
        {"token": SecretStr(TMDB_TOKEN)}
        if credential == "token"
        else {"token": None, "api_key": SecretStr(TMDB_KEY)}
    )
    with pytest.raises(UpstreamRejected) as caught:
        catalog(client, **creds).now_playing()
    assert caught.value.reason == "tmdb: 401 status_code 7"
    assert (caught.value.provider, caught.value.status, caught.value.code) == (
        "tmdb",
        401,
        "status_code 7",
    )
    assert str(caught.value) == "tmdb: GET /3/movie/now_playing answered 401 status_code 7"
    assert route.call_count == 1
    assert naps == []
    assert_no_secret(caught.value)


def test_tmdb_429_status_code_25_is_retried(
    client: httpx.Client, router: respx.Router, naps: list[float]
) -> None:
    route = router.get(NOW_PLAYING_URL).mock(
        side_effect=[
            httpx.Response(
                429,
                json={"success": False, "status_code": 25, "status_message": "over the limit"},
                headers={"Retry-After": "2"},
            ),
            httpx.Response(200, json={"results": [raw_movie(5)], "total_pages": 1}),
        ]
    )
    assert [m.id for m in catalog(client).now_playing().movies] == [5]
    assert route.call_count == 2
    assert naps == [2.0]


def test_malformed_tmdb_page_is_retried(client: httpx.Client, router: respx.Router) -> None:
    route = router.get(NOW_PLAYING_URL).mock(
        side_effect=[
            httpx.Response(200, content=b"{truncated"),
            httpx.Response(200, json={"results": "not a list"}),
            httpx.Response(200, json={"results": [raw_movie(5)], "total_pages": 1}),
        ]
    )
    assert [m.id for m in catalog(client).now_playing().movies] == [5]
    assert route.call_count == 3


def test_tmdb_timeouts_exhausting_attempts(client: httpx.Client, router: respx.Router) -> None:
    route = router.get(f"{TMDB_BASE}/movie/1").mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(UpstreamUnavailable) as caught:
        catalog(client, token=None, api_key=SecretStr(TMDB_KEY)).details(1)
    assert route.call_count == POLICY.max_attempts
    assert str(caught.value) == "tmdb: GET /3/movie/1: timed out after 3 attempts"
    assert caught.value.reason == "tmdb: timed out after 3 attempts"
    assert route.calls[0].request.url.params["api_key"] == TMDB_KEY  # the key was in play
    assert_no_secret(caught.value)


# ------------------------------------------------------------------ Pacer


class FakeClock:
    """A monotonic clock that only moves when someone sleeps (or `frozen`: never)."""

    def __init__(self, frozen: bool = False) -> None:
        self.now = 1000.0
        self.frozen = frozen
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if not self.frozen:
            self.now += seconds


def test_pacer_spaces_request_starts_one_interval_apart() -> None:
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(6):
        pacer.wait()
        starts.append(clock())
    assert starts == [1000.0 + 0.25 * n for n in range(6)]
    assert clock.sleeps == [0.25] * 5  # the first start does not wait


def test_pacer_does_not_wait_after_idle_time_nor_bank_it_for_a_burst() -> None:
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    pacer.wait()
    clock.now += 10.0  # idle
    pacer.wait()
    assert clock.sleeps == []
    pacer.wait()  # right after: spaced again, no credit saved from the idle time
    assert clock.sleeps == [0.25]


def test_pacer_gives_concurrent_callers_distinct_slots() -> None:
    clock = FakeClock(frozen=True)
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    threads = [threading.Thread(target=pacer.wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One caller starts now, the others 1..7 intervals later, each in its own slot.
    assert sorted(clock.sleeps) == [0.25 * n for n in range(1, 8)]


def test_catalog_paces_its_list_pages_but_not_a_movies_details(
    client: httpx.Client, router: respx.Router
) -> None:
    router.get(NOW_PLAYING_URL).mock(
        return_value=httpx.Response(200, json={"results": [raw_movie(1)], "total_pages": 3})
    )
    router.get(f"{TMDB_BASE}/movie/1").mock(return_value=ok({**FIGHT_CLUB, "id": 1}))
    clock = FakeClock(frozen=True)
    tmdb = catalog(client, pacer=Pacer(4.0, clock=clock, sleep=clock.sleep))
    tmdb.now_playing()
    # Three pages: the first starts at once, the others wait for their slots.
    assert sorted(clock.sleeps) == [0.25, 0.5]
    tmdb.details(1)  # one call per new movie, spread over the night: not paced
    assert sorted(clock.sleeps) == [0.25, 0.5]


# ------------------------------------------------------------------ secrets

ECHO = f"{TMDB_TOKEN} {TMDB_KEY} {PPLX_KEY} {XAI_KEY}"
# Every way a call can fail. Bodies echo every key in the fields providers put
# messages in; none of it may reach an error.
FAULTS: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "401-text": lambda r: httpx.Response(401, text=f"invalid key {ECHO}"),
    "401-perplexity": lambda r: httpx.Response(
        401, json={"error": {"message": f"bad key {ECHO}", "type": "invalid_api_key", "code": 401}}
    ),
    "400-xai": lambda r: httpx.Response(
        400, json={"code": "Client specified an invalid argument", "error": f"bad key {ECHO}"}
    ),
    "401-tmdb": lambda r: httpx.Response(
        401, json={"success": False, "status_code": 7, "status_message": f"bad key {ECHO}"}
    ),
    "404": lambda r: httpx.Response(404, json={"status_code": 34, "status_message": ECHO}),
    "500": lambda r: httpx.Response(500, text=f"oops {ECHO}"),
    "429": lambda r: httpx.Response(429, text=ECHO),
    "200-not-json": lambda r: httpx.Response(200, text=f"not json {ECHO}"),
    "200-failed-run": lambda r: httpx.Response(
        200, json={"status": "failed", "output": [], "error": {"code": "x", "message": ECHO}}
    ),
    "200-incomplete": lambda r: httpx.Response(
        200,
        json=agent_answer(
            ECHO, status="incomplete", incomplete_details={"reason": "max_output_tokens"}
        ),
    ),
    "200-not-a-card": lambda r: httpx.Response(200, json=chat_answer(f"no card {ECHO}")),
}


def _raise(fault: type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        # Like httpx's own errors, this one carries the request (and its URL).
        raise fault(f"failed: {request.url} {dict(request.headers)}", request=request)

    return handler


FAULTS |= {"timeout": _raise(httpx.ReadTimeout), "connect": _raise(httpx.ConnectError)}

CALLERS: dict[str, Callable[[httpx.Client], Any]] = {
    "tmdb-token-list": lambda c: catalog(c).now_playing(),
    "tmdb-key-list": lambda c: catalog(c, token=None, api_key=SecretStr(TMDB_KEY)).now_playing(),
    "tmdb-key-details": lambda c: catalog(c, token=None, api_key=SecretStr(TMDB_KEY)).details(3),
    "perplexity": lambda c: researcher(c).research(MOVIE, DETAILS),
    "xai": lambda c: roaster(c).roast(MOVIE, DETAILS, TRUTH),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("caller", list(CALLERS))
def test_no_failure_mode_leaks_a_secret(
    client: httpx.Client, router: respx.Router, caller: str, fault: str
) -> None:
    route = router.route().mock(side_effect=FAULTS[fault])
    with pytest.raises((UpstreamError, MovieNotFound)) as caught:
        CALLERS[caller](client)
    assert route.call_count >= 1
    sent = route.calls[0].request
    in_play = str(sent.url) + sent.headers.get("Authorization", "")
    assert any(s in in_play for s in SECRETS)  # a key was sent, so it could have leaked
    assert_no_secret(caught.value)


def test_every_llm_failure_kind_is_reached_by_the_secret_test(
    client: httpx.Client, router: respx.Router
) -> None:
    """The faults above really drive the clients into their own error types."""
    router.route(url=PPLX_URL).mock(side_effect=FAULTS["200-incomplete"])
    router.route(url=XAI_URL).mock(side_effect=FAULTS["200-not-a-card"])
    with pytest.raises(TruncatedAnswer):
        researcher(client).research(MOVIE, DETAILS)
    with pytest.raises(InvalidRoast):
        roaster(client).roast(MOVIE, DETAILS, TRUTH)
