from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from functions.config import Settings
from functions.observability import Journal
from functions.pipeline import Pipeline
from tests.fakes import (
    FakeCatalog,
    FakeResearcher,
    FakeRoaster,
    MemoryBudget,
    MemoryCaches,
    MemoryDebug,
    MemoryLeases,
    MemoryLogs,
    MemoryPublisher,
    MemoryRateLimiter,
    MemoryRuns,
    MemoryWrites,
    make_movies,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class World:
    pipeline: Pipeline
    catalog: FakeCatalog
    researcher: FakeResearcher
    roaster: FakeRoaster
    publisher: MemoryPublisher
    caches: MemoryCaches
    runs: MemoryRuns
    logs: MemoryLogs
    clock: Clock

    def deliver_all(self, times: int = 1) -> None:
        """Deliver every published roast message (each `times` times), in order."""
        pending, self.publisher.roasts = list(self.publisher.roasts), []
        for message in pending:
            for _ in range(times):
                self.pipeline.process_movie(message)


@pytest.fixture
def world() -> World:
    # The per-instance read and status caches are off here: tests change the stores behind the
    # pipeline's back. test_pipeline.py tests the read cache on its own.
    settings = Settings(
        _env_file=None, single_flight_wait_seconds=2.0, read_cache_seconds=0, status_cache_seconds=0
    )
    clock = Clock()
    catalog = FakeCatalog(make_movies(5), extra=make_movies(2, first_id=900000))
    researcher, roaster = FakeResearcher(), FakeRoaster()
    publisher, caches, logs = MemoryPublisher(), MemoryCaches(), MemoryLogs()
    runs = MemoryRuns(caches, logs)
    pipeline = Pipeline(
        settings=settings,
        catalog=catalog,
        researcher=researcher,
        roaster=roaster,
        publisher=publisher,
        caches=caches,
        leases=MemoryLeases(),
        runs=runs,
        journal=Journal(logs),
        budget=MemoryBudget(),
        rate_limits=MemoryRateLimiter(),
        writes=MemoryWrites(),
        debug_store=MemoryDebug(),
        clock=clock,
        poll_interval_seconds=0.01,
    )
    return World(pipeline, catalog, researcher, roaster, publisher, caches, runs, logs, clock)
