"""Issue 2: the nightly job end to end on the real emulators and the local stack."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.e2e.conftest import Driver

MOVIES = 15  # the simulator's default now-playing list


def test_first_run_then_cached_run(driver: Driver) -> None:
    first = driver.wait_final(driver.trigger())
    assert first["status"] == "success"
    assert first["trigger"] == "manual"
    assert (first["movies_fetched"], first["roasts_processed"]) == (MOVIES, MOVIES)
    assert (first["roasts_generated"], first["roasts_cached"], first["roasts_failed"]) == (MOVIES, 0, 0)
    assert first["failed_movie_ids"] == []
    assert first["duration_ms"] > 0
    calls = driver.sim_calls()
    assert (calls["research"], calls["roast"], calls["tmdb_list"]) == (MOVIES, MOVIES, 1)

    driver.relay_quiet()
    second = driver.wait_final(driver.trigger())
    assert (second["roasts_cached"], second["roasts_generated"], second["roasts_failed"]) == (MOVIES, 0, 0)
    assert second["status"] == "success"
    after = driver.sim_calls()
    assert after == calls, "a cached night makes no upstream call at all"

    status = driver.status()
    assert status["total_runs"] == 2
    assert [r["correlation_id"] for r in status["history"]] == [second["correlation_id"], first["correlation_id"]]

    movies = driver.http.get("/now-playing").json()["movies"]
    assert len(movies) == MOVIES and all(m["roast_ready"] for m in movies)
    one = driver.http.get(f"/movie/{movies[0]['id']}").json()
    assert one["roast"]["text"] and one["truth"]["brief"] and one["title"] == movies[0]["title"]
    assert driver.sim_calls() == calls


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


def test_scheduled_message_published_with_gcloud(driver: Driver) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local_stack", "trigger", "--state-file", str(driver.stack.state_file)],
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
    debug = driver.http.get("/debug", params={"correlationId": correlation_id}, headers=driver.admin)
    assert debug.status_code == 200
    body = debug.json()
    assert body["run"]["correlation_id"] == correlation_id
    assert len(body["movies"]) == MOVIES and {m["outcome"] for m in body["movies"]} == {"generated"}
    messages = [entry["message"] for entry in body["logs"]]
    assert "run started" in messages and "run finished: success" in messages
    logs = driver.http.get("/logs", params={"limit": 5}, headers=driver.admin).json()["logs"]
    assert len(logs) == 5
    assert json.dumps(logs).find(driver.stack.admin_token) == -1
