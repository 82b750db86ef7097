"""Every Pub/Sub message delivered twice, as at-least-once delivery allows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Driver, start_stack

MOVIES = 15


@pytest.fixture(scope="module")
def twice() -> Iterator[Driver]:
    yield from start_stack(concurrency=32, deliver_twice=True)


def test_every_message_twice_counts_exactly_once(twice: Driver) -> None:
    twice.reset()
    run = twice.wait_final(twice.trigger())
    twice.relay_quiet()
    run = twice.find_run(run["correlation_id"])
    assert run is not None
    assert (run["status"], run["movies_fetched"], run["roasts_processed"]) == ("success", MOVIES, MOVIES)
    assert (run["roasts_generated"], run["roasts_cached"], run["roasts_failed"]) == (MOVIES, 0, 0)
    calls = twice.sim_calls()
    assert (calls["research"], calls["roast"]) == (MOVIES, MOVIES)
    assert twice.status()["total_runs"] == 1
    stats = twice.stack.relay_stats()
    assert all(s["nacked"] == 0 for s in stats.values()), stats
