"""End-to-end tests drive the whole local stack: both emulators, the three functions
under functions-framework, the relay delivering Pub/Sub like Eventarc, and the
upstream simulator. A stack is shared per module (the spend limits and
duplicate-delivery modules start stacks configured their own way); each test starts
from empty Firestore and zeroed simulator counters."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local_stack.stack import Stack
from plotburn_cli.follow import FollowTimeout, find_run, follow_run


class Driver:
    """What a test does with a running stack, the way an operator would."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.api_url, timeout=60)
        assert stack.sim is not None, "end-to-end tests run on the upstream simulator"
        self.sim_baseline = stack.sim.config()

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.admin_token}"}

    def reset(self) -> None:
        """Empty Firestore, the simulator back to its start-up config, zero counters."""
        self.relay_quiet(settle=0.3)
        # A function can still be working on a delivery the relay gave up on (and
        # redelivered): wait until the simulator sees no call for a while, so the
        # previous test's stragglers cannot land in this test's counters.
        self.upstreams_quiet(settle=0.6)
        self.stack.reset_firestore()
        self.stack.sim.configure(**self.sim_baseline)
        self.stack.sim.reset()
        self.stack.relay.reset_stats()

    def trigger(self) -> str:
        response = self.http.post("/cron/trigger", headers=self.admin)
        assert response.status_code == 202, response.text
        return str(response.json()["correlation_id"])

    def status(self) -> dict[str, Any]:
        """/cron/status as the operator sees it (with the admin key: budget, spend and
        failure reasons in the providers' words)."""
        response = self.http.get("/cron/status", headers=self.admin)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def public_status(self) -> httpx.Response:
        """/cron/status without the key (no budget, no spend, failure codes only)."""
        response = self.http.get("/cron/status")
        assert response.status_code == 200, response.text
        return response

    def find_run(self, correlation_id: str) -> dict[str, Any] | None:
        return find_run(self.status(), correlation_id)

    def wait_final(self, correlation_id: str, timeout: float = 90) -> dict[str, Any]:
        try:
            return follow_run(self.status, correlation_id, timeout=timeout, interval=0.2)
        except FollowTimeout as exc:
            raise AssertionError(f"{exc}: {exc.run}") from None

    def wait_new_run(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.status()["history"]:
                if run["correlation_id"].startswith(prefix):
                    return str(run["correlation_id"])
            time.sleep(0.2)
        raise AssertionError(f"no {prefix}* run appeared within {timeout}s")

    def firestore(self) -> Any:
        """A client on the stack's Firestore emulator (the library reads the host
        from the environment, which the autouse fixture restores after the test)."""
        from google.cloud import firestore

        os.environ["FIRESTORE_EMULATOR_HOST"] = self.stack.firestore_host
        return firestore.Client(project=self.stack.project)

    def sim_calls(self) -> dict[str, int]:
        assert self.stack.sim is not None
        return dict(self.stack.sim.stats()["calls"])

    def upstreams_quiet(self, settle: float, timeout: float = 30) -> None:
        assert self.stack.sim is not None
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        last_calls: dict[str, int] | None = None
        while time.monotonic() < deadline:
            stats = self.stack.sim.stats()
            busy = any(stats["in_flight"].values())
            calls = dict(stats["calls"])
            if busy or calls != last_calls:
                quiet_since, last_calls = None, calls
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                return
            time.sleep(0.05)

    def relay_quiet(self, settle: float = 1.0, timeout: float = 30) -> None:
        """Wait until the relay has nothing in flight for `settle` seconds."""
        self.stack.wait_quiet(settle=settle, timeout=timeout)


# The fleet-wide provider limits stay on (they are part of every request) but far above
# what the simulator serves, unless a test sets them (test_rate_limited_night.py).
UNBOUND_RATES = {
    f"PLOTBURN_RATE_{p}_{k}": "100000"
    for p in ("RESEARCH", "ROAST", "TMDB")
    for k in ("PER_MINUTE", "BURST", "IN_FLIGHT")
}


def start_stack(**kwargs: Any) -> Iterator[Driver]:
    # Each stack has a state file of its own, so tests never touch .stack/stack.json
    # of a developer's `make serve`.
    state_dir = tempfile.mkdtemp(prefix="plotburn-e2e-")
    # Tests empty Firestore behind the api's back between tests, which the api's
    # per-instance read cache (PLOTBURN_READ_CACHE_SECONDS) cannot see: turn it off.
    kwargs["env"] = {"PLOTBURN_READ_CACHE_SECONDS": "0", **UNBOUND_RATES, **kwargs.get("env", {})}
    stack = Stack(state_file=f"{state_dir}/stack.json", **kwargs)
    stack.start()
    try:
        yield Driver(stack)
    finally:
        stack.stop()


# Distinctive key values, so a test can prove none of them ever reaches a log line,
# a response or an error message (the simulator accepts any bearer token).
SECRETS = {
    "TMDB_API_TOKEN": "tmdb-token-Qx7-never-print-me",
    "PERPLEXITY_API_KEY": "pplx-key-Zr4-never-print-me",
    "XAI_API_KEY": "xai-key-Wm2-never-print-me",
}


@pytest.fixture(scope="module")
def stack_driver() -> Iterator[Driver]:
    """A stack per module: work a module leaves running (a function still retrying a
    call its delivery gave up on) dies with it instead of reaching the next module's
    counters. Each test starts from an empty Firestore, the simulator's start-up
    config and zeroed counters."""
    yield from start_stack(
        concurrency=32,
        simulate_upstreams=True,
        env={
            **SECRETS,
            "PLOTBURN_UPSTREAM_TIMEOUT_SECONDS": "1",
            "PLOTBURN_UPSTREAM_BACKOFF_MAX_SECONDS": "0.2",
            "PLOTBURN_GENERATION_LEASE_SECONDS": "4",
            "PLOTBURN_SINGLE_FLIGHT_WAIT_SECONDS": "10",
        },
    )


@pytest.fixture
def driver(stack_driver: Driver) -> Driver:
    stack_driver.reset()
    return stack_driver
