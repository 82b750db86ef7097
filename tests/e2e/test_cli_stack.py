"""The `plotburn` CLI, as an operator runs it, against the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Driver

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]


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
