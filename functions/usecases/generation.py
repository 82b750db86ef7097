"""A movie's roast on demand (`GET /movie/{id}`) and for a run: generated at most once
across every caller (single flight on a lease), within the daily budget, with public
callers rate-limited; roasts this instance served recently are answered from memory.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cachetools import TTLCache

from functions import metering, views
from functions.config import Settings
from functions.errors import GenerationInProgress, NotOnDemand, RateLimited
from functions.limits import waits_until
from functions.models import Movie, MovieDetails, RoastRecord, utcnow
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
        listed = {m.id: m for m in self.now_playing.now_playing()}
        movie = listed.get(movie_id)
        details: MovieDetails | None = None
        if movie is None:
            if client is not None and not self.settings.on_demand_any_movie:
                raise NotOnDemand(movie_id)
            if client is not None:
                # A TMDB lookup is work on the operator's key too: it counts as this
                # request's paid request, before the lookup, and the generation that
                # may follow is not counted again.
                self._limit_rate(client)
                client = None
            details = self.catalog.details(movie_id)
            movie = details.movie
        record, generated = self.ensure_roast(
            movie, correlation_id=request_id, client=client, details=details
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
        movie: Movie,
        correlation_id: str | None,
        client: str | None = None,
        details: MovieDetails | None = None,
    ) -> tuple[RoastRecord, bool]:
        """The roast of `movie`, generating it at most once across every caller.

        Returns the record and whether this call generated it. Whoever takes the
        movie's lease pays for research and roast; everyone else waits for the roast
        document to appear, up to `single_flight_wait_seconds`.
        """
        holder = f"{self._instance}-{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + self.settings.single_flight_wait_seconds
        while True:
            if self.leases.acquire(movie.id, holder, self.clock()):
                lease = _Lease(movie.id, holder)
                try:
                    return self._generate(movie, correlation_id, client, lease, details)
                finally:
                    if not lease.released:
                        self.leases.release(movie.id, holder)
            record = self.caches.get_roast(movie.id, self.clock())
            if record is not None:
                return record, False
            if time.monotonic() >= deadline:
                raise GenerationInProgress(movie.id, retry_after_seconds=5)
            self.sleep(self.poll_interval_seconds)

    def _wait_deadline(self) -> float:
        """Waiting for a provider's capacity must not outlast the lease just taken:
        waits end by its expiry less one attempt's timeout and backoff, the room the
        last call needs (then the delivery is handed back, the lease released)."""
        settings = self.settings
        room = settings.upstream_timeout_seconds + settings.upstream_backoff_max_seconds
        return time.monotonic() + max(0.0, settings.generation_lease_seconds - room)

    def _generate(
        self,
        movie: Movie,
        correlation_id: str | None,
        client: str | None,
        lease: _Lease,
        details: MovieDetails | None,
    ) -> tuple[RoastRecord, bool]:
        now = self.clock()
        # The lease's previous holder may have finished just before we took it, so
        # the roast is read again now that we hold it (with the truth, in one trip).
        record, truth = self.caches.get_roast_and_truth(movie.id, now)
        if record is not None:
            return record, False
        # Only the caller that is about to pay is rate-limited: the callers waiting
        # on its lease cost nothing.
        if client is not None:
            self._limit_rate(client)
        reserved = 1 + (truth is None)
        self.budget.reserve(reserved, correlation_id)
        with metering.ledger() as book, waits_until(self._wait_deadline()):
            try:
                if details is None:
                    # TMDB's details (the 26 fields /movie serves, and the director
                    # the research names): once per new movie, kept with its roast.
                    details = self.catalog.details(movie.id)
                if truth is None:
                    truth = self.researcher.research(movie, details)
                    # Stored at once: if the roast call or this instance fails, the
                    # research is not paid for again.
                    self.caches.put_truth(movie, truth)
                roast = self.roaster.roast(movie, details, truth)
            except BaseException:
                self.budget.settle(reserved, book.spend())
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
            work.settle_budget(*self.budget.settlement(reserved, spend))
            work.put_roast(record, now)
            if correlation_id is not None:
                work.put_debug(
                    correlation_id, movie.id, views.debug_payload(record, correlation_id, now), now
                )
            work.release_lease(movie.id, lease.holder)
            work.commit()
        lease.released = True
        return record, True
