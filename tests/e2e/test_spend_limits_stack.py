"""Issue 7 end to end: nobody can run up the bill.

On the emulators, the three functions and the upstream simulator: an id loop from one
client, the same loop from forged addresses, a stampede at the budget edge, and a
nightly run that crosses the budget. Every test asserts exact upstream calls, read
from the simulator's own counters (or, where concurrency makes them a range, the
bound the code states).

One stack for the module, with small limits:

- ``PLOTBURN_PAID_REQUESTS_PER_MINUTE=3``, ``PLOTBURN_DAILY_CALL_BUDGET=40`` and
  ``PLOTBURN_PUBLIC_BUDGET_SHARE=0.5``: public cache misses may spend 20 calls, the
  nightly runs and admins the other 20 (a generation of an unresearched movie is 2
  paid calls: research + roast; its one TMDB details lookup is counted in the run's
  calls but is not paid for);
- ``threads=8``: each function process serves at most 8 requests at once (the
  stand-in for Cloud Run's instance concurrency), so at most 8 generations can be
  in flight in the api, which is what makes the stampede's bound testable;
- relay ``concurrency=1``: a night's roast deliveries arrive one at a time (roast's
  max instances = 1), which makes the nightly run's edge exact. Concurrency at the
  edge is the stampede's subject.

Each test uses its own movie ids (the simulator's ``first_movie_id``), so nothing an
api instance might remember from an earlier test can be mistaken for a cached roast.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Driver, start_stack

MOVIES = 15
RATE = 3  # PLOTBURN_PAID_REQUESTS_PER_MINUTE
CALL_BUDGET = 40  # PLOTBURN_DAILY_CALL_BUDGET
PUBLIC_SHARE = 0.5  # PLOTBURN_PUBLIC_BUDGET_SHARE
PUBLIC_CEILING = NIGHTLY_CEILING = 20  # each pool's part of the call ceiling
CALLS_PER_GENERATION = 2  # research + roast, no faults configured so no retries
TMDB_PER_GENERATION = 1  # the movie's details (with credits), unpaid
THREADS = 8  # requests one function process serves at once
ATTEMPTS = 4  # PLOTBURN_UPSTREAM_MAX_ATTEMPTS (default)

# The Worker's error body: {"error": <the status' name>, "message": <why>}.
NOT_ON_DEMAND = "is not now playing; only now-playing movies are roasted on demand"
RATE_LIMITED = {
    "error": "Too Many Requests",
    "message": "too many requests that need new roasts; retry later",
}
BUDGET_SPENT = {
    "error": "Service Unavailable",
    "message": "daily upstream budget exhausted; cached roasts are still served",
}

# Default prices (functions/config.py), to check the budget's cost against the
# simulator's own token counts.


@pytest.fixture(scope="module")
def limits_stack() -> Iterator[Driver]:
    yield from start_stack(
        concurrency=1,
        threads=THREADS,
        simulate_upstreams=True,
        env={
            "PLOTBURN_PAID_REQUESTS_PER_MINUTE": str(RATE),
            "PLOTBURN_DAILY_CALL_BUDGET": str(CALL_BUDGET),
            "PLOTBURN_PUBLIC_BUDGET_SHARE": str(PUBLIC_SHARE),
            "PLOTBURN_TRUSTED_PROXY_HOPS": "0",
            "PLOTBURN_ON_DEMAND_ANY_MOVIE": "false",
            "PLOTBURN_UPSTREAM_TIMEOUT_SECONDS": "2",
            "PLOTBURN_UPSTREAM_BACKOFF_MAX_SECONDS": "0.2",
            "PLOTBURN_SINGLE_FLIGHT_WAIT_SECONDS": "10",
        },
    )


@pytest.fixture
def driver(limits_stack: Driver) -> Driver:
    """Shadows conftest's `driver`: this module runs on its own stack."""
    limits_stack.reset()
    _away_from_utc_midnight()
    return limits_stack


# ---------------------------------------------------------------------- helpers


def _away_from_utc_midnight(margin: float = 60) -> None:
    """The budget is per UTC day: never start a test about to cross midnight."""
    now = datetime.now(UTC)
    left = (
        now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) - now
    ).total_seconds()
    if left < margin:
        time.sleep(left + 1)


def _seconds_to_utc_midnight() -> float:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return (midnight - now).total_seconds()


def _loop_started() -> float:
    """The rate limit is a token bucket of RATE a minute: a client's next token comes
    60/RATE s after its burst. The loop must finish before then to be exact."""
    return time.monotonic()


def _use(driver: Driver, first_movie_id: int, movies: int = MOVIES) -> list[int]:
    """Point the simulator's now-playing list at this test's own ids."""
    driver.stack.sim.configure(first_movie_id=first_movie_id, movies=movies)
    return list(range(first_movie_id, first_movie_id + movies))


def _loop_ids(now_playing: list[int]) -> tuple[list[int], list[int]]:
    """Now-playing ids interleaved with ids that are not now playing: catalogue-only
    ids TMDB knows, ids just past the list, and ids TMDB does not know at all."""
    first, last = now_playing[0], now_playing[-1]
    others = [
        900_000,
        last + 1,
        900_001,
        7,
        900_002,
        last + 2,
        31_337,
        first - 1,
        900_003,
        2_000_000_000,
    ]
    loop = [i for pair in zip_longest(now_playing, others) for i in pair if i is not None]
    return loop, others


def _get(driver: Driver, movie_id: int, headers: Any = None) -> httpx.Response:
    return driver.http.get(f"/movie/{movie_id}", headers=headers)


def _assert_limited_loop(
    responses: Sequence[tuple[int, httpx.Response]], now_playing: list[int], started: float
) -> tuple[list[int], list[int]]:
    """What one client's loop must look like: 404 for every id not now playing, 200
    for the first RATE now-playing ids, 429 with Retry-After for every one after.
    Returns (generated ids, limited ids)."""
    assert time.monotonic() - started < 60 / RATE, "the loop outlasted a token refill; rerun"
    listed = set(now_playing)
    generated: list[int] = []
    limited: list[int] = []
    for movie_id, response in responses:
        body = response.json()
        if movie_id not in listed:
            assert response.status_code == 404, (movie_id, response.status_code, body)
            assert body == {"error": "Not Found", "message": f"movie {movie_id} {NOT_ON_DEMAND}"}, (
                body
            )
        elif len(generated) < RATE:
            assert response.status_code == 200, (movie_id, response.status_code, body)
            _assert_roast(body, movie_id, cached=False)
            generated.append(movie_id)
        else:
            assert response.status_code == 429, (movie_id, response.status_code, body)
            assert body == RATE_LIMITED, body
            retry_after = int(response.headers["Retry-After"])
            assert 1 <= retry_after <= 60, retry_after
            limited.append(movie_id)
    assert len(generated) == RATE and len(limited) == len(now_playing) - RATE
    return generated, limited


def _assert_roast(body: Mapping[str, Any], movie_id: int, cached: bool) -> None:
    """A GET /movie/{id} body for `movie_id`: TMDB's movie and the roast card."""
    assert body["cached"] is cached, body
    assert body["movie"]["id"] == movie_id and body["movie"]["title"], body
    assert body["roast"]["headline"] and body["roast"]["content"], body


def _alerts(driver: Driver) -> list[dict[str, Any]]:
    """ALERT entries in the Firestore log (GET /logs, newest first)."""
    response = driver.http.get("/logs", params={"limit": 500}, headers=driver.admin)
    assert response.status_code == 200, response.text
    return [e for e in response.json()["logs"] if e["severity"] == "ALERT"]


def _stdout_alerts(text: str) -> list[dict[str, Any]]:
    """ALERT lines in a function's stdout (what Cloud Logging would ingest)."""
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("severity") == "ALERT":
            found.append(entry)
    return found


def _budget(driver: Driver) -> dict[str, Any]:
    response = driver.http.get("/budget", headers=driver.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _cost_from_sim(stats: Mapping[str, Any]) -> float:
    """What the simulated providers reported their answers cost."""
    return float(sum(stats["cost_usd"].values()))


def _paid(calls: Mapping[str, int]) -> int:
    return calls["research"] + calls["roast"]


# ------------------------------------------------------------------------ tests


def test_rotated_ipv6_addresses_in_one_64_are_one_client(driver: Driver) -> None:
    """A client with a /64 used to be 2**64 clients: each address its own bucket."""
    now_playing = _use(driver, 5000)
    rotated = [f"2001:db8:5:6::{n:x}" for n in range(1, RATE + 2)]
    answers = [
        _get(driver, movie_id, headers={"X-Forwarded-For": address}).status_code
        for movie_id, address in zip(now_playing, rotated, strict=False)
    ]
    assert answers == [200] * RATE + [429]
    # Another /64 is another client.
    other = _get(driver, now_playing[RATE], headers={"X-Forwarded-For": "2001:db8:5:7::1"})
    assert other.status_code == 200, other.text
    calls = driver.sim_calls()
    assert (calls["research"], calls["roast"]) == (RATE + 1, RATE + 1)


def test_id_loop_from_one_client(driver: Driver) -> None:
    now_playing = _use(driver, 1000)
    loop, _ = _loop_ids(now_playing)
    started = _loop_started()
    # No X-Forwarded-For: locally the requester is the loopback, one client.
    responses = [(movie_id, _get(driver, movie_id)) for movie_id in loop]
    # Before the next token: a limited id stays limited, retried or not.
    again = _get(driver, now_playing[-1])
    generated, limited = _assert_limited_loop(responses, now_playing, started)
    assert generated == now_playing[:RATE]
    assert again.status_code == 429 and "Retry-After" in again.headers

    calls = driver.sim_calls()
    assert (calls["research"], calls["roast"]) == (RATE, RATE)
    # Ids not now playing were refused without asking TMDB about them: the only
    # details asked for are the generated movies' own, once each.
    assert (calls["tmdb_details"], calls["tmdb_list"]) == (RATE * TMDB_PER_GENERATION, 1)
    assert (
        sorted(int(k) for k in driver.stack.sim.stats()["calls_by_movie"]["tmdb_details"])
        == generated
    )

    # Cached reads stay unlimited after the limit: many more reads, all 200, no calls.
    for _ in range(10):
        for movie_id in generated:
            response = _get(driver, movie_id)
            assert response.status_code == 200, response.text
            _assert_roast(response.json(), movie_id, cached=True)
    assert driver.sim_calls() == calls

    # The limit is this client's, not everyone's: another client still generates.
    other = _get(driver, limited[0], headers={"X-Forwarded-For": "192.0.2.99"})
    assert other.status_code == 200, other.text
    _assert_roast(other.json(), limited[0], cached=False)
    after = driver.sim_calls()
    assert (after["research"], after["roast"], after["tmdb_details"]) == (
        RATE + 1,
        RATE + 1,
        RATE + 1,
    )
    budget = _budget(driver)
    assert (budget["calls"], budget["exhausted"]) == (_paid(after), False)

    # The limiter lives in Firestore, expires through expire_at, stores no address.
    now = datetime.now(UTC)
    docs = list(driver.firestore().collection("rate_limits").stream())
    assert docs, "no rate-limit documents in Firestore"
    for doc in docs:
        fields = doc.to_dict() or {}
        assert now < fields["expire_at"] <= now + timedelta(hours=1, minutes=1), fields
        text = doc.id + json.dumps(fields, default=str)
        assert "127.0.0.1" not in text and "192.0.2.99" not in text


REAL = "198.51.100.7"  # the address Google's front end saw; appended last


def _forged(i: int) -> str:
    return f"10.{i}.{(i * 37) % 256}.{(i * 101) % 256}"


def _forged_headers(i: int) -> list[tuple[str, str]]:
    """Request i's headers: X-Forwarded-For with a different forged address each
    time, the real client address appended last (as the front end does), in every
    shape a client can send, plus other headers proxies use for the client address."""
    forged = _forged(i)
    shapes: list[list[tuple[str, str]]] = [
        [("X-Forwarded-For", f"{forged}, {REAL}")],
        [("X-Forwarded-For", f"{forged}, 203.0.113.{i}, 127.0.0.1, {REAL}")],
        # Two header lines: the server joins them in order ("forged,real").
        [("X-Forwarded-For", forged), ("X-Forwarded-For", REAL)],
        [
            ("X-Forwarded-For", f"{forged},{REAL}"),
            ("Forwarded", f"for={forged};proto=https"),
            ("X-Real-IP", forged),
            ("True-Client-IP", forged),
            ("X-Client-IP", forged),
            ("CF-Connecting-IP", forged),
        ],
        # Junk and look-alikes to the left, and a header name spelled with
        # underscores (a server that mapped it would take it for X-Forwarded-For).
        [("X-Forwarded-For", f"unknown, , ::1, {forged}:443, {REAL}"), ("X_Forwarded_For", forged)],
    ]
    return shapes[i % len(shapes)]


def test_same_loop_from_many_forged_addresses(driver: Driver) -> None:
    """`client_key` trusts only the last X-Forwarded-For entry (PLOTBURN_TRUSTED_PROXY_HOPS
    = 0), the one Google's front end appends; without the header it falls back to the
    peer address. The local stack has no front end, so the test plays its part: every
    request carries the client's forged values followed by the constant real address."""
    now_playing = _use(driver, 2000)
    loop, _ = _loop_ids(now_playing)
    started = _loop_started()
    responses = [
        (movie_id, _get(driver, movie_id, _forged_headers(i))) for i, movie_id in enumerate(loop)
    ]
    generated, limited = _assert_limited_loop(responses, now_playing, started)
    # Every request forged a different address: had any of them counted, this
    # client would have had a generation per now-playing id instead of RATE.
    assert len({_forged(i) for i in range(len(loop))}) == len(loop)

    calls = driver.sim_calls()
    assert (calls["research"], calls["roast"], calls["tmdb_details"]) == (
        RATE,
        RATE,
        RATE * TMDB_PER_GENERATION,
    )
    by_movie = driver.stack.sim.stats()["calls_by_movie"]
    assert sorted(int(k) for k in by_movie["roast"]) == generated
    assert sorted(int(k) for k in by_movie["tmdb_details"]) == generated

    # Cached reads stay open to the limited client.
    for movie_id in generated:
        assert _get(driver, movie_id, _forged_headers(99)).status_code == 200
    # The key is the appended entry: another real client behind the front end
    # (same forged lead) still generates, and the loopback client is a third one.
    behind = _get(driver, limited[0], [("X-Forwarded-For", "10.0.0.1, 198.51.100.8")])
    assert behind.status_code == 200, behind.text
    loopback = _get(driver, limited[1])
    assert loopback.status_code == 200, loopback.text
    after = driver.sim_calls()
    assert (after["research"], after["roast"], after["tmdb_details"]) == (
        RATE + 2,
        RATE + 2,
        RATE + 2,
    )


def test_stampede_at_the_budget_edge(driver: Driver) -> None:
    requests = 40
    affordable = 2  # generations that fit once the pre-spend is in
    ids = _use(driver, 3000, movies=48)
    prespend = (PUBLIC_CEILING - affordable * CALLS_PER_GENERATION) // CALLS_PER_GENERATION
    early, stampede = ids[:prespend], ids[prespend : prespend + requests]
    assert len(stampede) == requests

    # Spend all but `affordable` generations' worth of the public share, one at a time
    # (each from its own client, so no rate limit stops them).
    for n, movie_id in enumerate(early):
        response = _get(driver, movie_id, {"X-Forwarded-For": f"198.19.{n}.1"})
        assert response.status_code == 200, response.text
        _assert_roast(response.json(), movie_id, cached=False)
    spent = prespend * CALLS_PER_GENERATION
    assert _budget(driver)["pools"]["public"]["calls"] == spent == _paid(driver.sim_calls())
    assert _alerts(driver) == []

    # Every request from a distinct real client, so no rate limit stops any of them.
    api_log_offset = len(driver.stack.function_log("api"))
    results: dict[int, httpx.Response] = {}
    barrier = threading.Barrier(requests)

    def read(n: int, movie_id: int) -> None:
        with httpx.Client(base_url=driver.stack.api_url, timeout=60) as client:
            barrier.wait()
            results[movie_id] = client.get(
                f"/movie/{movie_id}", headers={"X-Forwarded-For": f"198.18.{n}.1"}
            )

    threads = [threading.Thread(target=read, args=(n, m)) for n, m in enumerate(stampede)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == requests

    statuses = Counter(r.status_code for r in results.values())
    served = sorted(m for m, r in results.items() if r.status_code == 200)
    refused = sorted(m for m, r in results.items() if r.status_code == 503)
    assert set(statuses) <= {200, 503}, statuses
    for movie_id in refused:
        response = results[movie_id]
        assert response.json() == BUDGET_SPENT
        assert abs(int(response.headers["Retry-After"]) - _seconds_to_utc_midnight()) <= 10

    stats = driver.stack.sim.stats()
    calls = stats["calls"]
    generated = len(served)
    # Exactly the served movies were paid for, each once; the refused cost nothing.
    assert sorted(int(k) for k in stats["calls_by_movie"]["research"]) == sorted(early + served)
    assert sorted(int(k) for k in stats["calls_by_movie"]["roast"]) == sorted(early + served)
    assert all(n == 1 for n in stats["calls_by_movie"]["roast"].values())
    assert _paid(calls) == spent + CALLS_PER_GENERATION * generated
    # The budget is checked before TMDB is asked for details: a refused movie cost
    # not even that lookup.
    assert stats["calls_by_movie"]["tmdb_details"] == {str(m): 1 for m in sorted(early + served)}
    for movie_id in served:
        _assert_roast(results[movie_id].json(), movie_id, cached=False)

    # The bound `reserve` states: over the ceiling by at most the generations
    # in flight (at most THREADS in the api), each with its reserved calls (no
    # faults, so no retries). At least the affordable ones always get through.
    overshoot = _paid(calls) - PUBLIC_CEILING
    print(
        f"\nstampede: {requests} concurrent requests, {affordable} affordable, "
        f"{generated} generated, paid calls {_paid(calls)} / public ceiling {PUBLIC_CEILING} "
        f"(overshoot {max(overshoot, 0)} calls, bound {THREADS * CALLS_PER_GENERATION})"
    )
    assert generated >= affordable
    assert overshoot <= THREADS * CALLS_PER_GENERATION

    # The ledger agrees with the simulator: the public share is spent, the night's
    # is untouched.
    budget = _budget(driver)
    assert budget["calls"] == _paid(calls) and budget["call_ceiling"] == CALL_BUDGET
    assert budget["pools"]["public"]["calls"] == _paid(calls)
    assert budget["pools"]["public"]["exhausted"] is True
    assert (budget["pools"]["nightly"]["calls"], budget["exhausted"]) == (0, False)

    # The public share running out pages nobody (it is a WARNING, once): the night
    # can still pay.
    assert _alerts(driver) == []
    assert _stdout_alerts(driver.stack.function_log("api")[api_log_offset:]) == []
    warnings = [
        line
        for line in driver.stack.function_log("api")[api_log_offset:].splitlines()
        if "public share of the daily budget spent" in line
    ]
    assert len(warnings) == 1, warnings

    # Afterwards: cached roasts are still served; public misses are refused; the
    # admin (the nightly and admin pool) still generates.
    assert _get(driver, early[0]).status_code == 200
    assert _get(driver, served[0], {"X-Forwarded-For": "198.18.200.1"}).status_code == 200
    assert _get(driver, refused[1], {"X-Forwarded-For": "198.18.201.1"}).status_code == 503
    assert driver.sim_calls() == calls
    admin = _get(driver, refused[0], driver.admin)
    assert admin.status_code == 200, admin.text
    _assert_roast(admin.json(), refused[0], cached=False)
    assert _budget(driver)["pools"]["nightly"]["calls"] == CALLS_PER_GENERATION


def test_nightly_run_crossing_the_budget(driver: Driver) -> None:
    ids = _use(driver, 4000)
    affordable = NIGHTLY_CEILING // CALLS_PER_GENERATION
    unaffordable = MOVIES - affordable
    roast_log_offset = len(driver.stack.function_log("roast"))

    run = driver.wait_final(driver.trigger())
    assert run["status"] == "partial", run
    assert (run["movies_fetched"], run["roasts_processed"]) == (MOVIES, MOVIES)
    assert (run["roasts_generated"], run["roasts_cached"], run["roasts_failed"]) == (
        affordable,
        0,
        unaffordable,
    )
    assert run["failure_reasons"] == {str(m): "budget_exhausted" for m in run["failed_movie_ids"]}
    # One list page, then each generated movie's details; the refused ones cost nothing.
    assert run["upstream_calls"] == {
        "tmdb": 1 + affordable * TMDB_PER_GENERATION,
        "research": affordable,
        "roast": affordable,
    }

    stats = driver.stack.sim.stats()
    calls = stats["calls"]
    assert (calls["research"], calls["roast"], calls["tmdb_list"], calls["tmdb_details"]) == (
        affordable,
        affordable,
        1,
        affordable * TMDB_PER_GENERATION,
    )
    paid_for = {int(k) for k in stats["calls_by_movie"]["roast"]}
    assert {int(k) for k in stats["calls_by_movie"]["tmdb_details"]} == paid_for
    assert set(run["failed_movie_ids"]) == set(ids) - paid_for
    assert len(run["failed_movie_ids"]) == unaffordable

    # /debug: each movie's outcome and reason.
    debug = driver.http.get(
        "/debug", params={"correlationId": run["correlation_id"]}, headers=driver.admin
    )
    assert debug.status_code == 200, debug.text
    body = debug.json()
    assert body["pending_movie_ids"] == []
    # The generations the run paid for, one debug entry each.
    assert (body["correlationId"], body["count"]) == (run["correlation_id"], affordable)
    assert {e["data"]["movie"]["id"] for e in body["entries"]} == paid_for
    outcomes = {m["movie_id"]: (m["outcome"], m.get("reason")) for m in body["movies"]}
    assert outcomes == {
        m: ("generated", None) if m in paid_for else ("failed", "budget_exhausted") for m in ids
    }

    # /cron/status shows the budget spent; GET /budget (admin) the same, with cost.
    expected_cost = _cost_from_sim(stats)
    status_budget = driver.status()["budget"]
    budget = _budget(driver)
    assert status_budget == budget
    assert (budget["calls"], budget["call_ceiling"], budget["exhausted"]) == (
        NIGHTLY_CEILING,
        CALL_BUDGET,
        True,
    )
    assert budget["pools"]["nightly"]["call_ceiling"] == NIGHTLY_CEILING
    assert budget["day"] == datetime.now(UTC).date().isoformat()
    assert budget["estimated_cost_usd"] == pytest.approx(expected_cost, abs=2e-5)
    assert budget["cost_ceiling_usd"] == 10.0
    assert run["estimated_cost_usd"] == pytest.approx(expected_cost, abs=2e-5)
    assert driver.http.get("/budget").status_code == 401

    # One ALERT for the whole night, tied to the run, in Firestore and on stdout.
    alerts = _alerts(driver)
    assert len(alerts) == 1, alerts
    assert alerts[0]["correlationId"] == run["correlation_id"]
    # ALERT is Cloud Logging's severity; to the Worker's levels it is an ERROR.
    assert alerts[0]["level"] == "ERROR"
    assert [(e["timestamp"], e["message"]) for e in body["logs"] if e["severity"] == "ALERT"] == [
        (alerts[0]["timestamp"], alerts[0]["message"])
    ]
    driver.relay_quiet(settle=0.3)
    assert len(_stdout_alerts(driver.stack.function_log("roast")[roast_log_offset:])) == 1

    # The night's share is spent: no new generation for the admin. Cached still serve.
    unpaid = run["failed_movie_ids"][0]
    assert _get(driver, unpaid, driver.admin).status_code == 503
    assert _get(driver, min(paid_for)).status_code == 200
    assert driver.sim_calls() == calls
    # A public miss pays from its own share, which the night did not touch.
    public = _get(driver, unpaid)
    assert public.status_code == 200, public.text
    _assert_roast(public.json(), unpaid, cached=False)


def test_a_failing_movie_loop_cannot_starve_the_night(driver: Driver) -> None:
    """The attack: anonymous requests, each from a fresh address, for a movie whose
    generation fails. Before the cooldown every request paid again and the loop could
    spend the whole day's budget, so the next night failed every movie."""
    ids = _use(driver, 5000, movies=8)
    failing = ids[0]
    driver.stack.sim.configure(fail_movie_ids={"roast": [failing]})

    first = _get(driver, failing, {"X-Forwarded-For": "198.20.0.1"})
    assert first.status_code == 502, first.text
    paid = driver.sim_calls()
    assert paid["research"] == 1 and paid["roast"] == ATTEMPTS

    for n in range(1, 50):
        again = _get(driver, failing, {"X-Forwarded-For": f"198.20.{n}.1"})
        assert again.status_code == 503, again.text
        assert "failed recently" in again.json()["message"], again.json()
        assert 1700 < int(again.headers["Retry-After"]) <= 1800
    assert driver.sim_calls() == paid  # 49 more requests, not one more upstream call

    budget = _budget(driver)
    assert budget["pools"]["nightly"]["calls"] == 0
    assert budget["pools"]["public"]["calls"] == _paid(paid)

    # The provider recovers; the night runs on its own share, the failed movie
    # included (the night does not wait out a public cooldown).
    driver.stack.sim.configure(fail_movie_ids={"roast": []})
    run = driver.wait_final(driver.trigger())
    assert (run["status"], run["roasts_generated"], run["roasts_failed"]) == ("success", 8, 0), run
    assert _get(driver, failing).json()["cached"] is True
