"""Cold nights: ``python -m bench --only cold`` (about 3 minutes), also part of ``make bench``.

Functions scale to zero, so production's nightly run always lands on cold function
instances (Firestore and Pub/Sub are always-on services). For each of ``stacks``
freshly started local stacks, in one sequence: one night to warm the emulators' JVMs,
a restart of the three function processes, then the first uncached run of N movies
(the functions have imported main.py and answered nothing but their readiness check),
then ``warm_reps`` uncached runs on the same, now warm, stack. The figure is
cold ÷ warm (median of the warm runs) per stack; its spread is over the stacks.
``cold_emulator_stacks`` more stacks measure the first run of a fresh stack as it
starts, emulators cold too (what the issue first measured).

Also measured: how long ``import main`` takes in a fresh interpreter (what each
functions-framework process pays at start, before it listens), and the deliveries'
durations (the fanout POST, the roast POSTs' p50 and max), cold and warm.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

from bench.harness import BenchStack, RunResult, Summary, limit_s
from local_stack.procs import REPO_ROOT

N = 15
CONCURRENCY = 32
BOUND = 1.3  # the target: cold within 1.3x of warm

_IMPORT = "import time; t = time.perf_counter(); import main; print(time.perf_counter() - t)"


def say(*parts: Any) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def import_seconds(reps: int = 5) -> dict[str, Any]:
    """`import main` in a fresh interpreter (the same for api, fanout and roast: they
    are one source file), as each functions-framework process does before serving."""
    values = []
    for _ in range(reps):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        values.append(float(out.stdout.strip().splitlines()[-1]))
    return Summary(values).to_json(3)


def _deliveries(r: RunResult) -> dict[str, float]:
    d = r.deliveries
    return {
        "fanout_ms": d["nightly"]["duration_ms"]["max"],
        "roast_p50_ms": d["roast"]["duration_ms"]["p50"],
        "roast_max_ms": d["roast"]["duration_ms"]["max"],
    }


def _check(r: RunResult, n: int, what: str) -> None:
    if r.status.get("status") != "success" or r.status.get("roasts_generated") != n:
        raise RuntimeError(f"{what} run did not succeed as expected: {r.to_json()['run']}")


def one_stack(
    n: int, concurrency: int, warm_reps: int, warm_emulators: bool = True
) -> dict[str, Any]:
    """One fresh stack. With `warm_emulators`, one night is run first and then the
    three function processes are restarted: the emulators (production's always-on
    Firestore and Pub/Sub) are as warm as on any later night, the functions are new
    processes that have imported main.py and answered nothing but their readiness
    check. Without it, everything is cold (the JVMs too), as the stack starts."""
    with BenchStack(concurrency) as b:
        say(f"  stack up in {b.started_s:.1f} s")
        if warm_emulators:
            b.reset(n)
            _check(b.run(n), n, "emulator warm-up")
            b.quiet()
            for name in ("api", "fanout", "roast"):
                b.stack.restart_function(name, kill=False)
        b.reset(n)
        cold = b.run(n)
        _check(cold, n, "cold")
        warm: list[RunResult] = []
        for _ in range(warm_reps):
            b.reset(n)
            w = b.run(n)
            _check(w, n, "warm")
            warm.append(w)
    warm_s = statistics.median(r.wall_s for r in warm)
    say(
        f"  cold {cold.wall_s:.2f} s, warm {', '.join(f'{r.wall_s:.2f}' for r in warm)} s: "
        f"{cold.wall_s / warm_s:.2f}x"
    )
    return {
        "warm_emulators": warm_emulators,
        "started_s": round(b.started_s, 1),
        "cold": cold.to_json(),
        "warm": [r.to_json() for r in warm],
        "cold_s": round(cold.wall_s, 3),
        "warm_s": round(warm_s, 3),
        "ratio": round(cold.wall_s / warm_s, 3),
        "cold_deliveries": _deliveries(cold),
        "warm_deliveries": {
            k: statistics.median(_deliveries(r)[k] for r in warm) for k in _deliveries(cold)
        },
    }


def measure(
    n: int = N,
    concurrency: int = CONCURRENCY,
    stacks: int = 3,
    warm_reps: int = 3,
    cold_emulator_stacks: int = 2,
) -> dict[str, Any]:
    say(f"cold nights: N={n}, {stacks} fresh stacks, {warm_reps} warm runs each ...")
    imports = import_seconds()
    say(f"  import main: {imports['median']:.3f} s ({imports['min']:.3f}-{imports['max']:.3f})")
    runs = []
    for i in range(stacks):
        say(f"  stack {i + 1}/{stacks} (emulators warmed, functions cold) ...")
        runs.append(one_stack(n, concurrency, warm_reps))
    # The same with the emulators' JVMs cold too (the first run of a fresh stack): adds
    # the emulators' own warm-up, which production's always-on services never pay.
    everything_cold = []
    for i in range(cold_emulator_stacks):
        say(f"  stack {i + 1}/{cold_emulator_stacks} (emulators cold too) ...")
        everything_cold.append(one_stack(n, concurrency, warm_reps, warm_emulators=False))

    def summary(key: str, digits: int = 3) -> dict[str, Any]:
        return Summary([r[key] for r in runs]).to_json(digits)

    def deliveries(kind: str) -> dict[str, Any]:
        keys = runs[0][kind].keys()
        return {k: Summary([r[kind][k] for r in runs]).to_json(0) for k in keys}

    return {
        "n": n,
        "concurrency": concurrency,
        "stacks": stacks,
        "warm_reps": warm_reps,
        "limit_s": round(limit_s(n, concurrency), 3),
        "import_main_s": imports,
        "cold_s": summary("cold_s"),
        "warm_s": summary("warm_s"),
        "ratio": summary("ratio", 2),
        "cold_deliveries_ms": deliveries("cold_deliveries"),
        "warm_deliveries_ms": deliveries("warm_deliveries"),
        "runs": runs,
        "everything_cold": {
            "stacks": cold_emulator_stacks,
            "ratio": Summary([r["ratio"] for r in everything_cold]).to_json(2)
            if everything_cold
            else None,
            "runs": everything_cold,
        },
    }


def target(r: dict[str, Any]) -> dict[str, Any] | None:
    """The headline row: cold N=15 against warm, same stacks, in one sequence."""
    c = r.get("cold_nights")
    if not c:
        return None
    ratio = c["ratio"]
    return {
        "target": (
            f"cold night, N={c['n']}: first uncached run after the functions' start-up "
            "vs warm uncached, same stack"
        ),
        "figure": (
            f"{c['cold_s']['median']:.2f} s vs {c['warm_s']['median']:.2f} s = "
            f"{ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f}x, "
            f"{c['stacks']} fresh stacks)"
        ),
        "bound": f"<= {BOUND}x warm",
        "met": ratio["max"] <= BOUND,
        "note": "",
    }


def _r(s: dict[str, Any], unit: str, digits: int = 2) -> str:
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def markdown(r: dict[str, Any]) -> list[str]:
    """The report's cold-night section (empty when it was not measured)."""
    c = r.get("cold_nights")
    if not c:
        return []
    cd, wd = c["cold_deliveries_ms"], c["warm_deliveries_ms"]
    lines = [
        "**Cold nights** (`python -m bench --only cold`; functions scale to zero, so this is the "
        "run production sees every night). For each of "
        f"{c['stacks']} freshly started stacks, in one sequence: the first uncached run of "
        f"N={c['n']} after start-up, then {c['warm_reps']} uncached runs on the same stack "
        "(Firestore emptied before each). The three function processes have imported main.py "
        "and answered nothing (the api only its readiness `/healthz`): before the cold run, one "
        "night warmed the emulators' JVMs and the three function processes were then restarted, "
        "because in production only the functions scale to zero (Firestore and Pub/Sub are always "
        "on). Median over the stacks (min–max):",
        "",
        "| | cold (first run) | warm (median of the warm runs) | cold ÷ warm |",
        "|---|---|---|---|",
        f"| run wall time, N={c['n']}, C={c['concurrency']} | {_r(c['cold_s'], ' s')} | "
        f"{_r(c['warm_s'], ' s')} | **{_r(c['ratio'], '×')}** |",
        f"| fanout delivery (the relay's POST) | {_r(cd['fanout_ms'], ' ms', 0)} | "
        f"{_r(wd['fanout_ms'], ' ms', 0)} | |",
        f"| roast delivery p50 | {_r(cd['roast_p50_ms'], ' ms', 0)} | "
        f"{_r(wd['roast_p50_ms'], ' ms', 0)} | |",
        f"| roast delivery max | {_r(cd['roast_max_ms'], ' ms', 0)} | "
        f"{_r(wd['roast_max_ms'], ' ms', 0)} | |",
    ]
    ec = c.get("everything_cold") or {}
    if ec.get("ratio"):
        runs = ec["runs"]
        lines.append(
            f"| the same with the emulators cold too ({ec['stacks']} stacks) | "
            f"{_r(Summary([x['cold_s'] for x in runs]).to_json(), ' s')} | "
            f"{_r(Summary([x['warm_s'] for x in runs]).to_json(), ' s')} | "
            f"{_r(ec['ratio'], '×')} |"
        )
    lines += [
        "",
        f"`import main` in a fresh interpreter (each function process pays it once, at start, "
        f"before it listens): {_r(c['import_main_s'], ' s', 3)} over 5 imports. Per stack "
        "(cold s / warm s): "
        + "; ".join(f"{x['cold_s']:.2f} / {x['warm_s']:.2f} ({x['ratio']:.2f}×)" for x in c["runs"])
        + ".",
        "",
    ]
    return lines
