"""A movie's roast on demand (`GET /movie/{id}`) and for a run: generated at most once
across every caller (single flight on a lease), within the daily budget, with public
callers rate-limited; roasts this instance served recently are answered from memory.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cachetools import TTLCache

from functions import metering, views
from functions.config import Settings
from functions.errors import (
    GenerationInProgress,
    NotOnDemand,
    RateLimited,
    RecentlyFailed,
    UpstreamError,
)
from functions.limits import waits_until
from functions.models import BudgetPool, Movie, MovieDetails, RoastRecord, utcnow
from functions.ports import (
    CacheStore,
    GenerationLeases,
    MovieCatalog,
    RateLimiter,
    Researcher,
    Roaster,
    UnitOfWork,
)
from functions.usecases.budget import BudgetPolicy
from functions.usecases.now_playing import NowPlayingList

# A waiter polls after 0.25 s, then 0.5, 1, 2, 2, ... seconds.
MAX_POLL_INTERVAL_SECONDS = 2.0
# What a caller who gave up waiting is told to wait before asking again.
WAITER_RETRY_AFTER_SECONDS = 5


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


@dataclass
class _Lease:
    movie_id: int
    holder: str
    released: bool = False


@dataclass
class Generation:
    settings: Settings
    now_playing: NowPlayingList
    budget: BudgetPolicy
    catalog: MovieCatalog
    researcher: Researcher
    roaster: Roaster
    caches: CacheStore
    leases: GenerationLeases
    rate_limits: RateLimiter
    uow: UnitOfWork
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    poll_interval_seconds: float = 0.25
    _instance: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Roasts this instance served recently (see Settings.read_cache_seconds).
    _recent_roasts: TTLCache[int, RoastRecord] | None = field(default=None, init=False)
    _recent_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._recent_roasts = None
        if self.settings.read_cache_seconds > 0:
            self._recent_roasts = TTLCache(
                maxsize=self.settings.read_cache_size,
                ttl=self.settings.read_cache_seconds,
                timer=lambda: self.clock().timestamp(),
            )

    def _remember(self, record: RoastRecord) -> RoastRecord:
        if self._recent_roasts is not None:
            with self._recent_lock:
                self._recent_roasts[record.movie.id] = record
        return record

    def _recalled(self, movie_id: int) -> RoastRecord | None:
        if self._recent_roasts is None:
            return None
        with self._recent_lock:
            return self._recent_roasts.get(movie_id)

    def forget_recent(self) -> None:
        """Forget the roasts this instance remembers (the roast cache was cleared)."""
        if self._recent_roasts is not None:
            with self._recent_lock:
                self._recent_roasts.clear()

    def movie(
        self, movie_id: int, client: str | None = None, request_id: str | None = None
    ) -> tuple[RoastRecord, bool]:
        """`GET /movie/{id}`: the cached roast, or research and roast it now. Returns
        the record and whether it was served from the cache.

        `client` is the rate-limit key of a public caller; None is a trusted caller
        (the admin token), who may generate any movie without a rate limit.
        `request_id` (the request's correlation id) names a generation it pays for.
        Raises MovieNotFound, NotOnDemand, RateLimited, BudgetExhausted, UpstreamError,
        or GenerationInProgress when another caller is generating it and did not
        finish within the wait.
        """
        recalled = self._recalled(movie_id)
        if recalled is not None:
            return recalled, True
        cached = self.caches.get_roast(movie_id, self.clock())
        if cached is not None:
            return self._remember(cached), True
        public = client is not None
        listed = {m.id: m for m in self.now_playing.now_playing()}
        movie = listed.get(movie_id)
        if movie is None and public and not self.settings.on_demand_any_movie:
            raise NotOnDemand(movie_id)
        if client is not None:
            # Every public cache miss counts against the caller's limit once, whether
            # it ends up paying, waiting on another caller's generation or looking the
            # movie up at TMDB (work on the operator's key too).
            self._limit_rate(client)
        details: MovieDetails | None = None
        if movie is None:
            details = self.catalog.details(movie_id)
            movie = details.movie
        record, generated = self.ensure_roast(
            movie_id, correlation_id=request_id, public=public, movie=movie, details=details
        )
        return self._remember(record), not generated

    def _limit_rate(self, client: str) -> None:
        retry_after = self.rate_limits.hit(
            client, self.clock(), self.settings.paid_requests_per_minute
        )
        if retry_after is not None:
            raise RateLimited(retry_after)

    def ensure_roast(
        self,
        movie_id: int,
        correlation_id: str | None,
        public: bool = False,
        movie: Movie | None = None,
        details: MovieDetails | None = None,
    ) -> tuple[RoastRecord, bool]:
        """The roast of movie `movie_id`, generating it at most once across every caller.

        Returns the record and whether this call generated it. Whoever takes the
        movie's lease pays for research and roast; everyone else waits for the roast
        document to appear, polling with a growing interval, up to
        `single_flight_wait_seconds` (`public_wait_seconds` for a public caller).
        A public caller pays from the public share of the budget and does not retry
        a movie whose generation failed within the cooldown (RecentlyFailed). The
        movie is what TMDB says: `movie` (from its now-playing list) or `details` if
        the caller has them, else the details fetched for the generation.
        """
        s = self.settings
        holder = f"{self._instance}-{uuid.uuid4().hex[:8]}"
        wait = s.public_wait_seconds if public else s.single_flight_wait_seconds
        deadline = time.monotonic() + wait
        interval = self.poll_interval_seconds
        while True:
            attempt = self.leases.acquire(movie_id, holder, self.clock(), take_cooling=not public)
            if attempt.failed_until is not None:
                raise RecentlyFailed(movie_id, _seconds_until(attempt.failed_until, self.clock()))
            if attempt.taken:
                lease = _Lease(movie_id, holder)
                try:
                    return self._generate(movie_id, movie, correlation_id, public, lease, details)
                except UpstreamError:
                    self._cool_down(lease)
                    raise
                finally:
                    if not lease.released:
                        self.leases.release(movie_id, holder)
            record = self.caches.get_roast(movie_id, self.clock())
            if record is not None:
                return record, False
            left = deadline - time.monotonic()
            if left <= 0:
                raise GenerationInProgress(movie_id, retry_after_seconds=WAITER_RETRY_AFTER_SECONDS)
            # Back off: a waiter costs a lease attempt and a roast read per poll.
            self.sleep(min(interval, left))
            interval = min(interval * 2, MAX_POLL_INTERVAL_SECONDS)

    def _cool_down(self, lease: _Lease) -> None:
        """Remember that the movie's generation failed, so public callers do not pay
        for it again until the cooldown ends (the nightly run and admins still may)."""
        cooldown = self.settings.failed_movie_cooldown
        if cooldown.total_seconds() <= 0:
            return
        self.leases.mark_failed(lease.movie_id, lease.holder, self.clock() + cooldown)
        lease.released = True

    def _wait_deadline(self) -> float:
        """Waiting for a provider's capacity must not outlast the lease just taken:
        waits end by its expiry less one attempt's timeout and backoff, the room the
        last call needs (then the delivery is handed back, the lease released)."""
        settings = self.settings
        room = settings.upstream_timeout_seconds + settings.upstream_backoff_max_seconds
        return time.monotonic() + max(0.0, settings.generation_lease_seconds - room)

    def _generate(
        self,
        movie_id: int,
        movie: Movie | None,
        correlation_id: str | None,
        public: bool,
        lease: _Lease,
        details: MovieDetails | None,
    ) -> tuple[RoastRecord, bool]:
        now = self.clock()
        # The lease's previous holder may have finished just before we took it, so
        # the roast is read again now that we hold it (with the truth, in one trip).
        record, truth = self.caches.get_roast_and_truth(movie_id, now)
        if record is not None:
            return record, False
        pool = BudgetPool.PUBLIC if public else BudgetPool.NIGHTLY
        reserved = 1 + (truth is None)
        self.budget.reserve(reserved, correlation_id, pool)
        with metering.ledger() as book, waits_until(self._wait_deadline()):
            try:
                if details is None:
                    # TMDB's details (the 26 fields /movie serves, and the director
                    # the research names): once per new movie, kept with its roast.
                    details = self.catalog.details(movie_id)
                if movie is None:
                    movie = details.movie
                if truth is None:
                    truth = self.researcher.research(movie, details)
                    # Stored at once: if the roast call or this instance fails, the
                    # research is not paid for again.
                    self.caches.put_truth(movie, truth)
                roast = self.roaster.roast(movie, details, truth)
            except BaseException:
                self.budget.settle(reserved, book.spend(), pool)
                raise
        spend = book.spend()
        # The roast remembers which run paid for it and what it cost, so whichever
        # delivery of that run records the movie's outcome reports it the same way.
        roast = roast.model_copy(update={"correlation_id": correlation_id, "spend": spend})
        record = RoastRecord(movie=movie, details=details, truth=truth, roast=roast)
        # What the generation leaves behind lands in one commit: the settled budget,
        # the roast (with its has_roast entry), its debug payload, and the lease given
        # back. All of a wave of movies finish their roast calls together, so these
        # writes are where they queue.
        now = self.clock()
        with self.uow.begin() as work:
            work.settle_budget(*self.budget.settlement(reserved, spend, pool))
            work.put_roast(record, now)
            if correlation_id is not None:
                work.put_debug(
                    correlation_id, movie_id, views.debug_payload(record, correlation_id, now), now
                )
            work.release_lease(movie_id, lease.holder)
            work.commit()
        lease.released = True
        return record, True
