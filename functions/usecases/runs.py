"""A run once its movies are out: closed by whichever delivery records its last
outcome, swept at its deadline when some never land, retried for its failed movies
(`POST /cron/retry`), and shown as it stands (`GET /cron/status`).

A run's counters and status are derived from its outcomes, never incremented.
`sweep_stuck_runs` closes runs whose movies never all landed, by the deadline: every
nightly message sweeps all runs, every status read the runs it shows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cachetools import TTLCache

from functions import views
from functions.config import HISTORY_LIMIT, Settings
from functions.errors import MovieNotFound
from functions.limits import estimated_finish, run_allowance
from functions.models import (
    LogSeverity,
    Movie,
    MovieOutcome,
    Outcome,
    RoastMessage,
    Run,
    RunStatus,
    iso,
    utcnow,
)
from functions.observability import Journal
from functions.ports import MovieCatalog, Publisher, RunStore
from functions.usecases.budget import BudgetPolicy
from functions.usecases.now_playing import NowPlayingList

# Outcome reasons an operator sees in failure_reasons.
REASON_DEADLINE = "deadline_exceeded"
# What a run's closing log line reports of it.
SUMMARY_FIELDS = (
    "movies_fetched",
    "roasts_cached",
    "roasts_generated",
    "roasts_failed",
    "failed_movie_ids",
    "duration_ms",
    "upstream_calls",
    "estimated_cost_usd",
)


@dataclass
class RunLifecycle:
    settings: Settings
    runs: RunStore
    journal: Journal
    publisher: Publisher
    catalog: MovieCatalog
    now_playing: NowPlayingList
    budget: BudgetPolicy
    clock: Callable[[], datetime] = utcnow
    # Outcomes of open runs as recently read (see Settings.status_cache_seconds).
    _open_outcomes: TTLCache[str, list[MovieOutcome]] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._open_outcomes = None
        if self.settings.status_cache_seconds > 0:
            # Real time, not self.clock: this bounds load, it is not domain time.
            self._open_outcomes = TTLCache(
                maxsize=self.settings.status_cache_size, ttl=self.settings.status_cache_seconds
            )

    # ------------------------------------------------------------------ closing

    def close_if_complete(self, run: Run) -> None:
        # Whoever records the last outcome sees the full count (its own write came
        # last), so only the final deliveries try to close the run, and the close is
        # conditional: exactly one of them wins.
        if self.runs.count_outcomes(run.correlation_id) >= run.movies_fetched:
            self.finalize(run.correlation_id)

    def finalize(self, correlation_id: str) -> Run | None:
        run, closed_now = self.runs.finalize(correlation_id, self.clock())
        if run is not None and closed_now:
            summary = run.to_status_json()
            severity: LogSeverity = "INFO" if run.status is RunStatus.SUCCESS else "WARNING"
            self.journal.log(
                severity,
                f"run finished: {run.status.value}",
                correlation_id,
                **{k: summary[k] for k in SUMMARY_FIELDS},
            )
        return run

    def sweep_stuck_runs(self, among: list[Run] | None = None) -> list[Run]:
        """Close runs still in progress past their deadline, naming the movies that
        never landed as failed. Every nightly message sweeps all runs (one query);
        a status read sweeps only `among`, the runs it has just read, so the most
        polled route costs no query of its own for it."""
        closed: list[Run] = []
        now = self.clock()
        cutoff = now - self.settings.run_deadline
        candidates = self.runs.stuck_runs(cutoff) if among is None else among
        # A run a retry reopened recently is not overdue: its deadline restarted then.
        # A big night's deadline grows with its movies at the research rate.
        for run in [r for r in candidates if r.overdue(now - self.deadline_of(r))]:
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
            final = self.finalize(run.correlation_id)
            if final is not None:
                closed.append(final)
        return closed

    def deadline_of(self, run: Run) -> timedelta:
        """How long the run may stay open: the setting, or longer when its movies
        need longer at the configured research rate (with a safety factor)."""
        allowance = run_allowance(run.movies_fetched, self.settings.provider_rate("research"))
        return max(self.settings.run_deadline, allowance)

    def retry_failed(self, correlation_id: str) -> tuple[Run, list[int]] | None:
        """`POST /cron/retry`: republish a run's failed movies into the same run."""
        run = self.runs.get_run(correlation_id)
        if run is None:
            return None
        outcomes = self.runs.list_outcomes(correlation_id)
        failed = sorted(o.movie_id for o in outcomes if o.outcome is Outcome.FAILED)
        if not failed:
            return run, []
        by_id = {m.id: m for m in self.now_playing.now_playing()}
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
            [RoastMessage(correlation_id=correlation_id, movie_id=i) for i in retried]
        )
        self.journal.info("failed movies republished", correlation_id, movie_ids=retried)
        if not retried:
            reopened = self.finalize(correlation_id) or reopened
        return reopened, retried

    # ------------------------------------------------------------------ status

    def live(self, run: Run) -> Run:
        """A run as it stands: an open run's counters are derived from its outcomes.
        An open run whose outcomes are all in is closed here: its closer died
        between recording the last outcome and closing the run."""
        if run.status is RunStatus.IN_PROGRESS:
            outcomes = self._outcomes_of_open_run(run.correlation_id)
            if run.published and run.all_landed(outcomes):
                closed = self.finalize(run.correlation_id)
                if closed is not None and closed.status is not RunStatus.IN_PROGRESS:
                    return closed
            return run.with_outcomes(outcomes)
        return run

    def _forget_outcomes(self, correlation_id: str) -> None:
        if self._open_outcomes is not None:
            with self._lock:
                self._open_outcomes.pop(correlation_id, None)

    def _outcomes_of_open_run(self, correlation_id: str) -> list[MovieOutcome]:
        if self._open_outcomes is None:
            return self.runs.list_outcomes(correlation_id)
        with self._lock:
            cached = self._open_outcomes.get(correlation_id)
        if cached is not None:
            return cached
        outcomes = self.runs.list_outcomes(correlation_id)
        with self._lock:
            self._open_outcomes[correlation_id] = outcomes
        return outcomes

    def run_json(self, run: Run) -> dict[str, Any]:
        """The run's status JSON, plus its progress, and while it is open its
        estimated finish and the deadline past which the sweep closes it."""
        current = self.live(run)
        shown = current.to_status_json()
        done, total = shown["roasts_processed"], shown["movies_fetched"]
        shown["progress"] = {"done": done, "total": total}
        shown["estimated_finish"] = None
        shown["deadline_at"] = None
        if current.status is RunStatus.IN_PROGRESS:
            rate = self.settings.provider_rate("research")
            start = current.reopened_at or current.started_at
            finish = estimated_finish(start, self.clock(), done, total, rate)
            shown["estimated_finish"] = iso(finish)
            shown["deadline_at"] = iso(start + self.deadline_of(current))
        return shown

    def status(self, *, full: bool) -> dict[str, Any]:
        """`GET /cron/status`: the recent runs as they stand. `full` (the admin key's
        view) adds today's budget and keeps the runs' spend and upstream error text;
        without it runs show the Worker's fields and failure codes only."""
        runs = self.runs.recent_runs(HISTORY_LIMIT)
        if self.sweep_stuck_runs(among=runs):
            runs = self.runs.recent_runs(HISTORY_LIMIT)
        history = [self.run_json(r) for r in runs]
        if not full:
            history = [views.public_run(r) for r in history]
        status = {
            "last_run": history[0] if history else None,
            "history": history,
            "total_runs": self.runs.total_runs(),
        }
        if full:
            status["budget"] = self.budget.budget_state()
        return status
