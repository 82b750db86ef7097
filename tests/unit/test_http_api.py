"""Every route of the `api` function through functions-framework's real request
pipeline (main.py, no server), on the `world` fixture's in-memory pipeline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask
import functions_framework
import pytest
from pydantic import SecretStr

from functions import bootstrap, observability
from functions.bootstrap import App
from functions.config import Settings
from functions.errors import InfrastructureUnavailable
from functions.models import NightlyMessage, Trigger, epoch_ms
from functions.observability import Redactor
from functions.store.memory import MemoryCaches, MemoryRuns
from tests.fakes import card_for
from tests.unit.conftest import World

# Unit defaults, whatever the shell exports (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("clean_settings_env")

MAIN = str(Path(__file__).resolve().parents[2] / "main.py")
ADMIN_TOKEN = "s3cret-admin-token"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
UPSTREAM_KEYS = ("tmdb-key-SECRET-0a1b2c", "pplx-key-SECRET-3d4e5f", "xai-key-SECRET-6a7b8c")

# (method, path) of every route the brief's contract names, admin ones marked.
PUBLIC_ROUTES = [
    ("GET", "/healthz"),
    ("GET", "/now-playing"),
    ("GET", "/movie/1000"),
    ("GET", "/cron/status"),
]
ADMIN_ROUTES = [
    ("POST", "/cron/trigger"),
    ("POST", "/cron/retry?correlationId=cron-1"),
    ("GET", "/logs"),
    ("GET", "/debug?correlationId=cron-1"),
    ("DELETE", "/cache/clear/roast"),
    ("DELETE", "/cache/clear/now-playing"),
    ("DELETE", "/cache/clear/truth"),
    ("GET", "/budget"),
]


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
        return response

    def reconfigure(self, **update: Any) -> None:
        self.settings = self.settings.model_copy(update=update)
        self.world.pipeline.settings = self.settings
        bootstrap.install(App(self.settings, self.world.pipeline))

    def run_night(self) -> str:
        """A manual run through the API, fanned out and delivered; returns its id."""
        self.world.clock.advance(minutes=1)
        response = self.call("POST", "/cron/trigger", admin=True)
        assert response.status_code == 202
        (message,) = self.world.publisher.nightly
        self.world.publisher.nightly = []
        self.world.pipeline.start_run(message, self.world.clock())
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
    world.pipeline.settings = settings
    monkeypatch.setattr(
        observability, "_redactor", Redactor(bootstrap.secrets_of(settings))
    )
    bootstrap.install(App(settings, world.pipeline))
    try:
        yield Api(world=world, client=api_app.test_client(), settings=settings)
    finally:
        bootstrap.reset()


def assert_error(response: Any, status: int, message: str | None = None) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and list(body) == ["error"]
    assert isinstance(body["error"], str) and body["error"]
    if message is not None:
        assert body["error"] == message
    return str(body["error"])


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


def test_now_playing_lists_movies_with_roast_ready(api: Api) -> None:
    response = api.call("GET", "/now-playing")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["movies"]
    movies = body["movies"]
    assert [m["id"] for m in movies] == [1000, 1001, 1002, 1003, 1004]
    for movie in movies:
        assert {"id", "title", "overview", "release_date", "poster_path", "roast_ready"} <= set(movie)
    assert {k: movies[0][k] for k in ("id", "title", "overview", "release_date", "poster_path", "roast_ready")} == {
        "id": 1000,
        "title": "Movie 0",
        "overview": "Overview 0",
        "release_date": "2026-11-20",
        "poster_path": None,
        "roast_ready": False,
    }
    assert api.call("GET", "/movie/1001").status_code == 200
    ready = {m["id"]: m["roast_ready"] for m in api.call("GET", "/now-playing").get_json()["movies"]}
    assert ready == {1000: False, 1001: True, 1002: False, 1003: False, 1004: False}
    assert api.world.catalog.calls["now_playing"] == 1  # the list is cached


def test_movie_generates_on_miss_then_serves_from_cache(api: Api) -> None:
    first = api.call("GET", "/movie/1000")
    assert first.status_code == 200
    body = first.get_json()
    assert (api.world.researcher.total, api.world.roaster.total) == (1, 1)
    assert body["id"] == 1000 and body["title"] == "Movie 0"
    assert body["overview"] == "Overview 0" and body["release_date"] == "2026-11-20"
    assert body["roast_ready"] is True
    assert set(body["truth"]) == {"brief", "citations", "model", "created_at"}
    assert body["truth"]["brief"] == "Facts about Movie 0"
    assert body["truth"]["citations"] == ["https://example.org"]
    assert body["truth"]["model"] == "fake-sonar"
    assert set(body["roast"]) == {"text", "card", "model", "created_at"}
    assert body["roast"]["card"] == card_for("Movie 0").model_dump(mode="json")
    assert body["roast"]["text"].startswith("Movie 0 is a nap with a soundtrack\n\n")
    assert body["roast"]["model"] == "fake-grok"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["roast"]["created_at"])

    second = api.call("GET", "/movie/1000")
    assert second.status_code == 200
    assert second.get_json() == body
    assert (api.world.researcher.total, api.world.roaster.total) == (1, 1)


def test_unknown_movie_is_404(api: Api) -> None:
    # A public caller: not now playing, so not on demand (TMDB is not even asked).
    assert_error(api.call("GET", "/movie/424242"), 404)
    assert api.world.catalog.calls["details"] == 0
    # The admin may generate any id; TMDB does not know this one.
    assert_error(api.call("GET", "/movie/424242", admin=True), 404, "movie 424242 not found")
    assert api.world.catalog.calls["details"] == 1
    assert api.world.roaster.total == 0


def test_admin_may_generate_a_movie_not_now_playing(api: Api) -> None:
    response = api.call("GET", "/movie/900000", admin=True)
    assert response.status_code == 200
    assert response.get_json()["id"] == 900000
    assert api.world.roaster.total == 1


@pytest.mark.parametrize(
    "raw",
    ["abc", "0", "-1", "1.5", "99999999999", "2147483648", "%00", "01", "1e3", "%201", "1%20", "%E2%91%A0"],
)
def test_malformed_movie_ids_are_400(api: Api, raw: str) -> None:
    assert_error(api.call("GET", f"/movie/{raw}"), 400, "movie id must be a positive integer")
    assert api.world.catalog.calls["now_playing"] == 0
    assert api.world.roaster.total == 0


def test_largest_movie_id_is_accepted(api: Api) -> None:
    assert_error(api.call("GET", "/movie/2147483647", admin=True), 404, "movie 2147483647 not found")


def test_upstream_failure_is_502_without_detail(api: Api) -> None:
    api.world.researcher.failing = {1000}
    message = assert_error(api.call("GET", "/movie/1000"), 502)
    assert message == "upstream research unavailable; retry later"


def test_storage_outage_is_503_with_retry_after(api: Api) -> None:
    class DownCaches(MemoryCaches):
        def get_roast(self, movie_id: int, now: Any) -> Any:
            raise InfrastructureUnavailable("firestore: DeadlineExceeded")

    api.world.pipeline.caches = DownCaches()
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
    api.world.pipeline.leases.acquire(1000, "another-instance", api.world.clock())
    response = api.call("GET", "/movie/1000")
    assert response.status_code == 202
    assert response.get_json() == {
        "message": "this movie's roast is being generated; retry shortly",
        "movie_id": 1000,
        "status": "generating",
    }
    assert response.headers["Retry-After"] == "5"


# ------------------------------------------------------------------- cron routes


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
    (message,) = api.world.publisher.nightly
    api.world.pipeline.start_run(message, api.world.clock())
    pending = list(api.world.publisher.roasts)
    api.world.publisher.roasts = pending[:2]
    api.world.deliver_all()
    last = api.call("GET", "/cron/status").get_json()["last_run"]
    assert (last["status"], last["roasts_processed"], last["roasts_generated"]) == ("in_progress", 2, 2)
    assert last["duration_ms"] is None


def test_cron_retry(api: Api) -> None:
    assert_error(api.call("POST", "/cron/retry", admin=True), 400, "correlationId is required")
    assert_error(api.call("POST", "/cron/retry?correlationId=nope", admin=True), 400, "correlationId is malformed")
    assert_error(api.call("POST", "/cron/retry?correlationId=cron-1", admin=True), 404, "run cron-1 not found")

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
    assert sorted(m.movie.id for m in api.world.publisher.roasts) == [1001, 1004]
    api.world.deliver_all()
    again = api.call("POST", f"/cron/retry?correlationId={cid}", admin=True)
    assert again.status_code == 200
    assert again.get_json()["retried_movie_ids"] == []
    assert again.get_json()["status"] == "success"


# -------------------------------------------------------------- operator routes


def test_logs_default_and_limit(api: Api) -> None:
    for n in range(60):
        api.world.pipeline.journal.info(f"entry {n}")
    default = api.call("GET", "/logs", admin=True)
    assert default.status_code == 200
    logs = default.get_json()["logs"]
    assert len(logs) == 50
    assert logs[0]["message"] == "entry 59" and logs[-1]["message"] == "entry 10"
    assert [e["message"] for e in api.call("GET", "/logs?limit=3", admin=True).get_json()["logs"]] == [
        "entry 59",
        "entry 58",
        "entry 57",
    ]
    assert len(api.call("GET", "/logs?limit=1", admin=True).get_json()["logs"]) == 1
    assert len(api.call("GET", "/logs?limit=500", admin=True).get_json()["logs"]) == 60


@pytest.mark.parametrize("limit", ["0", "501", "abc", "-1", "1.5", "", "9999999", "%00", "1%200"])
def test_logs_bad_limit_is_400(api: Api, limit: str) -> None:
    assert_error(
        api.call("GET", f"/logs?limit={limit}", admin=True), 400, "limit must be an integer from 1 to 500"
    )


def test_debug(api: Api) -> None:
    assert_error(api.call("GET", "/debug", admin=True), 400, "correlationId is required")
    assert_error(api.call("GET", "/debug?correlationId=", admin=True), 400, "correlationId is required")
    for bad in ("bogus", "cron-abc", "cron-1;drop", "cron-", "cron-1%0a", "CRON-1", "cron-12345678901234567"):
        assert_error(api.call("GET", f"/debug?correlationId={bad}", admin=True), 400, "correlationId is malformed")
    assert_error(api.call("GET", "/debug?correlationId=cron-123", admin=True), 404, "run cron-123 not found")

    api.world.roaster.failing = {1002}
    cid = api.run_night()
    response = api.call("GET", f"/debug?correlationId={cid}", admin=True)
    assert response.status_code == 200
    body = response.get_json()
    assert {"run", "movies", "logs"} <= set(body)
    assert body["run"]["correlation_id"] == cid
    assert body["run"]["status"] == "partial"
    assert [(m["movie_id"], m["outcome"]) for m in body["movies"]] == [
        (1000, "generated"),
        (1001, "generated"),
        (1002, "failed"),
        (1003, "generated"),
        (1004, "generated"),
    ]
    messages = [entry["message"] for entry in body["logs"]]
    assert "run started" in messages and "run finished: partial" in messages
    assert all(entry["correlation_id"] == cid for entry in body["logs"])


@pytest.mark.parametrize("kind", ["roast", "now-playing", "truth"])
def test_cache_clear(api: Api, kind: str) -> None:
    assert api.call("GET", "/movie/1000").status_code == 200
    assert api.call("GET", "/movie/1001").status_code == 200
    expected = {"roast": 2, "now-playing": 1, "truth": 2}[kind]
    response = api.call("DELETE", f"/cache/clear/{kind}", admin=True)
    assert response.status_code == 200
    assert response.get_json() == {"cache": kind, "removed": expected}
    assert api.call("DELETE", f"/cache/clear/{kind}", admin=True).get_json() == {"cache": kind, "removed": 0}


def test_cache_clear_unknown_kind_is_404(api: Api) -> None:
    assert_error(api.call("DELETE", "/cache/clear/everything", admin=True), 404)
    assert_error(api.call("DELETE", "/cache/clear/ROAST", admin=True), 404)


def test_cleared_roast_is_regenerated_from_the_kept_truth(api: Api) -> None:
    api.call("GET", "/movie/1000")
    api.call("DELETE", "/cache/clear/roast", admin=True)
    assert api.call("GET", "/movie/1000").status_code == 200
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
    }


# ------------------------------------------------------------------------- auth


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_need_the_bearer_token(api: Api, method: str, path: str) -> None:
    missing = api.call(method, path)
    assert_error(missing, 401, "missing or invalid admin token")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = [
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
        {"Authorization": "Bearer "},
        {"Authorization": ADMIN_TOKEN},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": f"Token {ADMIN_TOKEN}"},
        {"X-Admin-Token": ADMIN_TOKEN},
        {"X-Api-Key": ADMIN_TOKEN},
        {"Cookie": f"token={ADMIN_TOKEN}"},
        {"Proxy-Authorization": f"Bearer {ADMIN_TOKEN}"},
    ]
    for headers in wrong:
        assert_error(api.call(method, path, headers=headers), 401)
    sep = "&" if "?" in path else "?"
    for query in ("token", "access_token", "admin_token", "Authorization"):
        assert_error(api.call(method, f"{path}{sep}{query}={ADMIN_TOKEN}"), 401)
    assert api.world.publisher.nightly == []


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
    for headers in ({}, {"Authorization": "Bearer "}, BEARER, {"Authorization": "Bearer anything"}):
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


# ------------------------------------------------------------ protocol errors


@pytest.mark.parametrize("path", ["/", "/nope", "/movie", "/movie/", "/movie/1/2", "/cache/clear", "/cron", "/logs/x"])
def test_unknown_routes_are_404_json(api: Api, path: str) -> None:
    assert_error(api.call("GET", path), 404, "no such route")
    assert_error(api.call("GET", path, admin=True), 404, "no such route")


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
        ("POST", "/logs", "GET, HEAD"),
        ("GET", "/cache/clear/roast", "DELETE"),
        ("PATCH", "/cache/clear/truth", "DELETE"),
    ],
)
def test_wrong_method_is_405_with_allow(api: Api, method: str, path: str, allow: str) -> None:
    response = api.call(method, path, admin=True)
    assert_error(response, 405, f"method {method} not allowed")
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

    api.world.pipeline.runs = BrokenRuns(api.world.caches)
    response = api.call("GET", "/cron/status")
    assert_error(response, 500, "internal error")
    out = capsys.readouterr().out
    assert "api: unhandled RuntimeError: boom with [REDACTED] and [REDACTED]" in out
    assert ADMIN_TOKEN not in out and UPSTREAM_KEYS[2] not in out


def test_options_preflight(api: Api) -> None:
    response = api.call("OPTIONS", "/movie/1000")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, DELETE"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_client_key_is_the_appended_address_under_a_keyed_hash() -> None:
    import hashlib

    from werkzeug.test import EnvironBuilder

    from functions.http_api import client_key

    def key(xff: str | None, secret: bytes = b"s1", remote: str = "10.0.0.1") -> str:
        headers = {"X-Forwarded-For": xff} if xff is not None else {}
        environ = EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": remote}).get_environ()
        return client_key(flask.Request(environ), 0, secret)

    # Only the entry Google's front end appends (the last) identifies the client.
    assert key("1.1.1.1, 203.0.113.7") == key("9.9.9.9, 8.8.8.8, 203.0.113.7") == key("203.0.113.7")
    assert key("1.1.1.1, 203.0.113.7") != key("1.1.1.1, 203.0.113.8")
    assert key(None) == key("10.0.0.1")  # no header: the peer address
    # Keyed: not the plain hash of the address, and another secret gives another key.
    assert key("203.0.113.7") != hashlib.sha256(b"203.0.113.7").hexdigest()[:24]
    assert key("203.0.113.7", b"s1") != key("203.0.113.7", b"s2")
