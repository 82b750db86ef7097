"""Deciding one movie of a run: the `roast` function, and its dead letters.

`process_movie` decides the movie's outcome - roast cache, else truth (cache or
research) and a new roast - and records it as its own write-once document. The
delivery that records the run's last outcome finalizes the run.

A message names a run and one of its movies, nothing more: the movie itself (its
title, what is researched and served) comes from the roast cache or TMDB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions import metering
from functions.errors import BudgetExhausted, MovieNotFound, UpstreamError
from functions.metering import Spend
from functions.models import (
    MovieOutcome,
    Outcome,
    RoastMessage,
    RoastRecord,
    Run,
    RunStatus,
    utcnow,
)
from functions.observability import Journal
from functions.ports import RunStore
from functions.usecases.generation import Generation
from functions.usecases.now_playing import NowPlayingList
from functions.usecases.runs import RunLifecycle

# Outcome reasons an operator sees in failure_reasons.
REASON_DEAD_LETTERED = "dead_lettered"
REASON_NOT_FOUND = "movie_not_found"
REASON_BUDGET = "budget_exhausted"


@dataclass
class RoastMovie:
    runs: RunStore
    journal: Journal
    generation: Generation
    lifecycle: RunLifecycle
    now_playing: NowPlayingList
    clock: Callable[[], datetime] = utcnow

    def process_movie(self, message: RoastMessage) -> MovieOutcome | None:
        """The `roast` function. Returns the outcome this delivery recorded, or None
        when there was nothing to record (a duplicate, or a movie of no open run)."""
        correlation_id, movie_id = message.correlation_id, message.movie_id
        context = self.runs.movie_context(correlation_id, movie_id, self.clock())
        run, outcome = context.run, context.outcome
        if outcome is not None:
            self.journal.info(
                "duplicate roast message ignored", correlation_id, persist=False, movie_id=movie_id
            )
            # The first delivery may have died between recording and closing the run.
            if run is not None and run.status is RunStatus.IN_PROGRESS:
                self.lifecycle.close_if_complete(run)
            return None
        if run is None or movie_id not in run.movie_ids:
            self.journal.warning(
                "roast message for an unknown run or movie dropped",
                correlation_id,
                movie_id=movie_id,
            )
            return None
        if run.status is not RunStatus.IN_PROGRESS:
            self.journal.warning(
                "roast message arrived after its run closed", correlation_id, movie_id=movie_id
            )
            return None
        return self._record(run, self._decide(movie_id, correlation_id, context.roast))

    def _decide(
        self, movie_id: int, correlation_id: str, record: RoastRecord | None
    ) -> MovieOutcome:
        """Cached, generated or failed. A roast paid for by this run counts as
        generated whichever delivery finds it: the one that made it, a duplicate
        that waited on its lease, or a redelivery after the maker crashed before
        recording. A roast paid for by anyone else counts as cached, and costs 0.
        `record` is the roast as read with the run (None: not cached then). The
        title recorded is TMDB's, never the message's: the roast's, or for a failed
        movie the cached now-playing list's (one read, on failures only)."""
        if record is None:
            with metering.ledger() as book:
                try:
                    record, _ = self.generation.ensure_roast(movie_id, correlation_id)
                except (UpstreamError, BudgetExhausted, MovieNotFound) as exc:
                    # TMDB may drop a movie between the listing and its details.
                    reason = (
                        REASON_BUDGET if isinstance(exc, BudgetExhausted)
                        else REASON_NOT_FOUND if isinstance(exc, MovieNotFound)
                        else exc.reason
                    )  # fmt: skip
                    return MovieOutcome(
                        movie_id=movie_id,
                        outcome=Outcome.FAILED,
                        reason=reason,
                        title=self.now_playing.cached_title(movie_id),
                        recorded_at=self.clock(),
                        spend=book.spend(),
                    )
        paid_by_this_run = record.roast.correlation_id == correlation_id
        return MovieOutcome(
            movie_id=movie_id,
            outcome=Outcome.GENERATED if paid_by_this_run else Outcome.CACHED,
            title=record.movie.title,
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
            self.lifecycle.close_if_complete(run)  # a concurrent duplicate recorded it first
            return None
        self.journal.announce(entry)
        self.lifecycle.close_if_complete(run)
        return outcome

    def record_dead_letter(self, message: RoastMessage) -> MovieOutcome | None:
        """A roast message that exhausted its deliveries: the movie failed."""
        context = self.runs.movie_context(message.correlation_id, message.movie_id, self.clock())
        run, outcome = context.run, context.outcome
        if outcome is not None or run is None or run.status is not RunStatus.IN_PROGRESS:
            return None
        if message.movie_id not in run.movie_ids:
            return None  # not a movie of this run: nothing to record
        return self._record(
            run,
            MovieOutcome(
                movie_id=message.movie_id,
                outcome=Outcome.FAILED,
                reason=REASON_DEAD_LETTERED,
                title=(
                    context.roast.movie.title
                    if context.roast is not None
                    else self.now_playing.cached_title(message.movie_id)
                ),
                recorded_at=self.clock(),
            ),
        )
