"""`make smoke` (python -m smoke): without keys it calls nothing and exits 2; with keys
it makes exactly one call to each provider (here the simulator, standing in for the
real APIs at their base URLs) and prints model, latency, tokens and cost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from upstream_sim.server import SimServer

REPO = Path(__file__).resolve().parents[2]
KEYS = {
    "TMDB_API_KEY": "tmdb-v3-SECRET-smoke",
    "PERPLEXITY_API_KEY": "pplx-SECRET-smoke",
    "XAI_API_KEY": "xai-SECRET-smoke",
}
SCRUBBED = ("TMDB_API_TOKEN", *KEYS, "PERPLEXITY_MODEL", "XAI_MODEL")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer("127.0.0.1", 0, {}) as server:
        yield server


def smoke(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    return subprocess.run(
        [sys.executable, "-m", "smoke", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def sim_env(sim: SimServer) -> dict[str, str]:
    return {
        **KEYS,
        "TMDB_API_BASE": f"{sim.url}/tmdb/3",
        "PERPLEXITY_API_BASE": f"{sim.url}/perplexity",
        "XAI_API_BASE": f"{sim.url}/xai/v1",
    }


def test_without_keys_it_says_what_it_needs_and_exits_2(sim: SimServer) -> None:
    sim.simulator.stats.reset()
    done = smoke({"PERPLEXITY_API_KEY": "only-this-one"})
    assert done.returncode == 2
    assert "TMDB_API_TOKEN or TMDB_API_KEY" in done.stderr and "XAI_API_KEY" in done.stderr
    assert "PERPLEXITY_API_KEY," not in done.stderr  # it is set
    assert done.stdout == ""


def test_with_keys_one_call_each_and_a_line_per_provider(sim: SimServer) -> None:
    sim.simulator.stats.reset()
    done = smoke(sim_env(sim), "--movie-id", "1003")
    assert done.returncode == 0, done.stderr
    calls = sim.simulator.stats.snapshot()["calls"]
    assert calls == {"tmdb_list": 0, "tmdb_details": 1, "research": 1, "roast": 1}
    # One details request (credits appended), and both prompts name the movie.
    by_movie = sim.simulator.stats.snapshot()["calls_by_movie"]
    assert by_movie == {"tmdb_details": {"1003": 1}, "research": {"1003": 1}, "roast": {"1003": 1}}
    lines = [line for line in done.stdout.splitlines() if line.startswith("ok")]
    assert [line.split()[1] for line in lines] == ["tmdb", "perplexity", "xai"]
    assert "perplexity/sonar" in lines[1] and "grok-4.20-0309-non-reasoning" in lines[2]
    for line in lines:
        assert " ms " in line and "$" in line
    cost = sim.simulator.stats.snapshot()["cost_usd"]
    assert f"${cost['research']:.6f}" in lines[1] and f"${cost['roast']:.6f}" in lines[2]
    for secret in KEYS.values():
        assert secret not in done.stdout + done.stderr


def test_the_first_error_is_named_and_stops_it(sim: SimServer) -> None:
    sim.simulator.stats.reset()
    done = smoke({**sim_env(sim), "PERPLEXITY_MODEL": "sonar"}, "--movie-id", "1003")
    assert done.returncode == 1
    assert "FAIL  perplexity: 400 invalid_model" in done.stderr
    calls = sim.simulator.stats.snapshot()["calls"]
    assert (calls["research"], calls["roast"]) == (1, 0)  # no retry, no roast after it
