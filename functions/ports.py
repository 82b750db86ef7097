"""The seams between PlotBurn's domain logic and the outside world.

Each outside dependency sits behind one small interface here. There is one real
implementation of each (Firestore, Pub/Sub, httpx) and, where tests need one, one
in-memory fake in ``tests/fakes`` (never deployed). The use cases
(``functions.usecases``) only ever see these protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from functions.limits import Permit
from functions.models import (
    BudgetPool,
    DaySpend,
    Movie,
    MovieDetails,
    MovieOutcome,
    NightlyMessage,
    NowPlaying,
    Roast,
    RoastMessage,
    RoastRecord,
    Run,
    Truth,
)

# What DELETE /cache/clear/{kind} clears ("all" is every one of them).
CacheKind = Literal["now-playing", "roast", "truth", "debug"]
CACHE_KINDS: tuple[CacheKind, ...] = ("now-playing", "roast", "truth", "debug")


@dataclass
class MovieContext:
    """What a roast delivery needs to know first: its run, whether this movie's
    outcome is already recorded in it, and the movie's cached roast."""

    run: Run | None = None
    outcome: MovieOutcome | None = None
    roast: RoastRecord | None = None


@dataclass(frozen=True)
class LeaseAttempt:
    """The answer to asking for a movie's generation lease: taken or not, and, when
    the movie's last generation failed recently, until when it is cooling down."""

    taken: bool
    failed_until: datetime | None = None

    def __bool__(self) -> bool:
        return self.taken


class MovieCatalog(Protocol):
    """TMDB."""

    def now_playing(self) -> NowPlaying:
        """Every page of now playing, de-duplicated by id, in TMDB's order."""

    def details(self, movie_id: int) -> MovieDetails:
        """One movie's details and director; raises MovieNotFound for an unknown id."""


class Researcher(Protocol):
    """Perplexity: a factual brief of a movie, with citations."""

    def research(self, movie: Movie, details: MovieDetails) -> Truth: ...


class Roaster(Protocol):
    """xAI Grok: a roast of a movie, written from its truth."""

    def roast(self, movie: Movie, details: MovieDetails, truth: Truth) -> Roast: ...


class Publisher(Protocol):
    """Pub/Sub."""

    def publish_nightly(self, message: NightlyMessage) -> str:
        """Publish to the nightly topic; returns the message id."""

    def publish_roasts(self, messages: list[RoastMessage]) -> None:
        """Publish all, batched and concurrently; raises if any publish failed."""


class CacheStore(Protocol):
    """Read-through caches. An expired document counts as a miss (TTL deletion lags)."""

    def get_now_playing(self, now: datetime) -> NowPlaying | None: ...

    def put_now_playing(self, listing: NowPlaying, now: datetime) -> None: ...

    def put_truth(self, movie: Movie, truth: Truth) -> None: ...

    def get_truths(self, movie_ids: list[int]) -> dict[int, Truth]:
        """The stored truths of these movies, in one round trip."""

    def list_truths(self, offset: int, limit: int) -> tuple[list[Truth], int]:
        """A page of stored truths, newest first, and how many there are."""

    def get_roasts(self, movie_ids: list[int], now: datetime) -> dict[int, RoastRecord]:
        """The fresh roasts of these movies, in one round trip."""

    def list_roasts(self, offset: int, limit: int, now: datetime) -> tuple[list[RoastRecord], int]:
        """A page of fresh roasts, newest first, and how many there are."""

    def get_roast(self, movie_id: int, now: datetime) -> RoastRecord | None: ...

    def get_roast_and_truth(
        self, movie_id: int, now: datetime
    ) -> tuple[RoastRecord | None, Truth | None]:
        """The movie's fresh roast and its truth, in one round trip."""

    def roasts_ready(self, movie_ids: list[int], now: datetime) -> set[int]:
        """Which of these movies have a fresh roast: one read however many (an index
        that every roast write updates)."""

    def put_roast(self, record: RoastRecord, now: datetime) -> None: ...

    def clear(self, kind: CacheKind) -> list[str]:
        """Delete every document of that cache (not "debug": DebugStore's); returns
        the deleted documents' ids."""


class GenerationLeases(Protocol):
    """Single flight: at most one caller generates a given movie at a time."""

    def acquire(
        self, movie_id: int, holder: str, now: datetime, take_cooling: bool = True
    ) -> LeaseAttempt:
        """Take the lease if it is free or its holder's lease has lapsed.

        A movie whose generation failed recently is cooling down: with
        `take_cooling` the lease is taken anyway (the nightly run and admins retry
        it); without, it is not, and the attempt says until when the movie cools."""

    def release(self, movie_id: int, holder: str) -> None: ...

    def mark_failed(self, movie_id: int, holder: str, until: datetime) -> None:
        """Give back our lease as a cooling-down marker that lasts until `until`."""


class RunStore(Protocol):
    """Runs and their per-movie outcomes.

    Outcomes are separate documents, one per (run, movie), created at most once, so
    no document takes a write from every movie and a duplicate delivery cannot count
    twice. The run document is written at creation and at finalization only.
    """

    def create_run(self, run: Run) -> bool:
        """Create the run and count it in total_runs; False if it already exists."""

    def get_run(self, correlation_id: str) -> Run | None: ...

    def update_run(self, run: Run) -> None:
        """Write the run as it now stands (its movie list, or a failed start)."""

    def mark_published(self, correlation_id: str) -> None: ...

    def get_outcome(self, correlation_id: str, movie_id: int) -> MovieOutcome | None: ...

    def movie_context(self, correlation_id: str, movie_id: int, now: datetime) -> MovieContext:
        """The run, this movie's outcome in it and its fresh cached roast, in one
        round trip (the first thing every roast delivery reads)."""

    def record_outcome(
        self, correlation_id: str, outcome: MovieOutcome, log_entry: dict[str, Any] | None = None
    ) -> bool:
        """Record a movie's outcome once; False if it was already recorded. The
        log entry, if given, is stored with it atomically (and not if it was)."""

    def count_outcomes(self, correlation_id: str) -> int: ...

    def list_outcomes(self, correlation_id: str) -> list[MovieOutcome]: ...

    def finalize(self, correlation_id: str, now: datetime) -> tuple[Run | None, bool]:
        """Atomically: if the run is in progress and every one of its movies has an
        outcome, derive counters and status from the outcomes and write them. Returns the
        run as it now stands, and whether this call is the one that closed it."""

    def reopen(self, correlation_id: str, movie_ids: list[int], now: datetime) -> Run | None:
        """Atomically delete these movies' outcomes and set the run back in progress."""

    def recent_runs(self, limit: int) -> list[Run]:
        """Newest first."""

    def total_runs(self) -> int: ...

    def stuck_runs(self, started_before: datetime) -> list[Run]:
        """Runs still in progress that started before the given moment."""


class LogStore(Protocol):
    def write(self, entry: dict[str, Any]) -> None: ...

    def query(
        self, limit: int, level: str | None = None, correlation_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first, optionally of one Worker level and/or correlation id."""

    def recent(self, limit: int) -> list[dict[str, Any]]: ...

    def for_run(self, correlation_id: str, limit: int) -> list[dict[str, Any]]: ...

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete entries written before `cutoff`; how many were deleted."""


class DebugStore(Protocol):
    """Each generation's debug payload, by correlation id and by movie."""

    def put(self, correlation_id: str, movie_id: int, data: dict[str, Any], now: datetime) -> None:
        """Written at once (a generation's debug entry goes through its unit of work)."""

    def for_correlation(
        self, correlation_id: str, limit: int, now: datetime
    ) -> list[dict[str, Any]]:
        """Newest first: [{"key", "data"}]."""

    def for_movie(self, movie_id: int, limit: int, now: datetime) -> list[dict[str, Any]]: ...

    def clear(self) -> list[str]:
        """Delete every entry; returns their ids."""


class DailyBudget(Protocol):
    """Today's paid upstream calls and estimated cost, shared by every instance."""

    def spent(self, day: str) -> tuple[int, float]:
        """(calls, cost in USD) recorded for that UTC day, both pools together."""

    def spent_by_pool(self, day: str) -> DaySpend:
        """The day's spend and the public pool's part of it, in one read."""

    def add(
        self, day: str, calls: int, cost_usd: float, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> None:
        """Add to the day's spend (negative calls return an unused reservation)."""

    def claim_alert(self, day: str, pool: BudgetPool = BudgetPool.NIGHTLY) -> bool:
        """True for exactly one caller per day and pool: the one that raises the alert."""


class RateLimiter(Protocol):
    def hit(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        """Count one paid request; None if allowed, else seconds until allowed."""

    def retry_after(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        """Without counting anything: None if a request would be allowed now, else
        seconds until it would be."""


class ProviderLimiter(Protocol):
    """The fleet-wide limit on requests to each upstream provider (research, roast,
    tmdb), shared by every instance: a token bucket, in-flight slots that lapse if
    their holder dies, and a "cool down until" set by the provider's 429."""

    def acquire(self, provider: str, holder: str, now: datetime, max_wait: float) -> Permit:
        """A token and an in-flight slot for one request (see `Permit`). A token may
        be reserved up to `max_wait` seconds ahead; asking again then takes it."""

    def release(self, provider: str, holder: str) -> None:
        """Give back the holder's slot (and any reservation it no longer wants)."""

    def cool_down(self, provider: str, until: datetime) -> None:
        """Nobody sends to this provider before `until` (a longer pause stands)."""


class GenerationWork(Protocol):
    """What a finished generation leaves behind, staged for one commit (one round
    trip). Nothing is written before `commit()`; leaving the block without it writes
    nothing. A lease release whose lease was meanwhile taken over is dropped from the
    commit, never the rest."""

    def __enter__(self) -> GenerationWork: ...

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None: ...

    def settle_budget(
        self, day: str, calls: int, cost_usd: float, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> None: ...

    def put_roast(self, record: RoastRecord, now: datetime) -> None: ...

    def put_debug(
        self, correlation_id: str, movie_id: int, data: dict[str, Any], now: datetime
    ) -> None: ...

    def release_lease(self, movie_id: int, holder: str) -> None: ...

    def commit(self) -> None: ...


class UnitOfWork(Protocol):
    def begin(self) -> GenerationWork:
        """A new, empty unit of work: `with uow.begin() as work: ...; work.commit()`."""
