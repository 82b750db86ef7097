from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from functions.config import Settings
from functions.errors import GenerationInProgress
from functions.models import Movie, NightlyMessage, RunStatus, Trigger
from functions.usecases.roast_movie import REASON_DEAD_LETTERED
from functions.usecases.runs import REASON_DEADLINE
from tests.fakes import DATES, RESEARCH_COST, ROAST_COST
from tests.unit.conftest import World

# Unit defaults (the release window, the excluded genres...), whatever the shell exports.
pytestmark = pytest.mark.usefixtures("clean_settings_env")

SCHEDULED = NightlyMessage(trigger=Trigger.SCHEDULED)


def start(world: World, message: NightlyMessage = SCHEDULED) -> str:
    run = world.nightly.start_run(message, world.clock())
    return run.correlation_id


def last_run(world: World) -> dict:
    status = world.lifecycle.status(full=True)
    assert status["last_run"] is not None
    return status["last_run"]


def test_first_run_generates_every_movie_once(world: World) -> None:
    cid = start(world)
    assert cid.startswith("cron-")
    assert len(world.publisher.roasts) == 5
    assert last_run(world)["status"] == "in_progress"
    world.deliver_all()
    run = last_run(world)
    assert run["status"] == "success"
    assert (
        run["movies_fetched"],
        run["roasts_generated"],
        run["roasts_cached"],
        run["roasts_failed"],
    ) == (5, 5, 0, 0)
    assert run["roasts_processed"] == 5
    assert run["duration_ms"] is not None
    assert world.researcher.total == 5 and world.roaster.total == 5


def test_second_run_is_all_cached_with_no_upstream_calls(world: World) -> None:
    start(world)
    world.deliver_all()
    world.clock.advance(days=1)
    start(world)
    world.deliver_all()
    run = last_run(world)
    assert (run["roasts_cached"], run["roasts_generated"]) == (5, 0)
    assert world.researcher.total == 5 and world.roaster.total == 5
    assert world.lifecycle.status(full=True)["total_runs"] == 2


def test_duplicate_deliveries_count_once(world: World) -> None:
    start(world)
    start(world)  # the same nightly message again: no second run, no republish
    assert len(world.publisher.roasts) == 5
    world.deliver_all(times=2)
    status = world.lifecycle.status(full=True)
    assert status["total_runs"] == 1
    run = status["last_run"]
    assert (run["roasts_generated"], run["roasts_processed"]) == (5, 5)
    assert world.roaster.total == 5


def test_failing_movie_makes_run_partial(world: World) -> None:
    world.roaster.failing = {1002}
    start(world)
    world.deliver_all()
    run = last_run(world)
    assert run["status"] == "partial"
    assert run["failed_movie_ids"] == [1002]
    assert run["roasts_failed"] == 1 and run["roasts_generated"] == 4
    assert "xai" in run["failure_reasons"]["1002"]


def test_all_failing_is_failed(world: World) -> None:
    world.researcher.failing = {m.id for m in world.catalog.movies}
    start(world)
    world.deliver_all()
    assert last_run(world)["status"] == "failed"
    assert world.roaster.total == 0


def test_empty_list_is_success_with_zero(world: World) -> None:
    world.catalog.movies = []
    start(world)
    run = last_run(world)
    assert (run["status"], run["movies_fetched"]) == ("success", 0)


def test_tmdb_failure_records_a_failed_run(world: World) -> None:
    world.catalog.fail = True
    start(world)
    run = last_run(world)
    assert run["status"] == "failed"
    assert "tmdb" in run["error"]


def test_dead_letter_counts_movie_failed(world: World) -> None:
    start(world)
    messages = list(world.publisher.roasts)
    world.publisher.roasts = messages[1:]
    world.deliver_all()
    world.roasting.record_dead_letter(messages[0])
    world.roasting.record_dead_letter(messages[0])  # dead letters can be duplicated too
    run = last_run(world)
    assert run["status"] == "partial"
    assert run["failed_movie_ids"] == [messages[0].movie_id]
    assert run["failure_reasons"][str(messages[0].movie_id)] == REASON_DEAD_LETTERED


def test_stuck_run_is_finalized_after_deadline(world: World) -> None:
    start(world)
    messages = list(world.publisher.roasts)
    world.publisher.roasts = messages[:3]
    world.deliver_all()
    assert last_run(world)["status"] == "in_progress"
    world.clock.advance(minutes=31)
    run = last_run(world)  # the status read sweeps
    assert run["status"] == "partial"
    assert run["failed_movie_ids"] == sorted(m.movie_id for m in messages[3:])
    assert set(run["failure_reasons"].values()) == {REASON_DEADLINE}
    # A straggler arriving after the close changes nothing.
    world.roasting.process_movie(messages[3])
    assert last_run(world)["roasts_failed"] == 2


def test_status_sweeps_the_runs_it_shows_and_the_nightly_message_sweeps_the_rest(
    world: World,
) -> None:
    from functions.config import HISTORY_LIMIT

    stuck = start(world)  # never delivered: stuck once its deadline passes
    world.publisher.roasts = []
    for _ in range(HISTORY_LIMIT):
        world.clock.advance(minutes=1)
        start(
            world,
            NightlyMessage(
                trigger=Trigger.MANUAL,
                correlation_id=f"manual-trigger-{world.clock().timestamp():.0f}",
            ),
        )
        world.deliver_all()
    world.clock.advance(minutes=31)
    queries: list[object] = []
    stuck_runs = world.runs.stuck_runs
    world.runs.stuck_runs = lambda before: queries.append(before) or stuck_runs(before)  # type: ignore[method-assign]
    status = world.lifecycle.status(full=True)
    # The stuck run is older than the history the status shows, and the status read
    # made no query of its own to find it.
    assert stuck not in {r["correlation_id"] for r in status["history"]}
    assert queries == [] and world.runs.get_run(stuck).status is RunStatus.IN_PROGRESS
    world.clock.advance(days=1)
    start(world)  # the next nightly message sweeps every run
    assert len(queries) == 1
    closed = world.runs.get_run(stuck)
    assert (closed.status, closed.roasts_failed) == (RunStatus.FAILED, 5)


def test_retry_republishes_failed_movies_into_same_run(world: World) -> None:
    world.roaster.failing = {1001, 1003}
    cid = start(world)
    world.deliver_all()
    assert last_run(world)["status"] == "partial"
    world.roaster.failing = set()
    result = world.lifecycle.retry_failed(cid)
    assert result is not None
    run, retried = result
    assert retried == [1001, 1003] and run.status is RunStatus.IN_PROGRESS
    world.deliver_all()
    final = last_run(world)
    assert final["correlation_id"] == cid
    assert (final["status"], final["roasts_generated"], final["roasts_failed"]) == ("success", 5, 0)
    assert world.researcher.total == 5  # truths of the failed roasts were reused


def test_redelivery_after_crash_counts_generated_not_cached(world: World) -> None:
    start(world)
    message = world.publisher.roasts[0]
    # The first delivery stored the roast, then the instance died before recording.
    world.generation.ensure_roast(message.movie_id, message.correlation_id)
    world.deliver_all()
    run = last_run(world)
    assert run["roasts_generated"] == 5 and run["roasts_cached"] == 0
    assert world.roaster.total == 5


def test_single_flight_concurrent_requests(world: World) -> None:
    world.roaster.delay = 0.3
    results: list[object] = []

    def read() -> None:
        results.append(world.generation.movie(1000))

    threads = [threading.Thread(target=read) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    assert world.researcher.total == 1 and world.roaster.total == 1


def test_single_flight_waiter_gives_up_within_bound(world: World) -> None:
    world.leases.acquire(1000, "someone-else", world.clock())
    world.settings = world.settings.model_copy(update={"single_flight_wait_seconds": 0.05})
    try:
        world.generation.movie(1000)
    except GenerationInProgress as exc:
        assert exc.retry_after_seconds > 0
    else:
        raise AssertionError("expected GenerationInProgress")
    assert world.roaster.total == 0


def test_manual_trigger_publishes_manual_message(world: World) -> None:
    cid = world.nightly.trigger_manual()
    assert cid.startswith("manual-trigger-")
    (message,) = world.publisher.nightly
    assert message.trigger is Trigger.MANUAL and message.correlation_id == cid
    run = world.nightly.start_run(message, world.clock())
    assert run.correlation_id == cid and run.trigger is Trigger.MANUAL


def test_each_run_reports_its_calls_tokens_and_cost(world: World) -> None:
    world.roaster.failing = {1004}
    start(world)
    world.deliver_all()
    run = last_run(world)
    # One TMDB details call per new movie (its 26 fields and director), none for the list
    # (the fake catalog's list call is free).
    assert run["upstream_calls"] == {"tmdb": 5, "research": 5, "roast": 5}
    assert run["tokens"] == {
        "research": {"prompt": 50, "completion": 100},
        "roast": {"prompt": 120, "completion": 160},
    }
    # The cost is what the answers reported: five researches and the four roasts that
    # answered (the failing movie's roast never did, so nothing was billed for it).
    assert run["estimated_cost_usd"] == round(5 * RESEARCH_COST + 4 * ROAST_COST, 10)
    # A cached night spends nothing.
    world.clock.advance(days=1)
    world.roaster.failing = set()
    start(world)
    world.deliver_all()
    again = last_run(world)
    # Only the movie whose roast failed is generated again: its truth is kept, its
    # details are asked for again (they are kept with a roast, and it had none).
    assert again["upstream_calls"] == {"tmdb": 1, "research": 0, "roast": 1}


def test_retried_run_gets_a_fresh_deadline(world: World) -> None:
    world.roaster.failing = {1001}
    cid = start(world)
    world.deliver_all()
    world.clock.advance(hours=2)
    world.roaster.failing = set()
    world.lifecycle.retry_failed(cid)
    assert last_run(world)["status"] == "in_progress"  # the status read's sweep spares it
    world.deliver_all()
    assert last_run(world)["status"] == "success"


class CountingRoastReads:
    """Counts the roast reads that reach the store behind the pipeline."""

    def __init__(self, world: World) -> None:
        self.reads = 0
        inner = world.caches.get_roast

        def get_roast(movie_id: int, now: object) -> object:
            self.reads += 1
            return inner(movie_id, now)

        world.caches.get_roast = get_roast  # type: ignore[method-assign]


def test_read_cache_serves_recent_roasts_from_memory(world: World) -> None:
    world.settings = world.settings.model_copy(update={"read_cache_seconds": 30})
    world.generation.__post_init__()
    counting = CountingRoastReads(world)
    record, cached = world.generation.movie(1000)  # miss: generated, then remembered
    assert cached is False
    first = (record, True)
    assert world.generation.movie(1000) == first
    world.clock.advance(seconds=29)
    assert world.generation.movie(1000) == first
    # Only the miss reached the store: its read, and the re-read under the lease.
    assert counting.reads == 2
    world.clock.advance(seconds=2)  # past the read cache's 30 s: read the store again
    assert world.generation.movie(1000) == first
    assert counting.reads == 3
    # Clearing the roast cache forgets what this instance remembered, too.
    world.operations.clear_cache("roast")
    world.generation.movie(1000)
    assert world.roaster.total == 2 and counting.reads == 5


def test_read_cache_off_reads_the_store_every_time(world: World) -> None:
    counting = CountingRoastReads(world)
    world.generation.movie(1000)  # miss: read, re-read under the lease, generate
    world.generation.movie(1000)
    assert counting.reads == 3 and world.roaster.total == 1


def test_status_read_closes_a_complete_run_whose_closer_died(world: World) -> None:
    cid = start(world)
    for message in world.publisher.roasts:
        # Record every outcome but never close the run, as if the last delivery
        # died between recording its outcome and closing.
        world.runs.record_outcome(cid, world.roasting._decide(message.movie_id, cid, None))
    assert world.runs.get_run(cid).status is RunStatus.IN_PROGRESS
    run = last_run(world)
    assert run["status"] == "success" and run["roasts_generated"] == 5
    assert world.runs.get_run(cid).status is RunStatus.SUCCESS


def test_status_of_an_open_run_reads_its_outcomes_once_per_interval(world: World) -> None:
    world.settings = world.settings.model_copy(update={"status_cache_seconds": 60})
    world.lifecycle.__post_init__()
    listed: list[str] = []
    inner = world.runs.list_outcomes

    def list_outcomes(correlation_id: str) -> list:
        listed.append(correlation_id)
        return inner(correlation_id)

    world.runs.list_outcomes = list_outcomes  # type: ignore[method-assign]
    start(world)
    first = world.publisher.roasts[0]
    world.roasting.process_movie(first)
    for _ in range(5):
        assert last_run(world)["roasts_processed"] == 1
    assert len(listed) == 1  # five polls, one read of the outcomes
    world.deliver_all()  # the run closes: a final run is read from its own document
    assert last_run(world)["status"] == "success"


def test_a_retry_drops_the_remembered_status_view_of_its_run(world: World) -> None:
    world.settings = world.settings.model_copy(update={"status_cache_seconds": 60})
    world.lifecycle.__post_init__()
    world.roaster.failing = {1001}
    cid = start(world)
    world.deliver_all()
    assert last_run(world)["status"] == "partial"
    # As if a status read had remembered the run's outcomes just before it closed.
    world.lifecycle._open_outcomes[cid] = world.runs.list_outcomes(cid)
    world.roaster.failing = set()
    world.lifecycle.retry_failed(cid)
    # Read right after the retry: 1001's outcome is gone and the view shows it.
    run = last_run(world)
    assert (run["status"], run["roasts_processed"], run["roasts_failed"]) == ("in_progress", 4, 0)
    world.deliver_all()
    assert last_run(world)["status"] == "success"


# ------------------------------------------------------------- the Worker's choice

# TMDB's now-playing list on the unit clock's day (2026-11-28): the default window is
# 2026-11-18 (ten days ago) to 2026-11-25 (three days ago), both included.
LISTED: list[tuple[int, str | None, list[int]]] = [
    (2001, "2026-11-17", [18]),  # eleven days ago: too old
    (2002, "2026-11-18", [18]),  # ten days ago: the window's first day
    (2003, "2026-11-21", [35, 18]),
    (2004, "2026-11-25", [28]),  # three days ago: the window's last day
    (2005, "2026-11-26", [18]),  # two days ago: too new
    (2006, "2026-11-28", [18]),  # today
    (2007, "2026-11-21", [99]),  # a documentary
    (2008, "2026-11-21", [10402]),  # a concert film
    (2009, "2026-11-22", [18, 99]),  # a drama that is also a documentary
    (2010, None, [18]),  # no release date
    (2011, "2026-12-05", [18]),  # not even released
    (2012, "2026-11-20", []),  # no genres at all
    (2013, "2026-11-23T00:00:00", [18]),  # a timestamp: its day counts
]
DEFAULT_CHOICE = [2002, 2003, 2004, 2012, 2013]


def listed_movies() -> list[Movie]:
    return [
        Movie(id=i, title=f"Listed {i}", release_date=day, genre_ids=genres, vote_average=6.5)
        for i, day, genres in LISTED
    ]


def fanned_out(world: World) -> list[int]:
    return [m.movie_id for m in world.publisher.roasts]


def test_only_the_release_window_without_excluded_genres_is_listed_and_fanned_out(
    world: World,
) -> None:
    world.catalog.movies = listed_movies()
    cid = start(world)
    assert fanned_out(world) == DEFAULT_CHOICE
    assert world.runs.get_run(cid).movie_ids == DEFAULT_CHOICE
    assert last_run(world)["movies_fetched"] == len(DEFAULT_CHOICE)
    view = world.now_playing.now_playing_view()
    assert [m["id"] for m in view["movies"]] == DEFAULT_CHOICE
    assert (view["total_results"], view["dates"]) == (len(DEFAULT_CHOICE), DATES)
    assert all(m["has_roast"] is False for m in view["movies"])
    world.deliver_all()
    assert last_run(world)["status"] == "success"
    # Only the chosen movies cost anything: one details call, one research, one roast each.
    assert world.catalog.calls["details"] == len(DEFAULT_CHOICE)
    assert set(world.researcher.calls) == set(world.roaster.calls) == set(DEFAULT_CHOICE)
    assert world.roaster.total == len(DEFAULT_CHOICE)
    view = world.now_playing.now_playing_view()
    assert {m["id"]: m["has_roast"] for m in view["movies"]} == dict.fromkeys(DEFAULT_CHOICE, True)
    assert world.catalog.calls["now_playing"] == 1


@pytest.mark.parametrize(
    ("now", "chosen"),
    [
        # Any time of the UTC day 2026-11-28 has the same window...
        (datetime(2026, 11, 28, 0, 0, 0, tzinfo=UTC), DEFAULT_CHOICE),
        (datetime(2026, 11, 28, 23, 59, 59, 999000, tzinfo=UTC), DEFAULT_CHOICE),
        # ...and the next UTC day moves it by one: 2026-11-19 to 2026-11-26.
        (datetime(2026, 11, 29, 0, 0, 0, tzinfo=UTC), [2003, 2004, 2005, 2012, 2013]),
        # The day before: 2026-11-17 to 2026-11-24.
        (datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC), [2001, 2002, 2003, 2012, 2013]),
    ],
)
def test_the_window_is_whole_utc_days(world: World, now: datetime, chosen: list[int]) -> None:
    world.clock.now = now
    world.catalog.movies = listed_movies()
    start(world)
    assert fanned_out(world) == chosen


def test_window_and_genres_are_settings(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOTBURN_RELEASE_WINDOW_OLDEST_DAYS", "7")
    monkeypatch.setenv("PLOTBURN_RELEASE_WINDOW_NEWEST_DAYS", "0")
    monkeypatch.setenv("PLOTBURN_EXCLUDED_GENRES", "10402")
    world.settings = Settings(
        _env_file=None, single_flight_wait_seconds=2.0, read_cache_seconds=0, status_cache_seconds=0
    )
    world.catalog.movies = listed_movies()
    start(world)
    # 2026-11-21 to 2026-11-28; documentaries are back, concert films still out.
    assert fanned_out(world) == [2003, 2004, 2005, 2006, 2007, 2009, 2013]


def test_no_excluded_genres_keeps_every_genre(world: World) -> None:
    world.settings = world.settings.model_copy(update={"excluded_genres": ""})
    world.catalog.movies = listed_movies()
    start(world)
    assert fanned_out(world) == [2002, 2003, 2004, 2007, 2008, 2009, 2012, 2013]


def test_a_list_with_nothing_in_the_window_is_an_empty_successful_run(world: World) -> None:
    world.catalog.movies = [m for m in listed_movies() if m.id not in DEFAULT_CHOICE]
    start(world)
    assert fanned_out(world) == []
    run = last_run(world)
    assert (run["status"], run["movies_fetched"]) == ("success", 0)
    assert world.catalog.calls["details"] == 0 and world.roaster.total == 0


# ------------------------------------------------------------ visible at once


def test_manual_trigger_creates_the_run_before_publishing(world: World) -> None:
    seen: list[object] = []
    publish = world.publisher.publish_nightly

    def publish_nightly(message: NightlyMessage) -> None:
        seen.append(world.runs.get_run(message.correlation_id or ""))
        publish(message)

    world.publisher.publish_nightly = publish_nightly  # type: ignore[method-assign]
    cid = world.nightly.trigger_manual()
    (run,) = seen
    assert run is not None and run.correlation_id == cid
    assert (run.status, run.listed, run.published) == (RunStatus.IN_PROGRESS, False, False)
    assert last_run(world)["correlation_id"] == cid
    assert last_run(world)["status"] == "in_progress"
    assert world.catalog.calls["now_playing"] == 0  # nothing listed yet


def test_scheduled_run_shows_in_progress_while_tmdb_is_listing(world: World) -> None:
    world.catalog.release = threading.Event()
    fanout = threading.Thread(target=start, args=(world,))
    fanout.start()
    try:
        assert world.catalog.listing.wait(timeout=5)
        run = last_run(world)
        assert run["correlation_id"].startswith("cron-")
        assert (run["status"], run["trigger"], run["movies_fetched"]) == (
            "in_progress",
            "scheduled",
            0,
        )
        assert world.publisher.roasts == []
    finally:
        world.catalog.release.set()
        fanout.join(timeout=5)
    assert last_run(world)["movies_fetched"] == 5
    world.deliver_all()
    assert last_run(world)["status"] == "success"
    assert world.lifecycle.status(full=True)["total_runs"] == 1


def test_a_triggered_run_that_fan_out_never_lists_fails_at_its_deadline(world: World) -> None:
    cid = world.nightly.trigger_manual()
    world.publisher.nightly = []  # the nightly message is lost
    world.clock.advance(minutes=31)
    run = last_run(world)
    assert (run["correlation_id"], run["status"]) == (cid, "failed")
    assert run["error"] == "fan-out never listed the movies"


def test_a_movie_tmdb_dropped_after_listing_fails_as_not_found(world: World) -> None:
    start(world)
    # TMDB lists movie 1001 tonight but no longer knows it when its details are asked.
    world.catalog.movies = [m for m in world.catalog.movies if m.id != 1001]
    world.deliver_all()
    run = last_run(world)
    assert run["status"] == "partial" and run["failed_movie_ids"] == [1001]
    assert run["failure_reasons"] == {"1001": "movie_not_found"}
    assert world.researcher.calls[1001] == 0 and world.roaster.calls[1001] == 0
