"""The benchmark's hands on a local stack: start it, trigger a run and time it, count
what the run cost from the functions' ops log lines, sample memory, time deliveries.

Nothing here changes the system under test. Two things are observed from inside the
benchmark process, because the relay lives there (see local_stack/relay.py): every
POST the relay makes is timed by wrapping ``Relay._post``, so a run can be split into
"until the first roast delivery", "deliveries" and "until the run is seen final".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from local_stack import relay as relay_module
from local_stack.stack import Stack

# Simulated upstream latency for every benchmark (issue 5).
LATENCY_MS = {"tmdb": 50, "research": 400, "roast": 300}
SEED_PAUSE_S = 0.5  # the seed's pause between movies
TMDB_PAGE_SIZE = 20  # movies per now_playing page (the simulator, like TMDB)
TMDB_PAGE_WORKERS = 8  # functions/upstream/tmdb.py: pages 2.. fetched 8 at a time
TMDB_PAGES_PER_SECOND = 35.0  # TMDB_REQUESTS_PER_SECOND: page starts are paced
STATUS_POLL_S = 0.05
FUNCTIONS = ("api", "fanout", "roast")

# Upstream budgets out of the way: a 500-movie night reserves 1,000 paid calls, and a
# benchmark must never measure the budget's refusal instead of the pipeline. The
# budget is still read and written on every generation, as in production.
FUNCTION_ENV = {
    "PLOTBURN_LOG_OPS": "1",
    "PLOTBURN_DAILY_CALL_BUDGET": "1000000",
    "PLOTBURN_DAILY_COST_BUDGET_USD": "1000000",
    # The fleet-wide provider limits stay on (their Firestore transactions are part
    # of what a movie costs) but far above what the simulator serves, so they never
    # bind; bench/ratelimit.py measures a night where they do.
    **{
        f"PLOTBURN_RATE_{p}_{k}": "100000"
        for p in ("RESEARCH", "ROAST", "TMDB")
        for k in ("PER_MINUTE", "BURST", "IN_FLIGHT")
    },
}


def list_fetch_s(n: int) -> float:
    """TMDB list: page 1, then the other pages 8 at a time, their starts paced at
    TMDB_PAGES_PER_SECOND. Counts the listed pages: the release window then keeps
    N movies (the benchmark lists exactly N, so the counts agree)."""
    pages = max(1, math.ceil(n / TMDB_PAGE_SIZE))
    tmdb = LATENCY_MS["tmdb"] / 1000
    if pages == 1:
        return tmdb
    by_workers = math.ceil((pages - 1) / TMDB_PAGE_WORKERS) * tmdb
    by_pace = (pages - 2) / TMDB_PAGES_PER_SECOND + tmdb
    return tmdb + max(by_workers, by_pace)


def limit_s(n: int, concurrency: int) -> float:
    """The physical limit: list fetch, then per wave one TMDB details call (the
    movie's 26 fields and director, once per new movie), one research and one roast."""
    per_movie = (LATENCY_MS["tmdb"] + LATENCY_MS["research"] + LATENCY_MS["roast"]) / 1000
    return list_fetch_s(n) + math.ceil(n / concurrency) * per_movie


def sequential_s(n: int) -> float:
    """The seed's design: each movie in turn, with its 0.5 s pause."""
    return n * ((LATENCY_MS["research"] + LATENCY_MS["roast"]) / 1000 + SEED_PAUSE_S)


# ----------------------------------------------------------------------- relay timing


@dataclass
class Delivery:
    subscription: str
    start: float  # time.time()
    end: float
    error: str | None


class DeliveryLog:
    """Every relay POST with its start and end (wall clock, comparable to log times)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Delivery] = []

    def add(self, item: Delivery) -> None:
        with self._lock:
            self._items.append(item)

    def take(self) -> list[Delivery]:
        with self._lock:
            items, self._items = self._items, []
        return items


DELIVERIES = DeliveryLog()
_patched = False


def instrument_relay() -> None:
    """Time each relay POST (idempotent). The relay's behaviour is unchanged."""
    global _patched
    if _patched:
        return
    original = relay_module.Relay._post

    def timed_post(self: Any, route: Any, headers: Any, body: Any) -> Any:
        start = time.time()
        error = original(self, route, headers, body)
        DELIVERIES.add(Delivery(route.subscription, start, time.time(), error))
        return error

    relay_module.Relay._post = timed_post  # type: ignore[method-assign]
    _patched = True


# ----------------------------------------------------------------------- the stack


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class RunResult:
    """One triggered run, as observed from outside and read back from the logs."""

    n: int
    concurrency: int
    correlation_id: str
    wall_s: float  # POST /cron/trigger sent -> /cron/status answered "final"
    server_s: float  # POST sent -> the run's finished_at (no polling slack)
    status: dict[str, Any]
    polls: int
    poll_latency_s: list[float]
    ops: dict[str, Any]
    timeline: dict[str, float]
    deliveries: dict[str, Any]
    sim: dict[str, Any]
    cpu: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "concurrency": self.concurrency,
            "correlation_id": self.correlation_id,
            "wall_s": round(self.wall_s, 4),
            "server_s": round(self.server_s, 4),
            "run": {
                k: self.status.get(k)
                for k in (
                    "status",
                    "movies_fetched",
                    "roasts_cached",
                    "roasts_generated",
                    "roasts_failed",
                    "duration_ms",
                    "upstream_calls",
                )
            },
            "polls": self.polls,
            "poll_latency_ms": _pcts([x * 1000 for x in self.poll_latency_s]),
            "ops": self.ops,
            "timeline": {k: round(v, 4) for k, v in self.timeline.items()},
            "deliveries": self.deliveries,
            "cpu_s": self.cpu,
            "sim_max_in_flight": self.sim.get("max_in_flight"),
            "sim_calls": self.sim.get("calls"),
        }


def _pcts(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    s = sorted(values)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, max(0, math.ceil(p * len(s)) - 1))], 3)

    return {"n": len(s), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": round(s[-1], 3)}


class BenchStack:
    """A Stack at one relay concurrency, with the simulator at the benchmark latencies."""

    def __init__(
        self, concurrency: int, threads: int = 64, env: dict[str, str] | None = None
    ) -> None:
        if threads < concurrency:
            raise ValueError("gunicorn threads must be >= the relay concurrency")
        instrument_relay()
        self.concurrency = concurrency
        self._state_dir = tempfile.mkdtemp(prefix="plotburn-bench-")
        self.stack = Stack(
            concurrency=concurrency,
            threads=threads,
            env=FUNCTION_ENV if env is None else env,
            sim_config={"latency_ms": dict(LATENCY_MS), "movies": 15},
            state_file=f"{self._state_dir}/stack.json",
        )
        self.http: httpx.Client | None = None
        self.started_s = 0.0

    def __enter__(self) -> BenchStack:
        t0 = time.monotonic()
        self.stack.start()
        self.started_s = time.monotonic() - t0
        self.http = httpx.Client(base_url=self.stack.api_url, timeout=120)
        DELIVERIES.take()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.http is not None:
            self.http.close()
        try:
            self.stack.stop()
        finally:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    # -- small operations ------------------------------------------------------------

    @property
    def sim(self) -> Any:
        return self.stack.sim

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.admin_token}"}

    def log_path(self, function: str) -> Path:
        assert self.stack.run_dir is not None
        return Path(self.stack.run_dir) / f"{function}.log"

    def log_offsets(self) -> dict[str, int]:
        return {
            f: self.log_path(f).stat().st_size if self.log_path(f).exists() else 0
            for f in FUNCTIONS
        }

    def log_lines(self, since: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
        """JSON log lines each function wrote after `since` (its file offsets)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for f in FUNCTIONS:
            with open(self.log_path(f), "rb") as fh:
                fh.seek(since.get(f, 0))
                raw = fh.read().decode("utf-8", "replace")
            lines = []
            for line in raw.splitlines():
                if line.startswith("{"):
                    try:
                        lines.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
            out[f] = lines
        return out

    def quiet(self, settle: float = 0.3, timeout: float = 120) -> None:
        """Wait until the relay has had nothing in flight for `settle` seconds."""
        self.stack.wait_quiet(settle=settle, timeout=timeout)

    def reset(self, movies: int) -> None:
        """Empty Firestore, simulator at `movies` with zeroed counters."""
        self.quiet()
        self.stack.reset_firestore()
        self.sim.configure(movies=movies, latency_ms=dict(LATENCY_MS))
        self.sim.reset()
        self.stack.relay.reset_stats()
        DELIVERIES.take()

    def clear_now_playing(self) -> dict[str, Any]:
        assert self.http is not None
        r = self.http.delete("/cache/clear/now-playing", headers=self.admin)
        r.raise_for_status()
        return dict(r.json())

    # -- a run -------------------------------------------------------------------------

    def run(self, n: int, timeout: float = 600, poll: float = STATUS_POLL_S) -> RunResult:
        """POST /cron/trigger, poll /cron/status every 50 ms until the run is final."""
        assert self.http is not None
        offsets = self.log_offsets()
        DELIVERIES.take()
        cpu = CpuMeter(self.stack)
        t_post_wall = time.time()
        t0 = time.monotonic()
        r = self.http.post("/cron/trigger", headers=self.admin)
        if r.status_code != 202:
            raise RuntimeError(f"trigger answered {r.status_code}: {r.text}")
        cid = str(r.json()["correlation_id"])
        polls, latencies = 0, []
        final: dict[str, Any] | None = None
        while True:
            t_poll = time.monotonic()
            resp = self.http.get("/cron/status", headers=self.admin)
            latencies.append(time.monotonic() - t_poll)
            polls += 1
            resp.raise_for_status()
            for run in resp.json()["history"]:
                if run["correlation_id"] == cid and run["status"] != "in_progress":
                    final = run
            if final is not None:
                wall = time.monotonic() - t0
                cpu_used = cpu.used()
                break
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"run {cid} not final after {timeout}s")
            time.sleep(max(0.0, poll - (time.monotonic() - t_poll)))
        # Let the last invocations write their ops lines, then read everything back.
        self.quiet(settle=0.3)
        sim = self.sim.stats()
        deliveries = DELIVERIES.take()
        lines = self.log_lines(offsets)
        server = parse_time(final["finished_at"]) - t_post_wall
        return RunResult(
            n=n,
            concurrency=self.concurrency,
            correlation_id=cid,
            wall_s=wall,
            server_s=server,
            status=final,
            polls=polls,
            poll_latency_s=latencies,
            ops=sum_ops(lines),
            timeline=timeline(lines, deliveries, t_post_wall, cid),
            deliveries=delivery_stats(deliveries, self.stack.subscriptions),
            sim=sim,
            cpu=cpu_used,
        )


# ----------------------------------------------------------------------- accounting

OPS_KEYS = ("firestore_reads", "firestore_writes", "pubsub_publishes")
UPSTREAMS = ("tmdb", "research", "roast")


def sum_ops(lines: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Sum the `invocation ops` lines: the run's own work (fanout, roast and the
    api's /cron/trigger) apart from the observer's /cron/status polls."""
    run = {k: 0 for k in (*OPS_KEYS, *(f"upstream_{u}" for u in UPSTREAMS))}
    by_function: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    observer = {k: 0 for k in OPS_KEYS}
    invocations: dict[str, int] = defaultdict(int)
    status_polls = 0
    for function, entries in lines.items():
        for e in entries:
            if e.get("message") != "invocation ops":
                continue
            ops = e.get("ops") or {}
            calls = e.get("upstream_calls") or {}
            path = e.get("path")
            if function == "api" and path != "/cron/trigger":
                status_polls += path == "/cron/status"
                for k in OPS_KEYS:
                    observer[k] += int(ops.get(k, 0))
                continue
            invocations[function] += 1
            for k in OPS_KEYS:
                run[k] += int(ops.get(k, 0))
                by_function[function][k] += int(ops.get(k, 0))
            for u in UPSTREAMS:
                run[f"upstream_{u}"] += int(calls.get(u, 0))
                by_function[function][f"upstream_{u}"] += int(calls.get(u, 0))
    return {
        "run": run,
        "by_function": {f: dict(v) for f, v in by_function.items()},
        "invocations": dict(invocations),
        "observer": {**observer, "status_polls": status_polls},
    }


def timeline(
    lines: dict[str, list[dict[str, Any]]], deliveries: list[Delivery], t0: float, cid: str
) -> dict[str, float]:
    """Seconds after the trigger POST at which each stage was reached."""
    out: dict[str, float] = {}

    def at(function: str, message: str, first: bool = True) -> float | None:
        times = [
            parse_time(e["time"])
            for e in lines.get(function, [])
            if e.get("message", "").startswith(message)
            and e.get("correlation_id", cid) == cid
            and "time" in e
        ]
        if not times:
            return None
        return (min(times) if first else max(times)) - t0

    points = {
        "api_trigger_logged": at("api", "manual run requested"),
        "fanout_run_started": at("fanout", "run started"),
        "fanout_done": at("fanout", "invocation ops"),
        "first_outcome": at("roast", "movie "),
        "last_outcome": at("roast", "movie ", first=False),
        "run_finished_logged": at("roast", "run finished"),
    }
    fanout = [d for d in deliveries if "to-fanout" in d.subscription]
    roast = [
        d
        for d in deliveries
        if d.subscription.endswith("-to-roast") and "dead" not in d.subscription
    ]
    if fanout:
        points["fanout_post_start"] = min(d.start for d in fanout) - t0
    if roast:
        points["first_roast_post_start"] = min(d.start for d in roast) - t0
        points["last_roast_post_start"] = max(d.start for d in roast) - t0
        points["last_roast_post_end"] = max(d.end for d in roast) - t0
    out.update({k: v for k, v in points.items() if v is not None})
    return out


def delivery_stats(deliveries: list[Delivery], subscriptions: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in subscriptions.items():
        ds = [d for d in deliveries if d.subscription == sub]
        if ds:
            out[key] = {
                "posts": len(ds),
                "failed": sum(d.error is not None for d in ds),
                "duration_ms": _pcts([(d.end - d.start) * 1000 for d in ds]),
            }
    return out


# ----------------------------------------------------------------------- cpu and memory

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), 0 if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = raw[raw.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class CpuMeter:
    """CPU seconds each stack component (and this process: the relay, the status
    poller) used between construction and `used()`."""

    def __init__(self, stack: Stack) -> None:
        self.groups = {k: v for k, v in stack.pids().items()}
        self.groups["bench+relay"] = [os.getpid()]
        self.t0 = time.monotonic()
        self.start = {k: sum(cpu_seconds(p) for p in v) for k, v in self.groups.items()}

    def used(self) -> dict[str, float]:
        out = {
            k: round(sum(cpu_seconds(p) for p in v) - self.start[k], 2)
            for k, v in self.groups.items()
        }
        out["elapsed"] = round(time.monotonic() - self.t0, 2)
        return out


class RssSampler:
    """Samples VmRSS (and reads VmHWM) of each function's processes every `period`."""

    def __init__(self, stack: Stack, period: float = 0.1) -> None:
        self.pids = {f: stack.pids().get(f, []) for f in FUNCTIONS}
        self.period = period
        self.peak_group_rss_kb: dict[str, int] = {f: 0 for f in FUNCTIONS}
        self.start_group_rss_kb: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    @staticmethod
    def _status(pid: int) -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
        return out

    def _group_rss(self, function: str) -> int:
        return sum(self._status(p).get("VmRSS", 0) for p in self.pids[function])

    def _loop(self) -> None:
        while not self._stop.is_set():
            for f in FUNCTIONS:
                self.peak_group_rss_kb[f] = max(self.peak_group_rss_kb[f], self._group_rss(f))
            self._stop.wait(self.period)

    @contextmanager
    def sampling(self) -> Iterator[RssSampler]:
        self.start_group_rss_kb = {f: self._group_rss(f) for f in FUNCTIONS}
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in FUNCTIONS:
            procs = {p: self._status(p) for p in self.pids[f]}
            out[f] = {
                "pids": self.pids[f],
                "rss_before_mb": round(self.start_group_rss_kb.get(f, 0) / 1024, 1),
                "peak_rss_sampled_mb": round(self.peak_group_rss_kb[f] / 1024, 1),
                "vm_hwm_mb": {str(p): round(s.get("VmHWM", 0) / 1024, 1) for p, s in procs.items()},
                "vm_hwm_max_mb": round(
                    max((s.get("VmHWM", 0) for s in procs.values()), default=0) / 1024, 1
                ),
            }
        return out


@dataclass
class Summary:
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        s = sorted(self.values)
        k = len(s)
        return s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2

    def to_json(self, digits: int = 3) -> dict[str, Any]:
        return {
            "median": round(self.median, digits),
            "min": round(min(self.values), digits),
            "max": round(max(self.values), digits),
            "values": [round(v, digits) for v in self.values],
        }


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except FileNotFoundError:
        pass
    return {
        "nproc": os.cpu_count(),
        "mem_total_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu_model": model,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }
