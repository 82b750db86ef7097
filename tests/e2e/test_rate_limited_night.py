"""A small rate-limited night on the local stack: the simulator enforces 60 research
requests a minute with a burst of 4 (429 beyond), PlotBurn's limiter is set the same,
and the night ends success, every movie generated, no dead letter, (almost) no 429."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Driver, start_stack

N, PER_MINUTE, BURST = 12, 60, 4


@pytest.fixture(scope="module")
def rate_stack() -> Iterator[Driver]:
    yield from start_stack(
        concurrency=32,
        simulate_upstreams=True,
        env={
            "PLOTBURN_RATE_RESEARCH_PER_MINUTE": str(PER_MINUTE),
            "PLOTBURN_RATE_RESEARCH_BURST": str(BURST),
            "PLOTBURN_RATE_RESEARCH_IN_FLIGHT": "50",
        },
    )


def test_a_rate_limited_night_finishes_within_the_rate(rate_stack: Driver) -> None:
    driver = rate_stack
    driver.reset()
    driver.stack.sim.configure(
        movies=N,
        latency_ms={"research": 100, "roast": 50, "tmdb": 10},
        rate_per_minute={"research": PER_MINUTE},
        rate_burst={"research": BURST},
    )
    driver.stack.sim.reset()
    started = time.monotonic()
    correlation_id = driver.trigger()
    # While it runs, status shows progress and an estimated finish.
    seen_estimate = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = driver.find_run(correlation_id)
        if run is not None and run["status"] == "in_progress" and run["movies_fetched"]:
            assert run["progress"]["total"] == N
            seen_estimate = seen_estimate or run["estimated_finish"] is not None
        if run is not None and run["status"] != "in_progress":
            break
        time.sleep(0.3)
    run = driver.wait_final(correlation_id, timeout=60)
    wall = time.monotonic() - started
    assert seen_estimate
    assert run["status"] == "success", run
    assert run["roasts_generated"] == N
    driver.relay_quiet(settle=0.5)
    relay = driver.stack.relay_stats()
    assert sum(s.get("dead_lettered", 0) for s in relay.values()) == 0, relay
    stats = driver.stack.sim.stats()
    assert stats["rate_limited"]["research"] <= 2, stats["rate_limited"]
    # (N - burst) / rate = 8 s is the provider's bound; the limiter keeps one token
    # back (9 s), plus the stack's own overheads.
    assert (N - BURST) * 60 / PER_MINUTE - 1 <= wall <= 20, wall
