"""``python -m bench.week``: what a simulated week of nightly runs costs.

One local stack (emulators, the three functions, the relay, the upstream simulator),
started once; then seven nightly runs in a row, each started with
``POST /cron/trigger`` (admin) and followed on ``/cron/status`` until it is final.
Between nights the week moves on the way cinemas do: the simulator's now-playing
window slides by ``--churn`` ids (its list is ``first_movie_id`` .. ``first_movie_id +
movies - 1``, upstream_sim/catalogue.py), so the oldest ``churn`` movies leave and
``churn`` new ones arrive, and the now-playing cache is cleared
(``DELETE /cache/clear/now-playing``) because in production it has expired by the
next night (23 h). Roasts (30 days) and truths (permanent) are left alone.

Per night it records the run's own accounting from ``/cron/status``
(``movies_fetched``, ``roasts_cached``, ``roasts_generated``, ``roasts_failed``,
``upstream_calls``, ``tokens``, ``estimated_cost_usd``) and cross-checks the calls and
tokens against the simulator's counters, zeroed before each night. It also checks,
from ``/debug``, that exactly the newly arrived movies were generated.

Writes bench/WEEK.md (or ``--out``) and prints it. Exit 0 when every night's
accounting matches the simulator and the expected cached/generated split, 1 otherwise,
2 when the stack could not start or a run never became final.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import httpx

from local_stack.stack import Stack

HERE = Path(__file__).resolve().parent
NIGHTS = 7
MOVIES = 15
CHURN = 2
FIRST_MOVIE_ID = 1000
SERVICES = ("tmdb", "research", "roast")
SEED_CLAIM = 0.90  # ../shared/seed: "After the first day, API costs drop by ~90%"
PRICE_VARS = (
    "PLOTBURN_PRICE_RESEARCH_INPUT_PER_MTOK",
    "PLOTBURN_PRICE_RESEARCH_OUTPUT_PER_MTOK",
    "PLOTBURN_PRICE_RESEARCH_PER_CALL",
    "PLOTBURN_PRICE_ROAST_INPUT_PER_MTOK",
    "PLOTBURN_PRICE_ROAST_OUTPUT_PER_MTOK",
    "PLOTBURN_PRICE_ROAST_PER_CALL",
)
# Keys that would point the functions at real, paid APIs or change the measurement.
SCRUBBED_VARS = (*PRICE_VARS, "TMDB_API_TOKEN", "PERPLEXITY_API_KEY", "XAI_API_KEY", "TMDB_REGION")


def say(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr, flush=True)


@dataclass
class Night:
    number: int
    window: tuple[int, int]  # first and last now-playing id the simulator lists
    arrived: list[int]  # ids new tonight (all of them on night one)
    correlation_id: str
    run: dict[str, Any]
    sim: dict[str, Any]  # the simulator's stats() after the night
    generated_ids: list[int]
    cache_cleared: int | None  # now-playing documents removed before the night
    wall_s: float
    problems: list[str] = field(default_factory=list)

    @property
    def calls(self) -> dict[str, int]:
        return {s: int(self.run["upstream_calls"][s]) for s in SERVICES}

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def paid_calls(self) -> int:
        return self.calls["research"] + self.calls["roast"]

    @property
    def tokens(self) -> int:
        return sum(int(v) for t in self.run["tokens"].values() for v in t.values())

    @property
    def cost(self) -> float:
        return float(self.run["estimated_cost_usd"])

    @property
    def sim_calls(self) -> dict[str, int]:
        c = self.sim["calls"]
        return {
            "tmdb": c["tmdb_list"] + c["tmdb_details"],
            "research": c["research"],
            "roast": c["roast"],
        }

    @property
    def sim_tokens(self) -> int:
        return sum(int(v) for t in self.sim["tokens"].values() for v in t.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "night": self.number,
            "window": list(self.window),
            "arrived": self.arrived,
            "correlation_id": self.correlation_id,
            "run": self.run,
            "sim_calls": self.sim["calls"],
            "sim_tokens": self.sim["tokens"],
            "generated_ids": self.generated_ids,
            "now_playing_cache_cleared": self.cache_cleared,
            "wall_s": round(self.wall_s, 3),
            "problems": self.problems,
        }


class Week:
    def __init__(self, stack: Stack, timeout: float) -> None:
        self.stack = stack
        self.timeout = timeout
        self.http = httpx.Client(base_url=stack.api_url, timeout=60)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.admin_token}"}

    def close(self) -> None:
        self.http.close()

    def trigger(self) -> str:
        response = self.http.post("cron/trigger", headers=self.admin)
        if response.status_code != 202:
            raise RuntimeError(
                f"POST /cron/trigger answered {response.status_code}: {response.text[:300]}"
            )
        return str(response.json()["correlation_id"])

    def wait_final(self, correlation_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        run: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            status = self.http.get("cron/status", headers=self.admin).raise_for_status().json()
            run = next(
                (
                    r
                    for r in status.get("history") or []
                    if r.get("correlation_id") == correlation_id
                ),
                None,
            )
            if run is not None and run.get("status") != "in_progress":
                return dict(run)
            time.sleep(0.2)
        raise TimeoutError(f"run {correlation_id} not final after {self.timeout:.0f} s: {run}")

    def clear_now_playing(self) -> int:
        response = self.http.delete("cache/clear/now-playing", headers=self.admin)
        response.raise_for_status()
        return int(response.json()["removed"])

    def generated_ids(self, correlation_id: str) -> list[int]:
        response = self.http.get(
            "debug", params={"correlationId": correlation_id}, headers=self.admin
        )
        response.raise_for_status()
        return sorted(
            int(m["movie_id"]) for m in response.json()["movies"] if m["outcome"] == "generated"
        )

    def relay_quiet(self, settle: float = 0.5, timeout: float = 60) -> None:
        """Nothing in flight on any subscription for `settle` s: the night is over."""
        self.stack.wait_quiet(settle=settle, timeout=timeout)

    def night(self, number: int, first_id: int, previous: set[int]) -> Night:
        sim = self.stack.sim
        cleared = None
        if number > 1:
            # The week moves on: the oldest movies leave, new ones arrive; yesterday's
            # now-playing list has expired (23 h) by tonight.
            sim.configure(first_movie_id=first_id)
            cleared = self.clear_now_playing()
        window = set(range(first_id, first_id + MOVIES))
        arrived = sorted(window - previous)
        self.relay_quiet()
        sim.reset()
        t0 = time.monotonic()
        correlation_id = self.trigger()
        run = self.wait_final(correlation_id)
        wall = time.monotonic() - t0
        self.relay_quiet()  # late or duplicate deliveries land in tonight's counters
        stats = sim.stats()
        night = Night(
            number=number,
            window=(first_id, first_id + MOVIES - 1),
            arrived=arrived,
            correlation_id=correlation_id,
            run=run,
            sim=stats,
            generated_ids=self.generated_ids(correlation_id),
            cache_cleared=cleared,
            wall_s=wall,
        )
        night.problems = check(night, previous)
        return night


def check(night: Night, previous: set[int]) -> list[str]:
    """What would make tonight's numbers wrong."""
    problems = []
    run = night.run
    if run["status"] != "success":
        problems.append(f"status {run['status']} (failed: {run.get('failure_reasons')})")
    if run["movies_fetched"] != MOVIES:
        problems.append(f"movies_fetched {run['movies_fetched']}, expected {MOVIES}")
    expected_generated = len(night.arrived)
    if (
        run["roasts_generated"] != expected_generated
        or run["roasts_cached"] != MOVIES - expected_generated
    ):
        problems.append(
            f"cached/generated {run['roasts_cached']}/{run['roasts_generated']}, "
            f"expected {MOVIES - expected_generated}/{expected_generated}"
        )
    if night.generated_ids != night.arrived:
        problems.append(f"generated {night.generated_ids}, but the new movies were {night.arrived}")
    if night.calls != night.sim_calls:
        problems.append(f"run counted calls {night.calls}, the simulator saw {night.sim_calls}")
    run_tokens = {s: dict(run["tokens"][s]) for s in ("research", "roast")}
    sim_tokens = {s: dict(night.sim["tokens"][s]) for s in ("research", "roast")}
    if run_tokens != sim_tokens:
        problems.append(f"run counted tokens {run_tokens}, the simulator billed {sim_tokens}")
    reported = round(sum(night.sim["cost_usd"].values()), 10)
    if night.cost != reported:
        problems.append(f"run counted ${night.cost}, the answers reported ${reported}")
    # One research and one roast per new movie, nothing for a cached one.
    if night.calls["research"] != expected_generated or night.calls["roast"] != expected_generated:
        problems.append(
            f"LLM calls research={night.calls['research']} roast={night.calls['roast']} "
            f"for {expected_generated} new movies"
        )
    by_movie = night.sim.get("calls_by_movie", {})
    paid_for_cached = sorted(
        {
            int(m)
            for e in ("research", "roast")
            for m in by_movie.get(e, {})
            if m.isdigit() and int(m) in previous
        }
    )
    if paid_for_cached:
        problems.append(
            f"LLM calls for movies already roasted on an earlier night: {paid_for_cached}"
        )
    return problems


# ---------------------------------------------------------------------- report


def pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def usd(x: float) -> str:
    return f"${x:.6f}"


def reduction(after: float, before: float) -> float:
    return 1 - after / before if before else 0.0


def price_defaults() -> dict[str, float]:
    from functions.config import Settings  # read-only: the defaults the week ran with

    fields = Settings.model_fields
    return {
        var: fields[name].default
        for name, var in (
            ("price_research_input_per_mtok", PRICE_VARS[0]),
            ("price_research_output_per_mtok", PRICE_VARS[1]),
            ("price_research_per_call", PRICE_VARS[2]),
            ("price_roast_input_per_mtok", PRICE_VARS[3]),
            ("price_roast_output_per_mtok", PRICE_VARS[4]),
            ("price_roast_per_call", PRICE_VARS[5]),
        )
    }


def code_version() -> str:
    """The commit measured, and whether the function code differed from it."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=HERE.parent,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    dirty = git(
        "status", "--porcelain", "--", "main.py", "functions", "local_stack", "upstream_sim"
    )
    return f"`{commit}`" + (
        " plus uncommitted changes to the function or stack code" if dirty else ""
    )


def render(nights: list[Night], meta: dict[str, Any]) -> str:
    one, rest = nights[0], nights[1:]

    def avg(values: list[float]) -> float:
        return sum(values) / len(values)

    rest_calls = avg([n.total_calls for n in rest])
    rest_paid = avg([n.paid_calls for n in rest])
    rest_tokens = avg([n.tokens for n in rest])
    rest_cost = avg([n.cost for n in rest])
    r_calls = reduction(rest_calls, one.total_calls)
    r_paid = reduction(rest_paid, one.paid_calls)
    r_tokens = reduction(rest_tokens, one.tokens)
    r_cost = reduction(rest_cost, one.cost)
    gap = (r_calls - SEED_CLAIM) * 100
    verdict = (
        "in line with it"
        if abs(gap) < 2.5
        else f"{abs(gap):.1f} points {'above' if gap > 0 else 'below'} it"
    )

    lines = [
        "# A simulated week: what each night costs",
        "",
        f"- Date: {meta['date']}",
        f"- Command: `{meta['command']}`",
        f"- Code: {meta['code']}",
        f"- Machine: {meta['machine']}",
        f"- Week: {len(nights)} nightly runs on one local stack (upstream simulator), {MOVIES} movies now playing, "
        f"{CHURN} leave and {CHURN} arrive each night (the simulator's `first_movie_id` moves by {CHURN}); "
        "the now-playing cache is cleared between nights (in production it expires after 23 h); "
        "roasts (30 days) and truths (permanent) are kept.",
        "- Each run started with `POST /cron/trigger` and followed on `/cron/status` until final; "
        "every figure below is the run's own accounting in `/cron/status` "
        "(`upstream_calls`, `tokens`, `estimated_cost_usd`), cross-checked against the simulator's counters "
        "(`stack.sim.stats()`, zeroed before each night): "
        + (
            "they agree on every night."
            if meta["sim_agrees"]
            else "**they disagree, see Problems.**"
        ),
        "- Cost: what each answer reported (Perplexity's `usage.cost.total_cost`, xAI's "
        "`cost_in_usd_ticks`), which the simulator computes at the list prices of the default models: "
        "`perplexity/sonar` $0.25 in / $2.50 out per million tokens plus $0.0025 per web search, "
        "`grok-4.20-non-reasoning` $1.25 in / $2.50 out. The run sums them exactly (checked each night). "
        "The price settings of `functions/config.py` ("
        + ", ".join(f"`{k}`={v:g}" for k, v in meta["prices"].items())
        + ") are used only for answers that report no cost: none here. The simulator's token counts "
        "are its own estimate (about 4 characters a token), so the costs show the shape of a week, not a bill.",
        "",
        "| night | now playing | new | fetched | cached | generated | failed | TMDB | research | roast | "
        "calls | paid calls | tokens (prompt + completion) | est. cost (USD) | duration |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in nights:
        r = n.run
        lines.append(
            f"| {n.number} | {n.window[0]}–{n.window[1]} | {len(n.arrived)} | {r['movies_fetched']} | "
            f"{r['roasts_cached']} | {r['roasts_generated']} | {r['roasts_failed']} | "
            f"{n.calls['tmdb']} | {n.calls['research']} | {n.calls['roast']} | {n.total_calls} | {n.paid_calls} | "
            f"{n.tokens:,} | {usd(n.cost)} | {r['duration_ms'] / 1000:.1f} s |"
        )
    lines += [
        "",
        "| | calls | paid calls (research + roast) | tokens | est. cost (USD) |",
        "|---|---|---|---|---|",
        f"| night one | {one.total_calls} | {one.paid_calls} | {one.tokens:,} | {usd(one.cost)} |",
        f"| nights 2–{len(nights)}, average | {rest_calls:g} | {rest_paid:g} | {rest_tokens:,.0f} | {usd(rest_cost)} |",
        f"| reduction | {pct(r_calls)} | {pct(r_paid)} | {pct(r_tokens)} | {pct(r_cost)} |",
        f"| week total | {sum(n.total_calls for n in nights)} | {sum(n.paid_calls for n in nights)} | "
        f"{sum(n.tokens for n in nights):,} | {usd(sum(n.cost for n in nights))} |",
        "",
        f"**Summary:** nights 2–{len(nights)} made {rest_calls:g} upstream calls on average against night one's "
        f"{one.total_calls}: **{pct(r_calls)} fewer** ({pct(r_paid)} fewer paid research + roast calls, "
        f"{pct(r_cost)} lower estimated cost). The seed claims ~{SEED_CLAIM * 100:.0f}% fewer after night one; "
        f"we measure {pct(r_calls)}, {verdict}. A night after the first calls TMDB once for the list and "
        f"researches and roasts only its {CHURN} new movies, so the saving is set by the churn: "
        f"1 − (1 + 2·{CHURN}) / (1 + 2·{MOVIES}) = {pct(reduction(1 + 2 * CHURN, 1 + 2 * MOVIES))} in calls, "
        f"1 − {CHURN}/{MOVIES} = {pct(reduction(CHURN, MOVIES))} in paid calls. (The seed's own table counts "
        f"night one as ~45 calls, 15 × 3 APIs, and a later night as 3–9.)",
    ]
    problems = [(n.number, p) for n in nights for p in n.problems]
    if problems:
        lines += ["", "## Problems", ""] + [f"- night {num}: {p}" for num, p in problems]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- main


def _raise_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.week", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=HERE / "WEEK.md", help="markdown report (default bench/WEEK.md)"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the raw per-night data here"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for one run to be final"
    )
    args = parser.parse_args(argv)
    logging.getLogger("local_stack").propagate = False  # its INFO lines go to <run_dir>/stack.log
    _raise_on_sigterm()

    # Always the simulator, at the documented prices: a benchmark never spends money
    # and never depends on the caller's shell.
    for var in SCRUBBED_VARS:
        os.environ.pop(var, None)
    state_dir = tempfile.mkdtemp(prefix="plotburn-week-")
    stack = Stack(
        simulate_upstreams=True,
        sim_config={"movies": MOVIES, "first_movie_id": FIRST_MOVIE_ID},
        state_file=f"{state_dir}/stack.json",  # never touches a `make serve`'s .stack/stack.json
    )
    nights: list[Night] = []
    week: Week | None = None
    try:
        say("starting the local stack ...")
        try:
            stack.start()
        except Exception as exc:
            say(f"error: the stack did not start: {exc}")
            return 2
        say(f"stack up; logs in {stack.run_dir}")
        week = Week(stack, args.timeout)
        previous: set[int] = set()
        for number in range(1, NIGHTS + 1):
            first_id = FIRST_MOVIE_ID + (number - 1) * CHURN
            try:
                night = week.night(number, first_id, previous)
            except (TimeoutError, RuntimeError, httpx.HTTPError) as exc:
                say(f"error: night {number}: {exc}")
                return 2
            nights.append(night)
            previous |= set(range(first_id, first_id + MOVIES))
            say(
                f"night {number}: {night.run['status']}, cached {night.run['roasts_cached']}, "
                f"generated {night.run['roasts_generated']}, calls {night.calls}, "
                f"cost {usd(night.cost)}"
                + (f"  PROBLEMS: {night.problems}" if night.problems else "")
            )
    except KeyboardInterrupt:
        say("interrupted")
        return 2
    finally:
        if week is not None:
            week.close()
        say("stopping the stack ...")
        stack.stop()  # raises if any process is left behind
        shutil.rmtree(state_dir, ignore_errors=True)

    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": ".venv/bin/python -m bench.week",
        "code": code_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "prices": price_defaults(),
        "sim_agrees": all(n.calls == n.sim_calls and n.tokens == n.sim_tokens for n in nights),
    }
    report = render(nights, meta)
    args.out.write_text(report, encoding="utf-8")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"meta": meta, "nights": [n.to_json() for n in nights]}, indent=2) + "\n"
        )
    print(report, end="")
    return 1 if any(n.problems for n in nights) else 0


if __name__ == "__main__":
    sys.exit(main())
