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
from schemathesis.specs.openapi.checks import response_schema_conformance

from functions import openapi
from tests.e2e.conftest import Driver

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]
configuration.set_hypothesis_home_dir(REPO / "test-output" / "hypothesis")


def _plotburn(driver: Driver, *argv: str, token: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLOTBURN_")}
    env["PLOTBURN_API_URL"] = driver.stack.api_url
    if token:
        env["PLOTBURN_ADMIN_TOKEN"] = driver.stack.admin_token
    done = subprocess.run(
        [sys.executable, "-m", "plotburn_cli", *argv],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )
    assert driver.stack.admin_token not in done.stdout + done.stderr
    return done


def test_trigger_wait_then_status_debug_and_errors(driver: Driver) -> None:
    done = _plotburn(driver, "trigger", "--wait", "--interval", "0.2", "--timeout", "120")
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if " movies " in line]
    assert progress[-1].startswith("success") and "15/15 movies" in progress[-1]
    assert "status          success" in done.stdout
    assert "upstream calls  tmdb 1 · research 15 · roast 15" in done.stdout
    assert "estimated cost  $0." in done.stdout

    status = json.loads(_plotburn(driver, "status", "--json").stdout)
    run_id = status["last_run"]["correlation_id"]
    assert status["last_run"]["roasts_generated"] == 15
    debug = _plotburn(driver, "debug", run_id)
    assert debug.returncode == 0 and debug.stdout.count(" generated ") >= 15

    denied = _plotburn(driver, "logs", token=False)
    assert denied.returncode == 3 and "needs the admin token" in denied.stderr
    unknown = _plotburn(driver, "retry", "manual-trigger-1")
    assert unknown.returncode == 3
    assert unknown.stderr == "plotburn: error: POST /cron/retry: HTTP 404: run manual-trigger-1 not found\n"


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
def test_stack_api_conforms_to_its_openapi_document(case: schemathesis.Case, stack_driver: Driver) -> None:
    admin = bool(case.operation.definition.raw.get("security"))
    headers = stack_driver.admin if admin else None
    case.call_and_validate(
        base_url=stack_driver.stack.api_url,
        headers=headers,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )
