"""In-memory fakes of PlotBurn's ports, for tests only (never deployed): the stores
(``stores``), the Pub/Sub publisher (``bus``) and the upstream APIs (``upstreams``).
The contract tests in tests/integration hold the store fakes to the Firestore ones."""

from tests.fakes.bus import MemoryPublisher
from tests.fakes.stores import (
    MemoryBudget,
    MemoryCaches,
    MemoryDebug,
    MemoryLeases,
    MemoryLogs,
    MemoryProviderLimiter,
    MemoryRateLimiter,
    MemoryRuns,
    MemoryUnitOfWork,
)
from tests.fakes.upstreams import (
    DATES,
    RELEASE_DATE,
    RESEARCH_COST,
    ROAST_COST,
    FakeCatalog,
    FakeResearcher,
    FakeRoaster,
    card_for,
    details_of,
    make_movies,
)

__all__ = [
    "DATES",
    "RELEASE_DATE",
    "RESEARCH_COST",
    "ROAST_COST",
    "FakeCatalog",
    "FakeResearcher",
    "FakeRoaster",
    "MemoryBudget",
    "MemoryCaches",
    "MemoryDebug",
    "MemoryLeases",
    "MemoryLogs",
    "MemoryProviderLimiter",
    "MemoryPublisher",
    "MemoryRateLimiter",
    "MemoryRuns",
    "MemoryUnitOfWork",
    "card_for",
    "details_of",
    "make_movies",
]
