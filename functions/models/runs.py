"""Runs: what started one, how each of its movies ended, and the run itself."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import Field

from functions.metering import SERVICES, Spend, total
from functions.models.base import Frozen, iso


class Trigger(str, enum.Enum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"


class Outcome(str, enum.Enum):
    CACHED = "cached"
    GENERATED = "generated"
    FAILED = "failed"


class MovieOutcome(Frozen):
    """How one movie of one run ended. Exactly one exists per (run, movie)."""

    movie_id: int
    outcome: Outcome
    reason: str | None = None
    title: str | None = None
    recorded_at: datetime
    # What deciding this movie spent upstream (retries included).
    spend: Spend = Spend()


class RunStatus(str, enum.Enum):
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


class Run(Frozen):
    """A nightly (or manual) run. Counters derive from its movies' outcomes."""

    correlation_id: str
    trigger: Trigger
    started_at: datetime
    movie_ids: list[int] = Field(default_factory=list)
    status: RunStatus = RunStatus.IN_PROGRESS
    # False from the moment the run is asked for until fan-out has listed its movies
    # (so /cron/status shows a run at once); True for every run listed since.
    listed: bool = True
    # True once every roast message was published; a redelivered nightly message
    # republishes only while this is False.
    published: bool = False
    finished_at: datetime | None = None
    roasts_cached: int = 0
    roasts_generated: int = 0
    roasts_failed: int = 0
    failed_movie_ids: list[int] = Field(default_factory=list)
    failure_reasons: dict[str, str] = Field(default_factory=dict)
    # When /cron/retry last reopened the run: its deadline counts from here then.
    reopened_at: datetime | None = None
    # Set when the run could not start at all (e.g. TMDB's list never came back).
    error: str | None = None
    # Spent by the run itself (the now-playing list), and in all (plus its movies).
    own_spend: Spend = Spend()
    total_spend: Spend = Spend()

    @property
    def movies_fetched(self) -> int:
        return len(self.movie_ids)

    def open_since_before(self, cutoff: datetime) -> bool:
        """Still in progress and started before `cutoff`: what the stuck-run query
        selects (a retry's later reopening is the sweep's to judge)."""
        return self.status is RunStatus.IN_PROGRESS and self.started_at < cutoff

    def overdue(self, cutoff: datetime) -> bool:
        """Open since before `cutoff`, and not reopened by a retry since then (a
        reopening restarts the deadline)."""
        if not self.open_since_before(cutoff):
            return False
        return self.reopened_at is None or self.reopened_at <= cutoff

    def all_landed(self, outcomes: list[MovieOutcome]) -> bool:
        """Every one of the run's movies has an outcome among `outcomes`."""
        return set(self.movie_ids) <= {o.movie_id for o in outcomes}

    def reopened(self, now: datetime) -> Run:
        """Back in progress for a retry: its deadline counts from `now`."""
        return self.model_copy(
            update={"status": RunStatus.IN_PROGRESS, "finished_at": None, "reopened_at": now}
        )

    def with_outcomes(self, outcomes: list[MovieOutcome]) -> Run:
        """This run's counters recomputed from its outcomes (only ones for its movies)."""
        wanted = set(self.movie_ids)
        mine = [o for o in outcomes if o.movie_id in wanted]
        failed = sorted(o.movie_id for o in mine if o.outcome is Outcome.FAILED)
        return self.model_copy(
            update={
                "roasts_cached": sum(o.outcome is Outcome.CACHED for o in mine),
                "roasts_generated": sum(o.outcome is Outcome.GENERATED for o in mine),
                "roasts_failed": len(failed),
                "failed_movie_ids": failed,
                "failure_reasons": {
                    str(o.movie_id): o.reason or "unknown"
                    for o in mine
                    if o.outcome is Outcome.FAILED
                },
                "total_spend": total([self.own_spend, *(o.spend for o in mine)]),
            }
        )

    def finalized(self, outcomes: list[MovieOutcome], now: datetime) -> Run:
        counted = self.with_outcomes(outcomes)
        if not counted.listed and not counted.error:
            counted = counted.model_copy(update={"error": "fan-out never listed the movies"})
        if counted.error:
            status = RunStatus.FAILED
        elif counted.movies_fetched == 0 or counted.roasts_failed == 0:
            status = RunStatus.SUCCESS
        elif counted.roasts_failed == counted.movies_fetched:
            status = RunStatus.FAILED
        else:
            status = RunStatus.PARTIAL
        return counted.model_copy(update={"status": status, "finished_at": now})

    def to_status_json(self) -> dict[str, Any]:
        """The seed Worker's CronResult shape, plus added fields (never renamed)."""
        spend = self.total_spend
        processed = self.roasts_cached + self.roasts_generated + self.roasts_failed
        end = self.finished_at
        return {
            "timestamp": iso(self.started_at),
            "trigger": self.trigger.value,
            "correlation_id": self.correlation_id,
            "movies_fetched": self.movies_fetched,
            "roasts_processed": processed,
            "roasts_cached": self.roasts_cached,
            "roasts_generated": self.roasts_generated,
            "roasts_failed": self.roasts_failed,
            "failed_movie_ids": list(self.failed_movie_ids),
            "failure_reasons": dict(self.failure_reasons),
            "duration_ms": (int((end - self.started_at).total_seconds() * 1000) if end else None),
            "status": self.status.value,
            "finished_at": iso(end),
            "error": self.error,
            "upstream_calls": {s: getattr(spend, s).calls for s in SERVICES},
            "tokens": {
                s: {
                    "prompt": getattr(spend, s).prompt_tokens,
                    "completion": getattr(spend, s).completion_tokens,
                }
                for s in ("research", "roast")
            },
            # What the providers reported for their answers (our list-price estimate
            # only for answers that carried no cost).
            "estimated_cost_usd": spend.cost_usd,
        }
