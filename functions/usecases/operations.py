"""The operator's views and chores: `/feed`, `/debug`, `/movie/{id}/debug`, `/logs`
(read and delete) and `DELETE /cache/clear/{kind}`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from functions import views
from functions.config import LOG_TTL
from functions.errors import InfrastructureUnavailable
from functions.feed import Feed
from functions.models import utcnow
from functions.observability import Journal
from functions.ports import CACHE_KINDS, CacheKind, CacheStore, DebugStore, RunStore
from functions.usecases.generation import Generation
from functions.usecases.runs import RunLifecycle

# Debug entries one /debug or /movie/{id}/debug answer shows (newest first).
DEBUG_LIMIT = 100


@dataclass
class Operations:
    runs: RunStore
    caches: CacheStore
    debug_store: DebugStore
    journal: Journal
    lifecycle: RunLifecycle
    generation: Generation
    clock: Callable[[], datetime] = utcnow

    @property
    def feed(self) -> Feed:
        """`GET /feed` over the caches (never TMDB: an empty now-playing cache is a 404)."""
        return Feed(self.caches, lambda: self.caches.get_now_playing(self.clock()), self.clock)

    def debug(self, correlation_id: str, log_limit: int = 500) -> dict[str, Any] | None:
        run = self.runs.get_run(correlation_id)
        if run is None:
            return None
        outcomes = self.runs.list_outcomes(correlation_id)
        return {
            "run": self.lifecycle.run_json(run),
            "movies": [
                o.model_dump(mode="json") for o in sorted(outcomes, key=lambda o: o.movie_id)
            ],
            "pending_movie_ids": sorted(set(run.movie_ids) - {o.movie_id for o in outcomes}),
            "logs": [views.log_entry(e) for e in self.journal.for_run(correlation_id, log_limit)],
        }

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
            if each == "roast":
                self.generation.forget_recent()
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
