"""The hardening issue's attacks, each through the real `api` (main.py under
functions-framework, on the in-memory use cases): identities that cost an attacker
something, the admin token's rules and throttle, odd paths, and what the public
status shows."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import flask
import pytest
from pydantic import SecretStr
from werkzeug.test import EnvironBuilder

from functions import client_identity
from functions.config import Settings, load_settings
from functions.errors import ConfigError, UpstreamRejected
from functions.models import Movie, MovieDetails, Truth
from functions.usecases import admin_access
from functions.usecases.admin_access import ADMIN_FAILURES_PER_MINUTE
from tests.unit.api_harness import Api, api, api_flask_app  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("clean_settings_env")

LONG_TOKEN = "A" * 16 + "b" * 16  # 32 characters
ADMIN_ROUTES = [
    ("POST", "/cron/trigger"),
    ("GET", "/logs"),
    ("GET", "/budget"),
    ("DELETE", "/cache/clear/roast"),
    ("GET", "/debug?correlationId=cron-1"),
]
PUBLIC_ROUTES = [("GET", "/healthz"), ("GET", "/now-playing"), ("GET", "/cron/status")]


def xff(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def limit_paid_requests(api: Api, per_minute: int) -> None:
    """The use cases' settings (the generation reads the limit from its own)."""
    api.world.settings = api.world.settings.model_copy(
        update={"paid_requests_per_minute": per_minute}
    )


def network_of(forwarded: str | None, remote: str = "10.9.8.7", bits: int = 64) -> str:
    headers = xff(forwarded) if forwarded is not None else {}
    environ = EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": remote}).get_environ()
    return client_identity.client_network(flask.Request(environ), 0, bits)


# ------------------------------------------------------------ A. client identities


def test_rotated_ipv6_addresses_in_one_64_share_one_bucket(api: Api) -> None:
    """An IPv6 client gets a /64 or more: rotating through it is one client."""
    limit_paid_requests(api, 2)
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:2:abcd:ef01:2345:6789"]
    answers = [
        api.client.get(f"/movie/{1000 + n}", headers=xff(a)).status_code
        for n, a in enumerate(same_64)
    ]
    assert answers == [200, 200, 429]
    # Another /64 is another client.
    assert api.client.get("/movie/1002", headers=xff("2001:db8:1:3::1")).status_code == 200
    assert api.world.roaster.total == 3


def test_ipv6_prefix_bits_is_a_setting(api: Api) -> None:
    limit_paid_requests(api, 1)
    api.configure(ipv6_prefix_bits=128)
    assert api.client.get("/movie/1000", headers=xff("2001:db8::1")).status_code == 200
    assert api.client.get("/movie/1001", headers=xff("2001:db8::2")).status_code == 200
    assert network_of("2001:db8:aa:bb:cc::1", bits=48) == "2001:db8:aa::/48"
    assert network_of("2001:db8:aa:bb:cc::1") == "2001:db8:aa:bb::/64"


@pytest.mark.parametrize("value", ["0", "129", "-1", "sixty-four"])
def test_ipv6_prefix_bits_is_validated(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOTBURN_IPV6_PREFIX_BITS", value)
    with pytest.raises(ConfigError, match="PLOTBURN_IPV6_PREFIX_BITS"):
        load_settings()


def test_ipv4_mapped_ipv6_is_its_ipv4_address() -> None:
    assert network_of("::ffff:203.0.113.5") == network_of("203.0.113.5") == "203.0.113.5"
    assert network_of("fe80::1%eth0") == network_of("fe80::1") == "fe80::/64"


@pytest.mark.parametrize(
    "junk",
    ["unknown", "203.0.113.7:443", "[2001:db8::1]", "not-an-address", "1.2.3.4.5", "x" * 80],
)
def test_an_invalid_forwarded_entry_is_the_peer_not_a_new_identity(junk: str) -> None:
    assert network_of(junk) == network_of(None) == "10.9.8.7"
    # With no valid peer either: one shared client, never the junk itself.
    assert network_of(junk, remote="") == client_identity.UNKNOWN_CLIENT


def test_junk_forwarded_entries_share_one_bucket(api: Api) -> None:
    """Each junk string used to be a fresh client with a fresh bucket."""
    limit_paid_requests(api, 2)
    answers = [
        api.client.get(f"/movie/{1000 + n}", headers=xff(f"junk-{n}")).status_code for n in range(3)
    ]
    assert answers == [200, 200, 429]


def test_client_keys_use_their_own_secret_never_the_admin_token(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_identity, "_process_key", None)
    environ = EnvironBuilder(environ_base={"REMOTE_ADDR": "203.0.113.9"}).get_environ()
    request = flask.Request(environ)

    def guessable(secret: str) -> str:
        return hmac.new(secret.encode(), b"203.0.113.9", hashlib.sha256).hexdigest()[:24]

    unset = client_identity.client_key(request, 0, 64, None)
    again = client_identity.client_key(request, 0, 64, None)
    assert unset == again  # one random key per process
    assert unset not in (guessable(api.token), guessable("plotburn-plotburn-local"))
    warnings = [line for line in capsys.readouterr().out.splitlines() if "CLIENT_KEY" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "per instance" in warnings[0]
    configured = client_identity.client_key(request, 0, 64, SecretStr("k" * 40))
    assert configured == guessable("k" * 40)
    assert "CLIENT_KEY" not in capsys.readouterr().out


def test_client_key_secret_setting_blank_is_unset_and_is_stripped() -> None:
    assert Settings(_env_file=None, PLOTBURN_CLIENT_KEY_SECRET=" \n").client_key_secret is None
    stripped = Settings(_env_file=None, PLOTBURN_CLIENT_KEY_SECRET=" s3cret\n").client_key_secret
    assert stripped is not None and stripped.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(Settings(_env_file=None, PLOTBURN_CLIENT_KEY_SECRET="s3cret"))
    assert not hasattr(Settings, "client_key_secret") or not isinstance(
        getattr(Settings, "client_key_secret", None), property
    )


# ------------------------------------------------------------------- B. admin token


def test_a_31_character_token_turns_the_admin_routes_off_not_the_public_ones(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    short = "s" * 31
    monkeypatch.setenv("PLOTBURN_ADMIN_TOKEN", short + "\n")
    load_settings()  # a short token never stops the function from starting
    api.set_admin_token(short)
    for method, path in ADMIN_ROUTES * 2:
        for headers in ({}, {"Authorization": f"Bearer {short}"}, {"x-api-key": short}):
            response = api.client.open(path, method=method, headers=headers)
            assert response.status_code == 503
            assert response.get_json() == {
                "error": "Service Unavailable",
                "message": "admin routes are disabled: "
                "PLOTBURN_ADMIN_TOKEN is shorter than 32 characters",
            }
    for method, path in PUBLIC_ROUTES:
        assert api.client.open(path, method=method).status_code == 200
    # The short token is no key on public routes either: the public status.
    status = api.client.get("/cron/status", headers={"x-api-key": short}).get_json()
    assert "budget" not in status
    out = capsys.readouterr().out
    assert out.count("shorter than 32 characters") == 1  # said once, as an ERROR
    assert short not in out


def test_a_32_character_token_with_a_trailing_newline_works(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLOTBURN_ADMIN_TOKEN", LONG_TOKEN + "\n")
    configured = load_settings().admin_token
    assert configured is not None and configured.get_secret_value() == LONG_TOKEN
    api.configure(admin_token=configured)
    for method, path in ADMIN_ROUTES:
        response = api.client.open(path, method=method, headers={"x-api-key": LONG_TOKEN})
        assert response.status_code in (200, 202, 404), response.get_data(as_text=True)
    # Whitespace around the presented key does not count either.
    assert api.client.get("/logs", headers={"x-api-key": f" {LONG_TOKEN} "}).status_code == 200
    # Padding a short token does not lengthen it.
    api.set_admin_token("  " + "s" * 31 + "\n")
    assert api.client.get("/logs", headers={"x-api-key": "s" * 31}).status_code == 503


def test_keys_are_compared_as_digests(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(admin_access.hmac, "compare_digest", spy)
    assert api.client.get("/logs", headers=api.api_key).status_code == 200
    assert api.client.get("/logs", headers={"x-api-key": "short"}).status_code == 401
    assert [(len(a), len(b)) for a, b in compared] == [(32, 32), (32, 32)]
    assert compared[0][0] == hashlib.sha256(api.token.encode()).digest()


def test_wrong_keys_are_throttled_per_client_then_even_the_right_key_waits(api: Api) -> None:
    guesser = xff("203.0.113.50")
    for n in range(ADMIN_FAILURES_PER_MINUTE):
        wrong = {**guesser, "x-api-key": f"guess-{n}"}
        assert api.client.get("/logs", headers=wrong).status_code == 401
    # Over the limit: every key this client presents is refused, the right one too,
    # so a guess cannot be told right from wrong until the bucket refills.
    for method, path in ADMIN_ROUTES:
        throttled = api.client.open(path, method=method, headers={**guesser, **api.admin})
        assert throttled.status_code == 429
        body = throttled.get_json()
        assert sorted(body) == ["error", "message"] and body["error"] == "Too Many Requests"
        retry_after = int(throttled.headers["Retry-After"])
        assert 1 <= retry_after <= 60
    assert api.world.publisher.nightly == []
    # On a public route a throttled client's key is simply not looked at.
    status = api.client.get("/cron/status", headers={**guesser, **api.admin})
    assert status.status_code == 200 and "budget" not in status.get_json()
    # Another client (another /64, another address) is not affected.
    assert api.client.get("/logs", headers={**xff("203.0.113.51"), **api.admin}).status_code == 200
    # Once a guess's worth has refilled, the right key works again.
    api.world.clock.advance(seconds=retry_after)
    assert api.client.get("/logs", headers={**guesser, **api.admin}).status_code == 200


def test_rotating_ipv6_addresses_does_not_escape_the_throttle(api: Api) -> None:
    for n in range(ADMIN_FAILURES_PER_MINUTE):
        headers = {**xff(f"2001:db8:7:7::{n + 1}"), "x-api-key": "guess"}
        assert api.client.get("/logs", headers=headers).status_code == 401
    right = {**xff("2001:db8:7:7::beef"), **api.admin}
    assert api.client.get("/logs", headers=right).status_code == 429


def test_the_right_key_is_never_rate_limited(api: Api) -> None:
    for _ in range(4 * ADMIN_FAILURES_PER_MINUTE):
        assert api.client.get("/logs", headers=api.admin).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "//cron//trigger"),
        ("POST", "//cron/trigger"),
        ("POST", "/cron//trigger"),
        ("GET", "/cron//status"),
        ("GET", "//healthz"),
        ("GET", "/movie//1000"),
        ("DELETE", "/cache//clear/roast"),
    ],
)
def test_paths_with_doubled_slashes_are_plain_404s(api: Api, method: str, path: str) -> None:
    # As a server receives it (a test client would read `//cron` as a host name).
    response = api.client.open(
        method=method, headers=api.admin, environ_overrides={"PATH_INFO": path}
    )
    assert response.status_code == 404
    assert "Location" not in response.headers
    body = response.get_json()
    assert sorted(body) == ["error", "message"] and body["error"] == "Not found"
    merged = "/" + "/".join(part for part in path.split("/") if part)
    assert merged not in response.get_data(as_text=True).replace(path, "")
    assert api.world.publisher.nightly == []


@pytest.mark.parametrize("path", ["/robots.txt", "/favicon.ico"])
def test_the_frameworks_own_404s_are_the_workers_json(api: Api, path: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert response.get_json() == {"error": "Not found", "message": f"no route {path}"}


# --------------------------------------------------------------- C. public status


def _failing_research(reason_text: str) -> Any:
    def research(movie: Movie, details: MovieDetails) -> Truth:
        raise UpstreamRejected("research", "perplexity", 401, reason_text, "POST: 401")

    return research


BUDGET_FIGURES = {"upstream_calls", "tokens", "estimated_cost_usd"}


def test_public_status_has_no_budget_spend_or_upstream_text(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.world.researcher, "research", _failing_research("invalid_api_key"))
    api.run_night()
    public = api.client.get("/cron/status")
    text = public.get_data(as_text=True)
    body = public.get_json()
    assert set(body) == {"last_run", "history", "total_runs"}
    run = body["last_run"]
    assert run["status"] == "failed" and run["roasts_failed"] == 5
    assert not BUDGET_FIGURES & set(run)
    assert set(run["failure_reasons"].values()) == {"upstream_error"}
    for secret_ish in ("invalid_api_key", "perplexity", "401", "remaining_calls", "cost"):
        assert secret_ish not in text, secret_ish
    # The Worker's contract fields are all there, with their types.
    for name in ("timestamp", "trigger", "correlation_id", "movies_fetched", "roasts_processed",
                 "roasts_cached", "roasts_generated", "roasts_failed", "failed_movie_ids",
                 "duration_ms", "status"):  # fmt: skip
        assert name in run, name
    # The admin key's holder sees everything.
    full = api.client.get("/cron/status", headers=api.api_key).get_json()
    assert full["budget"]["remaining_calls"] >= 0
    assert set(full["last_run"]) >= BUDGET_FIGURES
    assert set(full["last_run"]["failure_reasons"].values()) == {"perplexity: 401 invalid_api_key"}
    assert api.client.get("/budget", headers=api.admin).get_json()["call_ceiling"] > 0
    debug = api.client.get(
        f"/debug?correlationId={full['last_run']['correlation_id']}", headers=api.admin
    )
    assert debug.status_code in (200, 404)


def test_public_reason_codes_keep_codes_and_hide_text() -> None:
    from functions import views
    from functions.usecases import roast_movie, runs

    for code in (
        runs.REASON_DEADLINE,
        roast_movie.REASON_DEAD_LETTERED,
        roast_movie.REASON_NOT_FOUND,
        roast_movie.REASON_BUDGET,
        "truncated",
        "invalid_roast",
    ):
        assert views.public_reason(code) == code
    assert views.public_reason("tmdb: no API credential configured") == "upstream_error"
    assert views.public_reason("xai: 404 Some requested entity was not found") == "upstream_error"
    assert views.public_reason("fan-out never listed the movies") == "run_failed"
