"""What the most-read routes cost in Firestore, on the emulator: GET /now-playing reads
two documents however long the list (the list and the has_roast index), and a cached
GET /movie/{id} one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions import metering
from functions.bootstrap import App, wire
from functions.config import Settings
from functions.models import NowPlaying, RoastRecord
from functions.observability import Journal
from functions.store.budget import FirestoreBudget
from functions.store.caches import FirestoreCaches
from functions.store.leases import FirestoreLeases
from functions.store.logs import FirestoreDebug, FirestoreLogs
from functions.store.rate_limits import FirestoreRateLimiter
from functions.store.runs import FirestoreRuns
from functions.store.writes import FirestoreUnitOfWork
from tests.fakes import (
    DATES,
    FakeCatalog,
    FakeResearcher,
    FakeRoaster,
    MemoryPublisher,
    details_of,
    make_movies,
)

NOW = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
VERSION = Settings.model_fields["cache_version"].default


def wired(db: Any, catalog: FakeCatalog) -> App:
    caches = FirestoreCaches(db, VERSION, "IN")
    settings = Settings(_env_file=None, read_cache_seconds=0, status_cache_seconds=0)
    return wire(
        settings,
        catalog=catalog,
        researcher=FakeResearcher(),
        roaster=FakeRoaster(),
        publisher=MemoryPublisher(),
        caches=caches,
        leases=FirestoreLeases(db, VERSION, settings.generation_lease),
        runs=FirestoreRuns(db, caches),
        journal=Journal(FirestoreLogs(db)),
        budget=FirestoreBudget(db),
        rate_limits=FirestoreRateLimiter(db),
        uow=FirestoreUnitOfWork(
            db,
            caches,
            FirestoreBudget(db),
            FirestoreLeases(db, VERSION, settings.generation_lease),
            FirestoreDebug(db),
        ),
        debug_store=FirestoreDebug(db),
        clock=lambda: NOW,
    )


@pytest.mark.parametrize("listed", [15, 300])
def test_now_playing_costs_two_reads_however_long_the_list(firestore_db: Any, listed: int) -> None:
    movies = make_movies(listed)
    under_test = wired(firestore_db, FakeCatalog(movies))
    caches = under_test.generation.caches
    caches.put_now_playing(NowPlaying(movies=movies, dates=DATES), NOW)
    roasted = movies[::3]
    for movie in roasted:
        details = details_of(movie)
        truth = FakeResearcher().research(movie, details)
        record = RoastRecord(
            movie=movie,
            details=details,
            truth=truth,
            roast=FakeRoaster().roast(movie, details, truth),
        )
        caches.put_roast(record, NOW)
    with metering.ledger() as book:
        view = under_test.now_playing.now_playing_view()
    assert book.ops().get("firestore_reads") == 2
    assert view["total_results"] == listed and view["cached"] is True
    assert {m["id"] for m in view["movies"] if m["has_roast"]} == {m.id for m in roasted}

    with metering.ledger() as book:
        record, cached = under_test.generation.movie(roasted[0].id, client="someone")
    assert cached and record.movie.id == roasted[0].id
    assert book.ops().get("firestore_reads") == 1
