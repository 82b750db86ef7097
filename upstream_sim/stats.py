"""Thread-safe counters of what the simulated upstreams were asked and answered.

Tests and benchmarks assert on these (how many calls per movie, how many faults,
peak concurrency, tokens billed), so every update happens under one lock and a
snapshot is a consistent, JSON-ready copy.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from upstream_sim.config import FAULT_KINDS, SERVICES

# Endpoint names used in "calls"; tmdb_list and tmdb_details both belong to "tmdb".
ENDPOINTS: tuple[str, ...] = ("tmdb_list", "tmdb_details", "research", "roast")
PER_MOVIE_ENDPOINTS: tuple[str, ...] = ("research", "roast", "tmdb_details")
GAUGES: tuple[str, ...] = ("research", "roast", "tmdb", "llm")
LLM_SERVICES: frozenset[str] = frozenset({"research", "roast"})


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # In-flight requests are a gauge, not a counter: reset() must not zero it, or
        # requests finishing after a reset would drive it negative.
        self._in_flight: Counter[str] = Counter()
        self._zero()

    def _zero(self) -> None:
        self._calls: Counter[str] = Counter()
        self._by_movie: dict[str, Counter[str]] = {e: Counter() for e in PER_MOVIE_ENDPOINTS}
        self._successes: Counter[str] = Counter()
        self._faults: dict[str, Counter[str]] = {s: Counter() for s in SERVICES}
        self._rate_limited: Counter[str] = Counter()
        self._max_in_flight: Counter[str] = Counter(self._in_flight)
        self._tokens: dict[str, Counter[str]] = {s: Counter() for s in LLM_SERVICES}
        self._cost: dict[str, float] = {s: 0.0 for s in LLM_SERVICES}
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._answers: Counter[tuple[str, str]] = Counter()

    def reset(self) -> None:
        """Zero every counter, attempt numbers included, so fail_first applies afresh."""
        with self._lock:
            self._zero()

    def begin(self, endpoint: str, service: str, movie_key: str | None) -> None:
        """Count a call that passed auth and mark it in flight (pair with end())."""
        with self._lock:
            self._calls[endpoint] += 1
            if movie_key is not None and endpoint in self._by_movie:
                self._by_movie[endpoint][movie_key] += 1
            gauges = [service, "llm"] if service in LLM_SERVICES else [service]
            for gauge in gauges:
                self._in_flight[gauge] += 1
                if self._in_flight[gauge] > self._max_in_flight[gauge]:
                    self._max_in_flight[gauge] = self._in_flight[gauge]

    def end(self, service: str) -> None:
        with self._lock:
            for gauge in [service, "llm"] if service in LLM_SERVICES else [service]:
                self._in_flight[gauge] -= 1

    def next_attempt(self, service: str, key: str) -> int:
        """1 for the first request of this service for this key, then 2, 3..."""
        with self._lock:
            self._attempts[(service, key)] += 1
            return self._attempts[(service, key)]

    def count_answer(self, service: str, key: str) -> int:
        """1 for the first answer built for this key, then 2, 3... A request faulted
        with 429, 500 or a timeout builds none; a malformed or failed one builds its
        answer (and then spoils it), so it counts."""
        with self._lock:
            self._answers[(service, key)] += 1
            return self._answers[(service, key)]

    def fault(self, service: str, kind: str) -> None:
        with self._lock:
            self._faults[service][kind] += 1

    def rate_limited(self, service: str) -> None:
        """A request over the provider's own rate limit, answered 429."""
        with self._lock:
            self._rate_limited[service] += 1

    def success(
        self,
        service: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        """An answer delivered and billed (a truncated one too: it is billed)."""
        with self._lock:
            self._successes[service] += 1
            if service in self._tokens:
                self._tokens[service]["prompt"] += prompt_tokens
                self._tokens[service]["completion"] += completion_tokens
                self._cost[service] += cost_usd

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": {e: self._calls[e] for e in ENDPOINTS},
                "calls_by_movie": {
                    e: dict(sorted(self._by_movie[e].items())) for e in PER_MOVIE_ENDPOINTS
                },
                "successes": {s: self._successes[s] for s in SERVICES},
                "faults_injected": {
                    s: {k: self._faults[s][k] for k in FAULT_KINDS} for s in SERVICES
                },
                # 429s from the enforced rate limits (not the injected faults).
                "rate_limited": {s: self._rate_limited[s] for s in SERVICES},
                "in_flight": {g: self._in_flight[g] for g in GAUGES},
                "max_in_flight": {g: self._max_in_flight[g] for g in GAUGES},
                "tokens": {
                    s: {k: self._tokens[s][k] for k in ("prompt", "completion")}
                    for s in ("research", "roast")
                },
                # What the answers reported they cost (usage.cost, cost_in_usd_ticks).
                "cost_usd": {s: round(self._cost[s], 10) for s in ("research", "roast")},
            }
