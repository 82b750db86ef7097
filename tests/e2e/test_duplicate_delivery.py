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
    assert (run["status"], run["movies_fetched"], run["roasts_processed"]) == (
        "success",
        MOVIES,
        MOVIES,
    )
    assert (run["roasts_generated"], run["roasts_cached"], run["roasts_failed"]) == (MOVIES, 0, 0)
    calls = twice.sim_calls()
    # Each movie generated once: its TMDB details, research and roast each asked once.
    assert (calls["tmdb_details"], calls["research"], calls["roast"]) == (MOVIES, MOVIES, MOVIES)
    by_movie = twice.stack.sim.stats()["calls_by_movie"]
    assert all(set(by_movie[e].values()) == {1} for e in ("tmdb_details", "research", "roast")), (
        by_movie
    )
    assert (run["upstream_calls"]["research"], run["upstream_calls"]["roast"]) == (MOVIES, MOVIES)
    assert twice.status()["total_runs"] == 1
    # One debug entry per movie for the run, however often its message came.
    debug = twice.http.get(
        "/debug", params={"correlationId": run["correlation_id"]}, headers=twice.admin
    )
    assert debug.status_code == 200, debug.text
    body = debug.json()
    assert (body["correlationId"], body["count"], body["pending_movie_ids"]) == (
        run["correlation_id"],
        MOVIES,
        [],
    )
    assert {m["outcome"] for m in body["movies"]} == {"generated"} and len(body["movies"]) == MOVIES
    listing = twice.http.get("/now-playing").json()
    assert len(listing["movies"]) == MOVIES and all(m["has_roast"] for m in listing["movies"])
    stats = twice.stack.relay_stats()
    assert all(s["nacked"] == 0 for s in stats.values()), stats
