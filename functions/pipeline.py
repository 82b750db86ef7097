"""Where a movie's roast gets decided, and how a run is accounted.

The pipeline talks only to the ports in ``functions.ports``; ``bootstrap`` wires it to
Firestore, Pub/Sub and the upstream APIs, and the unit tests wire it to fakes.

A run's life:

1. ``start_run`` (the ``fanout`` function) resolves the correlation id, creates the
   run with its movie ids, publishes one roast message per movie and marks the run
   published. A redelivered nightly message finds the run and, unless its publishing
   never finished, does nothing.
2. ``process_movie`` (the ``roast`` function) decides the movie's outcome - roast
   cache, else truth (cache or research) and a new roast - and records it as its own
   write-once document. The delivery that records the run's last outcome finalizes
   the run: counters and status are derived from the outcomes, never incremented.
3. ``sweep_stuck_runs`` closes runs whose movies never all landed, by the deadline:
   every nightly message sweeps all runs, every status read the runs it shows.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cachetools import TTLCache

from functions import metering, views
from functions.config import HISTORY_LIMIT, LOG_TTL, Settings
from functions.errors import (
    BudgetExhausted,
    GenerationInProgress,
    InfrastructureUnavailable,
    MovieNotFound,
    NotOnDemand,
    RateLimited,
    UpstreamError,
)
from functions.feed import Feed
from functions.metering import Spend
from functions.models import (
    LogSeverity,
    Movie,
    MovieDetails,
    MovieOutcome,
    NightlyMessage,
    NowPlaying,
    Outcome,
    RoastMessage,
    RoastRecord,
    Run,
    RunStatus,
    Trigger,
    epoch_ms,
    utcnow,
)
from functions.observability import Journal
from functions.ports import (
    CACHE_KINDS,
    CacheKind,
    CacheStore,
    DailyBudget,
    DebugStore,
    GenerationLeases,
    MovieCatalog,
    Publisher,
    RateLimiter,
    Researcher,
    Roaster,
    RunStore,
    WriteBatching,
)

# Outcome reasons an operator sees in failure_reasons.
REASON_DEADLINE = "deadline_exceeded"
REASON_DEAD_LETTERED = "dead_lettered"
REASON_NOT_FOUND = "movie_not_found"
REASON_BUDGET = "budget_exhausted"
# Paid calls a movie costs when neither its truth nor its roast is cached.
CALLS_PER_NEW_MOVIE = 2
# Debug entries one /debug or /movie/{id}/debug answer shows (newest first).
DEBUG_LIMIT = 100


@dataclass
class _Lease:
    movie_id: int
    holder: str
    released: bool = False


@dataclass
class Pipeline:
    settings: Settings
    catalog: MovieCatalog
    researcher: Researcher
    roaster: Roaster
    publisher: Publisher
    caches: CacheStore
    leases: GenerationLeases
    runs: RunStore
    journal: Journal
    budget: DailyBudget
    rate_limits: RateLimiter
    writes: WriteBatching
    debug_store: DebugStore
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    poll_interval_seconds: float = 0.25
    _instance: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Roasts this instance served recently (see Settings.read_cache_seconds).
    _recent_roasts: TTLCache[int, RoastRecord] | None = field(default=None, init=False)
    _recent_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    # Outcomes of open runs as recently read (see Settings.status_cache_seconds).
    _open_outcomes: TTLCache[str, list[MovieOutcome]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.settings.status_cache_seconds > 0:
            # Real time, not self.clock: this bounds load, it is not domain time.
            self._open_outcomes = TTLCache(maxsize=64, ttl=self.settings.status_cache_seconds)
        if self.settings.read_cache_seconds > 0:
            self._recent_roasts = TTLCache(
                maxsize=2048,
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

    # ------------------------------------------------------------------ movies

    def now_playing_list(self) -> tuple[NowPlaying, bool]:
        """The Worker's choice of now-playing movies, read through its 23-hour cache,
        and whether it came from the cache."""
        now = self.clock()
        cached = self.caches.get_now_playing(now)
        if cached is not None:
            return cached, True
        listing = self.catalog.now_playing()
        chosen = NowPlaying(
            movies=self.settings.movie_choice.choose(listing.movies, now.date()),
            dates=listing.dates,
        )
        self.caches.put_now_playing(chosen, now)
        return chosen, False

    def now_playing(self) -> list[Movie]:
        return self.now_playing_list()[0].movies

    def now_playing_view(self) -> dict[str, Any]:
        """`GET /now-playing`: two Firestore reads however long the list (the list
        and the roast index)."""
        listing, cached = self.now_playing_list()
        ready = self.caches.roasts_ready([m.id for m in listing.movies], self.clock())
        return {
            "cached": cached,
            "page": 1,
            "total_pages": 1,
            "total_results": len(listing.movies),
            "dates": listing.dates,
            "movies": [views.now_playing_movie(m, m.id in ready) for m in listing.movies],
        }

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
        listed = {m.id: m for m in self.now_playing()}
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
        self._reserve_budget(reserved, correlation_id)
        with metering.ledger() as book:
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
                self._settle_budget(reserved, book.spend())
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
        with self.writes.together():
            self._settle_budget(reserved, spend)
            self.caches.put_roast(record, now)
            if correlation_id is not None:
                self.debug_store.put(
                    correlation_id, movie.id, views.debug_payload(record, correlation_id, now), now
                )
            self.leases.release(movie.id, lease.holder)
        lease.released = True
        return record, True

    # ------------------------------------------------------------------ budget

    def _day(self) -> str:
        return self.clock().date().isoformat()

    def budget_state(self) -> dict[str, Any]:
        calls, cost = self.budget.spent(self._day())
        s = self.settings
        return {
            "day": self._day(),
            "calls": calls,
            "call_ceiling": s.daily_call_budget,
            "estimated_cost_usd": cost,
            "cost_ceiling_usd": s.daily_cost_budget_usd,
            "remaining_calls": max(0, s.daily_call_budget - calls),
            # Exhausted once a new movie (research + roast) no longer fits: exactly
            # when _reserve_budget starts refusing it (and raises the alert).
            "exhausted": calls + CALLS_PER_NEW_MOVIE > s.daily_call_budget
            or cost >= s.daily_cost_budget_usd,
        }

    def _seconds_to_midnight(self) -> int:
        now = self.clock()
        return 86400 - (now.hour * 3600 + now.minute * 60 + now.second)

    def _reserve_budget(self, calls: int, correlation_id: str | None) -> None:
        """Check today's spend, then reserve the calls about to be made.

        Check-then-reserve is not one atomic step, so callers racing at the edge can
        overshoot: by at most the generations in flight at that moment, each with
        its reserved calls plus retries. In exchange nothing here is a transaction
        on a hot document.
        """
        day = self._day()
        spent_calls, spent_cost = self.budget.spent(day)
        s = self.settings
        if spent_calls + calls > s.daily_call_budget or spent_cost >= s.daily_cost_budget_usd:
            if self.budget.claim_alert(day):
                self.journal.log(
                    "ALERT",
                    "daily upstream budget exhausted: no new roasts until 00:00 UTC",
                    correlation_id,
                    calls=spent_calls,
                    call_ceiling=s.daily_call_budget,
                    estimated_cost_usd=spent_cost,
                    cost_ceiling_usd=s.daily_cost_budget_usd,
                )
            raise BudgetExhausted(self._seconds_to_midnight())
        self.budget.add(day, calls, 0.0)

    def _settle_budget(self, reserved: int, spend: Spend) -> None:
        """Replace the reservation with what was actually spent (retries included)."""
        self.budget.add(self._day(), spend.paid_calls - reserved, spend.cost_usd)

    # ------------------------------------------------------------------ runs

    def trigger_manual(self) -> str:
        """`POST /cron/trigger`: create the manual run, then put its message on the
        nightly topic. The run exists (in progress) before the caller's 202, so a
        poller of /cron/status never reads the previous run's status instead."""
        now = self.clock()
        correlation_id = f"manual-trigger-{epoch_ms(now)}"
        run = self._open_run(correlation_id, Trigger.MANUAL)
        try:
            self.publisher.publish_nightly(
                NightlyMessage(trigger=Trigger.MANUAL, correlation_id=correlation_id)
            )
        except InfrastructureUnavailable:
            # Nothing will fan this run out: close it now rather than at the deadline.
            self._start_failed(run, "the nightly message could not be published", Spend())
            raise
        return correlation_id

    def _open_run(self, correlation_id: str, trigger: Trigger) -> Run:
        """The run as soon as it is asked for: in progress, its movies not yet listed."""
        run = Run(
            correlation_id=correlation_id, trigger=trigger, started_at=self.clock(), listed=False
        )
        if self.runs.create_run(run):
            self.journal.info("run started", correlation_id, trigger=trigger.value)
            return run
        # A duplicate delivery (or the trigger) created it first.
        return self.runs.get_run(correlation_id) or run

    def start_run(self, message: NightlyMessage, publish_time: datetime) -> Run:
        """The `fanout` function: one run per nightly message, however often delivered."""
        correlation_id = message.resolve_correlation_id(publish_time)
        run = self._start_run(message, correlation_id)
        # Closing runs stuck past their deadline is housekeeping: after this run's
        # messages are out, not in front of them.
        self.sweep_stuck_runs()
        return run

    def _start_run(self, message: NightlyMessage, correlation_id: str) -> Run:
        run = self.runs.get_run(correlation_id)
        if run is not None and run.published:
            self.journal.info("duplicate nightly message ignored", correlation_id, persist=False)
            return run
        if run is None:
            # A scheduled (or gcloud-published) run shows in /cron/status from here on.
            run = self._open_run(correlation_id, message.trigger)
        with metering.ledger() as book:
            try:
                movies = self.now_playing()
            except UpstreamError as exc:
                return self._start_failed(run, exc.reason, book.spend())
        if not run.listed:
            run = run.model_copy(
                update={
                    "movie_ids": [m.id for m in movies],
                    "listed": True,
                    "own_spend": book.spend(),
                }
            )
            self.runs.update_run(run)
            self.journal.info("movies listed", correlation_id, movies_fetched=len(movies))
        by_id = {m.id: m for m in movies}
        missing = [i for i in run.movie_ids if i not in by_id]
        for movie_id in missing:  # the list changed since the run was listed
            by_id[movie_id] = self.catalog.details(movie_id).movie
        self.publisher.publish_roasts(
            [RoastMessage(correlation_id=correlation_id, movie=by_id[i]) for i in run.movie_ids]
        )
        self.runs.mark_published(correlation_id)
        if not run.movie_ids:
            run = self._finalize(correlation_id) or run
        return run

    def _start_failed(self, run: Run, error: str, spend: Spend) -> Run:
        now = self.clock()
        failed = run.model_copy(
            update={
                "own_spend": spend,
                "total_spend": spend,
                "status": RunStatus.FAILED,
                "published": True,
                "finished_at": now,
                "error": error,
            }
        )
        self.runs.update_run(failed)
        self.journal.error("run failed before fan-out", run.correlation_id, error=error)
        return failed

    def process_movie(self, message: RoastMessage) -> MovieOutcome | None:
        """The `roast` function. Returns the outcome this delivery recorded, or None
        when there was nothing to record (a duplicate, or a movie of no open run)."""
        correlation_id, movie = message.correlation_id, message.movie
        context = self.runs.movie_context(correlation_id, movie.id, self.clock())
        run, outcome = context.run, context.outcome
        if outcome is not None:
            self.journal.info(
                "duplicate roast message ignored", correlation_id, persist=False, movie_id=movie.id
            )
            # The first delivery may have died between recording and closing the run.
            if run is not None and run.status is RunStatus.IN_PROGRESS:
                self._close_if_complete(run)
            return None
        if run is None or movie.id not in run.movie_ids:
            self.journal.warning(
                "roast message for an unknown run or movie dropped",
                correlation_id,
                movie_id=movie.id,
            )
            return None
        if run.status is not RunStatus.IN_PROGRESS:
            self.journal.warning(
                "roast message arrived after its run closed", correlation_id, movie_id=movie.id
            )
            return None
        return self._record(run, self._decide(movie, correlation_id, context.roast))

    def _decide(
        self, movie: Movie, correlation_id: str, record: RoastRecord | None
    ) -> MovieOutcome:
        """Cached, generated or failed. A roast paid for by this run counts as
        generated whichever delivery finds it: the one that made it, a duplicate
        that waited on its lease, or a redelivery after the maker crashed before
        recording. A roast paid for by anyone else counts as cached, and costs 0.
        `record` is the roast as read with the run (None: not cached then)."""
        if record is None:
            with metering.ledger() as book:
                try:
                    record, _ = self.ensure_roast(movie, correlation_id)
                except (UpstreamError, BudgetExhausted, MovieNotFound) as exc:
                    # TMDB may drop a movie between the listing and its details.
                    reason = (
                        REASON_BUDGET if isinstance(exc, BudgetExhausted)
                        else REASON_NOT_FOUND if isinstance(exc, MovieNotFound)
                        else exc.reason
                    )  # fmt: skip
                    return MovieOutcome(
                        movie_id=movie.id,
                        outcome=Outcome.FAILED,
                        reason=reason,
                        title=movie.title,
                        recorded_at=self.clock(),
                        spend=book.spend(),
                    )
        paid_by_this_run = record.roast.correlation_id == correlation_id
        return MovieOutcome(
            movie_id=movie.id,
            outcome=Outcome.GENERATED if paid_by_this_run else Outcome.CACHED,
            title=movie.title,
            recorded_at=self.clock(),
            spend=record.roast.spend if paid_by_this_run else Spend(),
        )

    def _record(self, run: Run, outcome: MovieOutcome) -> MovieOutcome | None:
        correlation_id = run.correlation_id
        # The outcome and its log entry are written together (one round trip), and
        # only if the outcome is new: a duplicate delivery logs nothing.
        entry = self.journal.entry(
            "WARNING" if outcome.outcome is Outcome.FAILED else "INFO",
            f"movie {outcome.outcome.value}",
            correlation_id,
            movie_id=outcome.movie_id,
            title=outcome.title,
            reason=outcome.reason,
        )
        if not self.runs.record_outcome(correlation_id, outcome, log_entry=entry):
            self._close_if_complete(run)  # a concurrent duplicate recorded it first
            return None
        self.journal.announce(entry)
        self._close_if_complete(run)
        return outcome

    def _close_if_complete(self, run: Run) -> None:
        # Whoever records the last outcome sees the full count (its own write came
        # last), so only the final deliveries try to close the run, and the close is
        # conditional: exactly one of them wins.
        if self.runs.count_outcomes(run.correlation_id) >= run.movies_fetched:
            self._finalize(run.correlation_id)

    def _finalize(self, correlation_id: str) -> Run | None:
        run, closed_now = self.runs.finalize(correlation_id, self.clock())
        if run is not None and closed_now:
            summary = run.to_status_json()
            severity: LogSeverity = "INFO" if run.status is RunStatus.SUCCESS else "WARNING"
            self.journal.log(
                severity,
                f"run finished: {run.status.value}",
                correlation_id,
                **{
                    k: summary[k]
                    for k in (
                        "movies_fetched",
                        "roasts_cached",
                        "roasts_generated",
                        "roasts_failed",
                        "failed_movie_ids",
                        "duration_ms",
                        "upstream_calls",
                        "estimated_cost_usd",
                    )
                },
            )
        return run

    def record_dead_letter(self, message: RoastMessage) -> MovieOutcome | None:
        """A roast message that exhausted its deliveries: the movie failed."""
        context = self.runs.movie_context(message.correlation_id, message.movie.id, self.clock())
        run, outcome = context.run, context.outcome
        if outcome is not None or run is None or run.status is not RunStatus.IN_PROGRESS:
            return None
        return self._record(
            run,
            MovieOutcome(
                movie_id=message.movie.id,
                outcome=Outcome.FAILED,
                reason=REASON_DEAD_LETTERED,
                title=message.movie.title,
                recorded_at=self.clock(),
            ),
        )

    def sweep_stuck_runs(self, among: list[Run] | None = None) -> list[Run]:
        """Close runs still in progress past their deadline, naming the movies that
        never landed as failed. Every nightly message sweeps all runs (one query);
        a status read sweeps only `among`, the runs it has just read, so the most
        polled route costs no query of its own for it."""
        closed: list[Run] = []
        now = self.clock()
        cutoff = now - self.settings.run_deadline
        if among is None:
            candidates = self.runs.stuck_runs(cutoff)
        else:
            candidates = [r for r in among if r.open_since_before(cutoff)]
        for run in candidates:
            if run.reopened_at is not None and run.reopened_at > cutoff:
                continue  # a retry reopened it recently: its deadline restarted then
            landed = {o.movie_id for o in self.runs.list_outcomes(run.correlation_id)}
            for movie_id in run.movie_ids:
                if movie_id not in landed:
                    self.runs.record_outcome(
                        run.correlation_id,
                        MovieOutcome(
                            movie_id=movie_id,
                            outcome=Outcome.FAILED,
                            reason=REASON_DEADLINE,
                            recorded_at=now,
                        ),
                    )
            self.journal.warning(
                "run passed its deadline; unfinished movies marked failed", run.correlation_id
            )
            final = self._finalize(run.correlation_id)
            if final is not None:
                closed.append(final)
        return closed

    def retry_failed(self, correlation_id: str) -> tuple[Run, list[int]] | None:
        """`POST /cron/retry`: republish a run's failed movies into the same run."""
        run = self.runs.get_run(correlation_id)
        if run is None:
            return None
        outcomes = self.runs.list_outcomes(correlation_id)
        failed = sorted(o.movie_id for o in outcomes if o.outcome is Outcome.FAILED)
        if not failed:
            return run, []
        by_id = {m.id: m for m in self.now_playing()}
        movies: list[Movie] = []
        for movie_id in failed:
            try:
                movies.append(by_id.get(movie_id) or self.catalog.details(movie_id).movie)
            except MovieNotFound:
                continue  # TMDB dropped it: it stays failed
        retried = [m.id for m in movies]
        reopened = self.runs.reopen(correlation_id, retried, self.clock()) or run
        self._forget_outcomes(correlation_id)
        self.publisher.publish_roasts(
            [RoastMessage(correlation_id=correlation_id, movie=m) for m in movies]
        )
        self.journal.info("failed movies republished", correlation_id, movie_ids=retried)
        if not retried:
            reopened = self._finalize(correlation_id) or reopened
        return reopened, retried

    # ------------------------------------------------------------------ status

    def live(self, run: Run) -> Run:
        """A run as it stands: an open run's counters are derived from its outcomes.
        An open run whose outcomes are all in is closed here: its closer died
        between recording the last outcome and closing the run."""
        if run.status is RunStatus.IN_PROGRESS:
            outcomes = self._outcomes_of_open_run(run.correlation_id)
            if (
                run.published
                and len({o.movie_id for o in outcomes} & set(run.movie_ids)) >= run.movies_fetched
            ):
                closed = self._finalize(run.correlation_id)
                if closed is not None and closed.status is not RunStatus.IN_PROGRESS:
                    return closed
            return run.with_outcomes(outcomes)
        return run

    def _forget_outcomes(self, correlation_id: str) -> None:
        if self._open_outcomes is not None:
            with self._recent_lock:
                self._open_outcomes.pop(correlation_id, None)

    def _outcomes_of_open_run(self, correlation_id: str) -> list[MovieOutcome]:
        if self._open_outcomes is None:
            return self.runs.list_outcomes(correlation_id)
        with self._recent_lock:
            cached = self._open_outcomes.get(correlation_id)
        if cached is not None:
            return cached
        outcomes = self.runs.list_outcomes(correlation_id)
        with self._recent_lock:
            self._open_outcomes[correlation_id] = outcomes
        return outcomes

    def run_json(self, run: Run) -> dict[str, Any]:
        return self.live(run).to_status_json()

    def status(self) -> dict[str, Any]:
        runs = self.runs.recent_runs(HISTORY_LIMIT)
        if self.sweep_stuck_runs(among=runs):
            runs = self.runs.recent_runs(HISTORY_LIMIT)
        history = [self.run_json(r) for r in runs]
        return {
            "last_run": history[0] if history else None,
            "history": history,
            "total_runs": self.runs.total_runs(),
            "budget": self.budget_state(),
        }

    def debug(self, correlation_id: str, log_limit: int = 500) -> dict[str, Any] | None:
        run = self.runs.get_run(correlation_id)
        if run is None:
            return None
        outcomes = self.runs.list_outcomes(correlation_id)
        return {
            "run": self.run_json(run),
            "movies": [
                o.model_dump(mode="json") for o in sorted(outcomes, key=lambda o: o.movie_id)
            ],
            "pending_movie_ids": sorted(set(run.movie_ids) - {o.movie_id for o in outcomes}),
            "logs": [views.log_entry(e) for e in self.journal_entries(correlation_id, log_limit)],
        }

    def journal_entries(self, correlation_id: str, limit: int) -> list[dict[str, Any]]:
        return self.journal.for_run(correlation_id, limit)

    # ------------------------------------------------------------------ operations

    @property
    def feed(self) -> Feed:
        """`GET /feed` over the caches (never TMDB: an empty now-playing cache is a 404)."""
        return Feed(self.caches, lambda: self.caches.get_now_playing(self.clock()), self.clock)

    def logs_view(
        self, limit: int, level: str | None = None, correlation_id: str | None = None
    ) -> dict[str, Any]:
        """`GET /logs`, in the Worker's shape: newest first."""
        entries = self.journal.query(limit, level, correlation_id)
        return {
            "total": len(entries),
            "logs": [views.log_entry(e) for e in entries],
            "note": f"Newest first, at most {limit}. Entries expire after {LOG_TTL.days} days; "
            "every line is also in Cloud Logging.",
        }

    def delete_logs(self, older_than_days: int) -> dict[str, Any]:
        deleted = self.journal.delete_older_than(self.clock() - timedelta(days=older_than_days))
        return {
            "success": True,
            "deleted_count": deleted,
            "message": f"Deleted {deleted} log entries older than {older_than_days} days",
            "note": f"Entries also expire on their own after {LOG_TTL.days} days.",
        }

    def debug_view(self, correlation_id: str, log_limit: int = 500) -> dict[str, Any] | None:
        """`GET /debug?correlationId=`: the generations that id paid for (a run's, or a
        request's from x-correlation-id), and for a run its movies and logs."""
        entries = self.debug_store.for_correlation(correlation_id, DEBUG_LIMIT, self.clock())
        run = self.debug(correlation_id, log_limit)
        if not entries and run is None:
            return None
        return {
            "correlationId": correlation_id,
            "count": len(entries),
            "entries": entries,
            **(run or {}),
        }

    def movie_debug_view(self, movie_id: int) -> dict[str, Any] | None:
        entries = self.debug_store.for_movie(movie_id, DEBUG_LIMIT, self.clock())
        if not entries:
            return None
        return {"movieId": movie_id, "count": len(entries), "entries": entries}

    def clear_cache(self, kind: CacheKind | Literal["all"]) -> dict[str, Any]:
        """`DELETE /cache/clear/{kind}`; a cache that cannot be cleared now is named
        in `errors` and the others are still cleared."""
        kinds: tuple[CacheKind, ...] = CACHE_KINDS if kind == "all" else (kind,)
        deleted: list[str] = []
        errors: list[str] = []
        for each in kinds:
            if each == "roast" and self._recent_roasts is not None:
                with self._recent_lock:
                    self._recent_roasts.clear()
            try:
                keys = self.debug_store.clear() if each == "debug" else self.caches.clear(each)
            except InfrastructureUnavailable:
                errors.append(f"{each}: storage unavailable; retry")
                continue
            deleted += [f"{each}:{key}" for key in keys]
        self.journal.info("cache cleared", None, cache=kind, removed=len(deleted))
        body: dict[str, Any] = {
            "success": not errors,
            "deleted_count": len(deleted),
            "deleted_keys": deleted,
            "message": f"Cleared {kind}: {len(deleted)} entries deleted",
            "cache": kind,
            "removed": len(deleted),
        }
        if errors:
            body["errors"] = errors
        return body
