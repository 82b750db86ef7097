"""Issue 2: the nightly job end to end on the real emulators and the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plotburn_cli.follow import find_run
from tests.e2e.conftest import Driver

MOVIES = 15  # the simulator's default now-playing list


def test_first_run_then_cached_run(driver: Driver) -> None:
    first = driver.wait_final(driver.trigger())
    assert first["status"] == "success"
    assert first["trigger"] == "manual"
    assert (first["movies_fetched"], first["roasts_processed"]) == (MOVIES, MOVIES)
    assert (first["roasts_generated"], first["roasts_cached"], first["roasts_failed"]) == (
        MOVIES,
        0,
        0,
    )
    assert first["failed_movie_ids"] == []
    assert first["duration_ms"] > 0
    calls = driver.sim_calls()
    # One list page, and each new movie's details (with credits) once.
    assert (calls["research"], calls["roast"], calls["tmdb_list"], calls["tmdb_details"]) == (
        MOVIES,
        MOVIES,
        1,
        MOVIES,
    )

    driver.relay_quiet()
    second = driver.wait_final(driver.trigger())
    assert (second["roasts_cached"], second["roasts_generated"], second["roasts_failed"]) == (
        MOVIES,
        0,
        0,
    )
    assert second["status"] == "success"
    after = driver.sim_calls()
    assert after == calls, "a cached night makes no upstream call at all"

    status = driver.status()
    assert status["total_runs"] == 2
    assert [r["correlation_id"] for r in status["history"]] == [
        second["correlation_id"],
        first["correlation_id"],
    ]

    movies = driver.http.get("/now-playing").json()["movies"]
    assert len(movies) == MOVIES and all(m["has_roast"] for m in movies)
    one = driver.http.get(f"/movie/{movies[0]['id']}").json()
    assert (
        one["cached"] is True
        and one["roast"]["headline"]
        and one["movie"]["title"] == movies[0]["title"]
    )
    assert driver.sim_calls() == calls


def test_public_status_shows_no_spend_and_no_upstream_text(driver: Driver) -> None:
    """A run with an upstream failure: the public /cron/status says a movie failed,
    as a code, and shows no budget or spend; the admin key's holder sees it all."""
    failing = int(driver.stack.sim.config()["first_movie_id"]) + 1
    driver.stack.sim.configure(fail_movie_ids={"roast": [failing]})
    run = driver.wait_final(driver.trigger())  # followed with the admin key
    assert run["status"] == "partial" and run["failed_movie_ids"] == [failing], run
    reason = run["failure_reasons"][str(failing)]
    assert reason.startswith("xai:"), reason
    assert run["estimated_cost_usd"] > 0 and run["upstream_calls"]["roast"] > 0
    assert driver.status()["budget"]["remaining_calls"] >= 0

    public = driver.public_status()
    body = public.json()
    assert set(body) == {"last_run", "history", "total_runs"}
    shown = find_run(body, run["correlation_id"])
    assert shown is not None
    assert shown["failure_reasons"] == {str(failing): "upstream_error"}
    assert shown["roasts_failed"] == 1 and shown["status"] == "partial"
    assert not {"upstream_calls", "tokens", "estimated_cost_usd"} & set(shown)
    for leaked in (reason, "xai", "remaining_calls", "cost", "budget"):
        assert leaked not in public.text, leaked


def test_clearing_roasts_reuses_research(driver: Driver) -> None:
    driver.wait_final(driver.trigger())
    driver.relay_quiet()
    cleared = driver.http.delete("/cache/clear/roast", headers=driver.admin)
    assert cleared.status_code == 200 and cleared.json()["removed"] == MOVIES
    run = driver.wait_final(driver.trigger())
    assert (run["roasts_generated"], run["status"]) == (MOVIES, "success")
    calls = driver.sim_calls()
    assert calls["research"] == MOVIES, "truth is permanent: no second research call"
    assert calls["roast"] == 2 * MOVIES
    assert calls["tmdb_details"] == 2 * MOVIES  # details are kept with the roast


def test_scheduled_message_published_with_gcloud(driver: Driver) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "local_stack",
            "trigger",
            "--state-file",
            str(driver.stack.state_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    correlation_id = driver.wait_new_run("cron-")
    run = driver.wait_final(correlation_id)
    assert run["trigger"] == "scheduled" and run["status"] == "success"
    assert run["roasts_generated"] == MOVIES


def test_debug_and_logs_describe_the_run(driver: Driver) -> None:
    correlation_id = driver.trigger()
    driver.wait_final(correlation_id)
    debug = driver.http.get(
        "/debug", params={"correlationId": correlation_id}, headers=driver.admin
    )
    assert debug.status_code == 200
    body = debug.json()
    assert body["run"]["correlation_id"] == correlation_id
    assert body["correlationId"] == correlation_id and body["count"] == MOVIES
    assert {e["key"] for e in body["entries"]} == {
        f"debug:{correlation_id}:{m['movie_id']}" for m in body["movies"]
    }
    assert len(body["movies"]) == MOVIES and {m["outcome"] for m in body["movies"]} == {"generated"}
    messages = [entry["message"] for entry in body["logs"]]
    assert "run started" in messages and "run finished: success" in messages
    logs = driver.http.get("/logs", params={"limit": 5}, headers=driver.admin).json()["logs"]
    assert len(logs) == 5
    assert json.dumps(logs).find(driver.stack.admin_token) == -1


# Issue 11: today's upstream APIs, end to end against the strict simulator.


def test_run_counters_tokens_and_cost_match_what_the_providers_reported(driver: Driver) -> None:
    run = driver.wait_final(driver.trigger())
    assert run["status"] == "success"
    stats = driver.stack.sim.stats()
    assert run["upstream_calls"] == {"tmdb": 1 + MOVIES, "research": MOVIES, "roast": MOVIES}
    assert run["tokens"] == stats["tokens"]
    reported = stats["cost_usd"]["research"] + stats["cost_usd"]["roast"]
    assert reported > 0
    assert run["estimated_cost_usd"] == round(reported, 10)
    budget = driver.http.get("/budget", headers=driver.admin).json()
    assert budget["estimated_cost_usd"] == pytest.approx(reported, abs=1e-9)
    # The truth keeps Perplexity's sources; the roast is a card within its limits.
    movie = driver.http.get(f"/movie/{driver.sim_baseline['first_movie_id']}").json()
    assert movie["citations"][0].startswith("https://www.themoviedb.org/movie/")
    assert movie["truth_source"] == "perplexity:sonar"
    assert movie["roast_model"] == "grok-4.20-0309-non-reasoning"
    assert len(movie["roast"]["internet_vibe"]) == 6


@pytest.mark.parametrize(
    ("variable", "value", "reason", "paid"),
    [
        (
            "PERPLEXITY_MODEL",
            "sonar",
            "perplexity: 400 invalid_model",
            {"research": MOVIES, "roast": 0},
        ),
        (
            "XAI_MODEL",
            "grok-4-fast-non-reasoning",
            "xai: 404 Some requested entity was not found",
            {"research": MOVIES, "roast": MOVIES},
        ),
    ],
)
def test_a_retired_model_fails_every_movie_at_once_with_a_named_reason(
    driver: Driver, variable: str, value: str, reason: str, paid: dict[str, int]
) -> None:
    driver.stack.configure_function_env("roast", {variable: value})
    try:
        run = driver.wait_final(driver.trigger())
    finally:
        driver.stack.configure_function_env("roast", {})
    assert run["status"] == "failed"
    assert run["roasts_failed"] == MOVIES
    assert set(run["failure_reasons"].values()) == {reason}
    calls = driver.sim_calls()
    # One request per movie: a permanent error is never retried.
    assert {k: calls[k] for k in paid} == paid


def test_tmdb_v3_key_alone_lists_the_movies(driver: Driver) -> None:
    # No read token: the v3 key goes in the api_key query parameter.
    driver.stack.configure_function_env(
        "fanout", {"TMDB_API_TOKEN": "", "TMDB_API_KEY": "v3-key-never-print-me"}
    )
    try:
        run = driver.wait_final(driver.trigger())
    finally:
        driver.stack.configure_function_env("fanout", {})
    assert (run["status"], run["movies_fetched"]) == ("success", MOVIES)
    assert "v3-key-never-print-me" not in driver.stack.function_log("fanout")


def test_an_overlong_card_is_repaired_once_then_the_movie_fails_as_invalid_roast(
    driver: Driver,
) -> None:
    first = int(driver.sim_baseline["first_movie_id"])
    repaired, broken = first, first + 1
    driver.stack.sim.configure(roast_overlong_answers={str(repaired): 1, str(broken): 2})
    run = driver.wait_final(driver.trigger())
    assert run["status"] == "partial"
    assert run["failed_movie_ids"] == [broken]
    assert run["failure_reasons"] == {str(broken): "invalid_roast"}
    by_movie = driver.stack.sim.stats()["calls_by_movie"]["roast"]
    assert (by_movie[str(repaired)], by_movie[str(broken)], by_movie[str(first + 2)]) == (2, 2, 1)
    ready = {m["id"]: m["has_roast"] for m in driver.http.get("/now-playing").json()["movies"]}
    assert ready[repaired] is True and ready[broken] is False  # nothing partial cached


def test_failed_and_truncated_research_answers(driver: Driver) -> None:
    first = int(driver.sim_baseline["first_movie_id"])
    long_enough_twice, too_long = first, first + 1
    words = "[simulated] long brief. " * 800  # about 4,800 tokens: over 3,000, under 6,000
    driver.stack.sim.configure(
        research_text_override={str(long_enough_twice): words, str(too_long): words * 2},
        fail_first={"research": 1},
        fail_first_kinds={"research": ["failed"]},
    )
    run = driver.wait_final(driver.trigger())
    assert run["failure_reasons"] == {str(too_long): "truncated"}
    by_movie = driver.stack.sim.stats()["calls_by_movie"]["research"]
    # Every movie: one HTTP 200 "failed" answer retried. The long ones then: one
    # incomplete answer, asked again with twice the limit.
    assert by_movie[str(first + 2)] == 2
    assert by_movie[str(long_enough_twice)] == 3 and by_movie[str(too_long)] == 3


# Issue 12: the Worker's product.


def test_the_workers_client_flow_with_curl_and_jq(driver: Driver) -> None:
    """The Worker's front-end flow replayed with curl and jq: every field and type of
    ../shared/seed-api.md (tests/e2e/worker_client_flow.sh says which)."""
    script = Path(__file__).with_name("worker_client_flow.sh")
    done = subprocess.run(
        ["bash", str(script)],
        env={**os.environ, "API": driver.stack.api_url, "KEY": driver.stack.admin_token},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "worker client flow: ok" in done.stderr
    assert driver.stack.admin_token not in done.stdout + done.stderr


def test_only_the_release_windows_movies_are_fanned_out(driver: Driver) -> None:
    # TMDB lists 8 more: released too long ago, too recently, a documentary, a concert film.
    driver.stack.sim.configure(decoys=8)
    run = driver.wait_final(driver.trigger())
    first = int(driver.sim_baseline["first_movie_id"])
    assert (run["status"], run["movies_fetched"], run["roasts_generated"]) == (
        "success",
        MOVIES,
        MOVIES,
    )
    calls = driver.sim_calls()
    assert (calls["research"], calls["roast"]) == (MOVIES, MOVIES)
    listing = driver.http.get("/now-playing").json()
    assert [m["id"] for m in listing["movies"]] == list(range(first, first + MOVIES))
    assert listing["total_results"] == MOVIES
    assert all(m["has_roast"] for m in listing["movies"])
    by_movie = driver.stack.sim.stats()["calls_by_movie"]["research"]
    assert not [movie for movie in by_movie if int(movie) >= first + MOVIES]  # no decoy researched
