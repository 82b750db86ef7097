"""The same contract, held against the Firestore stores on the emulator and the
in-memory fakes the unit tests use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.config import DEBUG_TTL, NOW_PLAYING_TTL, ROAST_TTL, Settings
from functions.models import (
    BudgetPool,
    MovieOutcome,
    NowPlaying,
    Outcome,
    PoolSpend,
    RoastRecord,
    Run,
    RunStatus,
    Trigger,
)
from functions.store.budget import FirestoreBudget
from functions.store.caches import FirestoreCaches
from functions.store.leases import FirestoreLeases
from functions.store.logs import FirestoreDebug, FirestoreLogs
from functions.store.rate_limits import FirestoreRateLimiter
from functions.store.runs import FirestoreRuns
from functions.store.writes import FirestoreUnitOfWork
from tests.fakes import DATES, FakeResearcher, FakeRoaster, details_of, make_movies
from tests.fakes import stores as memory

VERSION = Settings.model_fields["cache_version"].default

NOW = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)


@pytest.fixture(params=["memory", "firestore"])
def stores(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if request.param == "memory":
        memory_caches, memory_logs = memory.MemoryCaches(), memory.MemoryLogs()
        built: dict[str, Any] = {
            "caches": memory_caches,
            "leases": memory.MemoryLeases(timedelta(seconds=60)),
            "runs": memory.MemoryRuns(memory_caches, memory_logs),
            "logs": memory_logs,
            "budget": memory.MemoryBudget(),
            "rate_limits": memory.MemoryRateLimiter(),
            "debug": memory.MemoryDebug(),
        }
        unit_of_work: Any = memory.MemoryUnitOfWork
    else:
        db = request.getfixturevalue("firestore_db")
        firestore_caches = FirestoreCaches(db, VERSION, None)
        built = {
            "caches": firestore_caches,
            "leases": FirestoreLeases(db, VERSION, timedelta(seconds=60)),
            "runs": FirestoreRuns(db, firestore_caches),
            "logs": FirestoreLogs(db),
            "budget": FirestoreBudget(db),
            "rate_limits": FirestoreRateLimiter(db),
            "debug": FirestoreDebug(db),
        }
        unit_of_work = lambda *stores: FirestoreUnitOfWork(db, *stores)  # noqa: E731
    # The unit of work stages writes for these very stores.
    built["uow"] = unit_of_work(built["caches"], built["budget"], built["leases"], built["debug"])
    yield built


def record(movie_id: int = 1000) -> RoastRecord:
    movie = make_movies(1, first_id=movie_id)[0]
    details = details_of(movie)
    truth = FakeResearcher().research(movie, details)
    roast = FakeRoaster().roast(movie, details, truth)
    return RoastRecord(movie=movie, details=details, truth=truth, roast=roast)


def test_now_playing_round_trip_and_expiry(stores: dict[str, Any]) -> None:
    caches = stores["caches"]
    assert caches.get_now_playing(NOW) is None
    listing = NowPlaying(movies=make_movies(3), dates=DATES)
    caches.put_now_playing(listing, NOW)
    assert caches.get_now_playing(NOW + timedelta(hours=1)) == listing
    assert caches.get_now_playing(NOW + NOW_PLAYING_TTL + timedelta(seconds=1)) is None


def test_roast_round_trip_expiry_and_batch_get(stores: dict[str, Any]) -> None:
    caches = stores["caches"]
    a, b = record(1000), record(1001)
    caches.put_roast(a, NOW)
    caches.put_roast(b, NOW)
    assert caches.get_roast(1000, NOW) == a
    assert caches.get_roast(1002, NOW) is None
    assert caches.roasts_ready([1000, 1001, 1002], NOW) == {1000, 1001}
    assert caches.roasts_ready([1000], NOW + ROAST_TTL + timedelta(seconds=1)) == set()
    assert caches.get_roast_and_truth(1000, NOW) == (a, None)
    assert caches.get_roast(1000, NOW + ROAST_TTL + timedelta(seconds=1)) is None


def test_truth_is_permanent_and_clear_counts(stores: dict[str, Any]) -> None:
    caches = stores["caches"]
    r = record()
    caches.put_truth(r.movie, r.truth)
    assert caches.get_roast_and_truth(r.movie.id, NOW)[1] == r.truth
    caches.put_roast(r, NOW)
    caches.put_roast(record(1001), NOW)
    assert len([k for k in caches.clear("roast") if k.endswith(("-1000", "-1001"))]) == 2
    assert caches.get_roast(r.movie.id, NOW) is None
    assert caches.roasts_ready([1000, 1001], NOW) == set()  # the has_roast index went too
    assert caches.get_roast_and_truth(r.movie.id, NOW)[1] == r.truth
    assert len(caches.clear("truth")) == 1
    assert caches.clear("truth") == []


def test_lease_is_exclusive_until_released_or_lapsed(stores: dict[str, Any]) -> None:
    leases = stores["leases"]
    assert leases.acquire(1, "a", NOW)
    assert not leases.acquire(1, "b", NOW)
    assert leases.acquire(1, "a", NOW)  # re-entrant for its holder
    leases.release(1, "b")  # not the holder: no effect
    assert not leases.acquire(1, "b", NOW)
    leases.release(1, "a")
    assert leases.acquire(1, "b", NOW)
    assert leases.acquire(1, "c", NOW + timedelta(seconds=61))  # b's lease lapsed


def test_a_failed_lease_cools_down_for_whoever_does_not_take_cooling(
    stores: dict[str, Any],
) -> None:
    leases = stores["leases"]
    until = NOW + timedelta(minutes=30)
    assert leases.acquire(7, "a", NOW)
    leases.mark_failed(7, "b", until)  # not the holder: no effect
    assert not leases.acquire(7, "c", NOW, take_cooling=False).failed_until
    leases.mark_failed(7, "a", until)
    attempt = leases.acquire(7, "public", NOW, take_cooling=False)
    assert (attempt.taken, attempt.failed_until) == (False, until)
    later = NOW + timedelta(minutes=1)
    assert leases.acquire(7, "night", later)  # the night and admins take it anyway
    assert not leases.acquire(7, "public", later, take_cooling=False)  # held, not cooling
    assert leases.acquire(7, "public", later, take_cooling=False).failed_until is None
    leases.release(7, "night")
    assert leases.acquire(7, "public", later, take_cooling=False)  # the marker is gone


def test_a_cooldown_ends_by_itself(stores: dict[str, Any]) -> None:
    leases = stores["leases"]
    assert leases.acquire(8, "a", NOW)
    leases.mark_failed(8, "a", NOW + timedelta(minutes=30))
    after = NOW + timedelta(minutes=31)
    assert leases.acquire(8, "public", after, take_cooling=False)


def test_lease_race_has_one_winner(stores: dict[str, Any]) -> None:
    leases = stores["leases"]
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def take(name: str) -> None:
        barrier.wait()
        if leases.acquire(42, name, NOW):
            wins.append(name)

    threads = [threading.Thread(target=take, args=(f"h{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def new_run(cid: str = "cron-1", ids: list[int] | None = None) -> Run:
    return Run(
        correlation_id=cid, trigger=Trigger.SCHEDULED, started_at=NOW, movie_ids=ids or [1, 2, 3]
    )


def outcome(movie_id: int, kind: Outcome = Outcome.GENERATED) -> MovieOutcome:
    return MovieOutcome(
        movie_id=movie_id,
        outcome=kind,
        recorded_at=NOW,
        reason="x" if kind is Outcome.FAILED else None,
    )


def test_run_lifecycle(stores: dict[str, Any]) -> None:
    runs = stores["runs"]
    assert runs.total_runs() == 0
    assert runs.create_run(new_run())
    assert not runs.create_run(new_run())
    assert runs.total_runs() == 1
    context = runs.movie_context("cron-1", 1, NOW)
    assert context.run is not None and context.run.movie_ids == [1, 2, 3]
    assert context.outcome is None and context.roast is None
    assert runs.record_outcome("cron-1", outcome(1))
    assert not runs.record_outcome("cron-1", outcome(1, Outcome.CACHED))
    assert runs.get_outcome("cron-1", 1).outcome is Outcome.GENERATED
    runs.record_outcome("cron-1", outcome(2, Outcome.CACHED))
    runs.record_outcome("cron-1", outcome(3, Outcome.FAILED))
    assert runs.count_outcomes("cron-1") == 3
    assert runs.movie_context("cron-1", 1, NOW).outcome.outcome is Outcome.GENERATED
    final, closed = runs.finalize("cron-1", NOW + timedelta(seconds=8))
    assert closed and final.status is RunStatus.PARTIAL
    assert (final.roasts_generated, final.roasts_cached, final.roasts_failed) == (1, 1, 1)
    # Closing takes the time it takes to read the outcomes: duration includes it.
    assert 8000 <= final.to_status_json()["duration_ms"] < 10000
    again, closed_again = runs.finalize("cron-1", NOW + timedelta(seconds=9))
    assert not closed_again and again.finished_at == final.finished_at
    reopened = runs.reopen("cron-1", [3], NOW)
    assert reopened.status is RunStatus.IN_PROGRESS
    assert runs.count_outcomes("cron-1") == 2
    assert runs.get_run("cron-1").status is RunStatus.IN_PROGRESS


def test_outcome_and_its_log_entry_are_written_together_once(stores: dict[str, Any]) -> None:
    runs, logs = stores["runs"], stores["logs"]
    runs.create_run(new_run("cron-7"))
    entry = {
        "severity": "INFO",
        "message": "movie generated",
        "correlation_id": "cron-7",
        "movie_id": 1,
    }
    assert runs.record_outcome("cron-7", outcome(1), log_entry=entry)
    assert not runs.record_outcome("cron-7", outcome(1), log_entry=entry)  # duplicate: no log
    written = logs.for_run("cron-7", 10)
    assert [(e["message"], e["movie_id"]) for e in written] == [("movie generated", 1)]


def test_recent_and_stuck_runs(stores: dict[str, Any]) -> None:
    runs = stores["runs"]
    for i in range(12):
        runs.create_run(
            new_run(f"cron-{i}").model_copy(update={"started_at": NOW + timedelta(minutes=i)})
        )
    recent = runs.recent_runs(10)
    assert [r.correlation_id for r in recent] == [f"cron-{i}" for i in range(11, 1, -1)]
    for movie_id in (1, 2, 3):
        runs.record_outcome("cron-0", outcome(movie_id))
    assert runs.finalize("cron-0", NOW)[1]
    stuck = runs.stuck_runs(NOW + timedelta(minutes=3))
    assert sorted(r.correlation_id for r in stuck) == ["cron-1", "cron-2"]
    assert runs.total_runs() == 12


def test_concurrent_outcomes_count_exactly(stores: dict[str, Any]) -> None:
    runs = stores["runs"]
    ids = list(range(1, 41))
    runs.create_run(new_run("cron-9", ids))
    barrier = threading.Barrier(len(ids))
    closers: list[bool] = []

    def land(movie_id: int) -> None:
        barrier.wait()
        runs.record_outcome("cron-9", outcome(movie_id))
        runs.record_outcome("cron-9", outcome(movie_id))  # duplicate
        if runs.count_outcomes("cron-9") >= len(ids):
            closers.append(runs.finalize("cron-9", NOW)[1])

    threads = [threading.Thread(target=land, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert closers.count(True) == 1
    final = runs.get_run("cron-9")
    assert final.status is RunStatus.SUCCESS and final.roasts_generated == 40


def test_logs_newest_first_and_by_run(stores: dict[str, Any]) -> None:
    logs = stores["logs"]
    for i in range(5):
        logs.write(
            {
                "severity": "INFO",
                "message": f"m{i}",
                "correlation_id": "cron-1" if i % 2 else "cron-2",
            }
        )
    assert [e["message"] for e in logs.recent(3)] == ["m4", "m3", "m2"]
    assert [e["message"] for e in logs.for_run("cron-1", 10)] == ["m3", "m1"]


def test_logs_by_level_and_run_and_deleted_by_age(stores: dict[str, Any]) -> None:
    logs = stores["logs"]
    levels = ["INFO", "WARN", "ERROR", "WARN", "DEBUG", "WARN"]
    for i, level in enumerate(levels):
        logs.write(
            {"level": level, "message": f"m{i}", "correlation_id": "cron-1" if i < 3 else "cron-2"}
        )
    assert [e["message"] for e in logs.query(10, level="WARN")] == ["m5", "m3", "m1"]
    assert [e["message"] for e in logs.query(10, correlation_id="cron-2")] == ["m5", "m4", "m3"]
    assert [e["message"] for e in logs.query(10, level="WARN", correlation_id="cron-1")] == ["m1"]
    assert [e["message"] for e in logs.query(2)] == ["m5", "m4"]
    assert all("created_at" not in e and "expire_at" not in e for e in logs.query(10))
    from functions.models import utcnow

    assert logs.delete_older_than(utcnow() - timedelta(days=1)) == 0
    assert logs.delete_older_than(utcnow() + timedelta(seconds=5)) == len(levels)
    assert logs.query(10) == []


def test_roast_index_answers_has_roast_and_lists_page_newest_first(stores: dict[str, Any]) -> None:
    caches = stores["caches"]
    for i, movie_id in enumerate((2000, 2001, 2002)):
        caches.put_roast(record(movie_id), NOW + timedelta(minutes=i))
    assert caches.roasts_ready([2000, 2001, 2002, 2003], NOW + timedelta(minutes=5)) == {
        2000,
        2001,
        2002,
    }
    # 2000 expires first (it was written first).
    later = NOW + ROAST_TTL + timedelta(seconds=30)
    assert caches.roasts_ready([2000, 2001, 2002], later) == {2001, 2002}
    page, total = caches.list_roasts(0, 2, NOW)
    assert total == 3 and [r.movie.id for r in page] == [2002, 2001]
    page, total = caches.list_roasts(2, 2, NOW)
    assert [r.movie.id for r in page] == [2000]
    assert caches.list_roasts(6, 2, NOW)[0] == []
    assert set(caches.get_roasts([2000, 2002, 2005], NOW)) == {2000, 2002}


def test_truths_by_id_and_page_newest_first(stores: dict[str, Any]) -> None:
    caches = stores["caches"]
    made = []
    for i, movie_id in enumerate((3000, 3001, 3002)):
        r = record(movie_id)
        truth = r.truth.model_copy(update={"created_at": NOW + timedelta(minutes=i)})
        caches.put_truth(r.movie, truth)
        made.append(truth)
    assert caches.get_truths([3000, 3002, 3009]) == {3000: made[0], 3002: made[2]}
    page, total = caches.list_truths(0, 2)
    assert total == 3 and [t.movie_id for t in page] == [3002, 3001]
    assert [t.movie_id for t in caches.list_truths(2, 2)[0]] == [3000]


def test_debug_entries_by_correlation_and_movie_expire_and_clear(stores: dict[str, Any]) -> None:
    debug = stores["debug"]
    with stores["uow"].begin() as work:  # lands in the generation's commit
        work.put_debug("cron-1", 10, {"result": "generated", "n": 1}, NOW)
        work.commit()
    debug.put("cron-1", 11, {"result": "generated", "n": 2}, NOW + timedelta(seconds=1))
    debug.put("1700000000000-abcd", 10, {"result": "generated", "n": 3}, NOW + timedelta(seconds=2))
    by_run = debug.for_correlation("cron-1", 10, NOW + timedelta(seconds=3))
    assert [(e["key"], e["data"]["n"]) for e in by_run] == [
        ("debug:cron-1:11", 2),
        ("debug:cron-1:10", 1),
    ]
    assert [e["data"]["n"] for e in debug.for_movie(10, 10, NOW)] == [3, 1]
    assert debug.for_correlation("cron-9", 10, NOW) == []
    assert debug.for_movie(10, 10, NOW + DEBUG_TTL + timedelta(seconds=5)) == []
    assert len(debug.clear()) == 3
    assert debug.for_movie(10, 10, NOW) == []


def test_budget_sums_concurrent_adds_and_alerts_once(stores: dict[str, Any]) -> None:
    budget = stores["budget"]
    assert budget.spent("2026-11-28") == (0, 0.0)
    threads = [threading.Thread(target=budget.add, args=("2026-11-28", 2, 0.25)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    budget.add("2026-11-28", -1, 0.0)
    assert budget.spent("2026-11-28") == (39, 5.0)
    assert budget.spent("2026-11-29") == (0, 0.0)
    claims = [budget.claim_alert("2026-11-28") for _ in range(3)]
    assert claims == [True, False, False]
    assert budget.claim_alert("2026-11-29")


def test_budget_keeps_the_public_pool_beside_the_total(stores: dict[str, Any]) -> None:
    budget = stores["budget"]
    budget.add("2026-11-28", 3, 0.5, BudgetPool.PUBLIC)
    budget.add("2026-11-28", 5, 1.25)
    budget.add("2026-11-28", -1, 0.0, BudgetPool.PUBLIC)
    spent = budget.spent_by_pool("2026-11-28")
    assert (spent.total.calls, spent.total.cost_usd) == (7, 1.75)
    assert spent.pool(BudgetPool.PUBLIC) == PoolSpend(2, 0.5)
    assert spent.pool(BudgetPool.NIGHTLY) == PoolSpend(5, 1.25)
    assert budget.spent("2026-11-28") == (7, 1.75)
    assert budget.claim_alert("2026-11-28", BudgetPool.PUBLIC)
    assert budget.claim_alert("2026-11-28")  # each pool alerts once
    assert not budget.claim_alert("2026-11-28", BudgetPool.PUBLIC)


def test_rate_limiter_token_bucket_per_client(stores: dict[str, Any]) -> None:
    limiter = stores["rate_limits"]
    at = NOW + timedelta(seconds=15)
    assert [limiter.hit("a", at, 3) for _ in range(3)] == [None, None, None]
    assert limiter.hit("a", at, 3) == 20  # 3 a minute: the next token in 20 s
    assert limiter.hit("b", at, 3) is None  # every client has its own bucket
    assert limiter.hit("a", at + timedelta(seconds=10), 3) == 10
    assert limiter.hit("a", at + timedelta(seconds=20), 3) is None
    assert limiter.hit("a", at + timedelta(seconds=20), 3) == 20
    assert [limiter.hit("a", at + timedelta(minutes=5), 3) for _ in range(4)] == [
        None,
        None,
        None,
        20,
    ]


def test_a_clients_concurrent_requests_spend_its_bucket_exactly(stores: dict[str, Any]) -> None:
    limiter = stores["rate_limits"]
    results: list[int | None] = []
    barrier = threading.Barrier(8)

    def hit() -> None:
        barrier.wait()
        results.append(limiter.hit("racer", NOW, 3))

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Never more than the bucket holds, never an error: the losers are told to wait.
    assert len(results) == 8
    assert sum(r is None for r in results) <= 3
    assert all(r is None or r >= 1 for r in results)


def test_a_generation_lands_in_one_commit(stores: dict[str, Any]) -> None:
    caches, leases, budget = stores["caches"], stores["leases"], stores["budget"]
    r = record(1200)
    assert leases.acquire(1200, "a", NOW)
    with stores["uow"].begin() as work:
        work.settle_budget("2026-11-28", 2, 0.25)
        work.put_roast(r, NOW)
        work.put_debug("cron-3", 1200, {"result": "generated"}, NOW)
        work.release_lease(1200, "a")
        assert caches.get_roast(1200, NOW) is None  # nothing is sent before commit()
        work.commit()
    assert caches.get_roast(1200, NOW) == r
    assert caches.roasts_ready([1200], NOW) == {1200}
    assert stores["debug"].for_movie(1200, 5, NOW)[0]["key"] == "debug:cron-3:1200"
    assert budget.spent("2026-11-28") == (2, 0.25)
    assert leases.acquire(1200, "b", NOW)  # the lease was given back


def test_a_lease_taken_over_meanwhile_does_not_sink_the_commit(stores: dict[str, Any]) -> None:
    caches, leases, budget = stores["caches"], stores["leases"], stores["budget"]
    r = record(1201)
    assert leases.acquire(1201, "slow", NOW)
    later = NOW + timedelta(seconds=61)  # past the 60 s lease: "slow" is presumed dead
    assert leases.acquire(1201, "other", later)
    with stores["uow"].begin() as work:
        work.settle_budget("2026-11-28", 1, 0.0)
        work.put_roast(r, later)
        work.release_lease(1201, "slow")  # no longer ours: dropped, not failing the rest
        work.commit()
    assert caches.get_roast(1201, later) == r
    assert budget.spent("2026-11-28") == (1, 0.0)
    assert not leases.acquire(1201, "third", later)  # "other" still holds it


def test_a_unit_of_work_left_without_commit_writes_nothing(stores: dict[str, Any]) -> None:
    caches, budget = stores["caches"], stores["budget"]
    with pytest.raises(RuntimeError), stores["uow"].begin() as work:
        work.settle_budget("2026-11-28", 2, 0.0)
        work.put_roast(record(1202), NOW)
        raise RuntimeError("the roast card was invalid")
    assert budget.spent("2026-11-28") == (0, 0.0)
    assert caches.get_roast(1202, NOW) is None
    with stores["uow"].begin() as work:
        work.commit()  # an empty commit sends nothing and fails nothing


@pytest.mark.parametrize("ids", [[], [7], list(range(100_000, 100_500))])
def test_a_run_keeps_its_movie_ids_in_order(stores: dict[str, Any], ids: list[int]) -> None:
    runs = stores["runs"]
    runs.create_run(new_run("cron-ids").model_copy(update={"movie_ids": ids}))
    assert runs.get_run("cron-ids").movie_ids == ids
    assert runs.movie_context("cron-ids", 7, NOW).run.movies_fetched == len(ids)


def test_a_run_missing_outcomes_is_not_closed(stores: dict[str, Any]) -> None:
    runs = stores["runs"]
    runs.create_run(new_run("cron-5"))
    runs.record_outcome("cron-5", outcome(1))
    runs.record_outcome("cron-5", outcome(2))
    run, closed = runs.finalize("cron-5", NOW)  # movie 3 has not landed
    assert not closed and run.status is RunStatus.IN_PROGRESS
    runs.record_outcome("cron-5", outcome(3))
    # The failed attempt gave its claim back: the real last delivery closes at once.
    final, closed = runs.finalize("cron-5", NOW + timedelta(seconds=1))
    assert closed and final.status is RunStatus.SUCCESS and final.roasts_generated == 3


def test_a_run_is_created_before_its_movies_are_listed(stores: dict[str, Any]) -> None:
    runs = stores["runs"]
    placeholder = new_run("manual-trigger-1").model_copy(update={"movie_ids": [], "listed": False})
    assert runs.create_run(placeholder)
    shown = runs.recent_runs(1)[0]
    assert (shown.listed, shown.status, shown.movies_fetched) == (False, RunStatus.IN_PROGRESS, 0)
    runs.update_run(placeholder.model_copy(update={"movie_ids": [4, 5], "listed": True}))
    listed = runs.get_run("manual-trigger-1")
    assert (listed.listed, listed.movie_ids, listed.status) == (True, [4, 5], RunStatus.IN_PROGRESS)
    assert runs.total_runs() == 1
