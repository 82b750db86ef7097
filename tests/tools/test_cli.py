"""The `plotburn` CLI against the real `api` code (main.py under functions-framework,
on the in-memory use cases), through an httpx WSGI transport. Following a run, the
transport plays the part of Pub/Sub: each status poll lets the fanout run, then
delivers one roast message, so the progress bar sees the run move."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.errors import InfrastructureUnavailable
from plotburn_cli.__main__ import main
from plotburn_cli.client import resolve_target
from tests.unit.api_harness import ADMIN_TOKEN, Api, api, api_flask_app  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]


class Driving(httpx.BaseTransport):
    """The api over WSGI; every GET cron/status first moves the pipeline one step."""

    def __init__(self, api: Api, drive: bool = True) -> None:
        self.api = api
        self.inner = httpx.WSGITransport(app=api.flask_app)
        self.drive = drive
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        world = self.api.world
        if self.drive and request.method == "GET" and request.url.path.endswith("/cron/status"):
            if world.publisher.nightly:
                self.api.fanout()
            elif world.publisher.roasts:
                world.roasting.process_movie(world.publisher.roasts.pop(0))
        return self.inner.handle_request(request)


class Tty(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def run(api: Api, tmp_path: Path) -> Any:
    def invoke(
        *argv: str,
        token: str | None = ADMIN_TOKEN,
        drive: bool = True,
        stderr: io.StringIO | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> Result:
        out, err = io.StringIO(), stderr or io.StringIO()
        wire = transport or Driving(api, drive)
        invoke.transport = wire  # type: ignore[attr-defined]
        environ = {"PLOTBURN_ADMIN_TOKEN": token} if token else {}
        code = main(
            list(argv),
            lambda url, timeout: httpx.Client(transport=wire, base_url=url, timeout=timeout),
            environ=environ,
            cwd=tmp_path,
            stdout=out,
            stderr=err,
            sleep=lambda s: None,
        )
        result = Result(code, out.getvalue(), err.getvalue())
        assert ADMIN_TOKEN not in result.out + result.err, "the token leaked into the output"
        return result

    return invoke


def _wait(*extra: str) -> list[str]:
    return ["trigger", "--wait", "--interval", "0", "--timeout", "30", *extra]


# ------------------------------------------------------------------ trigger


def test_trigger_wait_success_shows_progress_and_summary(run: Any) -> None:
    result = run(*_wait())
    assert result.code == 0, result.err
    lines = [line for line in result.err.splitlines() if "movies" in line]
    # Not a TTY: one line per change, from nothing processed to all five.
    assert "\r" not in result.err
    assert lines[0].startswith("in_progress") and "0/5 movies" in lines[0]
    assert any("3/5 movies" in line for line in lines)
    assert lines[-1].startswith("success") and "5/5 movies" in lines[-1]
    assert len(lines) == len(set(lines)) >= 6
    out = result.out
    assert out.startswith("Run manual-trigger-")
    for expected in (
        "status          success",
        "generated       5",
        "failed          0",
        "upstream calls  tmdb 5 · research 5 · roast 5",
        "estimated cost  $0.0",
    ):
        assert expected in out, (expected, out)


def test_trigger_wait_redraws_in_place_on_a_terminal(run: Any) -> None:
    tty = Tty()
    result = run(*_wait(), stderr=tty)
    assert result.code == 0
    assert result.err.count("\r") >= 6
    assert "█" in result.err
    assert result.err.rstrip("\n").rsplit("\r", 1)[1].startswith("success")


def test_trigger_wait_partial_exits_1_and_names_the_failed_movie(run: Any, api: Api) -> None:
    api.world.roaster.failing = {1001}
    result = run(*_wait())
    assert result.code == 1
    assert "status          partial" in result.out
    assert "FAILED MOVIE" in result.out
    assert "1001  xai: server error (500) after 4 attempts" in result.out


def test_trigger_wait_failed_exits_2(run: Any, api: Api) -> None:
    api.world.roaster.failing = {m.id for m in api.world.catalog.movies}
    result = run(*_wait())
    assert result.code == 2
    assert "status          failed" in result.out


def test_trigger_wait_run_that_cannot_start_exits_2_with_its_error(run: Any, api: Api) -> None:
    api.world.catalog.fail = True
    result = run(*_wait())
    assert result.code == 2
    assert "error           tmdb: server error (500) after 4 attempts" in result.out


def test_trigger_wait_timeout_exits_3(run: Any) -> None:
    result = run("trigger", "--wait", "--interval", "0", "--timeout", "0", drive=False)
    assert result.code == 3
    # The run shows in /cron/status as soon as the trigger answers, before fan-out.
    assert "in_progress  [" in result.err and "0/0 movies" in result.err
    assert "still in progress after 0 s" in result.err
    assert result.out == ""


def test_trigger_wait_json_prints_the_finished_run(run: Any) -> None:
    result = run(*_wait("--json"))
    assert result.code == 0
    assert result.json["status"] == "success" and result.json["roasts_generated"] == 5
    assert result.json["estimated_cost_usd"] > 0


def test_trigger_without_wait(run: Any, api: Api) -> None:
    result = run("trigger")
    assert result.code == 0
    assert result.out.startswith("Run manual-trigger-") and "started" in result.out
    assert len(api.world.publisher.nightly) == 1
    as_json = run("--json", "trigger")
    assert as_json.json["status"] == "started" and as_json.json["check_status_at"] == "/cron/status"


# ------------------------------------------------------------------ reads and admin commands


def test_status_before_and_after_a_run(run: Any, api: Api) -> None:
    empty = run("status")
    assert empty.code == 0 and "No runs yet" in empty.out and "within budget" in empty.out
    api.world.roaster.failing = {1002}
    run_id = api.run_night()
    result = run("status")
    assert result.code == 0
    assert f"Run {run_id}" in result.out
    assert "Recent runs (1 shown, 1 in total)" in result.out
    header = next(line for line in result.out.splitlines() if line.startswith("RUN "))
    assert header.split() == [
        "RUN",
        "STATUS",
        "STARTED",
        "FETCHED",
        "CACHED",
        "GENERATED",
        "FAILED",
        "DURATION",
        "COST",
    ]
    row = next(line for line in result.out.splitlines() if line.startswith(run_id))
    assert row.split()[1] == "partial" and row.split()[5:9] == ["5", "0", "4", "1"]
    as_json = run("status", "--json").json
    assert as_json["last_run"]["correlation_id"] == run_id and as_json["total_runs"] == 1


def test_logs(run: Any, api: Api) -> None:
    api.world.roaster.failing = {1002}
    run_id = api.run_night()
    result = run("logs")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["TIME", "LEVEL", "CORRELATION", "ID", "MESSAGE", "DETAILS"]
    assert "run finished: partial" in lines[1] and run_id in lines[1]
    assert "roasts_failed=1" in lines[1]  # the event's metadata
    failed = next(line for line in lines if "movie failed" in line)
    assert failed.split()[3] == "WARN" and "movieId=1002" in failed
    assert "movieTitle=Movie 2" in failed and "error=xai: server error (500)" in failed
    limited = run("logs", "--limit", "2", "--json").json
    assert len(limited["logs"]) == 2 and limited["total"] == 2
    assert {"timestamp", "level", "correlationId", "endpoint", "method", "message"} <= set(
        limited["logs"][0]
    )
    warnings = run("logs", "--level", "warn", "--json").json["logs"]
    assert warnings and {e["level"] for e in warnings} == {"WARN"}
    mine = run("logs", "--correlation-id", run_id, "--json").json["logs"]
    assert mine and {e["correlationId"] for e in mine} == {run_id}
    assert run("logs", "--limit", "1000").code == 0
    bad = run("logs", "--limit", "0")
    assert bad.code == 3 and "--limit must be from 1 to 1000" in bad.err
    assert run("logs", "--level", "loud").code == 3


def test_prune_logs(run: Any, api: Api) -> None:
    api.run_night()
    result = run("prune-logs")
    assert (
        result.code == 0
        and result.out.startswith("Deleted ")
        and "older than 30 days" in result.out
    )
    ((method, query),) = [(r.method, str(r.url.params)) for r in run.transport.requests]
    assert (method, query) == ("DELETE", "")  # the API's default
    as_json = run("prune-logs", "--older-than-days", "0", "--json").json
    assert as_json["success"] is True and isinstance(as_json["deleted_count"], int)
    assert str(run.transport.requests[0].url.params) == "olderThanDays=0"
    assert run("prune-logs", "--older-than-days", "-1").code == 3


def test_debug(run: Any, api: Api) -> None:
    api.world.roaster.failing = {1003}
    run_id = api.run_night()
    result = run("debug", run_id)
    assert result.code == 0
    assert f"Run {run_id}" in result.out
    assert "1003  Movie 3" in result.out  # failed movies named by title in debug
    movie_rows = [line for line in result.out.splitlines() if line[:6].strip().isdigit()]
    outcomes = {
        line.split()[0]: line.split()[1]
        for line in movie_rows
        if line.split()[1] in {"generated", "failed", "cached"}
    }
    assert outcomes == {
        "1000": "generated",
        "1001": "generated",
        "1002": "generated",
        "1003": "failed",
        "1004": "generated",
    }
    assert "Log entries (" in result.out
    as_json = run("debug", run_id, "--json").json
    assert as_json["run"]["status"] == "partial" and len(as_json["movies"]) == 5
    # The generations the run paid for, newest first, with their cards' headlines.
    assert "Correlation id " + run_id + ": 4 generation(s), newest first" in result.out
    assert "Movie 4 is a nap with a soundtrack" in result.out
    assert len(as_json["entries"]) == as_json["count"] == 4
    unknown = run("debug", "manual-trigger-42")
    assert unknown.code == 3
    assert unknown.err == (
        "plotburn: error: GET /debug: HTTP 404: "
        "nothing recorded for correlationId manual-trigger-42\n"
    )
    malformed = run("debug", "bad id!")
    assert (
        malformed.code == 3
        and "HTTP 400: correlationId may use only letters, digits" in malformed.err
    )
    assert run("debug").code == 3 and run("debug", run_id, "--movie", "1000").code == 3


def test_debug_a_request_id_and_a_movie(run: Any, api: Api) -> None:
    """Any correlation id: a request's x-correlation-id names what it generated."""
    made = api.client.get("/movie/900000", headers={**api.admin, "x-correlation-id": "req-cli-1"})
    assert made.status_code == 200
    result = run("debug", "req-cli-1")
    assert result.code == 0, result.err
    assert result.out.startswith("Correlation id req-cli-1: 1 generation(s), newest first\n")
    row = next(line for line in result.out.splitlines() if line.lstrip().startswith("900000"))
    assert "Movie 0" in row and "generated" in row and "req-cli-1" in row
    assert "Run " not in result.out  # not a run: no run summary
    by_movie = run("debug", "--movie", "900000")
    assert by_movie.code == 0 and by_movie.out.startswith(
        "Movie 900000: 1 generation(s), newest first\n"
    )
    assert run("debug", "--movie", "900000", "--json").json["movieId"] == 900000
    none = run("debug", "--movie", "1000")
    assert (
        none.code == 3
        and "GET /movie/1000/debug: HTTP 404: no debug entries for movie 1000" in none.err
    )


def test_retry_then_retry_wait(run: Any, api: Api) -> None:
    api.world.roaster.failing = {1001}
    run_id = api.run_night()
    api.world.roaster.failing = set()
    result = run("retry", run_id, "--wait", "--interval", "0")
    assert result.code == 0, result.err
    assert "Republished 1 failed movie(s)" in result.err
    assert "status          success" in result.out
    again = run("retry", run_id)
    assert again.code == 0 and "has no failed movies to retry (status: success)" in again.out
    assert run("retry", run_id, "--json").json["retried_movie_ids"] == []


def test_clear_and_budget(run: Any, api: Api) -> None:
    api.run_night()
    result = run("clear", "roast")
    assert result.code == 0 and result.out == "Cleared the roast cache: 5 entries deleted.\n"
    truth = run("clear", "truth", "--json").json
    assert (truth["success"], truth["deleted_count"], truth["cache"], truth["removed"]) == (
        True,
        5,
        "truth",
        5,
    )
    assert len(truth["deleted_keys"]) == 5 and all(
        k.startswith("truth:") for k in truth["deleted_keys"]
    )
    assert run("clear", "debug").out == "Cleared the debug cache: 5 entries deleted.\n"
    assert (
        run("clear", "all").out == "Cleared every cache: 1 entry deleted.\n"
    )  # the now-playing list
    budget = run("budget")
    assert budget.code == 0
    assert "paid calls      10 of 2,000" in budget.out and "within budget" in budget.out
    assert run("budget", "--json").json["calls"] == 10


# ------------------------------------------------------------------ errors


def test_wrong_token_prints_the_api_message_and_never_the_token(run: Any) -> None:
    result = run("budget", token="wrong-token-123456")
    assert result.code == 3
    assert result.err == (
        "plotburn: error: GET /budget: HTTP 401: Invalid API key "
        "(check PLOTBURN_ADMIN_TOKEN or --token)\n"
    )
    assert "wrong-token-123456" not in result.err + result.out


def test_the_key_goes_as_x_api_key_and_only_to_admin_routes(run: Any) -> None:
    """The Worker's header (a bearer token could collide with an identity token in front
    of the api); sent to admin routes, and to /cron/status, whose budget, spend and
    failure text only the key's holder sees."""
    assert run("status").code == 0
    (status,) = run.transport.requests
    assert status.headers["x-api-key"] == ADMIN_TOKEN and "authorization" not in status.headers
    assert run("budget").code == 0
    (admin,) = run.transport.requests
    assert admin.headers["x-api-key"] == ADMIN_TOKEN and "authorization" not in admin.headers


def test_status_without_a_token_is_the_public_form(run: Any, api: Api) -> None:
    api.world.roaster.failing = {1002}
    run_id = api.run_night()
    result = run("status", token=None)
    assert result.code == 0 and f"Run {run_id}" in result.out
    assert "Today's budget" not in result.out and "server error" not in result.out
    assert run.transport.requests[0].headers.get("x-api-key") is None
    as_json = run("status", "--json", token=None).json
    assert "budget" not in as_json
    assert as_json["last_run"]["failure_reasons"] == {"1002": "upstream_error"}


def test_a_cache_that_cannot_be_cleared_is_an_error_naming_it(
    run: Any, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(kind: str) -> list[str]:
        raise InfrastructureUnavailable("firestore: deadline exceeded")

    monkeypatch.setattr(api.world.caches, "clear", down)
    result = run("clear", "roast")
    assert result.code == 3
    assert result.err == (
        "plotburn: error: DELETE /cache/clear/roast: HTTP 503: Cleared roast: 0 entries "
        "deleted; roast: storage unavailable; retry\n"
    )


def test_missing_token_and_admin_disabled(run: Any, api: Api) -> None:
    missing = run("logs", token=None)
    assert missing.code == 3 and "needs the admin token" in missing.err
    api.set_admin_token(None)
    disabled = run("trigger")
    assert disabled.code == 3
    assert "HTTP 503: admin routes are disabled: PLOTBURN_ADMIN_TOKEN is not set" in disabled.err


def test_unreachable_api(run: Any) -> None:
    class Refused(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = run("status", transport=Refused())
    assert result.code == 3
    assert result.err.startswith(
        "plotburn: error: cannot reach the PlotBurn API at http://127.0.0.1:8080/ "
        "(from the default)"
    )
    assert "make serve" in result.err


def test_untrusted_text_cannot_reach_the_terminal_as_control_codes(run: Any, api: Api) -> None:
    api.world.catalog.movies[0] = api.world.catalog.movies[0].model_copy(
        update={"title": "Evil\x1b[2J\x07Title"}
    )
    api.world.roaster.failing = {1000}
    run_id = api.run_night()
    result = run("debug", run_id)
    assert "\x1b" not in result.out and "\x07" not in result.out
    assert "Evil\\x1b[2J\\x07Title" in result.out


def test_usage_errors_exit_3(run: Any) -> None:
    assert run("clear", "everything").code == 3
    assert run().code == 3


# ------------------------------------------------------------------ configuration


def test_target_resolution(tmp_path: Path) -> None:
    state = tmp_path / ".stack" / "stack.json"
    state.parent.mkdir()
    state.write_text(
        json.dumps(
            {
                "api_url": "http://127.0.0.1:4321/",
                "admin_token": "stack-tok",
                "owner_pid": os.getpid(),
            }
        )
    )
    from_stack = resolve_target(None, None, {}, tmp_path)
    assert (from_stack.url, from_stack.token) == ("http://127.0.0.1:4321/", "stack-tok")
    env = resolve_target(
        None,
        None,
        {"PLOTBURN_API_URL": "https://api.example/base", "PLOTBURN_ADMIN_TOKEN": "env-tok"},
        tmp_path,
    )
    assert (env.url, env.token) == ("https://api.example/base/", "env-tok")
    # The stack's token goes only to the stack's URL.
    elsewhere = resolve_target("https://prod.example", None, {}, tmp_path)
    assert (elsewhere.url, elsewhere.token) == ("https://prod.example/", None)
    flags = resolve_target(
        "127.0.0.1:9999", "flag-tok", {"PLOTBURN_ADMIN_TOKEN": "env-tok"}, tmp_path
    )
    assert (flags.url, flags.token) == ("http://127.0.0.1:9999/", "flag-tok")
    # A stack file whose owner is gone is ignored.
    state.write_text(
        json.dumps(
            {
                "api_url": "http://127.0.0.1:4321/",
                "admin_token": "stack-tok",
                "owner_pid": 2**22 + 12345,
            }
        )
    )
    stale = resolve_target(None, None, {}, tmp_path)
    assert (stale.url, stale.token) == ("http://127.0.0.1:8080/", None)


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "plotburn_cli", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "plotburn trigger [--wait]" in done.stdout
