from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.bootstrap import App, wire
from functions.config import Settings
from functions.observability import Journal
from functions.usecases.budget import BudgetPolicy
from functions.usecases.generation import Generation
from functions.usecases.nightly import Nightly
from functions.usecases.now_playing import NowPlayingList
from functions.usecases.operations import Operations
from functions.usecases.roast_movie import RoastMovie
from functions.usecases.runs import RunLifecycle
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
    MemoryUnitOfWork,
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
    """The use cases wired (by bootstrap.wire, as in production) to in-memory fakes,
    and the fakes themselves."""

    app: App
    catalog: FakeCatalog
    researcher: FakeResearcher
    roaster: FakeRoaster
    publisher: MemoryPublisher
    caches: MemoryCaches
    runs: MemoryRuns
    logs: MemoryLogs
    leases: MemoryLeases
    daily_budget: MemoryBudget
    clock: Clock

    @property
    def now_playing(self) -> NowPlayingList:
        return self.app.now_playing

    @property
    def budget(self) -> BudgetPolicy:
        return self.app.budget

    @property
    def generation(self) -> Generation:
        return self.app.generation

    @property
    def lifecycle(self) -> RunLifecycle:
        return self.app.lifecycle

    @property
    def nightly(self) -> Nightly:
        return self.app.nightly

    @property
    def roasting(self) -> RoastMovie:
        return self.app.roasting

    @property
    def operations(self) -> Operations:
        return self.app.operations

    @property
    def journal(self) -> Journal:
        return self.app.journal

    def _use_cases(self) -> list[Any]:
        return [
            getattr(self.app, f.name)
            for f in dataclasses.fields(self.app)
            if f.name not in ("settings", "journal")
        ]

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        """Every use case (and the App) reads these settings from now on."""
        self.app.settings = settings
        for use_case in self._use_cases():
            if hasattr(use_case, "settings"):
                use_case.settings = settings

    def use(self, **ports: Any) -> None:
        """Swap ports (e.g. runs=BrokenRuns(...)) in every use case that takes them."""
        for use_case in self._use_cases():
            for name, port in ports.items():
                if hasattr(use_case, name):
                    setattr(use_case, name, port)

    def deliver_all(self, times: int = 1) -> None:
        """Deliver every published roast message (each `times` times), in order."""
        pending, self.publisher.roasts = list(self.publisher.roasts), []
        for message in pending:
            for _ in range(times):
                self.roasting.process_movie(message)


@pytest.fixture
def world() -> World:
    # The per-instance read and status caches are off here: tests change the stores behind the
    # use cases' back. test_pipeline.py tests the read cache on its own.
    settings = Settings(
        _env_file=None, single_flight_wait_seconds=2.0, read_cache_seconds=0, status_cache_seconds=0
    )
    clock = Clock()
    catalog = FakeCatalog(make_movies(5), extra=make_movies(2, first_id=900000))
    researcher, roaster = FakeResearcher(), FakeRoaster()
    publisher, caches, logs = MemoryPublisher(), MemoryCaches(), MemoryLogs()
    runs = MemoryRuns(caches, logs)
    leases, daily_budget, debug = MemoryLeases(), MemoryBudget(), MemoryDebug()
    app = wire(
        settings,
        catalog=catalog,
        researcher=researcher,
        roaster=roaster,
        publisher=publisher,
        caches=caches,
        leases=leases,
        runs=runs,
        journal=Journal(logs),
        budget=daily_budget,
        rate_limits=MemoryRateLimiter(),
        uow=MemoryUnitOfWork(caches, daily_budget, leases, debug),
        debug_store=debug,
        clock=clock,
        poll_interval_seconds=0.01,
    )
    return World(
        app,
        catalog,
        researcher,
        roaster,
        publisher,
        caches,
        runs,
        logs,
        leases,
        daily_budget,
        clock,
    )
