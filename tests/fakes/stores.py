"""In-memory fakes of the stores, for unit tests.

They keep the same contracts as the Firestore classes (expired is a miss, outcomes
are created once, finalize only closes an in-progress run); the contract tests in
tests/integration/test_store_contract.py run against both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from functions.config import DEBUG_TTL, NOW_PLAYING_TTL, ROAST_TTL
from functions.limits import Permit, ProviderRate, ProviderState, TokenBucket
from functions.metering import COST_DECIMALS
from functions.models import (
    BudgetPool,
    DaySpend,
    Movie,
    MovieOutcome,
    NowPlaying,
    PoolSpend,
    RoastRecord,
    Run,
    RunStatus,
    Truth,
    utcnow,
)
from functions.ports import CacheKind, LeaseAttempt, MovieContext


class MemoryCaches:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now_playing: tuple[NowPlaying, datetime] | None = None
        self.truths: dict[int, Truth] = {}
        self.roasts: dict[int, tuple[RoastRecord, datetime]] = {}

    def get_now_playing(self, now: datetime) -> NowPlaying | None:
        with self._lock:
            if self.now_playing and self.now_playing[1] > now:
                return self.now_playing[0]
            return None

    def put_now_playing(self, listing: NowPlaying, now: datetime) -> None:
        with self._lock:
            self.now_playing = (listing, now + NOW_PLAYING_TTL)

    def put_truth(self, movie: Movie, truth: Truth) -> None:
        with self._lock:
            self.truths[movie.id] = truth

    def get_truths(self, movie_ids: list[int]) -> dict[int, Truth]:
        with self._lock:
            return {i: self.truths[i] for i in movie_ids if i in self.truths}

    def list_truths(self, offset: int, limit: int) -> tuple[list[Truth], int]:
        with self._lock:
            ordered = sorted(self.truths.values(), key=lambda t: t.created_at, reverse=True)
        return ordered[offset : offset + limit], len(ordered)

    def get_roast(self, movie_id: int, now: datetime) -> RoastRecord | None:
        with self._lock:
            entry = self.roasts.get(movie_id)
            return entry[0] if entry and entry[1] > now else None

    def get_roasts(self, movie_ids: list[int], now: datetime) -> dict[int, RoastRecord]:
        found = {i: self.get_roast(i, now) for i in movie_ids}
        return {i: r for i, r in found.items() if r is not None}

    def list_roasts(self, offset: int, limit: int, now: datetime) -> tuple[list[RoastRecord], int]:
        with self._lock:
            fresh = [(r, exp) for r, exp in self.roasts.values() if exp > now]
        ordered = [r for r, _ in sorted(fresh, key=lambda pair: pair[1], reverse=True)]
        return ordered[offset : offset + limit], len(ordered)

    def get_roast_and_truth(
        self, movie_id: int, now: datetime
    ) -> tuple[RoastRecord | None, Truth | None]:
        roast = self.get_roast(movie_id, now)
        with self._lock:
            return roast, self.truths.get(movie_id)

    def roasts_ready(self, movie_ids: list[int], now: datetime) -> set[int]:
        return {i for i in movie_ids if self.get_roast(i, now) is not None}

    def put_roast(self, record: RoastRecord, now: datetime) -> None:
        with self._lock:
            self.roasts[record.movie.id] = (record, now + ROAST_TTL)

    def clear(self, kind: CacheKind) -> list[str]:
        with self._lock:
            if kind == "roast":
                keys, self.roasts = [f"v-{i}" for i in self.roasts], {}
            elif kind == "truth":
                keys, self.truths = [f"v-{i}" for i in self.truths], {}
            else:
                keys, self.now_playing = (["v-all"] if self.now_playing else []), None
            return keys


class MemoryLeases:
    def __init__(self, lease: timedelta = timedelta(minutes=3)) -> None:
        self._lock = threading.Lock()
        self._lease = lease
        self.held: dict[int, tuple[str, datetime]] = {}
        self.cooling: dict[int, datetime] = {}

    def acquire(
        self, movie_id: int, holder: str, now: datetime, take_cooling: bool = True
    ) -> LeaseAttempt:
        with self._lock:
            failed_until = self.cooling.get(movie_id)
            if failed_until is not None and failed_until > now and not take_cooling:
                return LeaseAttempt(False, failed_until)
            current = self.held.get(movie_id)
            if current and current[0] != holder and current[1] > now:
                return LeaseAttempt(False)
            self.cooling.pop(movie_id, None)
            self.held[movie_id] = (holder, now + self._lease)
            return LeaseAttempt(True)

    def release(self, movie_id: int, holder: str) -> None:
        with self._lock:
            if self.held.get(movie_id, ("",))[0] == holder:
                del self.held[movie_id]

    def mark_failed(self, movie_id: int, holder: str, until: datetime) -> None:
        with self._lock:
            if self.held.get(movie_id, ("",))[0] == holder:
                del self.held[movie_id]
                self.cooling[movie_id] = until


class MemoryRuns:
    def __init__(self, caches: MemoryCaches, logs: MemoryLogs | None = None) -> None:
        self._lock = threading.Lock()
        self._caches = caches  # movie_context reads roasts from here
        self._logs = logs or MemoryLogs()  # record_outcome writes its log entry here
        self.runs: dict[str, Run] = {}
        self.outcomes: dict[str, dict[int, MovieOutcome]] = {}
        self.total = 0

    def create_run(self, run: Run) -> bool:
        with self._lock:
            if run.correlation_id in self.runs:
                return False
            self.runs[run.correlation_id] = run
            self.outcomes[run.correlation_id] = {}
            self.total += 1
            return True

    def get_run(self, correlation_id: str) -> Run | None:
        with self._lock:
            return self.runs.get(correlation_id)

    def update_run(self, run: Run) -> None:
        with self._lock:
            self.runs[run.correlation_id] = run

    def mark_published(self, correlation_id: str) -> None:
        with self._lock:
            run = self.runs[correlation_id]
            self.runs[correlation_id] = run.model_copy(update={"published": True})

    def get_outcome(self, correlation_id: str, movie_id: int) -> MovieOutcome | None:
        with self._lock:
            return self.outcomes.get(correlation_id, {}).get(movie_id)

    def movie_context(self, correlation_id: str, movie_id: int, now: datetime) -> MovieContext:
        return MovieContext(
            run=self.get_run(correlation_id),
            outcome=self.get_outcome(correlation_id, movie_id),
            roast=self._caches.get_roast(movie_id, now),
        )

    def record_outcome(
        self, correlation_id: str, outcome: MovieOutcome, log_entry: dict[str, Any] | None = None
    ) -> bool:
        with self._lock:
            recorded = self.outcomes.setdefault(correlation_id, {})
            if outcome.movie_id in recorded:
                return False
            recorded[outcome.movie_id] = outcome
        if log_entry is not None:
            self._logs.write(log_entry)
        return True

    def count_outcomes(self, correlation_id: str) -> int:
        with self._lock:
            return len(self.outcomes.get(correlation_id, {}))

    def list_outcomes(self, correlation_id: str) -> list[MovieOutcome]:
        with self._lock:
            return list(self.outcomes.get(correlation_id, {}).values())

    def finalize(self, correlation_id: str, now: datetime) -> tuple[Run | None, bool]:
        with self._lock:
            run = self.runs.get(correlation_id)
            if run is None or run.status is not RunStatus.IN_PROGRESS:
                return run, False
            outcomes = list(self.outcomes[correlation_id].values())
            if not run.all_landed(outcomes):
                return run, False  # not every movie has landed
            final = run.finalized(outcomes, now)
            self.runs[correlation_id] = final
            return final, True

    def reopen(self, correlation_id: str, movie_ids: list[int], now: datetime) -> Run | None:
        with self._lock:
            run = self.runs.get(correlation_id)
            if run is None:
                return None
            for movie_id in movie_ids:
                self.outcomes[correlation_id].pop(movie_id, None)
            opened = run.reopened(now)
            self.runs[correlation_id] = opened
            return opened

    def recent_runs(self, limit: int) -> list[Run]:
        with self._lock:
            return sorted(self.runs.values(), key=lambda r: r.started_at, reverse=True)[:limit]

    def total_runs(self) -> int:
        with self._lock:
            return self.total

    def stuck_runs(self, started_before: datetime) -> list[Run]:
        with self._lock:
            return [r for r in self.runs.values() if r.open_since_before(started_before)]


class MemoryLogs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []

    def write(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.entries.append({**entry, "created_at": utcnow()})

    def query(
        self, limit: int, level: str | None = None, correlation_id: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                {k: v for k, v in e.items() if k != "created_at"}
                for e in reversed(self.entries)
                if (level is None or e.get("level") == level)
                and (correlation_id is None or e.get("correlation_id") == correlation_id)
            ]
        return found[:limit]

    def recent(self, limit: int) -> list[dict[str, Any]]:
        return self.query(limit)

    def for_run(self, correlation_id: str, limit: int) -> list[dict[str, Any]]:
        return self.query(limit, correlation_id=correlation_id)

    def delete_older_than(self, cutoff: datetime) -> int:
        with self._lock:
            kept = [e for e in self.entries if e["created_at"] >= cutoff]
            deleted, self.entries = len(self.entries) - len(kept), kept
        return deleted


class MemoryDebug:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}

    def put(self, correlation_id: str, movie_id: int, data: dict[str, Any], now: datetime) -> None:
        with self._lock:
            self.entries[f"{correlation_id}-{movie_id}"] = {
                "key": f"debug:{correlation_id}:{movie_id}",
                "correlation_id": correlation_id,
                "movie_id": movie_id,
                "data": data,
                "created_at": now,
                "expire_at": now + DEBUG_TTL,
            }

    def _where(self, field: str, value: Any, limit: int, now: datetime) -> list[dict[str, Any]]:
        with self._lock:
            found = sorted(
                (e for e in self.entries.values() if e[field] == value and e["expire_at"] > now),
                key=lambda e: e["created_at"],
                reverse=True,
            )
        return [{"key": e["key"], "data": e["data"]} for e in found[:limit]]

    def for_correlation(
        self, correlation_id: str, limit: int, now: datetime
    ) -> list[dict[str, Any]]:
        return self._where("correlation_id", correlation_id, limit, now)

    def for_movie(self, movie_id: int, limit: int, now: datetime) -> list[dict[str, Any]]:
        return self._where("movie_id", movie_id, limit, now)

    def clear(self) -> list[str]:
        with self._lock:
            keys, self.entries = list(self.entries), {}
        return keys


class MemoryBudget:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (day, pool) -> (calls, cost)
        self.pools: dict[tuple[str, BudgetPool], tuple[int, float]] = {}
        self.alerted: set[tuple[str, BudgetPool]] = set()

    def spent(self, day: str) -> tuple[int, float]:
        total = self.spent_by_pool(day).total
        return total.calls, total.cost_usd

    def spent_by_pool(self, day: str) -> DaySpend:
        with self._lock:
            public = self.pools.get((day, BudgetPool.PUBLIC), (0, 0.0))
            nightly = self.pools.get((day, BudgetPool.NIGHTLY), (0, 0.0))
        return DaySpend(
            total=PoolSpend(public[0] + nightly[0], round(public[1] + nightly[1], COST_DECIMALS)),
            public=PoolSpend(public[0], round(public[1], COST_DECIMALS)),
        )

    def add(
        self, day: str, calls: int, cost_usd: float, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> None:
        with self._lock:
            old_calls, old_cost = self.pools.get((day, pool), (0, 0.0))
            self.pools[(day, pool)] = (old_calls + calls, old_cost + cost_usd)

    def claim_alert(self, day: str, pool: BudgetPool = BudgetPool.NIGHTLY) -> bool:
        with self._lock:
            if (day, pool) in self.alerted:
                return False
            self.alerted.add((day, pool))
            return True


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.buckets: dict[str, tuple[float, datetime]] = {}

    def hit(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        with self._lock:
            tokens, updated_at = self.buckets.get(client, (None, None))
            bucket = TokenBucket.restore(tokens, updated_at, limit_per_minute)
            retry_after = bucket.take(now)
            if retry_after is None:
                self.buckets[client] = (bucket.tokens, now)
            return retry_after

    def retry_after(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        with self._lock:
            tokens, updated_at = self.buckets.get(client, (None, None))
            return TokenBucket.restore(tokens, updated_at, limit_per_minute).take(now)


class MemoryProviderLimiter:
    """The shared per-provider limit in memory: the same rules (ProviderState) on a
    dict instead of a document. Share one instance between two wirings to model two
    instances sharing Firestore."""

    def __init__(self, rates: dict[str, ProviderRate], slot_seconds: float = 35.0) -> None:
        self._lock = threading.Lock()
        self._rates = rates
        self._slot_seconds = slot_seconds
        self.docs: dict[str, dict[str, Any]] = {}
        self.acquires: list[tuple[str, str, Permit]] = []
        self.cool_downs: list[tuple[str, datetime]] = []

    def _rate(self, provider: str) -> ProviderRate | None:
        rate = self._rates.get(provider)
        return rate if rate is not None and rate.enabled else None

    def acquire(self, provider: str, holder: str, now: datetime, max_wait: float) -> Permit:
        rate = self._rate(provider)
        if rate is None:
            return Permit(True)
        with self._lock:
            state = ProviderState.restore(self.docs.get(provider), rate)
            permit = state.ask(holder, now, rate, max_wait, self._slot_seconds)
            self.docs[provider] = state.to_doc()
            self.acquires.append((provider, holder, permit))
            return permit

    def release(self, provider: str, holder: str) -> None:
        with self._lock:
            doc = self.docs.get(provider)
            if doc is not None:
                doc["slots"].pop(holder, None)
                doc["reserved"].pop(holder, None)

    def cool_down(self, provider: str, until: datetime) -> None:
        rate = self._rate(provider)
        if rate is None:
            return
        with self._lock:
            self.cool_downs.append((provider, until))
            state = ProviderState.restore(self.docs.get(provider), rate)
            state.cool_down(until)
            self.docs[provider] = state.to_doc()

    def in_flight(self, provider: str) -> int:
        with self._lock:
            return len((self.docs.get(provider) or {}).get("slots") or {})


class MemoryGenerationWork:
    """Staged writes applied to the in-memory stores on commit (none without it)."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow
        self._staged: list[Callable[[], None]] = []

    def __enter__(self) -> MemoryGenerationWork:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self._staged.clear()

    def settle_budget(
        self, day: str, calls: int, cost_usd: float, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> None:
        self._staged.append(lambda: self._uow.budget.add(day, calls, cost_usd, pool))

    def put_roast(self, record: RoastRecord, now: datetime) -> None:
        self._staged.append(lambda: self._uow.caches.put_roast(record, now))

    def put_debug(
        self, correlation_id: str, movie_id: int, data: dict[str, Any], now: datetime
    ) -> None:
        self._staged.append(lambda: self._uow.debug.put(correlation_id, movie_id, data, now))

    def release_lease(self, movie_id: int, holder: str) -> None:
        self._staged.append(lambda: self._uow.leases.release(movie_id, holder))

    def commit(self) -> None:
        staged, self._staged = self._staged, []
        for write in staged:
            write()


class MemoryUnitOfWork:
    def __init__(
        self, caches: MemoryCaches, budget: MemoryBudget, leases: MemoryLeases, debug: MemoryDebug
    ) -> None:
        self.caches, self.budget, self.leases, self.debug = caches, budget, leases, debug

    def begin(self) -> MemoryGenerationWork:
        return MemoryGenerationWork(self)
