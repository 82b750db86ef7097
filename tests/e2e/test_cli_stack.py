"""The operator's tools against the local stack: the `plotburn` CLI, and a
schemathesis run of the OpenAPI document over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, configuration, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions import openapi
from tests.e2e.conftest import Driver

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]
configuration.set_hypothesis_home_dir(REPO / "test-output" / "hypothesis")


def _plotburn(
    driver: Driver, *argv: str, token: bool = True, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLOTBURN_")}
    env["PLOTBURN_API_URL"] = driver.stack.api_url
    if token:
        env["PLOTBURN_ADMIN_TOKEN"] = driver.stack.admin_token
    env.update(extra_env or {})
    done = subprocess.run(
        [sys.executable, "-m", "plotburn_cli", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert driver.stack.admin_token not in done.stdout + done.stderr
    return done


def test_trigger_wait_then_status_debug_and_errors(driver: Driver) -> None:
    done = _plotburn(driver, "trigger", "--wait", "--interval", "0.2", "--timeout", "120")
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if " movies " in line]
    assert progress[-1].startswith("success") and "15/15 movies" in progress[-1]
    assert "status          success" in done.stdout
    # TMDB: the list, then each new movie's details (kept with its roast).
    assert "upstream calls  tmdb 16 · research 15 · roast 15" in done.stdout
    assert "estimated cost  $0." in done.stdout

    status = json.loads(_plotburn(driver, "status", "--json").stdout)
    run_id = status["last_run"]["correlation_id"]
    assert status["last_run"]["roasts_generated"] == 15
    debug = _plotburn(driver, "debug", run_id)
    assert (
        debug.returncode == 0 and debug.stdout.count(" generated ") >= 30
    )  # outcomes and generations
    assert f"Correlation id {run_id}: 15 generation(s), newest first" in debug.stdout
    movie_id = json.loads(_plotburn(driver, "debug", run_id, "--json").stdout)["movies"][0][
        "movie_id"
    ]
    by_movie = _plotburn(driver, "debug", "--movie", str(movie_id))
    assert by_movie.returncode == 0 and by_movie.stdout.startswith(
        f"Movie {movie_id}: 1 generation(s)"
    )

    # /logs in the Worker's shape, with its filters (the key goes as x-api-key).
    logs = json.loads(
        _plotburn(driver, "logs", "--correlation-id", run_id, "--level", "info", "--json").stdout
    )
    assert logs["logs"] and {(e["correlationId"], e["level"]) for e in logs["logs"]} == {
        (run_id, "INFO")
    }
    table = _plotburn(driver, "logs", "--limit", "5")
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:4] == [
        "TIME",
        "LEVEL",
        "CORRELATION",
        "ID",
    ]
    pruned = _plotburn(driver, "prune-logs", "--older-than-days", "30")
    assert pruned.returncode == 0 and pruned.stdout.startswith(
        "Deleted 0 log entries older than 30 days"
    )

    cleared = json.loads(_plotburn(driver, "clear", "debug", "--json").stdout)
    assert cleared["success"] is True and cleared["deleted_count"] == 15
    gone = _plotburn(driver, "debug", "--movie", str(movie_id))
    assert gone.returncode == 3 and "HTTP 404" in gone.stderr

    denied = _plotburn(driver, "logs", token=False)
    assert denied.returncode == 3 and "needs the admin token" in denied.stderr
    wrong = _plotburn(
        driver, "budget", token=False, extra_env={"PLOTBURN_ADMIN_TOKEN": "wrong-token-0000"}
    )
    assert wrong.returncode == 3 and "HTTP 401: Invalid API key" in wrong.stderr
    unknown = _plotburn(driver, "retry", "manual-trigger-1")
    assert unknown.returncode == 3
    assert (
        unknown.stderr
        == "plotburn: error: POST /cron/retry: HTTP 404: run manual-trigger-1 not found\n"
    )


# ------------------------------------------------------------ schemathesis, on the stack

# The same property-based run as tests/unit/test_schemathesis.py, but over HTTP against
# the local stack's `api` (functions-framework, Firestore emulator, Pub/Sub emulator,
# upstream simulator): no undocumented 5xx and no response that breaks the document.
STACK_EXAMPLES = 12
stack_schema = schemathesis.openapi.from_dict(openapi.document())


@stack_schema.parametrize()
@settings(
    max_examples=STACK_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_stack_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, stack_driver: Driver
) -> None:
    # Admin operations (a key required, none optional) with the key, as x-api-key.
    security = case.operation.definition.raw.get("security") or []
    headers = (
        {"x-api-key": stack_driver.stack.admin_token} if security and {} not in security else None
    )
    case.call_and_validate(
        base_url=stack_driver.stack.api_url,
        headers=headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            response_schema_conformance,
            response_headers_conformance,
        ],
        timeout=60,
    )
