"""Every route of the `api` function through functions-framework's real request
pipeline (main.py, no server), on the `world` fixture's in-memory use cases.

The Worker's public JSON contract (../shared/seed-api.md) is checked field for field:
what the Worker's front end and scripts read must be there, with the Worker's types.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
import functions_framework
import pytest
from pydantic import SecretStr

from functions import bootstrap, observability
from functions.config import Settings
from functions.errors import InfrastructureUnavailable
from functions.feed import INVALID_TYPE
from functions.models import MOVIE_META_FIELDS, Movie, NightlyMessage, Trigger, epoch_ms, utcnow
from functions.observability import Redactor
from tests.fakes import DATES, MemoryCaches, MemoryRuns, card_for, details_of
from tests.unit.conftest import World

# Unit defaults, whatever the shell exports (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("clean_settings_env")

MAIN = str(Path(__file__).resolve().parents[2] / "main.py")
ADMIN_TOKEN = "s3cret-admin-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
API_KEY = {"x-api-key": ADMIN_TOKEN}
UPSTREAM_KEYS = ("tmdb-key-SECRET-0a1b2c", "pplx-key-SECRET-3d4e5f", "xai-key-SECRET-6a7b8c")
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
GENERATED_ID = r"[0-9]{13}-[0-9a-f]{8}"  # <epoch ms>-<random>

# (method, path) of every route the contract names, admin ones marked.
PUBLIC_ROUTES = [
    ("GET", "/healthz"),
    ("GET", "/now-playing"),
    ("GET", "/movie/1000"),
    ("GET", "/feed?type=roast"),
    ("GET", "/cron/status"),
]
ADMIN_ROUTES = [
    ("POST", "/cron/trigger"),
    ("POST", "/cron/retry?correlationId=cron-1"),
    ("GET", "/logs"),
    ("DELETE", "/logs"),
    ("GET", "/debug?correlationId=cron-1"),
    ("GET", "/movie/1000/debug"),
    ("DELETE", "/cache/clear/roast"),
    ("DELETE", "/cache/clear/now-playing"),
    ("DELETE", "/cache/clear/truth"),
    ("DELETE", "/cache/clear/debug"),
    ("DELETE", "/cache/clear/all"),
    ("GET", "/budget"),
]

# The Worker's fields, and PlotBurn's additions beside them (never instead of them).
NOW_PLAYING_FIELDS = {"cached", "page", "total_pages", "total_results", "dates", "movies"}
NOW_PLAYING_MOVIE_TYPES: dict[str, Any] = {
    "id": int,
    "title": str,
    "release_date": str,
    "rating": float,
    "votes": int,
    "popularity": float,
    "overview": str,
    "poster_url": (str, type(None)),
    "has_roast": bool,
}
MOVIE_FIELDS = {
    "cached", "movie", "roast", "generated_at", "disclaimer", "truth_source", "truth_fetched_at",
}  # fmt: skip
MOVIE_EXTRA_FIELDS = {"roast_model", "citations"}
CARD_FIELDS = {"headline", "content", "chips", "internet_vibe", "your_opinion", "similar_movies"}
TRUTH_FIELDS = {
    "source",
    "fetchedAt",
    "model",
    "citations",
    "searchResults",
    "content",
    "usage",
    "cost",
}


@dataclass
class Api:
    world: World
    client: Any
    settings: Settings

    def call(self, method: str, path: str, admin: bool = False, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if admin:
            headers.update(BEARER)
        response = self.client.open(path, method=method, headers=headers, **kw)
        body = response.get_data(as_text=True)
        assert ADMIN_TOKEN not in body
        for key in UPSTREAM_KEYS:
            assert key not in body
        # Every answer names its correlation id (the Worker's x-correlation-id).
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", response.headers.get("x-correlation-id", ""))
        return response

    def json(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = self.call(method, path, **kw)
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        return response.get_json()

    def reconfigure(self, **update: Any) -> None:
        self.settings = self.settings.model_copy(update=update)
        self.world.settings = self.settings
        bootstrap.install(self.world.app)

    def fanout(self) -> None:
        pending, self.world.publisher.nightly = list(self.world.publisher.nightly), []
        for message in pending:
            self.world.nightly.start_run(message, self.world.clock())

    def run_night(self) -> str:
        """A manual run through the API, fanned out and delivered; returns its id."""
        self.world.clock.advance(minutes=1)
        response = self.call("POST", "/cron/trigger", admin=True)
        assert response.status_code == 202
        assert len(self.world.publisher.nightly) == 1
        self.fanout()
        self.world.deliver_all()
        return str(response.get_json()["correlation_id"])


@pytest.fixture(scope="module")
def api_app() -> flask.Flask:
    return functions_framework.create_app(target="api", source=MAIN, signature_type="http")


@pytest.fixture
def api(world: World, api_app: flask.Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    settings = Settings(
        _env_file=None,
        admin_token=SecretStr(ADMIN_TOKEN),
        tmdb_api_token=SecretStr(UPSTREAM_KEYS[0]),
        perplexity_api_key=SecretStr(UPSTREAM_KEYS[1]),
        xai_api_key=SecretStr(UPSTREAM_KEYS[2]),
        single_flight_wait_seconds=2.0,
    )
    world.settings = settings
    monkeypatch.setattr(observability, "_redactor", Redactor(bootstrap.secrets_of(settings)))
    bootstrap.install(world.app)
    try:
        yield Api(world=world, client=api_app.test_client(), settings=settings)
    finally:
        bootstrap.reset()


def assert_error(
    response: Any, status: int, message: str | None = None, error: str | None = None
) -> str:
    """The Worker's error body, `{"error": <what>, "message": <why>}`; returns the message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and sorted(body) == ["error", "message"], body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message
    if error is not None:
        assert body["error"] == error
    return str(body["message"])


def assert_types(value: dict[str, Any], types: dict[str, Any]) -> None:
    """Exactly these fields, each of exactly this JSON type (a bool is not an int)."""
    assert set(value) == set(types), sorted(set(value) ^ set(types))
    for name, kinds in types.items():
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        assert type(value[name]) in kinds, (name, value[name])


# ------------------------------------------------------------------ public routes


def test_admin_token_settings_construct_by_field_name_and_alias() -> None:
    by_name = Settings(_env_file=None, admin_token=SecretStr(ADMIN_TOKEN))
    by_alias = Settings(_env_file=None, PLOTBURN_ADMIN_TOKEN=ADMIN_TOKEN)
    assert by_name.admin_token is not None and by_alias.admin_token is not None
    assert by_name.admin_token.get_secret_value() == ADMIN_TOKEN
    assert by_alias.admin_token.get_secret_value() == ADMIN_TOKEN


def test_healthz(api: Api) -> None:
    response = api.call("GET", "/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# ---------------------------------------------------------------- /now-playing


def test_now_playing_is_the_workers_shape(api: Api) -> None:
    first = api.call("GET", "/now-playing")
    assert first.status_code == 200 and first.mimetype == "application/json"
    assert first.headers["Cache-Control"] == "public, max-age=60"
    body = first.get_json()
    assert set(body) == NOW_PLAYING_FIELDS
    assert (body["cached"], body["page"], body["total_pages"], body["total_results"]) == (
        False,
        1,
        1,
        5,
    )
    assert type(body["total_results"]) is int and type(body["page"]) is int
    assert body["dates"] == DATES and set(body["dates"]) == {"maximum", "minimum"}
    assert len(body["movies"]) == body["total_results"]
    for movie in body["movies"]:
        assert_types(movie, NOW_PLAYING_MOVIE_TYPES)
    assert body["movies"][0] == {
        "id": 1000,
        "title": "Movie 0",
        "release_date": "2026-11-22",
        "rating": 7.0,
        "votes": 100,
        "popularity": 50.0,
        "overview": "Overview 0",
        "poster_url": "https://image.tmdb.org/t/p/w500/p1000.jpg",
        "has_roast": False,
    }
    assert [m["id"] for m in body["movies"]] == [1000, 1001, 1002, 1003, 1004]
    # The second call is served from the 23-hour cache, and says so.
    second = api.call("GET", "/now-playing")
    assert second.headers["Cache-Control"] == "public, max-age=60"
    again = second.get_json()
    assert again["cached"] is True
    assert {**again, "cached": False} == body
    assert api.world.catalog.calls["now_playing"] == 1


def test_now_playing_types_hold_when_tmdb_leaves_fields_out(api: Api) -> None:
    api.world.catalog.movies = [
        Movie(id=1500, title="Bare", release_date="2026-11-21", vote_average=8, popularity=3),
        Movie(id=1501, title="Null", release_date="2026-11-21", overview=None),  # type: ignore[arg-type]
    ]
    movies = api.json("GET", "/now-playing")["movies"]
    for movie in movies:
        assert_types(movie, NOW_PLAYING_MOVIE_TYPES)
    assert [
        (m["rating"], m["votes"], m["popularity"], m["poster_url"], m["overview"]) for m in movies
    ] == [
        (8.0, 0, 3.0, None, ""),
        (0.0, 0, 0.0, None, ""),
    ]


def test_has_roast_tells_the_truth(api: Api) -> None:
    def has_roast() -> dict[int, bool]:
        return {m["id"]: m["has_roast"] for m in api.json("GET", "/now-playing")["movies"]}

    assert has_roast() == dict.fromkeys([1000, 1001, 1002, 1003, 1004], False)
    assert api.call("GET", "/movie/1001").status_code == 200
    assert has_roast() == {1000: False, 1001: True, 1002: False, 1003: False, 1004: False}
    api.run_night()
    assert has_roast() == dict.fromkeys([1000, 1001, 1002, 1003, 1004], True)
    api.call("DELETE", "/cache/clear/roast", admin=True)
    assert has_roast() == dict.fromkeys([1000, 1001, 1002, 1003, 1004], False)


def test_now_playing_fans_out_only_the_release_window(api: Api) -> None:
    # TMDB lists the window's movies among older, newer, documentary and concert ones
    # (the unit clock is 2026-11-28: the window is 2026-11-18 to 2026-11-25).
    listed = [
        Movie(id=3001, title="Too old", release_date="2026-11-17", genre_ids=[18]),
        Movie(id=3002, title="First day", release_date="2026-11-18", genre_ids=[18]),
        Movie(id=3003, title="Documentary", release_date="2026-11-20", genre_ids=[99]),
        Movie(id=3004, title="Concert", release_date="2026-11-20", genre_ids=[10402, 18]),
        Movie(id=3005, title="Last day", release_date="2026-11-25", genre_ids=[35]),
        Movie(id=3006, title="Too new", release_date="2026-11-26", genre_ids=[18]),
    ]
    api.world.catalog.movies = listed
    api.run_night()
    assert sorted(api.world.roaster.calls) == [3002, 3005]
    status = api.json("GET", "/cron/status")["last_run"]
    assert (status["status"], status["movies_fetched"], status["roasts_generated"]) == (
        "success",
        2,
        2,
    )
    body = api.json("GET", "/now-playing")
    assert body["total_results"] == 2
    assert [(m["id"], m["has_roast"]) for m in body["movies"]] == [(3002, True), (3005, True)]
    # A movie outside the choice is not on demand for the public.
    assert_error(api.call("GET", "/movie/3001"), 404)
    assert api.world.catalog.calls["details"] == 2


# ------------------------------------------------------------------ /movie/{id}


def test_movie_is_the_workers_roast_document(api: Api) -> None:
    first = api.call("GET", "/movie/1000")
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert set(body) == MOVIE_FIELDS | MOVIE_EXTRA_FIELDS
    assert body["cached"] is False
    # MovieMeta: TMDB's details, the 26 fields as TMDB sent them.
    assert len(MOVIE_META_FIELDS) == 26
    assert set(body["movie"]) == set(MOVIE_META_FIELDS)
    assert body["movie"] == details_of(api.world.catalog.movies[0]).meta
    assert body["movie"]["imdb_id"] == "tt0001000" and body["movie"]["runtime"] == 101
    # The card, every field of it.
    assert_types(
        body["roast"],
        {
            "headline": str,
            "content": str,
            "chips": list,
            "internet_vibe": list,
            "your_opinion": str,
            "similar_movies": list,
        },
    )
    assert set(body["roast"]) == CARD_FIELDS
    assert body["roast"] == card_for("Movie 0").model_dump(mode="json")
    assert body["disclaimer"] == "Satire. Facts unchanged."
    assert body["truth_source"] == "perplexity:sonar"
    assert re.fullmatch(ISO_MS, body["generated_at"])
    assert re.fullmatch(ISO_MS, body["truth_fetched_at"])
    assert (body["roast_model"], body["citations"]) == ("fake-grok", ["https://example.org"])
    # A new movie: one TMDB details call, one research, one roast.
    assert api.world.catalog.calls["details"] == 1
    assert (api.world.researcher.total, api.world.roaster.total) == (1, 1)

    second = api.call("GET", "/movie/1000")
    assert second.status_code == 200
    assert second.get_json() == {**body, "cached": True}
    # A cached read asks no one upstream, TMDB included.
    assert api.world.catalog.calls["details"] == 1
    assert api.world.catalog.calls["now_playing"] == 1
    assert (api.world.researcher.total, api.world.roaster.total) == (1, 1)


def test_roasts_of_a_night_are_cached_reads_with_no_tmdb_call(api: Api) -> None:
    api.run_night()
    assert api.world.catalog.calls["details"] == 5
    for movie_id in (1000, 1001, 1002, 1003, 1004):
        body = api.json("GET", f"/movie/{movie_id}")
        assert body["cached"] is True and body["movie"]["id"] == movie_id
    assert api.world.catalog.calls["details"] == 5
    assert api.world.roaster.total == 5


def test_unknown_movie_is_404(api: Api) -> None:
    # A public caller: not now playing, so not on demand (TMDB is not even asked).
    assert_error(api.call("GET", "/movie/424242"), 404)
    assert api.world.catalog.calls["details"] == 0
    # The admin may generate any id; TMDB does not know this one.
    assert_error(
        api.call("GET", "/movie/424242", admin=True), 404, "movie 424242 not found", "Not Found"
    )
    assert api.world.catalog.calls["details"] == 1
    assert api.world.roaster.total == 0


def test_admin_may_generate_a_movie_not_now_playing(api: Api) -> None:
    response = api.call("GET", "/movie/900000", admin=True)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["cached"], body["movie"]["id"], body["movie"]["title"]) == (
        False,
        900000,
        "Movie 0",
    )
    assert api.world.roaster.total == 1
    # The lookup's details are the roast's: TMDB was asked once.
    assert api.world.catalog.calls["details"] == 1


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "0",
        "-1",
        "1.5",
        "99999999999",
        "2147483648",
        "%00",
        "01",
        "1e3",
        "%201",
        "1%20",
        "%E2%91%A0",
    ],
)
def test_malformed_movie_ids_are_400(api: Api, raw: str) -> None:
    assert_error(
        api.call("GET", f"/movie/{raw}"), 400, "movie id must be a positive integer", "Bad Request"
    )
    assert api.world.catalog.calls["now_playing"] == 0
    assert api.world.roaster.total == 0


def test_largest_movie_id_is_accepted(api: Api) -> None:
    assert_error(
        api.call("GET", "/movie/2147483647", admin=True), 404, "movie 2147483647 not found"
    )


def test_upstream_failure_is_502_without_detail(api: Api) -> None:
    api.world.researcher.failing = {1000}
    message = assert_error(api.call("GET", "/movie/1000"), 502)
    assert message == "upstream research unavailable; retry later"


def test_storage_outage_is_503_with_retry_after(api: Api) -> None:
    class DownCaches(MemoryCaches):
        def get_roast(self, movie_id: int, now: Any) -> Any:
            raise InfrastructureUnavailable("firestore: DeadlineExceeded")

    api.world.use(caches=DownCaches())
    response = api.call("GET", "/movie/1000")
    assert_error(response, 503, "temporarily unavailable; retry shortly")
    assert response.headers["Retry-After"] == "5"


def test_paid_requests_are_rate_limited_per_client(api: Api) -> None:
    api.reconfigure(paid_requests_per_minute=2)
    assert api.call("GET", "/movie/1000").status_code == 200
    assert api.call("GET", "/movie/1001").status_code == 200
    limited = api.call("GET", "/movie/1002")
    assert_error(limited, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert api.call("GET", "/movie/1000").status_code == 200  # cached reads are free
    other = api.call("GET", "/movie/1002", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_a_movie_being_generated_elsewhere_is_202(api: Api) -> None:
    api.reconfigure(single_flight_wait_seconds=0.0)
    api.world.leases.acquire(1000, "another-instance", api.world.clock())
    response = api.call("GET", "/movie/1000")
    assert response.status_code == 202
    assert response.get_json() == {
        "message": "this movie's roast is being generated; retry shortly",
        "movie_id": 1000,
        "status": "generating",
    }
    assert response.headers["Retry-After"] == "5"


# ------------------------------------------------------------------------ /feed


def generate(api: Api, *movie_ids: int) -> None:
    """Roast these movies through GET /movie, a minute apart (newest last)."""
    for movie_id in movie_ids:
        api.world.clock.advance(minutes=1)
        assert api.call("GET", f"/movie/{movie_id}").status_code == 200


def test_feed_now_playing_is_404_until_the_list_is_cached(api: Api) -> None:
    assert_error(api.call("GET", "/feed?type=now-playing"), 404)
    assert api.world.catalog.calls["now_playing"] == 0  # the feed never asks TMDB
    generate(api, 1002)
    body = api.json("GET", "/feed?type=now-playing")
    assert set(body) == {"type", "total", "movies", "dates"}
    assert (body["type"], body["total"], body["dates"]) == ("now-playing", 5, DATES)
    for movie in body["movies"]:
        assert_types(movie, NOW_PLAYING_MOVIE_TYPES)
    assert [m["id"] for m in body["movies"]] == [1000, 1001, 1002, 1003, 1004]
    assert {m["id"]: m["has_roast"] for m in body["movies"]} == {
        1000: False, 1001: False, 1002: True, 1003: False, 1004: False,
    }  # fmt: skip
    assert api.world.catalog.calls["now_playing"] == 1


def test_feed_roast_pages_roast_documents(api: Api) -> None:
    empty = api.json("GET", "/feed?type=roast")
    assert empty == {
        "type": "roast",
        "page": 1,
        "limit": 10,
        "total": 0,
        "total_pages": 0,
        "results": [],
    }
    generate(api, 1000, 1001, 1002)
    first = api.json("GET", "/feed?type=roast&limit=2")
    assert {k: first[k] for k in ("type", "page", "limit", "total", "total_pages")} == {
        "type": "roast", "page": 1, "limit": 2, "total": 3, "total_pages": 2,
    }  # fmt: skip
    assert set(first) == {"type", "page", "limit", "total", "total_pages", "results"}
    # Newest first, each as GET /movie serves it, without "cached".
    assert [r["movie"]["id"] for r in first["results"]] == [1002, 1001]
    served = api.json("GET", "/movie/1002")
    assert first["results"][0] == {k: v for k, v in served.items() if k != "cached"}
    assert set(first["results"][0]) == (MOVIE_FIELDS | MOVIE_EXTRA_FIELDS) - {"cached"}
    second = api.json("GET", "/feed?type=roast&limit=2&page=2")
    assert (second["page"], [r["movie"]["id"] for r in second["results"]]) == (2, [1000])
    assert api.json("GET", "/feed?type=roast&limit=2&page=3")["results"] == []
    assert api.json("GET", "/feed?type=roast&limit=100")["total_pages"] == 1


def test_feed_truth_pages_stored_truths(api: Api) -> None:
    generate(api, 1000, 1001)
    body = api.json("GET", "/feed?type=truth&limit=1")
    assert {k: body[k] for k in ("type", "page", "limit", "total", "total_pages")} == {
        "type": "truth", "page": 1, "limit": 1, "total": 2, "total_pages": 2,
    }  # fmt: skip
    (truth,) = body["results"]
    assert set(truth) >= TRUTH_FIELDS
    assert truth["source"] == "perplexity:sonar"
    assert truth["content"].startswith("Facts about Movie ")
    assert truth["citations"] == ["https://example.org"]
    assert re.fullmatch(ISO_MS, truth["fetchedAt"])
    assert isinstance(truth["searchResults"], list) and isinstance(truth["usage"], dict)


def test_feed_all_joins_now_playing_with_roasts_and_truths(api: Api) -> None:
    generate(api, 1001)
    body = api.json("GET", "/feed")  # type=all is the default
    assert {k: body[k] for k in ("type", "page", "limit", "total", "total_pages")} == {
        "type": "all", "page": 1, "limit": 10, "total": 5, "total_pages": 1,
    }  # fmt: skip
    by_id = {r["id"]: r for r in body["results"]}
    assert list(by_id) == [1000, 1001, 1002, 1003, 1004]
    extra = {"roast", "roast_generated_at", "truth", "truth_fetched_at"}
    for result in body["results"]:
        assert set(result) == set(NOW_PLAYING_MOVIE_TYPES) | extra
    roasted = by_id[1001]
    assert roasted["has_roast"] is True
    assert roasted["roast"] == card_for("Movie 1").model_dump(mode="json")
    assert roasted["truth"] == "Facts about Movie 1"
    assert re.fullmatch(ISO_MS, roasted["roast_generated_at"])
    assert re.fullmatch(ISO_MS, roasted["truth_fetched_at"])
    plain = by_id[1000]
    assert (
        plain["has_roast"],
        plain["roast"],
        plain["roast_generated_at"],
        plain["truth"],
        plain["truth_fetched_at"],
    ) == (False, None, None, None, None)
    page = api.json("GET", "/feed?type=all&limit=2&page=3")
    assert (page["total"], page["total_pages"], [r["id"] for r in page["results"]]) == (
        5,
        3,
        [1004],
    )


def test_feed_one_document_by_id(api: Api) -> None:
    generate(api, 1000)
    roast = api.json("GET", "/feed?type=roast&id=1000")
    served = api.json("GET", "/movie/1000")
    assert roast == {k: v for k, v in served.items() if k != "cached"}
    truth = api.json("GET", "/feed?id=1000&type=truth")
    assert truth["source"] == "perplexity:sonar" and truth["content"] == "Facts about Movie 0"
    assert_error(api.call("GET", "/feed?type=roast&id=1001"), 404)
    assert_error(api.call("GET", "/feed?type=truth&id=1001"), 404)
    for kind in ("all", "now-playing"):
        assert_error(api.call("GET", f"/feed?type={kind}&id=1000"), 400)
    assert_error(api.call("GET", "/feed?id=1000"), 400)  # the default type, all
    assert_error(api.call("GET", "/feed?type=roast&id=abc"), 400)
    assert api.world.roaster.total == 1


@pytest.mark.parametrize("kind", ["bogus", "roasts", "ROAST", "", "now_playing"])
def test_feed_unknown_type_is_400_in_the_workers_words(api: Api, kind: str) -> None:
    response = api.call("GET", f"/feed?type={kind}")
    assert_error(response, 400)
    assert response.get_json()["error"] == INVALID_TYPE
    assert INVALID_TYPE == "Invalid type. Use: now-playing, roast, truth, or all"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=",
        "page=0",
        "page=-1",
        "page=x",
        "page=1.5",
    ],
)
def test_feed_page_and_limit_out_of_range_are_400(api: Api, query: str) -> None:
    assert_error(api.call("GET", f"/feed?type=roast&{query}"), 400)


@pytest.mark.parametrize("query", ["limit=1", "limit=100", "page=1", "page=7", "limit=1&page=2"])
def test_feed_page_and_limit_in_range_are_accepted(api: Api, query: str) -> None:
    body = api.json("GET", f"/feed?type=roast&{query}")
    assert body["results"] == [] and body["total"] == 0


# ------------------------------------------------------------------- cron routes

RUN_TYPES: dict[str, Any] = {
    "timestamp": str,
    "trigger": str,
    "correlation_id": str,
    "movies_fetched": int,
    "roasts_processed": int,
    "roasts_cached": int,
    "roasts_generated": int,
    "roasts_failed": int,
    "failed_movie_ids": list,
    "duration_ms": (int, type(None)),
    "status": str,
}


def test_cron_trigger_is_202_with_seed_shape(api: Api) -> None:
    response = api.call("POST", "/cron/trigger", admin=True)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"message", "correlation_id", "status", "check_status_at"}
    assert re.fullmatch(r"manual-trigger-[0-9]+", body["correlation_id"])
    assert body["correlation_id"] == f"manual-trigger-{epoch_ms(api.world.clock())}"
    assert body["status"] == "started"
    assert body["check_status_at"] == "/cron/status"
    assert body["message"] == "Cron job started in background"
    (message,) = api.world.publisher.nightly
    assert message == NightlyMessage(trigger=Trigger.MANUAL, correlation_id=body["correlation_id"])


def test_a_triggered_run_is_last_run_in_progress_when_the_202_is_answered(api: Api) -> None:
    previous = api.run_night()
    assert api.json("GET", "/cron/status")["last_run"]["status"] == "success"
    api.world.clock.advance(minutes=1)
    response = api.call("POST", "/cron/trigger", admin=True)
    assert response.status_code == 202
    cid = response.get_json()["correlation_id"]
    # Before any fan-out: the Worker's poller reads this run, not the previous one.
    assert len(api.world.publisher.nightly) == 1 and api.world.publisher.roasts == []
    status = api.json("GET", "/cron/status")
    last = status["last_run"]
    assert (last["correlation_id"], last["status"], last["trigger"]) == (
        cid,
        "in_progress",
        "manual",
    )
    assert_types({k: last[k] for k in RUN_TYPES}, RUN_TYPES)
    assert last["duration_ms"] is None
    assert [r["correlation_id"] for r in status["history"]] == [cid, previous]
    assert status["total_runs"] == 2
    # Fan-out lists the movies: still in progress, now with its movies.
    api.fanout()
    last = api.json("GET", "/cron/status")["last_run"]
    assert (last["correlation_id"], last["status"], last["movies_fetched"]) == (
        cid,
        "in_progress",
        5,
    )
    # The roasts land and the poll loop ends.
    api.world.deliver_all()
    last = api.json("GET", "/cron/status")["last_run"]
    assert (
        last["correlation_id"],
        last["status"],
        last["roasts_cached"],
        last["roasts_processed"],
    ) == (cid, "success", 5, 5)
    assert type(last["duration_ms"]) is int
    assert api.json("GET", "/cron/status")["total_runs"] == 2


def test_a_scheduled_run_shows_in_progress_as_soon_as_fan_out_starts(api: Api) -> None:
    api.world.catalog.release = threading.Event()
    message = NightlyMessage(trigger=Trigger.SCHEDULED)
    fanout = threading.Thread(target=api.world.nightly.start_run, args=(message, api.world.clock()))
    fanout.start()
    try:
        assert api.world.catalog.listing.wait(timeout=5)  # fan-out is waiting on TMDB
        status = api.json("GET", "/cron/status")
        last = status["last_run"]
        assert last["correlation_id"] == f"cron-{epoch_ms(api.world.clock())}"
        assert (last["status"], last["trigger"], last["movies_fetched"]) == (
            "in_progress",
            "scheduled",
            0,
        )
        assert status["total_runs"] == 1
    finally:
        api.world.catalog.release.set()
        fanout.join(timeout=5)
    assert not fanout.is_alive()
    api.world.deliver_all()
    last = api.json("GET", "/cron/status")["last_run"]
    assert (last["status"], last["movies_fetched"], last["roasts_generated"]) == ("success", 5, 5)


def test_a_scheduled_run_whose_listing_fails_is_failed_not_missing(api: Api) -> None:
    api.world.catalog.fail = True
    api.world.nightly.start_run(NightlyMessage(trigger=Trigger.SCHEDULED), api.world.clock())
    last = api.json("GET", "/cron/status", admin=True)["last_run"]
    assert (last["trigger"], last["status"], last["movies_fetched"]) == ("scheduled", "failed", 0)
    assert "tmdb" in last["error"]
    # The public sees that it failed, as a code.
    assert api.json("GET", "/cron/status")["last_run"]["error"] == "upstream_error"


def test_a_trigger_whose_message_cannot_be_published_is_503_and_a_failed_run(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(message: NightlyMessage) -> None:
        raise InfrastructureUnavailable("pubsub: publish timed out")

    monkeypatch.setattr(api.world.publisher, "publish_nightly", down)
    response = api.call("POST", "/cron/trigger", admin=True)
    assert_error(response, 503, "temporarily unavailable; retry shortly")
    # The poller is not left waiting on a run nothing will fan out.
    last = api.json("GET", "/cron/status", admin=True)["last_run"]
    assert (last["trigger"], last["status"]) == ("manual", "failed")
    assert last["error"] == "the nightly message could not be published"
    assert api.json("GET", "/cron/status")["last_run"]["error"] == "run_failed"


def test_cron_status_before_any_run(api: Api) -> None:
    response = api.call("GET", "/cron/status")
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("last_run", "history", "total_runs")} == {
        "last_run": None,
        "history": [],
        "total_runs": 0,
    }


def test_cron_status_after_a_run_has_the_seed_fields(api: Api) -> None:
    api.world.roaster.failing = {1003}
    cid = api.run_night()
    body = api.call("GET", "/cron/status").get_json()
    assert body["total_runs"] == 1
    last = body["last_run"]
    assert body["history"] == [last]
    seed = {
        "timestamp": "2026-11-28T16:31:00.000Z",
        "trigger": "manual",
        "correlation_id": cid,
        "movies_fetched": 5,
        "roasts_processed": 5,
        "roasts_cached": 0,
        "roasts_generated": 4,
        "roasts_failed": 1,
        "failed_movie_ids": [1003],
        "duration_ms": 0,
        "status": "partial",
    }
    assert {k: last[k] for k in seed} == seed


def test_cron_status_history_is_newest_first_and_capped_at_ten(api: Api) -> None:
    ids = [api.run_night() for _ in range(12)]
    body = api.call("GET", "/cron/status").get_json()
    assert body["total_runs"] == 12
    assert [r["correlation_id"] for r in body["history"]] == ids[::-1][:10]
    assert body["last_run"]["correlation_id"] == ids[-1]
    assert all(r["status"] == "success" for r in body["history"])


def test_in_progress_run_shows_live_counters(api: Api) -> None:
    api.call("POST", "/cron/trigger", admin=True)
    api.fanout()
    pending = list(api.world.publisher.roasts)
    api.world.publisher.roasts = pending[:2]
    api.world.deliver_all()
    last = api.call("GET", "/cron/status").get_json()["last_run"]
    assert (last["status"], last["roasts_processed"], last["roasts_generated"]) == (
        "in_progress",
        2,
        2,
    )
    assert last["duration_ms"] is None


def test_cron_retry(api: Api) -> None:
    assert_error(api.call("POST", "/cron/retry", admin=True), 400, "correlationId is required")
    assert_error(
        api.call("POST", "/cron/retry?correlationId=nope", admin=True),
        400,
        "correlationId is malformed",
    )
    assert_error(
        api.call("POST", "/cron/retry?correlationId=cron-1", admin=True),
        404,
        "run cron-1 not found",
    )

    api.world.roaster.failing = {1001, 1004}
    cid = api.run_night()
    api.world.roaster.failing = set()
    response = api.call("POST", f"/cron/retry?correlationId={cid}", admin=True)
    assert response.status_code == 202
    assert response.get_json() == {
        "correlation_id": cid,
        "retried_movie_ids": [1001, 1004],
        "status": "in_progress",
        "check_status_at": "/cron/status",
    }
    assert sorted(m.movie_id for m in api.world.publisher.roasts) == [1001, 1004]
    api.world.deliver_all()
    again = api.call("POST", f"/cron/retry?correlationId={cid}", admin=True)
    assert again.status_code == 200
    assert again.get_json()["retried_movie_ids"] == []
    assert again.get_json()["status"] == "success"


# ------------------------------------------------------------------------ /logs

LOG_ENTRY_FIELDS = {"timestamp", "level", "correlationId", "endpoint", "method"}


def log_messages(api: Api, query: str = "") -> list[str]:
    body = api.json("GET", f"/logs{query}", admin=True)
    assert body["total"] == len(body["logs"])
    return [entry["message"] for entry in body["logs"]]


def test_logs_body_and_entry_fields(api: Api) -> None:
    api.world.roaster.failing = {1002}
    cid = api.run_night()
    body = api.json("GET", "/logs", admin=True)
    assert set(body) == {"total", "logs", "note"}
    assert isinstance(body["note"], str) and body["note"]
    assert body["total"] == len(body["logs"]) > 0
    for entry in body["logs"]:
        assert set(entry) >= LOG_ENTRY_FIELDS, entry
        assert re.fullmatch(ISO_MS, entry["timestamp"])
        assert entry["level"] in ("DEBUG", "INFO", "WARN", "ERROR")
        assert isinstance(entry["endpoint"], str) and isinstance(entry["method"], str)
    by_message = {e["message"]: e for e in reversed(body["logs"])}
    # What the trigger did, logged under the request's route and method.
    started = by_message["run started"]
    assert (started["correlationId"], started["endpoint"], started["method"], started["level"]) == (
        cid, "/cron/trigger", "POST", "INFO",
    )  # fmt: skip
    answered = by_message["POST /cron/trigger answered 202"]
    assert (answered["endpoint"], answered["method"], answered["responseStatus"]) == (
        "/cron/trigger",
        "POST",
        202,
    )
    assert type(answered["duration"]) is int
    # What the use cases did outside any request.
    failed = by_message["movie failed"]
    assert (failed["correlationId"], failed["level"], failed["movieId"], failed["movieTitle"]) == (
        cid, "WARN", 1002, "Movie 2",
    )  # fmt: skip
    assert "xai" in failed["error"]
    assert (failed["endpoint"], failed["method"]) == ("pipeline", "EVENT")


def test_logs_limit_is_defaulted_and_clamped_not_refused(api: Api) -> None:
    for n in range(1100):
        api.world.journal.info(f"entry {n}")
    default = log_messages(api)
    assert len(default) == 100
    assert default[0] == "entry 1099" and default[-1] == "entry 1000"  # newest first
    assert log_messages(api, "?limit=3") == ["entry 1099", "entry 1098", "entry 1097"]
    for limit, expected in [
        ("0", 1), ("-5", 1), ("1", 1), ("999", 999), ("1000", 1000), ("1001", 1000), ("5000", 1000),
        ("99999999999", 1000), ("abc", 100), ("1.5", 100), ("", 100), ("%00", 100),
    ]:  # fmt: skip
        assert len(log_messages(api, f"?limit={limit}")) == expected, limit


def test_logs_level_filter(api: Api) -> None:
    journal = api.world.journal
    journal.log("DEBUG", "d", "cid-a")
    journal.info("i", "cid-a")
    journal.warning("w", "cid-b")
    journal.error("e", "cid-b")
    journal.log("ALERT", "a", "cid-b")
    journal.log("NOTICE", "n")
    assert log_messages(api, "?level=DEBUG") == ["d"]
    assert log_messages(api, "?level=INFO") == ["n", "i"]
    assert log_messages(api, "?level=WARN") == ["w"]
    assert log_messages(api, "?level=ERROR") == ["a", "e"]
    assert log_messages(api, "?level=warn") == ["w"]  # case-insensitive
    assert log_messages(api, "?level=Error") == ["a", "e"]
    for level in ("WARNING", "bogus", "", "CRITICAL", "INFO,ERROR"):
        assert_error(api.call("GET", f"/logs?level={level}", admin=True), 400)
    assert log_messages(api, "?correlationId=cid-b") == ["a", "e", "w"]
    assert log_messages(api, "?correlationId=cid-b&level=ERROR") == ["a", "e"]
    assert log_messages(api, "?correlationId=cid-a&limit=1") == ["i"]
    assert log_messages(api, "?correlationId=nobody") == []
    body = api.json("GET", "/logs?correlationId=cid-a", admin=True)
    assert {e["correlationId"] for e in body["logs"]} == {"cid-a"}
    for bad in ("", "a%20b", "a;b", "x" * 129):
        assert_error(api.call("GET", f"/logs?correlationId={bad}", admin=True), 400)


def test_delete_logs_older_than(api: Api) -> None:
    # The memory store stamps entries with the real time: run on a clock near it.
    api.world.clock.now = utcnow()
    now = api.world.clock()
    logs = api.world.logs
    logs.entries = [
        {
            "severity": "INFO",
            "level": "INFO",
            "message": f"old {n}",
            "created_at": now - timedelta(days=40 + n),
        }
        for n in range(3)
    ] + [
        {
            "severity": "INFO",
            "level": "INFO",
            "message": f"recent {n}",
            "created_at": now - timedelta(days=29),
        }
        for n in range(2)
    ]
    body = api.json("DELETE", "/logs?olderThanDays=30", admin=True)
    assert set(body) == {"success", "deleted_count", "message", "note"}
    assert (body["success"], body["deleted_count"]) == (True, 3)
    assert isinstance(body["message"], str) and isinstance(body["note"], str)
    kept = [e["message"] for e in logs.entries]
    assert kept[:2] == ["recent 0", "recent 1"]
    assert kept[2:] == ["DELETE /logs answered 200"]  # the request's own log line
    assert api.json("DELETE", "/logs", admin=True)["deleted_count"] == 0  # default: 30 days
    assert api.json("DELETE", "/logs?olderThanDays=28", admin=True)["deleted_count"] == 2
    for bad in ("abc", "-1", "1.5", ""):
        assert_error(api.call("DELETE", f"/logs?olderThanDays={bad}", admin=True), 400)


# ------------------------------------------------------------------------ /debug

DEBUG_DATA_FIELDS = {"movie", "truth", "roast", "result", "correlationId", "timestamp"}


def test_debug_needs_a_safe_correlation_id(api: Api) -> None:
    assert_error(api.call("GET", "/debug", admin=True), 400)
    assert_error(api.call("GET", "/debug?correlationId=", admin=True), 400)
    for bad in ("a%20b", "cron-1;drop", "cron-1%0a", "%C3%A9t%C3%A9", "x" * 129, "a/b", "<script>"):
        assert_error(api.call("GET", f"/debug?correlationId={bad}", admin=True), 400)
    # Ids Firestore refuses as document ids are refused here, not a 500 there.
    for reserved in (".", "..", "__x__", "__run__"):
        assert_error(api.call("GET", f"/debug?correlationId={reserved}", admin=True), 400)
    for unknown in ("cron-123", "req-unknown", "x" * 128, "...", "__x", "a.b:c_d"):
        assert_error(api.call("GET", f"/debug?correlationId={unknown}", admin=True), 404)


def test_debug_of_a_run(api: Api) -> None:
    api.world.roaster.failing = {1002}
    cid = api.run_night()
    body = api.json("GET", f"/debug?correlationId={cid}", admin=True)
    assert (body["correlationId"], body["count"]) == (cid, 4)
    assert len(body["entries"]) == 4
    movies = set()
    for entry in body["entries"]:
        assert set(entry) == {"key", "data"} and isinstance(entry["key"], str)
        assert set(entry["data"]) >= DEBUG_DATA_FIELDS
        assert entry["data"]["correlationId"] == cid
        assert entry["data"]["result"] == "generated"
        movies.add(entry["data"]["movie"]["id"])
    assert movies == {1000, 1001, 1003, 1004}  # the failed movie generated nothing
    # PlotBurn's additions for a run: the run, its movies and its log.
    assert body["run"]["correlation_id"] == cid and body["run"]["status"] == "partial"
    assert [(m["movie_id"], m["outcome"]) for m in body["movies"]] == [
        (1000, "generated"),
        (1001, "generated"),
        (1002, "failed"),
        (1003, "generated"),
        (1004, "generated"),
    ]
    messages = [entry["message"] for entry in body["logs"]]
    assert "run started" in messages and "run finished: partial" in messages
    assert all(entry["correlationId"] == cid for entry in body["logs"])


def test_debug_of_a_request_id_from_x_correlation_id(api: Api) -> None:
    response = api.call("GET", "/movie/1000", headers={"x-correlation-id": "req-42.a:b_c"})
    assert response.status_code == 200
    assert response.headers["x-correlation-id"] == "req-42.a:b_c"
    body = api.json("GET", "/debug?correlationId=req-42.a:b_c", admin=True)
    assert (body["correlationId"], body["count"]) == ("req-42.a:b_c", 1)
    (entry,) = body["entries"]
    data = entry["data"]
    assert set(data) >= DEBUG_DATA_FIELDS
    assert data["correlationId"] == "req-42.a:b_c"
    assert data["movie"] == details_of(api.world.catalog.movies[0]).meta
    assert data["roast"] == card_for("Movie 0").model_dump(mode="json")
    assert data["truth"]["source"] == "perplexity:sonar"
    assert data["truth"]["content"] == "Facts about Movie 0"
    assert re.fullmatch(ISO_MS, data["timestamp"])
    # A cached read generates nothing, so its request id names nothing.
    assert api.call("GET", "/movie/1000", headers={"x-correlation-id": "req-43"}).status_code == 200
    assert_error(api.call("GET", "/debug?correlationId=req-43", admin=True), 404)


def test_movie_debug(api: Api) -> None:
    assert_error(api.call("GET", "/movie/1000/debug", admin=True), 404)
    api.call("GET", "/movie/1000", headers={"x-correlation-id": "req-1"})
    body = api.json("GET", "/movie/1000/debug", admin=True)
    assert set(body) == {"movieId", "count", "entries"}
    assert (body["movieId"], body["count"]) == (1000, 1)
    assert body["entries"][0]["data"]["correlationId"] == "req-1"
    # Roasted again: newest first.
    api.call("DELETE", "/cache/clear/roast", admin=True)
    api.world.clock.advance(minutes=1)
    api.call("GET", "/movie/1000", headers={"x-correlation-id": "req-2"})
    body = api.json("GET", "/movie/1000/debug", admin=True)
    assert body["count"] == 2
    assert [e["data"]["correlationId"] for e in body["entries"]] == ["req-2", "req-1"]
    assert_error(api.call("GET", "/movie/1001/debug", admin=True), 404)
    assert_error(api.call("GET", "/movie/abc/debug", admin=True), 400)
    assert_error(api.call("GET", "/movie/1000/debug"), 401)


# ------------------------------------------------------------------ cache clear


@pytest.mark.parametrize(
    ("kind", "expected"), [("roast", 2), ("now-playing", 1), ("truth", 2), ("debug", 2), ("all", 7)]
)
def test_cache_clear(api: Api, kind: str, expected: int) -> None:
    assert api.call("GET", "/movie/1000").status_code == 200
    assert api.call("GET", "/movie/1001").status_code == 200
    response = api.call("DELETE", f"/cache/clear/{kind}", admin=True)
    assert response.status_code == 200
    body = response.get_json()
    assert {"success", "deleted_count", "deleted_keys", "message"} <= set(body)
    assert "errors" not in body
    assert (body["success"], body["deleted_count"]) == (True, expected)
    assert len(body["deleted_keys"]) == expected and all(
        isinstance(k, str) for k in body["deleted_keys"]
    )
    assert isinstance(body["message"], str) and body["message"]
    again = api.json("DELETE", f"/cache/clear/{kind}", admin=True)
    assert (again["success"], again["deleted_count"], again["deleted_keys"]) == (True, 0, [])


def test_cache_clear_all_empties_every_cache(api: Api) -> None:
    api.call("GET", "/movie/1000", headers={"x-correlation-id": "req-9"})
    api.json("DELETE", "/cache/clear/all", admin=True)
    assert api.json("GET", "/now-playing")["cached"] is False
    assert api.json("GET", "/feed?type=truth")["total"] == 0
    assert_error(api.call("GET", "/debug?correlationId=req-9", admin=True), 404)
    assert_error(api.call("GET", "/movie/1000/debug", admin=True), 404)
    assert api.json("GET", "/movie/1000")["cached"] is False
    assert (api.world.researcher.total, api.world.roaster.total) == (2, 2)


def test_cache_clear_unknown_kind_is_404(api: Api) -> None:
    for kind in ("everything", "ROAST", "debugs", "All"):
        assert_error(api.call("DELETE", f"/cache/clear/{kind}", admin=True), 404)


def test_cleared_roast_is_regenerated_from_the_kept_truth(api: Api) -> None:
    api.call("GET", "/movie/1000")
    api.call("DELETE", "/cache/clear/roast", admin=True)
    response = api.call("GET", "/movie/1000")
    assert response.status_code == 200 and response.get_json()["cached"] is False
    assert (api.world.researcher.total, api.world.roaster.total) == (1, 2)


def test_budget(api: Api) -> None:
    body = api.call("GET", "/budget", admin=True).get_json()
    assert body == {
        "day": "2026-11-28",
        "calls": 0,
        "call_ceiling": 2000,
        "remaining_calls": 2000,
        "estimated_cost_usd": 0.0,
        "cost_ceiling_usd": 10.0,
        "exhausted": False,
        "public_share": 0.2,
        "pools": {
            "public": {
                "calls": 0,
                "call_ceiling": 400,
                "remaining_calls": 400,
                "estimated_cost_usd": 0.0,
                "cost_ceiling_usd": 2.0,
                "exhausted": False,
            },
            "nightly": {
                "calls": 0,
                "call_ceiling": 1600,
                "remaining_calls": 1600,
                "estimated_cost_usd": 0.0,
                "cost_ceiling_usd": 8.0,
                "exhausted": False,
            },
        },
    }


# ------------------------------------------------------------------------- auth


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_need_the_key(api: Api, method: str, path: str) -> None:
    missing = api.call(method, path)
    assert_error(missing, 401, "Missing x-api-key header", "Unauthorized")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    invalid = [
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
        {"Authorization": "Bearer "},
        {"x-api-key": "wrong-token"},
        {"x-api-key": f"{ADMIN_TOKEN}x"},
        {"X-API-Key": ADMIN_TOKEN[:-1]},
        {"x-api-key": ""},
        {"x-api-key": f"Bearer {ADMIN_TOKEN}"},
        # The Worker's header wins over a bearer token: a wrong key is wrong.
        {"x-api-key": "wrong-token", **BEARER},
    ]
    # Each from a client of its own: wrong keys are throttled per client.
    for n, headers in enumerate(invalid):
        headers = {**headers, "X-Forwarded-For": f"198.51.100.{n + 1}"}
        assert_error(
            api.call(method, path, headers=headers), 401, "Invalid API key", "Unauthorized"
        )
    missing_key = [
        {"Authorization": ADMIN_TOKEN},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": f"Token {ADMIN_TOKEN}"},
        {"X-Admin-Token": ADMIN_TOKEN},
        {"Cookie": f"token={ADMIN_TOKEN}"},
        {"Proxy-Authorization": f"Bearer {ADMIN_TOKEN}"},
    ]
    for headers in missing_key:
        assert_error(
            api.call(method, path, headers=headers), 401, "Missing x-api-key header", "Unauthorized"
        )
    sep = "&" if "?" in path else "?"
    for query in ("token", "access_token", "admin_token", "Authorization", "x-api-key", "api_key"):
        assert_error(api.call(method, f"{path}{sep}{query}={ADMIN_TOKEN}"), 401)
    assert api.world.publisher.nightly == []


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize("header", ["x-api-key", "X-API-KEY", "X-Api-Key"])
def test_x_api_key_works_like_bearer(api: Api, method: str, path: str, header: str) -> None:
    response = api.call(method, path, headers={header: ADMIN_TOKEN})
    assert response.status_code not in (401, 403, 503), response.get_data(as_text=True)
    assert response.status_code < 500


def test_x_api_key_on_the_workers_admin_flow(api: Api) -> None:
    trigger = api.call("POST", "/cron/trigger", headers=API_KEY)
    assert trigger.status_code == 202
    cid = trigger.get_json()["correlation_id"]
    api.fanout()
    api.world.deliver_all()
    assert api.json("GET", f"/debug?correlationId={cid}", headers=API_KEY)["count"] == 5
    assert api.json("GET", "/logs?limit=50", headers=API_KEY)["total"] > 0
    assert api.json("DELETE", "/cache/clear/debug", headers=API_KEY)["deleted_count"] == 5


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(api: Api, scheme: str) -> None:
    response = api.call("GET", "/logs", headers={"Authorization": f"{scheme} {ADMIN_TOKEN}"})
    assert response.status_code == 200
    assert "logs" in response.get_json()


@pytest.mark.parametrize("token", [None, ""])
@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_answer_503_when_no_token_is_configured(
    api: Api, method: str, path: str, token: str | None
) -> None:
    api.reconfigure(admin_token=SecretStr(token) if token is not None else None)
    for headers in (
        {},
        {"Authorization": "Bearer "},
        BEARER,
        API_KEY,
        {"Authorization": "Bearer anything"},
    ):
        assert_error(
            api.call(method, path, headers=headers),
            503,
            "admin routes are disabled: PLOTBURN_ADMIN_TOKEN is not set",
        )
    assert api.world.publisher.nightly == []


@pytest.mark.parametrize(("method", "path"), PUBLIC_ROUTES)
def test_public_routes_need_no_token(api: Api, method: str, path: str) -> None:
    assert api.call(method, path).status_code == 200
    api.reconfigure(admin_token=None)
    assert api.call(method, path).status_code == 200


READ_ROUTES = [
    ("GET", "/now-playing"),
    ("GET", "/movie/1000"),
    ("GET", "/feed?type=roast"),
    ("GET", "/cron/status"),
    ("GET", "/dashboard"),
    ("GET", "/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), READ_ROUTES)
def test_require_key_closes_every_route_but_healthz(api: Api, method: str, path: str) -> None:
    api.reconfigure(require_key=True)
    assert_error(api.call(method, path), 401, "Missing x-api-key header", "Unauthorized")
    assert_error(
        api.call(method, path, headers={"x-api-key": "wrong"}),
        401,
        "Invalid API key",
        "Unauthorized",
    )
    assert_error(
        api.call(method, path, headers={"Authorization": "Bearer wrong"}), 401, "Invalid API key"
    )
    assert api.world.catalog.calls["now_playing"] == 0 and api.world.roaster.total == 0
    assert api.call("GET", "/healthz").status_code == 200
    if path not in ("/dashboard", "/openapi.json"):  # their content is tested elsewhere
        assert api.call(method, path, headers=API_KEY).status_code == 200
        assert api.call(method, path, headers=BEARER).status_code == 200


def test_require_key_is_off_by_default(api: Api) -> None:
    assert api.settings.require_key is False
    for method, path in READ_ROUTES[:4]:
        assert api.call(method, path).status_code == 200


def test_options_preflight(api: Api) -> None:
    for settings in ({}, {"require_key": True}):
        api.reconfigure(**settings)
        response = api.call(
            "OPTIONS",
            "/movie/1000",
            headers={
                "Origin": "https://plotburn.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-api-key, x-correlation-id",
            },
        )
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, DELETE"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        allowed = {
            h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert {"x-api-key", "x-correlation-id", "authorization", "content-type"} <= allowed
        exposed = {
            h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
        }
        assert "x-correlation-id" in exposed


# ------------------------------------------------------------- correlation ids


@pytest.mark.parametrize(
    ("method", "path", "admin", "status"),
    [
        ("GET", "/healthz", False, 200),
        ("GET", "/now-playing", False, 200),
        ("GET", "/movie/1000", False, 200),
        ("GET", "/movie/abc", False, 400),
        ("GET", "/logs", False, 401),
        ("GET", "/logs", True, 200),
        ("POST", "/cron/trigger", True, 202),
        ("GET", "/nope", False, 404),
        ("POST", "/now-playing", False, 405),
        ("OPTIONS", "/feed", False, 204),
    ],
)
def test_every_response_carries_a_correlation_id(
    api: Api, method: str, path: str, admin: bool, status: int
) -> None:
    echoed = api.call(method, path, admin=admin, headers={"x-correlation-id": "client-run-7"})
    assert echoed.status_code == status
    assert echoed.headers["x-correlation-id"] == "client-run-7"
    made = [api.call(method, path, admin=admin) for _ in range(2)]
    ids = [r.headers["x-correlation-id"] for r in made]
    assert all(re.fullmatch(GENERATED_ID, i) for i in ids), ids
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    "offered", ["bad id", "a;b", "<x>", "x" * 129, "", "caf\u00e9", ".", "..", "__x__"]
)
def test_an_unsafe_correlation_id_is_replaced_not_echoed(api: Api, offered: str) -> None:
    response = api.call(
        "GET", "/healthz", headers={"x-correlation-id": offered.encode("utf-8").decode("latin-1")}
    )
    assert re.fullmatch(GENERATED_ID, response.headers["x-correlation-id"])


def test_an_unexpected_bug_still_carries_a_correlation_id(api: Api) -> None:
    class BrokenRuns(MemoryRuns):
        def recent_runs(self, limit: int) -> list[Any]:
            raise RuntimeError("boom")

    api.world.use(runs=BrokenRuns(api.world.caches))
    response = api.call("GET", "/cron/status", headers={"x-correlation-id": "trace-500"})
    assert_error(response, 500, "internal error")
    assert response.headers["x-correlation-id"] == "trace-500"


# ------------------------------------------------------------ protocol errors


@pytest.mark.parametrize(
    "path", ["/", "/nope", "/movie", "/movie/", "/movie/1/2", "/cache/clear", "/cron", "/logs/x"]
)
def test_unknown_routes_are_404_json(api: Api, path: str) -> None:
    assert_error(api.call("GET", path), 404, error="Not found")
    assert_error(api.call("GET", path, admin=True), 404, error="Not found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/now-playing", "GET, HEAD"),
        ("DELETE", "/movie/1000", "GET, HEAD"),
        ("PUT", "/healthz", "GET, HEAD"),
        ("GET", "/cron/trigger", "POST"),
        ("DELETE", "/cron/trigger", "POST"),
        ("GET", "/cron/retry", "POST"),
        ("POST", "/cron/status", "GET, HEAD"),
        ("POST", "/logs", "DELETE, GET, HEAD"),
        ("POST", "/feed", "GET, HEAD"),
        ("POST", "/movie/1000/debug", "GET, HEAD"),
        ("GET", "/cache/clear/roast", "DELETE"),
        ("PATCH", "/cache/clear/truth", "DELETE"),
    ],
)
def test_wrong_method_is_405_with_allow(api: Api, method: str, path: str, allow: str) -> None:
    response = api.call(method, path, admin=True)
    assert_error(response, 405, f"method {method} not allowed", "Method Not Allowed")
    assert response.headers["Allow"] == allow
    assert api.world.publisher.nightly == []


@pytest.mark.parametrize(("method", "path"), PUBLIC_ROUTES + ADMIN_ROUTES + [("GET", "/nope")])
def test_body_over_16_kib_is_413(api: Api, method: str, path: str) -> None:
    response = api.call(method, path, admin=True, data=b"x" * (16 * 1024 + 1))
    assert_error(response, 413, "request body over 16384 bytes")
    assert api.world.publisher.nightly == []
    assert api.world.roaster.total == 0


def test_body_of_exactly_16_kib_is_accepted(api: Api) -> None:
    response = api.call("POST", "/cron/trigger", admin=True, data=b"x" * (16 * 1024))
    assert response.status_code == 202


JUNK_BODIES: list[dict[str, Any]] = [
    {},
    {"data": b"\x00\xff\xfe garbage", "content_type": "application/octet-stream"},
    {"data": b"{not json", "content_type": "application/json"},
    {"data": b"[1, 2, 3]", "content_type": "application/json"},
    {"data": "\u202e\u0000\ud7ff" * 100, "content_type": "text/plain; charset=utf-8"},
    {"data": {"field": "x" * 1000}, "content_type": "multipart/form-data"},
    {"data": b"a=1&a=2&%zz=%%", "content_type": "application/x-www-form-urlencoded"},
    {"data": b"x", "content_type": "application/json; charset=nonsense-9"},
]
JUNK_QUERIES = [
    "",
    "?limit=%ff",
    "?limit=1&limit=2",
    "?correlationId=%00",
    "?correlationId=cron-1&correlationId=cron-2",
    "?%zz=%%",
    "?a[]=1&a[b]=2",
    "?" + "q=1&" * 500,
    "?correlationId=" + "9" * 5000,
    "?limit=\u0661\u0662",
    "?type=%00&page=%ff&id=\u0661",
    "?level=%00&olderThanDays=\u0661",
]


def test_junk_bodies_and_queries_never_give_500(api: Api) -> None:
    api.run_night()
    for method, path in PUBLIC_ROUTES + ADMIN_ROUTES + [("GET", "/movie/abc"), ("GET", "/nope")]:
        base = path.split("?")[0]
        # Every junk query and every junk body on every route, as admin and not; the
        # pairs are staggered rather than crossed, to keep the test quick.
        cases = [(q, JUNK_BODIES[n % len(JUNK_BODIES)]) for n, q in enumerate(JUNK_QUERIES)]
        cases += [(JUNK_QUERIES[n % len(JUNK_QUERIES)], b) for n, b in enumerate(JUNK_BODIES)]
        for query, body in cases:
            for admin in (True, False):
                response = api.call(method, base + query, admin=admin, **body)
                assert response.status_code < 500, (method, base + query, body, response.get_data())
                assert response.mimetype == "application/json"
                if response.status_code >= 400:
                    assert_error(response, response.status_code)


def test_an_unexpected_bug_is_a_clean_500_and_logged_redacted(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    class BrokenRuns(MemoryRuns):
        def recent_runs(self, limit: int) -> list[Any]:
            raise RuntimeError(f"boom with {ADMIN_TOKEN} and {UPSTREAM_KEYS[2]}")

    api.world.use(runs=BrokenRuns(api.world.caches))
    response = api.call("GET", "/cron/status")
    assert_error(response, 500, "internal error", "Internal Server Error")
    out = capsys.readouterr().out
    assert "api: unhandled RuntimeError: boom with [REDACTED] and [REDACTED]" in out
    assert ADMIN_TOKEN not in out and UPSTREAM_KEYS[2] not in out


def test_anonymous_requests_write_no_log_entries(api: Api) -> None:
    """A caller without the key cannot make PlotBurn write to its logs: refused
    requests are logged to stdout only, never kept for /logs. (Wrong keys do count in
    the client's throttle bucket, a few writes a minute at most, then 429.)"""
    before = len(api.world.logs.entries)
    for method, path in [
        *ADMIN_ROUTES,
        ("POST", "/nope"),
        ("DELETE", "/movie/1"),
        ("POST", "/x" * 50),
    ]:
        for headers in ({}, {"x-api-key": "guess"}, {"Authorization": "Bearer guess"}):
            assert api.call(method, path, headers=headers).status_code in (401, 404, 405, 429)
    assert api.call("POST", "/cron/trigger", data=b"x" * (16 * 1024 + 1)).status_code == 413
    assert len(api.world.logs.entries) == before
    # An admin's state-changing request is kept (the admin is another client: the
    # guesser above is throttled, whatever key it presents now).
    assert api.call("DELETE", "/cache/clear/roast", headers=API_KEY).status_code == 429
    admin = {**API_KEY, "X-Forwarded-For": "192.0.2.10"}
    assert api.call("DELETE", "/cache/clear/roast", headers=admin).status_code == 200
    kept = [e["message"] for e in api.world.logs.entries[before:]]
    assert kept == ["cache cleared", "DELETE /cache/clear/roast answered 200"]


def test_client_key_is_the_appended_address_under_a_keyed_hash() -> None:
    import hashlib

    from werkzeug.test import EnvironBuilder

    from functions.client_identity import client_key

    def key(xff: str | None, secret: str = "s1", remote: str = "10.0.0.1") -> str:
        headers = {"X-Forwarded-For": xff} if xff is not None else {}
        environ = EnvironBuilder(
            headers=headers, environ_base={"REMOTE_ADDR": remote}
        ).get_environ()
        return client_key(flask.Request(environ), 0, 64, SecretStr(secret))

    # Only the entry Google's front end appends (the last) identifies the client.
    assert key("1.1.1.1, 203.0.113.7") == key("9.9.9.9, 8.8.8.8, 203.0.113.7") == key("203.0.113.7")
    assert key("1.1.1.1, 203.0.113.7") != key("1.1.1.1, 203.0.113.8")
    assert key(None) == key("10.0.0.1")  # no header: the peer address
    # Keyed: not the plain hash of the address, and another secret gives another key.
    assert key("203.0.113.7") != hashlib.sha256(b"203.0.113.7").hexdigest()[:24]
    assert key("203.0.113.7", "s1") != key("203.0.113.7", "s2")
