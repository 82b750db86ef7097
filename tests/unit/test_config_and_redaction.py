"""Settings (defaults, environment, fail-fast errors that never print a value) and the
redactor that keeps secrets out of stdout and the persisted journal."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from functions import bootstrap, observability
from functions.config import Settings, load_settings
from functions.errors import ConfigError, UpstreamUnavailable
from functions.metering import Price
from functions.observability import REDACTED, Journal, Redactor, configure_stdlib_logging, emit
from functions.selection import MovieChoice
from tests.conftest import settings_variables
from tests.fakes import MemoryLogs, MemoryPublisher

pytestmark = pytest.mark.usefixtures("clean_settings_env")

ALL_VARIABLES = settings_variables()
SECRET_VALUE = "sk-live-9b1e4c7d2a-DO-NOT-PRINT"


@pytest.fixture
def redactor_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observability, "_redactor", observability._redactor)


@pytest.fixture
def root_logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers = handlers
        root.setLevel(level)


# ------------------------------------------------------------------- settings


def test_every_variable_is_known() -> None:
    assert "PLOTBURN_ADMIN_TOKEN" in ALL_VARIABLES
    assert {"GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"} <= set(ALL_VARIABLES)
    assert len(ALL_VARIABLES) == len(Settings.model_fields) + 2


def test_defaults_are_the_contract() -> None:
    s = load_settings()
    assert s.nightly_topic == "plotburn-nightly"
    assert s.roast_topic == "plotburn-roast"
    assert s.dead_letter_topic == "plotburn-dead-letter"
    assert s.cache_version == "v2"
    assert s.tmdb_api_base == "https://api.themoviedb.org/3"
    assert s.perplexity_api_base == "https://api.perplexity.ai"
    assert s.perplexity_model == "perplexity/sonar"
    assert s.xai_api_base == "https://api.x.ai/v1"
    assert s.xai_model == "grok-4.20-non-reasoning"
    assert s.project == "plotburn-local"
    assert (
        s.admin_token,
        s.tmdb_api_token,
        s.tmdb_api_key,
        s.perplexity_api_key,
        s.xai_api_key,
    ) == (None,) * 5
    assert (s.perplexity_max_output_tokens, s.perplexity_search_recency, s.xai_max_tokens) == (
        3000,
        "month",
        1000,
    )
    assert s.research_price == Price(0.25, 2.5, 0.0025)  # perplexity/sonar, standard web search
    assert s.roast_price == Price(1.25, 2.5, 0.0)  # grok-4.20-non-reasoning
    assert s.tmdb_region == "IN"  # the Worker's region
    assert (s.release_window_oldest_days, s.release_window_newest_days) == (10, 3)
    assert s.excluded_genres == "99,10402"
    assert s.movie_choice == MovieChoice(
        oldest_days=10, newest_days=3, excluded_genres=frozenset({99, 10402})
    )
    assert s.require_key is False
    assert s.tmdb_max_pages == 50
    assert (
        s.upstream_timeout_seconds,
        s.upstream_max_attempts,
        s.upstream_backoff_max_seconds,
    ) == (30.0, 4, 10.0)
    assert s.run_deadline_minutes == 30.0
    assert s.single_flight_wait_seconds == 25.0
    assert s.generation_lease_seconds == 330.0
    assert s.on_demand_any_movie is False
    assert s.paid_requests_per_minute == 5
    assert s.trusted_proxy_hops == 0
    assert (s.daily_call_budget, s.daily_cost_budget_usd) == (2000, 10.0)
    assert s.log_ops is False


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "GOOGLE_CLOUD_PROJECT": "my-project",
        "PLOTBURN_NIGHTLY_TOPIC": "night",
        "PLOTBURN_ROAST_TOPIC": "roasts",
        "PLOTBURN_DEAD_LETTER_TOPIC": "dead",
        "PLOTBURN_ADMIN_TOKEN": "admin-token-value",
        "PLOTBURN_CACHE_VERSION": "v2.1",
        "TMDB_API_BASE": "http://127.0.0.1:9001/3",
        "TMDB_API_TOKEN": "tmdb-token-value",
        "TMDB_REGION": "IN",
        "TMDB_MAX_PAGES": "3",
        "PERPLEXITY_API_BASE": "http://127.0.0.1:9002",
        "PERPLEXITY_API_KEY": "pplx-key-value",
        "PERPLEXITY_MODEL": "sonar-pro",
        "XAI_API_BASE": "http://127.0.0.1:9003/v1",
        "XAI_API_KEY": "xai-key-value",
        "XAI_MODEL": "grok-x",
        "PLOTBURN_UPSTREAM_MAX_ATTEMPTS": "2",
        "PLOTBURN_UPSTREAM_TIMEOUT_SECONDS": "5.5",
        "PLOTBURN_ON_DEMAND_ANY_MOVIE": "true",
        "PLOTBURN_LOG_OPS": "1",
        "PLOTBURN_RUN_DEADLINE_MINUTES": "45",
        "PLOTBURN_RELEASE_WINDOW_OLDEST_DAYS": "14",
        "PLOTBURN_RELEASE_WINDOW_NEWEST_DAYS": "0",
        "PLOTBURN_EXCLUDED_GENRES": " 27 , 99 ",
        "PLOTBURN_REQUIRE_KEY": "true",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert s.project == "my-project"
    assert (s.nightly_topic, s.roast_topic, s.dead_letter_topic) == ("night", "roasts", "dead")
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "admin-token-value"
    assert s.cache_version == "v2.1"
    assert s.tmdb_api_base == "http://127.0.0.1:9001/3"
    assert (
        s.tmdb_api_token is not None and s.tmdb_api_token.get_secret_value() == "tmdb-token-value"
    )
    assert (s.tmdb_region, s.tmdb_max_pages) == ("IN", 3)
    assert (s.perplexity_api_base, s.perplexity_model) == ("http://127.0.0.1:9002", "sonar-pro")
    assert (
        s.perplexity_api_key is not None
        and s.perplexity_api_key.get_secret_value() == "pplx-key-value"
    )
    assert (s.xai_api_base, s.xai_model) == ("http://127.0.0.1:9003/v1", "grok-x")
    assert s.xai_api_key is not None and s.xai_api_key.get_secret_value() == "xai-key-value"
    assert (s.upstream_max_attempts, s.upstream_timeout_seconds) == (2, 5.5)
    assert (s.on_demand_any_movie, s.log_ops) == (True, True)
    assert s.run_deadline.total_seconds() == 45 * 60
    assert s.movie_choice == MovieChoice(
        oldest_days=14, newest_days=0, excluded_genres=frozenset({27, 99})
    )
    assert s.require_key is True


def test_no_excluded_genres_excludes_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOTBURN_EXCLUDED_GENRES", "")
    assert load_settings().movie_choice.excluded_genres == frozenset()


def test_a_window_of_one_day_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOTBURN_RELEASE_WINDOW_OLDEST_DAYS", "5")
    monkeypatch.setenv("PLOTBURN_RELEASE_WINDOW_NEWEST_DAYS", "5")
    assert (load_settings().movie_choice.oldest_days, load_settings().movie_choice.newest_days) == (
        5,
        5,
    )


@pytest.mark.parametrize(
    ("oldest", "newest"), [("10", "11"), ("0", "1"), (None, "11"), ("2", None)]
)
def test_an_empty_release_window_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, oldest: str | None, newest: str | None
) -> None:
    if oldest is not None:
        monkeypatch.setenv("PLOTBURN_RELEASE_WINDOW_OLDEST_DAYS", oldest)
    if newest is not None:
        monkeypatch.setenv("PLOTBURN_RELEASE_WINDOW_NEWEST_DAYS", newest)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("invalid configuration: ")
    assert "PLOTBURN_RELEASE_WINDOW_NEWEST_DAYS" in message
    assert caught.value.__suppress_context__ is True and caught.value.__cause__ is None


@pytest.mark.parametrize("name", ["GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"])
def test_project_is_read_from_any_of_its_names(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "from-" + name.lower())
    assert load_settings().project == "from-" + name.lower()


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.cache_version = "v9"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLOTBURN_CACHE_VERSION", SECRET_VALUE + "/../x"),
        ("PLOTBURN_CACHE_VERSION", "x" * 33),
        ("TMDB_REGION", SECRET_VALUE),
        ("TMDB_REGION", "qz"),
        ("TMDB_MAX_PAGES", SECRET_VALUE),
        ("TMDB_MAX_PAGES", "501"),
        ("PLOTBURN_UPSTREAM_MAX_ATTEMPTS", SECRET_VALUE),
        ("PLOTBURN_UPSTREAM_MAX_ATTEMPTS", "0"),
        ("PLOTBURN_UPSTREAM_TIMEOUT_SECONDS", "-3.25"),
        ("PLOTBURN_LOG_OPS", SECRET_VALUE),
        ("PLOTBURN_ON_DEMAND_ANY_MOVIE", SECRET_VALUE),
        ("PLOTBURN_DAILY_COST_BUDGET_USD", SECRET_VALUE),
        ("PLOTBURN_TRUSTED_PROXY_HOPS", "987654"),
        ("PLOTBURN_RELEASE_WINDOW_OLDEST_DAYS", SECRET_VALUE),
        ("PLOTBURN_RELEASE_WINDOW_OLDEST_DAYS", "-1"),
        ("PLOTBURN_RELEASE_WINDOW_NEWEST_DAYS", "366"),
        ("PLOTBURN_EXCLUDED_GENRES", SECRET_VALUE),
        ("PLOTBURN_EXCLUDED_GENRES", "99;10402"),
        ("PLOTBURN_EXCLUDED_GENRES", "Documentary"),
        ("PLOTBURN_REQUIRE_KEY", SECRET_VALUE),
    ],
)
def test_invalid_value_is_config_error_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("invalid configuration: ")
    assert name in message
    assert value not in message
    rendered = "".join(traceback.format_exception(caught.value))
    # No chained pydantic error shows it either. Checked as a value (pydantic renders
    # input_value='...'), not as a substring: "0" may be in a path or a line number.
    assert "input_value" not in rendered and repr(value) not in rendered
    assert caught.value.__suppress_context__ is True and caught.value.__cause__ is None


def test_several_invalid_values_are_all_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMDB_REGION", SECRET_VALUE)
    monkeypatch.setenv("PLOTBURN_UPSTREAM_MAX_ATTEMPTS", SECRET_VALUE)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "TMDB_REGION" in str(caught.value)
    assert "PLOTBURN_UPSTREAM_MAX_ATTEMPTS" in str(caught.value)
    assert SECRET_VALUE not in str(caught.value)


def test_a_bad_environment_fails_the_first_request_not_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLOTBURN_UPSTREAM_MAX_ATTEMPTS", SECRET_VALUE)
    bootstrap.reset()
    with pytest.raises(ConfigError) as caught:
        bootstrap.get_app()
    assert SECRET_VALUE not in str(caught.value)


def test_secrets_never_show_in_repr_str_or_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "PLOTBURN_ADMIN_TOKEN": "admin-SECRET-111111",
        "TMDB_API_TOKEN": "tmdb-SECRET-222222",
        "TMDB_API_KEY": "tmdbv3-SECRET-555555",
        "PERPLEXITY_API_KEY": "pplx-SECRET-333333",
        "XAI_API_KEY": "xai-SECRET-444444",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    shown = [
        repr(s),
        str(s),
        repr(s.admin_token),
        str(s.xai_api_key),
        f"{s.perplexity_api_key}",
        s.model_dump_json(),
        json.dumps(s.model_dump(mode="json")),
        repr(s.model_dump()),
    ]
    for text in shown:
        for value in secrets.values():
            assert value not in text
    assert "**********" in repr(s)
    assert sorted(bootstrap.secrets_of(s)) == sorted(secrets.values())


# ------------------------------------------------------------------ redaction


def test_redactor_replaces_every_configured_secret() -> None:
    redact = Redactor(["alpha-secret", None, "", "abc", "alpha-secret-longer"])
    text = "a alpha-secret b alpha-secret-longer c abc alpha-secret"
    assert redact(text) == f"a {REDACTED} b {REDACTED} c abc {REDACTED}"
    assert Redactor()("nothing alpha-secret here") == "nothing alpha-secret here"


def test_emit_output_is_redacted(
    redactor_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    observability.set_redactor(Redactor([SECRET_VALUE]))
    emit(
        "ERROR",
        f"calling with key {SECRET_VALUE}",
        "cron-1",
        header=f"Bearer {SECRET_VALUE}",
        nested={"k": [SECRET_VALUE]},
    )
    out = capsys.readouterr().out
    assert SECRET_VALUE not in out
    (line,) = out.splitlines()
    entry = json.loads(line)
    assert entry["message"] == f"calling with key {REDACTED}"
    assert entry["header"] == f"Bearer {REDACTED}"
    assert entry["nested"] == {"k": [REDACTED]}
    assert (entry["severity"], entry["correlation_id"]) == ("ERROR", "cron-1")


def test_journal_persists_redacted_entries(
    redactor_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    observability.set_redactor(Redactor([SECRET_VALUE]))
    logs = MemoryLogs()
    journal = Journal(logs)
    journal.warning(
        f"upstream said {SECRET_VALUE}", "cron-7", detail={"url": f"https://x/?key={SECRET_VALUE}"}
    )
    journal.info("not persisted", "cron-7", persist=False, key=SECRET_VALUE)
    (entry,) = logs.entries
    assert SECRET_VALUE not in json.dumps(entry, default=str)
    assert entry["message"] == f"upstream said {REDACTED}"
    assert entry["detail"] == {"url": f"https://x/?key={REDACTED}"}
    assert (entry["severity"], entry["correlation_id"]) == ("WARNING", "cron-7")
    assert journal.for_run("cron-7", 10)[0]["message"] == f"upstream said {REDACTED}"
    assert SECRET_VALUE not in capsys.readouterr().out


def test_logged_exception_message_is_redacted(
    redactor_restored: None, root_logging_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    observability.set_redactor(Redactor([SECRET_VALUE]))
    exc = UpstreamUnavailable("roast", f"refused key {SECRET_VALUE}")
    # Our own log calls...
    emit("WARNING", f"roast failed: {exc}")
    Journal(MemoryLogs()).error("movie failed", "cron-1", reason=str(exc), error=exc)
    # ...and a library's, through the stdlib bridge.
    configure_stdlib_logging()
    logging.getLogger("some.library").warning("request failed: %s (%r)", exc, exc)
    out = capsys.readouterr().out
    assert SECRET_VALUE not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert [entry["severity"] for entry in lines] == ["WARNING", "ERROR", "WARNING"]
    assert lines[0]["message"] == f"roast failed: roast: refused key {REDACTED}"
    assert lines[2]["logger"] == "some.library"
    assert REDACTED in lines[2]["message"]


def test_build_installs_a_redactor_of_the_configured_secrets(
    redactor_restored: None, root_logging_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None,
        admin_token=SecretStr("admin-SECRET-aaaa"),
        tmdb_api_token=SecretStr("tmdb-SECRET-bbbb"),
        perplexity_api_key=SecretStr("pplx-SECRET-cccc"),
        xai_api_key=SecretStr("xai-SECRET-dddd"),
    )
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as http:
        bootstrap.build(
            settings, firestore_client=object(), publisher=MemoryPublisher(), http_client=http
        )
    emit("INFO", "admin-SECRET-aaaa tmdb-SECRET-bbbb pplx-SECRET-cccc xai-SECRET-dddd")
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["message"] == " ".join([REDACTED] * 4)


def test_pool_publish_and_cache_sizes_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert (s.http_max_connections, s.http_max_keepalive, s.publish_timeout_seconds) == (
        200,
        100,
        60.0,
    )
    assert (s.read_cache_size, s.status_cache_size) == (2048, 64)
    for name, value in {
        "PLOTBURN_HTTP_MAX_CONNECTIONS": "20",
        "PLOTBURN_HTTP_MAX_KEEPALIVE": "5",
        "PLOTBURN_PUBLISH_TIMEOUT_SECONDS": "9.5",
        "PLOTBURN_READ_CACHE_SIZE": "10",
        "PLOTBURN_STATUS_CACHE_SIZE": "3",
    }.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.http_max_connections, s.http_max_keepalive, s.publish_timeout_seconds) == (20, 5, 9.5)
    assert (s.read_cache_size, s.status_cache_size) == (10, 3)
    pool = bootstrap.build_http_client(s)._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == 20 and pool._max_keepalive_connections == 5


def test_a_transaction_lost_to_contention_is_transient_and_other_value_errors_are_bugs() -> None:
    from functions.errors import InfrastructureUnavailable
    from functions.store._firestore import _infra

    @_infra
    def contended() -> None:
        raise ValueError("Failed to commit transaction in 5 attempts.")

    @_infra
    def buggy() -> None:
        raise ValueError("not a number")

    with pytest.raises(InfrastructureUnavailable):
        contended()
    with pytest.raises(ValueError, match="not a number"):
        buggy()
