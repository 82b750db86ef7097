"""Starting a run: the manual trigger (`POST /cron/trigger`) and the `fanout` function.

`start_run` resolves the correlation id, creates the run with its movie ids, publishes
one roast message per movie and marks the run published. A redelivered nightly
message finds the run and, unless its publishing never finished, does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions import metering
from functions.errors import InfrastructureUnavailable, UpstreamError
from functions.metering import Spend
from functions.models import (
    NightlyMessage,
    RoastMessage,
    Run,
    RunStatus,
    Trigger,
    epoch_ms,
    utcnow,
)
from functions.observability import Journal
from functions.ports import Publisher, RunStore
from functions.usecases.now_playing import NowPlayingList
from functions.usecases.runs import RunLifecycle


@dataclass
class Nightly:
    runs: RunStore
    journal: Journal
    publisher: Publisher
    now_playing: NowPlayingList
    lifecycle: RunLifecycle
    clock: Callable[[], datetime] = utcnow

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
        self.lifecycle.sweep_stuck_runs()
        return run

    def _start_run(self, message: NightlyMessage, correlation_id: str) -> Run:
        run = self.runs.get_run(correlation_id)
        if run is not None and run.published:
            self.journal.info("duplicate nightly message ignored", correlation_id, persist=False)
            return run
        if run is None:
            # A scheduled (or gcloud-published) run shows in /cron/status from here on.
            run = self._open_run(correlation_id, message.trigger)
        if not run.listed:
            # A redelivery of a listed run only republishes: it needs no list.
            with metering.ledger() as book:
                try:
                    movies = self.now_playing.now_playing()
                except UpstreamError as exc:
                    return self._start_failed(run, exc.reason, book.spend())
            run = run.model_copy(
                update={
                    "movie_ids": [m.id for m in movies],
                    "listed": True,
                    "own_spend": book.spend(),
                }
            )
            self.runs.update_run(run)
            self.journal.info("movies listed", correlation_id, movies_fetched=len(movies))
        # A message names the run and the movie, nothing more: roast reads the movie
        # from its cache or TMDB, never from a message (anyone who can publish to
        # the topic could write one).
        self.publisher.publish_roasts(
            [RoastMessage(correlation_id=correlation_id, movie_id=i) for i in run.movie_ids]
        )
        self.runs.mark_published(correlation_id)
        if not run.movie_ids:
            run = self.lifecycle.finalize(correlation_id) or run
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
