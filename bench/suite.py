"""The measurements of issue 5, in the order that reuses one stack per concurrency.

Stack A (relay concurrency 32 >= N): a cold N=15 run, N=15 uncached + cached runs,
the "2 new of 15" nights, then reads on the warm cache.
Stack B (concurrency 50): a cold N=100 run, N=100 and N=500 uncached + cached runs,
memory sampled during N=500.
"""

from __future__ import annotations

import itertools
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cold as cold_nights
from bench import reads
from bench.harness import (
    LATENCY_MS,
    BenchStack,
    RssSampler,
    RunResult,
    Summary,
    limit_s,
    list_fetch_s,
    machine,
    sequential_s,
)

FULL = {
    "sizes": [(15, 32, 5), (100, 50, 5), (500, 50, 3)],  # (N, concurrency, repetitions)
    "cost_reps": 3,
    "read_reps": 3,
    "read_duration_s": 2.0,
}
QUICK = {
    "sizes": [(15, 32, 1)],
    "cost_reps": 1,
    "read_reps": 1,
    "read_duration_s": 1.0,
}


def say(*parts: Any) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def _runs_summary(runs: list[RunResult], key: str = "wall_s") -> dict[str, Any]:
    return Summary([getattr(r, key) for r in runs]).to_json()


def _per_movie(runs: list[RunResult], n: int) -> dict[str, Any]:
    keys = runs[0].ops["run"].keys()
    return {k: Summary([r.ops["run"][k] / n for r in runs]).to_json(2) for k in keys}


def measure_size(b: BenchStack, n: int, reps: int, rss: bool = False) -> dict[str, Any]:
    uncached: list[RunResult] = []
    cached: list[RunResult] = []
    memory: list[dict[str, Any]] = []
    for rep in range(reps):
        b.reset(n)
        if rss:
            sampler = RssSampler(b.stack)
            with sampler.sampling():
                u = b.run(n)
                c = b.run(n)
            memory.append(sampler.result())
        else:
            u = b.run(n)
            c = b.run(n)
        for r, kind in ((u, "uncached"), (c, "cached")):
            expected = "roasts_generated" if kind == "uncached" else "roasts_cached"
            if r.status.get("status") != "success" or r.status.get(expected) != n:
                raise RuntimeError(
                    f"N={n} {kind} run did not succeed as expected: {r.to_json()['run']}"
                )
        uncached.append(u)
        cached.append(c)
        say(
            f"  N={n} rep {rep + 1}/{reps}: uncached {u.wall_s:.2f} s, cached {c.wall_s:.2f} s, "
            f"max in flight {u.sim['max_in_flight']['llm']}"
        )
    c_ = b.concurrency
    limit = limit_s(n, c_)
    out: dict[str, Any] = {
        "n": n,
        "concurrency": c_,
        "reps": reps,
        "limit_s": round(limit, 3),
        "list_fetch_s": round(list_fetch_s(n), 3),
        "waves": math.ceil(n / c_),
        "sequential_s": round(sequential_s(n), 1),
        "uncached_wall_s": _runs_summary(uncached),
        "uncached_server_s": _runs_summary(uncached, "server_s"),
        "cached_wall_s": _runs_summary(cached),
        "cached_server_s": _runs_summary(cached, "server_s"),
        "uncached_ratio_to_limit": Summary([r.wall_s / limit for r in uncached]).to_json(2),
        "cost_per_movie_uncached": _per_movie(uncached, n),
        "cost_per_movie_cached": _per_movie(cached, n),
        "max_in_flight": {
            g: max(r.sim["max_in_flight"][g] for r in uncached + cached)
            for g in ("llm", "research", "roast")
        },
        "runs": {
            "uncached": [r.to_json() for r in uncached],
            "cached": [r.to_json() for r in cached],
        },
    }
    if memory:
        out["memory"] = {
            f: {
                "peak_rss_sampled_mb": Summary(
                    [m[f]["peak_rss_sampled_mb"] for m in memory]
                ).to_json(1),
                "vm_hwm_max_mb": Summary([m[f]["vm_hwm_max_mb"] for m in memory]).to_json(1),
                "rss_before_mb": Summary([m[f]["rss_before_mb"] for m in memory]).to_json(1),
            }
            for f in ("api", "fanout", "roast")
        }
        out["memory_samples"] = memory
    return out


def measure_cold(b: BenchStack, n: int) -> dict[str, Any]:
    """The first run a fresh stack sees: fanout and roast build their clients."""
    b.reset(n)
    u = b.run(n)
    say(f"  cold N={n}: uncached {u.wall_s:.2f} s")
    return {
        "n": n,
        "concurrency": b.concurrency,
        "limit_s": round(limit_s(n, b.concurrency), 3),
        "uncached": u.to_json(),
    }


def measure_new_movies(b: BenchStack, reps: int) -> dict[str, Any]:
    """Night one: 13 movies, all new. Night two: the same 13 plus 2 new ones."""
    nights: list[dict[str, Any]] = []
    for rep in range(reps):
        b.reset(13)
        one = b.run(13)
        b.sim.configure(movies=15)
        cleared = b.clear_now_playing()
        b.quiet()
        b.sim.reset()
        two = b.run(15)
        if two.status.get("roasts_generated") != 2 or two.status.get("roasts_cached") != 13:
            raise RuntimeError(f"night two was not 2 new + 13 cached: {two.to_json()['run']}")
        nights.append(
            {"night_one": one.to_json(), "night_two": two.to_json(), "cache_clear": cleared}
        )
        say(
            f"  2-new night rep {rep + 1}/{reps}: night one {one.ops['run']}, "
            f"night two {two.ops['run']}"
        )

    def total_calls(r: dict[str, Any]) -> int:
        return sum(r["ops"]["run"][f"upstream_{u}"] for u in ("tmdb", "research", "roast"))

    def paid_calls(r: dict[str, Any]) -> int:
        return sum(r["ops"]["run"][f"upstream_{u}"] for u in ("research", "roast"))

    keys = list(nights[0]["night_one"]["ops"]["run"].keys())
    return {
        "reps": reps,
        "night_one_per_run": {
            k: Summary([x["night_one"]["ops"]["run"][k] for x in nights]).to_json(1) for k in keys
        },
        "night_two_per_run": {
            k: Summary([x["night_two"]["ops"]["run"][k] for x in nights]).to_json(1) for k in keys
        },
        "upstream_calls_reduction": Summary(
            [1 - total_calls(x["night_two"]) / total_calls(x["night_one"]) for x in nights]
        ).to_json(3),
        "paid_calls_reduction": Summary(
            [1 - paid_calls(x["night_two"]) / paid_calls(x["night_one"]) for x in nights]
        ).to_json(3),
        "nights": nights,
    }


def run(quick: bool = False) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    started = time.monotonic()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": "make bench" + (" (python -m bench --quick)" if quick else ""),
        "quick": quick,
        "latency_ms": LATENCY_MS,
        "sizes": {},
        "cold": [],
    }
    by_concurrency: dict[int, list[tuple[int, int]]] = {}
    for n, c, reps in plan["sizes"]:
        by_concurrency.setdefault(c, []).append((n, reps))

    errors: list[str] = []
    results["errors"] = errors

    def attempt(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A failed section is reported (and fails the command), the rest still runs."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            say(f"  FAILED: {what}: {type(exc).__name__}: {exc}")
            errors.append(f"{what}: {type(exc).__name__}: {exc}")
            return None

    for c, sizes in by_concurrency.items():
        say(f"stack with relay concurrency {c} ...")
        with BenchStack(c) as b:
            say(f"  up in {b.started_s:.1f} s")
            cold = attempt(f"cold run N={sizes[0][0]}", measure_cold, b, sizes[0][0])
            if cold:
                results["cold"].append(cold)
            for n, reps in sizes:
                size = attempt(f"N={n}", measure_size, b, n, reps, rss=(n == 500))
                if size:
                    results["sizes"][str(n)] = size
            if c == 32:
                say("  2 new movies of 15 ...")
                nm = attempt("2 new movies of 15", measure_new_movies, b, plan["cost_reps"])
                if nm:
                    results["new_movies"] = nm
                say("  reads on a warm cache ...")

                def warm_reads() -> dict[str, Any]:
                    b.reset(15)
                    b.run(15)
                    return reads.measure(
                        b, movie_id=1000, reps=plan["read_reps"], duration=plan["read_duration_s"]
                    )

                rd = attempt("reads", warm_reads)
                if rd:
                    results["reads"] = rd

                def reads_without_instance_cache() -> dict[str, Any]:
                    # The same reads with the api's per-instance read cache off:
                    # every GET /movie is one Firestore get.
                    b.stack.configure_function_env("api", {"PLOTBURN_READ_CACHE_SECONDS": "0"})
                    try:
                        return reads.measure(
                            b,
                            movie_id=1000,
                            reps=plan["read_reps"],
                            duration=plan["read_duration_s"],
                        )
                    finally:
                        b.stack.configure_function_env("api", {})

                say("  reads with the read cache off ...")
                rd0 = attempt("reads, read cache off", reads_without_instance_cache)
                if rd0:
                    results["reads_no_read_cache"] = rd0
    # Cold nights: fresh stacks of their own (bench/cold.py), in the headline table.
    cold_plan = {"stacks": 1, "warm_reps": 1, "cold_emulator_stacks": 0} if quick else {}
    nights = attempt("cold nights", cold_nights.measure, **cold_plan)
    if nights:
        results["cold_nights"] = nights
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["targets"] = targets(results)
    return results


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 5: the figure, the bound, met or not."""
    out: list[dict[str, Any]] = []
    sizes = r["sizes"]

    def add(name: str, figure: str, bound: str, met: bool | None, note: str = "") -> None:
        out.append({"target": name, "figure": figure, "bound": bound, "met": met, "note": note})

    cold_row = cold_nights.target(r)
    if cold_row:
        out.append(cold_row)

    for n, factor in (("15", 1.5), ("500", 1.3)):
        if n in sizes:
            s = sizes[n]
            ratio = s["uncached_ratio_to_limit"]
            add(
                f"uncached run, N={n}, concurrency {s['concurrency']}",
                f"{s['uncached_wall_s']['median']:.2f} s = {ratio['median']:.2f}x limit "
                f"({ratio['min']:.2f}-{ratio['max']:.2f}x)",
                f"<= {factor}x limit ({factor * s['limit_s']:.2f} s)",
                ratio["median"] <= factor,
            )
    if "15" in sizes:
        s = sizes["15"]
        add(
            "cached run, N=15",
            f"{s['cached_wall_s']['median']:.2f} s "
            f"({s['cached_wall_s']['min']:.2f}-{s['cached_wall_s']['max']:.2f})",
            "<= 0.5 s",
            s["cached_wall_s"]["median"] <= 0.5,
        )
    ns = [k for k in ("15", "100", "500") if k in sizes]
    if len(ns) >= 2:
        worst = []
        for a, b_ in itertools.pairwise(ns):
            sa, sb = sizes[a], sizes[b_]
            growth = sb["cached_wall_s"]["median"] / sa["cached_wall_s"]["median"]
            allowed = (sb["n"] / sb["concurrency"]) / (sa["n"] / sa["concurrency"])
            worst.append((growth / allowed, f"N={a}->{b_}: x{growth:.2f} (linear x{allowed:.2f})"))
        add(
            "cached run, growth with N/concurrency",
            "; ".join(w[1] for w in worst),
            "no worse than linear",
            all(w[0] <= 1.0 for w in worst),
        )
    for key, label in (("reads", ""), ("reads_no_read_cache", ", read cache off")):
        if key not in r:
            continue
        res = r[key]["results"]
        parts, ok = [], True
        for lvl in ("1", "8", "32"):
            if lvl not in res.get("movie", {}) or lvl not in res.get("raw_get", {}):
                parts.append(f"{lvl} clients: not measured")
                ok = False
                continue
            m, raw = res["movie"][lvl]["p50_ms"]["median"], res["raw_get"][lvl]["p50_ms"]["median"]
            parts.append(
                f"{lvl} client{'s' if lvl != '1' else ''}: {m:.1f} vs {raw:.1f} ms ({m / raw:.2f}x)"
            )
            ok = ok and m <= 1.5 * raw
        add(f"GET /movie p50 vs raw Firestore get p50{label}", "; ".join(parts), "<= 1.5x", ok)
    if "new_movies" in r:
        nm = r["new_movies"]
        red = nm["upstream_calls_reduction"]
        paid = nm["paid_calls_reduction"]
        add(
            "night with 2 of 15 movies new vs night one (13 new)",
            f"{100 * red['median']:.0f}% fewer upstream calls "
            f"({100 * paid['median']:.0f}% fewer paid calls)",
            "seed's claim: ~90% fewer",
            None,
            "a claim to check, not a target",
        )
    caps = [(s["concurrency"], s["max_in_flight"]["llm"], n) for n, s in sizes.items()]
    if caps:
        add(
            "upstream in-flight never above the concurrency setting",
            "; ".join(f"N={n}: max {m} (cap {c})" for c, m, n in caps),
            "<= concurrency",
            all(m <= c for c, m, _ in caps),
        )
    return out
