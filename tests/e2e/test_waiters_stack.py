"""Waiting is cheap and bounded: callers waiting on another caller's generation do
not take the API down (the attack: ten requests for a movie being generated, each
holding a request slot while it polls Firestore every 0.25 s for 25 s)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx

from functions.store import collections as c
from tests.e2e.conftest import Driver

WAITERS = 10


def _someone_is_generating(driver: Driver, movie_id: int, for_seconds: float) -> None:
    """Another instance holds the movie's generation lease (as a slow generation on
    another instance does), so every public caller becomes a waiter."""
    now = datetime.now(UTC)
    driver.firestore().collection(c.LEASES).document(f"v2-{movie_id}").set(
        {
            "holder": "another-instance",
            "taken_at": now,
            c.EXPIRE_AT_FIELD: now + timedelta(seconds=for_seconds),
        }
    )


def test_ten_waiters_leave_healthz_and_cached_reads_answering(driver: Driver) -> None:
    cached_id, busy_id = 1000, 1001
    first = driver.http.get(f"/movie/{cached_id}", headers=driver.admin)
    assert first.status_code == 200, first.text
    calls = driver.sim_calls()
    _someone_is_generating(driver, busy_id, for_seconds=60)

    results: dict[int, httpx.Response] = {}

    def wait_on_it(i: int) -> None:
        with httpx.Client(base_url=driver.stack.api_url, timeout=60) as client:
            results[i] = client.get(
                f"/movie/{busy_id}", headers={"X-Forwarded-For": f"198.51.100.{10 + i}"}
            )

    waiters = [threading.Thread(target=wait_on_it, args=(i,)) for i in range(WAITERS)]
    started = time.monotonic()
    for t in waiters:
        t.start()
    time.sleep(0.5)

    # While all ten wait, the service answers, and quickly.
    for _ in range(5):
        t0 = time.monotonic()
        health = driver.http.get("/healthz")
        cached = driver.http.get(f"/movie/{cached_id}")
        assert health.status_code == 200 and cached.status_code == 200
        assert cached.json()["cached"] is True
        assert time.monotonic() - t0 < 2.0
    assert all(t.is_alive() for t in waiters), "the waiters finished before the checks"

    for t in waiters:
        t.join()
    # Each waiter got 202 with Retry-After after the public wait (5 s), not the 60 s
    # the generation takes nor the trusted callers' single-flight wait.
    waited = time.monotonic() - started
    for i in range(WAITERS):
        response = results[i]
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "generating"
        assert int(response.headers["Retry-After"]) == 5
    assert 4.5 < waited < 9, waited
    assert driver.sim_calls() == calls  # waiting costs nothing upstream


def test_a_waiting_client_is_rate_limited_like_a_paying_one(driver: Driver) -> None:
    _someone_is_generating(driver, 1002, for_seconds=60)
    limit = 5  # PLOTBURN_PAID_REQUESTS_PER_MINUTE (default)
    statuses: list[int] = []

    def wait_on_it() -> None:
        with httpx.Client(base_url=driver.stack.api_url, timeout=60) as client:
            response = client.get("/movie/1002", headers={"X-Forwarded-For": "198.51.100.200"})
            statuses.append(response.status_code)

    # One client, limit + 2 requests at once (sequential ones would each wait 5 s
    # and let the bucket refill in between).
    threads = [threading.Thread(target=wait_on_it) for _ in range(limit + 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202] * limit + [429, 429]
