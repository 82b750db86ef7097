"""Issue 3: upstream faults, crashes, stampedes, dead letters and junk, end to end.

Each test asserts exact run counters and exact (or exactly bounded) upstream calls,
read from the simulator's own counters."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from functions.config import Settings
from functions.models import Run, Trigger
from functions.store import collections as c
from functions.store.caches import FirestoreCaches
from functions.store.runs import FirestoreRuns
from tests.e2e.conftest import SECRETS, Driver

CACHE_VERSION = Settings.model_fields["cache_version"].default

MOVIES = 15


def test_transient_429_5xx_and_timeouts_are_retried(driver: Driver) -> None:
    rates = {"rate_429": 0.15, "rate_500": 0.15, "rate_timeout": 0.1, "rate_malformed": 0.05}
    driver.stack.sim.configure(
        faults={"research": rates, "roast": rates, "tmdb": {"rate_500": 0.3}},
        hang_seconds=1.5,
        retry_after_seconds=0,
        seed=7,
    )
    run = driver.wait_final(driver.trigger())
    stats = driver.stack.sim.stats()
    injected = {s: sum(stats["faults_injected"][s].values()) for s in ("research", "roast")}
    assert injected["research"] + injected["roast"] > 0, "the fault rates injected nothing"
    assert (run["status"], run["roasts_generated"], run["roasts_failed"]) == ("success", MOVIES, 0)
    # Every call is either the one success per movie or a retried fault.
    assert stats["successes"]["research"] == MOVIES
    assert stats["successes"]["roast"] == MOVIES
    assert stats["calls"]["research"] == MOVIES + injected["research"]
    assert stats["calls"]["roast"] == MOVIES + injected["roast"]
    # TMDB's faults (the list page and each new movie's details) are retried too:
    # one list page and one details answer per movie got through, plus one more
    # details answer for each roast delivery handed back (a 429 paused the provider
    # for longer than the delivery's lease allows it to wait: TMDB's details are
    # free, the paid calls above stay exact).
    assert sum(stats["faults_injected"]["tmdb"].values()) > 0, "TMDB's fault rate injected nothing"
    handed_back = driver.stack.relay.stats()["plotburn-roast-to-roast"]["nacked"]
    assert 1 + MOVIES <= stats["successes"]["tmdb"] <= 1 + MOVIES + handed_back
    assert sorted(int(m) for m in stats["calls_by_movie"]["tmdb_details"]) == list(
        range(1000, 1000 + MOVIES)
    )


def test_one_permanently_failing_movie(driver: Driver) -> None:
    bad = 1003
    driver.stack.sim.configure(fail_movie_ids={"research": [bad]})
    run = driver.wait_final(driver.trigger())
    assert run["status"] == "partial"
    assert run["failed_movie_ids"] == [bad]
    assert (run["roasts_failed"], run["roasts_generated"], run["roasts_processed"]) == (
        1,
        MOVIES - 1,
        MOVIES,
    )
    assert run["failure_reasons"][str(bad)] == "perplexity: server error (500) after 4 attempts"
    calls = driver.sim_calls()
    attempts = 4  # PLOTBURN_UPSTREAM_MAX_ATTEMPTS default
    assert calls["research"] == MOVIES - 1 + attempts
    assert calls["roast"] == MOVIES - 1
    # Each movie's TMDB details once (the failing one's before its research failed).
    assert calls["tmdb_details"] == MOVIES

    # The operator replays the failure once the upstream recovers: same run, now whole.
    driver.stack.sim.configure(fail_movie_ids={"research": []})
    retried = driver.http.post(
        "/cron/retry", params={"correlationId": run["correlation_id"]}, headers=driver.admin
    )
    assert retried.status_code == 202 and retried.json()["retried_movie_ids"] == [bad]
    again = driver.wait_final(run["correlation_id"])
    assert (again["status"], again["roasts_generated"], again["roasts_failed"]) == (
        "success",
        MOVIES,
        0,
    )
    after = driver.sim_calls()
    assert after["roast"] == MOVIES
    # Only the failed movie was generated again: its details asked for once more.
    assert after["tmdb_details"] == MOVIES + 1
    assert driver.stack.sim.stats()["calls_by_movie"]["tmdb_details"][str(bad)] == 2


def test_worker_killed_mid_run_and_restarted(driver: Driver) -> None:
    driver.stack.sim.configure(latency_ms={"roast": 1500})
    correlation_id = driver.trigger()
    deadline = time.monotonic() + 30
    while driver.stack.sim.stats()["in_flight"]["roast"] < 5:
        assert time.monotonic() < deadline, "roasts never started"
        time.sleep(0.05)
    driver.stack.restart_function("roast", kill=True)
    driver.stack.sim.configure(latency_ms={"roast": 0})
    run = driver.wait_final(correlation_id, timeout=120)
    assert (
        run["status"],
        run["roasts_generated"],
        run["roasts_failed"],
        run["roasts_processed"],
    ) == (
        "success",
        MOVIES,
        0,
        MOVIES,
    )
    stats = driver.stack.sim.stats()
    per_movie = stats["calls_by_movie"]["roast"]
    assert len(per_movie) == MOVIES
    # A roast lost with the killed worker is paid for again once, never more.
    assert all(1 <= n <= 2 for n in per_movie.values()), per_movie
    assert stats["calls"]["research"] <= 2 * MOVIES
    assert max(stats["calls_by_movie"]["research"].values()) <= 2
    assert max(stats["calls_by_movie"]["tmdb_details"].values()) <= 2


def test_twenty_concurrent_requests_for_one_uncached_movie(driver: Driver) -> None:
    driver.stack.sim.configure(latency_ms={"research": 500, "roast": 500})
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def read(n: int) -> None:
        barrier.wait()
        with httpx.Client(base_url=driver.stack.api_url, timeout=60) as client:
            # Twenty clients: waiters count against their own client's rate limit.
            response = client.get("/movie/1005", headers={"X-Forwarded-For": f"198.51.100.{n}"})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses)) == [200], statuses
    calls = driver.sim_calls()
    # One generation for all twenty: one details lookup, one research, one roast.
    assert (calls["tmdb_details"], calls["research"], calls["roast"]) == (1, 1, 1)


def test_request_racing_the_nightly_message(driver: Driver) -> None:
    driver.stack.sim.configure(latency_ms={"research": 400, "roast": 400})
    correlation_id = driver.trigger()
    racing = [driver.http.get(f"/movie/{1000 + i}") for i in range(3)]
    assert [r.status_code for r in racing] == [200, 200, 200]
    assert [r.json()["movie"]["id"] for r in racing] == [1000, 1001, 1002]
    run = driver.wait_final(correlation_id)
    assert run["roasts_processed"] == MOVIES and run["roasts_failed"] == 0
    calls = driver.sim_calls()
    assert (calls["tmdb_details"], calls["research"], calls["roast"]) == (MOVIES, MOVIES, MOVIES)


def test_dead_lettered_movie_counts_failed_and_retry_recovers(driver: Driver) -> None:
    # Someone else holds movie 1004's generation lease for an hour: every delivery of
    # its roast message gives up waiting and asks for redelivery, until dead-lettered.
    db = driver.firestore()
    lease = db.collection("leases").document(f"{CACHE_VERSION}-1004")
    now = datetime.now(UTC)
    lease.set({"holder": "stuck-elsewhere", "taken_at": now, "expire_at": now + timedelta(hours=1)})
    driver.stack.configure_function_env("roast", {"PLOTBURN_SINGLE_FLIGHT_WAIT_SECONDS": "0.2"})
    try:
        run = driver.wait_final(driver.trigger(), timeout=120)
        assert run["status"] == "partial"
        assert run["failed_movie_ids"] == [1004]
        assert run["failure_reasons"]["1004"] == "dead_lettered"
        stats = driver.stack.relay_stats()
        assert sum(s["dead_lettered"] for s in stats.values()) == 1
        assert driver.sim_calls()["roast"] == MOVIES - 1
        lease.delete()
        retried = driver.http.post(
            "/cron/retry", params={"correlationId": run["correlation_id"]}, headers=driver.admin
        )
        assert retried.json()["retried_movie_ids"] == [1004]
        final = driver.wait_final(run["correlation_id"])
        assert (final["status"], final["roasts_generated"], final["roasts_failed"]) == (
            "success",
            MOVIES,
            0,
        )
    finally:
        driver.stack.configure_function_env("roast", {})


JUNK_MESSAGES = [
    b"",
    b"not json",
    b"\xff\xfe\x00",
    b"[]",
    b"null",
    b'{"trigger": "sometimes"}',
    b'{"trigger": "manual", "correlation_id": "../../etc/passwd"}',
    b'{"trigger": "scheduled", "extra": 1}',
    b'{"correlation_id": "cron-1", "movie": {"id": -5, "title": "x"}}',
    b'{"correlation_id": "cron-1", "movie": {"id": 1000, "title": "x"}}',  # no such run
    json.dumps({"trigger": "scheduled", "pad": "x" * 70_000}).encode(),
]


def test_junk_on_both_topics_is_acknowledged_without_effects(driver: Driver) -> None:
    for topic in (driver.stack.nightly_topic, driver.stack.roast_topic):
        for junk in JUNK_MESSAGES:
            # Pub/Sub refuses a message with neither data nor attributes.
            driver.stack.publish(topic, junk, None if junk else {"junk": "empty"})
    driver.relay_quiet(settle=1.5)
    stats = driver.stack.relay_stats()
    assert all(s["nacked"] == 0 and s["dead_lettered"] == 0 for s in stats.values()), stats
    status = driver.status()
    assert (status["last_run"], status["history"], status["total_runs"]) == (None, [], 0)
    assert driver.sim_calls()["research"] == 0
    logs = driver.stack.function_log("fanout") + driver.stack.function_log("roast")
    assert "Traceback" not in logs
    assert logs.count("message rejected and acknowledged") >= len(JUNK_MESSAGES)


# What Pub/Sub adds to a message it dead-letters, and any publisher can add as well.
FORGED_DEAD_LETTER = {
    "CloudPubSubDeadLetterSourceSubscription": "plotburn-roast-to-roast",
    "CloudPubSubDeadLetterSourceSubscriptionProject": "plotburn-local",
    "CloudPubSubDeadLetterSourceDeliveryCount": "5",
}


def _listed_run(driver: Driver) -> str:
    """Trigger a run (its research and roast slowed down) and wait until its movies are listed,
    so a forged message lands while the run is still in progress."""
    driver.stack.sim.configure(latency_ms={"research": 600, "roast": 600})  # timeout: 1 s
    correlation_id = driver.trigger()
    deadline = time.monotonic() + 30
    while (driver.find_run(correlation_id) or {}).get("movies_fetched") != MOVIES:
        assert time.monotonic() < deadline, "the run never listed its movies"
        time.sleep(0.05)
    return correlation_id


def _titles(driver: Driver) -> dict[int, str]:
    listing = driver.http.get("/now-playing").json()
    return {m["id"]: m["title"] for m in listing["movies"]}


@pytest.mark.parametrize("shape", ["movie-id", "whole-movie"])
def test_forged_dead_letter_attributes_on_the_roast_topic_change_nothing(
    driver: Driver, shape: str
) -> None:
    """A message on plotburn-roast with Pub/Sub's dead-letter attributes, while the
    run is in progress: before, roast took it for a dead letter and recorded the
    movie failed. Only the dead-letter topic makes a dead letter now. (In both
    shapes: the whole movie is what roast messages carried before.)"""
    correlation_id = _listed_run(driver)
    movie = {"movie_id": 1000} if shape == "movie-id" else {"movie": {"id": 1000, "title": "x"}}
    forged = json.dumps({"correlation_id": correlation_id, **movie}).encode()
    driver.stack.publish("roast", forged, FORGED_DEAD_LETTER)
    run = driver.wait_final(correlation_id)
    assert (run["status"], run["roasts_generated"], run["roasts_failed"]) == ("success", MOVIES, 0)
    assert run["failure_reasons"] == {}
    driver.relay_quiet(settle=0.5)
    stats = driver.stack.relay_stats()
    assert sum(s["dead_lettered"] for s in stats.values()) == 0, stats
    assert stats[driver.stack.subscriptions["dead-letter"]]["received"] == 0, stats
    # The forged copy waited on the real one's generation: nothing paid twice.
    calls = driver.sim_calls()
    assert (calls["tmdb_details"], calls["research"], calls["roast"]) == (MOVIES, MOVIES, MOVIES)
    movie = driver.http.get("/movie/1000")
    assert movie.status_code == 200
    assert movie.json()["movie"]["title"] == _titles(driver)[1000]
    assert "dead-letter attributes on a message not from the dead-letter topic" in (
        driver.stack.function_log("roast")
    )


def _run_waiting_for(driver: Driver, movie_id: int) -> str:
    """An open run of one movie whose own roast message is not out yet (written with
    the stack's own store code), so a forged message is the first to roast it."""
    correlation_id = f"manual-trigger-{int(time.time() * 1000)}"
    caches = FirestoreCaches(driver.firestore(), CACHE_VERSION, None)
    run = Run(
        correlation_id=correlation_id,
        trigger=Trigger.MANUAL,
        started_at=datetime.now(UTC),
        movie_ids=[movie_id],
        published=True,
    )
    assert FirestoreRuns(driver.firestore(), caches).create_run(run)
    return correlation_id


@pytest.mark.parametrize("shape", ["whole-movie", "movie-id-and-movie"])
def test_a_forged_title_on_the_roast_topic_never_reaches_get_movie(
    driver: Driver, shape: str
) -> None:
    """The attack: a roast message whose movie says another title, first to arrive
    for its movie. Before, roast researched, roasted and cached that title, and GET
    /movie served it for 30 days. Now only the id of a message in the old shape is
    read (and a message with both shapes is rejected): the movie is TMDB's."""
    correlation_id = _run_waiting_for(driver, 1000)
    forged: dict[str, object] = {
        "correlation_id": correlation_id,
        "movie": {"id": 1000, "title": "FORGED TITLE", "overview": "Forged overview"},
    }
    if shape == "movie-id-and-movie":
        forged["movie_id"] = 1000
    driver.stack.publish("roast", json.dumps(forged).encode())
    driver.relay_quiet(settle=1.0)
    roast = driver.stack.relay_stats()[driver.stack.subscriptions["roast"]]
    assert (roast["acked"], roast["nacked"], roast["dead_lettered"]) == (1, 0, 0), roast
    title = _titles(driver)[1000]
    response = driver.http.get("/movie/1000")  # roasted by the message, or now
    assert response.status_code == 200
    assert response.json()["movie"]["title"] == title
    assert "FORGED" not in response.text and "Forged" not in response.text
    calls = driver.sim_calls()
    assert (calls["research"], calls["roast"]) == (1, 1)
    # The movie cached with the roast (what was researched and roasted: the simulator
    # writes from its own catalogue, a real model from the prompt's title).
    cached = driver.firestore().collection("roasts").document(f"{CACHE_VERSION}-1000").get()
    assert (cached.to_dict() or {})["movie"]["title"] == title
    logs = driver.http.get("/logs", params={"correlationId": correlation_id}, headers=driver.admin)
    assert logs.status_code == 200 and "FORGED" not in logs.text
    if shape == "whole-movie":
        run = driver.wait_final(correlation_id)
        assert (run["status"], run["roasts_generated"]) == ("success", 1)
        (generated,) = [e for e in logs.json()["logs"] if e["message"] == "movie generated"]
        assert generated["movieTitle"] == title


def test_deeply_nested_json_is_acknowledged_once(driver: Driver) -> None:
    """About 60 KB of `[[[...]]]`, deeper than the JSON parser's recursion limit: one
    delivery, acknowledged, no dead letter, one warning and no traceback."""
    log_offset = len(driver.stack.function_log("roast"))
    nested = b"[" * 30_000 + b"]" * 30_000
    driver.stack.publish("roast", nested)
    driver.relay_quiet(settle=1.0)
    stats = driver.stack.relay_stats()
    roast = stats[driver.stack.subscriptions["roast"]]
    assert {k: roast[k] for k in ("received", "delivered", "succeeded", "acked")} == dict.fromkeys(
        ("received", "delivered", "succeeded", "acked"), 1
    ), roast
    assert (roast["failed"], roast["nacked"], roast["dead_lettered"]) == (0, 0, 0), roast
    assert stats[driver.stack.subscriptions["dead-letter"]]["received"] == 0, stats
    # The same nesting as the whole request body, which functions-framework parses
    # itself: a POST straight to the function (no Pub/Sub can send it) is 200 too.
    headers = {
        "ce-id": "nested-1",
        "ce-source": f"//pubsub.googleapis.com/projects/{driver.stack.project}/topics/"
        f"{driver.stack.roast_topic}",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    direct = httpx.post(driver.stack.function_url("roast"), content=nested, headers=headers)
    assert direct.status_code == 200, direct.text[:200]
    log = driver.stack.function_log("roast")[log_offset:]
    assert "Traceback" not in log
    assert log.count("roast: message rejected and acknowledged") == 2, log[-2000:]


# Junk on every route, and what GET answers (every other method answers a 4xx too:
# 405 where the route has no such method, 400 for junk parameters, 404 otherwise).
# Limits out of range are clamped as the Worker did (see the /logs checks below), so
# the junk here is what no clamp can mend.
JUNK_PATHS = {
    "/movie/abc": 400,
    "/movie/0": 400,
    "/movie/-1": 400,
    "/movie/1e9": 400,
    "/movie/%00": 400,
    "/movie/99999999999": 400,
    "/movie/abc/debug": 400,
    "/logs?olderThanDays=abc&level=LOUD": 400,
    "/logs?correlationId=%27%3B&olderThanDays=-1": 400,
    "/debug": 400,
    "/debug?correlationId=%27%3B": 400,
    "/debug?correlationId=" + "x" * 129: 400,
    "/debug?correlationId=no-such-run": 404,
    "/feed?type=everything": 400,
    "/feed?type=roast&id=abc": 400,
    "/feed?type=all&id=1000": 400,
    "/feed?page=0": 400,
    "/feed?limit=abc": 400,
    "/cron/retry?correlationId=..%2F..%2Fetc%2Fpasswd": 405,  # POST: 400
    "/cron/status?x=%ff": 200,  # a query parameter nobody reads is ignored
    "/nope": 404,
    "/cache/clear/everything": 405,  # DELETE: 404
    "/now-playing/../../etc": 404,
}
GENERATED_CORRELATION_ID = re.compile(r"^[0-9]{13}-[0-9a-f]{8}$")


def _assert_clean_error(method: str, path: str, response: httpx.Response) -> None:
    """The Worker's error body, nothing else: what went wrong, and why."""
    where = (method, path, response.status_code, response.text)
    assert 400 <= response.status_code < 500, where
    assert response.headers["content-type"].startswith("application/json"), where
    body = response.json()
    assert sorted(body) == ["error", "message"], where
    assert isinstance(body["error"], str) and body["error"], where
    assert isinstance(body["message"], str) and body["message"], where
    assert "Traceback" not in response.text and 'File "' not in response.text, where
    assert response.headers.get("x-correlation-id"), where


def test_junk_on_every_route_is_a_clean_4xx(driver: Driver) -> None:
    api_log_offset = len(driver.stack.function_log("api"))
    for path, get_status in JUNK_PATHS.items():
        for method in ("GET", "POST", "DELETE", "PUT", "PATCH"):
            response = driver.http.request(method, path, headers=driver.admin, content=b"\x00junk{")
            if method == "GET":
                assert response.status_code == get_status, (
                    path,
                    response.status_code,
                    response.text,
                )
            if response.status_code == 200:
                continue
            _assert_clean_error(method, path, response)
            if response.status_code == 405:
                assert response.headers["Allow"], (method, path)
                assert response.json()["error"] == "Method Not Allowed"
    assert driver.http.get("/nope").json()["error"] == "Not found"
    assert driver.http.delete("/cache/clear/everything", headers=driver.admin).status_code == 404
    retry = driver.http.post(
        "/cron/retry?correlationId=..%2F..%2Fetc%2Fpasswd", headers=driver.admin
    )
    assert retry.status_code == 400, retry.text

    # /logs clamps its limit to 1..1000 (junk is the default), as the Worker did: never an error.
    for limit in ("abc", "-1", "0", "100000", "1e9", "%ff"):
        logs = driver.http.get(f"/logs?limit={limit}", headers=driver.admin)
        assert logs.status_code == 200, (limit, logs.text)
        assert set(logs.json()) == {"total", "logs", "note"}, logs.text

    # A junk x-correlation-id is not echoed: the request gets an id of its own.
    junk_id = driver.http.get("/nope", headers={"x-correlation-id": "'; drop table logs --"})
    assert GENERATED_CORRELATION_ID.match(junk_id.headers["x-correlation-id"]), junk_id.headers
    safe_id = driver.http.get("/nope", headers={"x-correlation-id": "client-run:42.a_b"})
    assert safe_id.headers["x-correlation-id"] == "client-run:42.a_b"

    big = driver.http.post("/cron/trigger", headers=driver.admin, content=b"x" * 100_000)
    assert big.status_code == 413
    _assert_clean_error("POST", "/cron/trigger", big)
    encoded = base64.b64encode(b"junk").decode()
    raw = driver.http.post("/cron/trigger", headers={"Authorization": "Basic " + encoded})
    assert raw.status_code == 401
    assert raw.json() == {"error": "Unauthorized", "message": "Missing x-api-key header"}
    wrong = driver.http.post("/cron/trigger", headers={"x-api-key": b"junk\xe9"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "Unauthorized", "message": "Invalid API key"}
    assert driver.status()["total_runs"] == 0
    # Nothing above reached a paid upstream call, nor TMDB's details.
    calls = driver.sim_calls()
    assert (calls["research"], calls["roast"], calls["tmdb_details"]) == (0, 0, 0)
    # ... and no request crashed the api: no traceback, no unhandled error.
    api_log = driver.stack.function_log("api")[api_log_offset:]
    assert "Traceback" not in api_log and "api: unhandled" not in api_log


def test_secrets_never_reach_logs_or_responses(driver: Driver) -> None:
    # Provoke every kind of log line: retries, a failing movie, junk, bad auth.
    driver.stack.sim.configure(
        fail_movie_ids={"roast": [1001]}, rate_500=0.2, retry_after_seconds=0
    )
    run = driver.wait_final(driver.trigger())
    assert run["failed_movie_ids"] == [1001]
    driver.stack.publish(driver.stack.roast_topic, b"junk")
    bodies = [
        driver.http.get("/logs", params={"limit": 500}, headers=driver.admin).text,
        driver.http.get(
            "/debug", params={"correlationId": run["correlation_id"]}, headers=driver.admin
        ).text,
        driver.http.get("/cron/status").text,
        driver.http.post(
            "/cron/trigger", headers={"Authorization": "Bearer " + SECRETS["XAI_API_KEY"]}
        ).text,
        driver.http.post("/cron/trigger", headers={"x-api-key": SECRETS["TMDB_API_TOKEN"]}).text,
        driver.http.get("/movie/1001").text,
        driver.http.get("/movie/1000").text,
        driver.http.get("/movie/1000/debug", headers=driver.admin).text,
        driver.http.get("/feed", params={"type": "truth"}).text,
        driver.http.get("/now-playing").text,
    ]
    driver.relay_quiet()
    logs = "".join(driver.stack.function_log(name) for name in ("api", "fanout", "roast"))
    assert "movie failed" in logs, "the failing movie was logged"
    for secret in [*SECRETS.values(), driver.stack.admin_token]:
        assert secret not in logs
        for body in bodies:
            assert secret not in body


def test_status_read_closes_a_run_abandoned_past_its_deadline(driver: Driver) -> None:
    """A run whose deliveries all died (here: written straight into Firestore, started
    an hour ago, one of three movies landed) is closed by the next `/cron/status`
    read: the two movies that never landed are failed with `deadline_exceeded`."""
    from functions.models import MovieOutcome, Outcome

    db = driver.firestore()
    runs = FirestoreRuns(db, FirestoreCaches(db, CACHE_VERSION, None))
    started = datetime.now(UTC) - timedelta(hours=1)
    abandoned = Run(
        correlation_id="manual-trigger-1700000000000",
        trigger=Trigger.MANUAL,
        started_at=started,
        movie_ids=[1000, 1001, 1002],
        published=True,
    )
    assert runs.create_run(abandoned)
    runs.record_outcome(
        abandoned.correlation_id,
        MovieOutcome(
            movie_id=1000,
            outcome=Outcome.CACHED,
            recorded_at=started + timedelta(seconds=1),
        ),
    )

    status = driver.status()
    (run,) = [r for r in status["history"] if r["correlation_id"] == abandoned.correlation_id]
    assert run["status"] == "partial"
    assert (run["roasts_cached"], run["roasts_failed"]) == (1, 2)
    assert run["failed_movie_ids"] == [1001, 1002]
    assert set(run["failure_reasons"].values()) == {"deadline_exceeded"}
    assert driver.sim_calls()["research"] == 0  # closing it paid for nothing
    assert "run passed its deadline" in driver.stack.function_log("api")


# Waiting is cheap and bounded: callers waiting on another caller's generation do
# not take the API down (the attack: ten requests for a movie being generated, each
# holding a request slot while it polled Firestore every 0.25 s for 25 s).

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
