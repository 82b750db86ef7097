"""Where a run's time goes: ``python -m bench.profile [--n 100] [--concurrency 50]``.

Starts a stack at the benchmark latencies, warms it with one run, then records the
roast function's gunicorn worker with py-spy (``--idle --nonblocking``, every thread)
during one uncached run of N movies, and CPU seconds of every stack component.

py-spy's samples of the threads that were handling a roast delivery are then put in
buckets (upstream research, upstream roast, each Firestore store method, logging,
everything else), so the report reads as "thread-seconds per movie spent in X". With
``--idle`` a thread blocked on a socket is sampled too, so the buckets add up to the
deliveries' wall time; a second pass without ``--idle`` (``--gil``) shows CPU holders.

Needs py-spy in the venv (``.venv/bin/pip install py-spy``); not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import BenchStack, limit_s

FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for raw in stack.split(";"):
        m = FRAME.match(raw.strip())
        out.append((m.group("fn"), m.group("file")) if m else (raw.strip(), ""))
    return out


def bucket(frames: list[tuple[str, str]]) -> str | None:
    """The bucket of one sample (root first), or None if the thread was not
    handling a roast delivery (gunicorn's idle loop, gRPC's own threads...)."""
    names = [f for f, _ in frames]
    if "handle_roast" not in names:
        return None
    files = [p for _, p in frames]
    # Innermost PlotBurn frame that explains the wait/work.
    for fn, path in reversed(frames):
        fn = fn.split(".<locals>")[0]
        in_store = Path(path).parent.name == "store"  # functions/store/*.py
        if in_store and not fn.split(".")[-1].startswith(("_", "wrapper", "<")):
            return f"firestore.{fn}"
        if path.endswith("observability.py") and fn in ("log", "emit"):
            return f"journal.{fn}"
        if path.endswith("upstream/chat.py") or path.endswith("upstream/http.py"):
            if any(n.endswith("research") for n, p in frames if p.endswith("perplexity.py")):
                return "upstream.research"
            if any(n.endswith("roast") for n, p in frames if p.endswith("grok.py")):
                return "upstream.roast"
            return "upstream.other"
    if any(p.endswith("bootstrap.py") for p in files):
        return "bootstrap (cold start)"
    if any(Path(p).parent.name == "usecases" for p in files):  # functions/usecases/*.py
        inner = [fn for fn, p in frames if Path(p).parent.name == "usecases"][-1]
        return f"usecases.{inner} (own code)"
    return "framework (cloudevent decode, flask, gunicorn)"


def analyse(raw_path: Path, movies: int, all_threads: bool = False) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = _frames(stack)
        b = bucket(frames)
        if b is None:
            if not all_threads:
                continue
            names = " ".join(f for f, _ in frames)
            b = (
                "other threads: grpc"
                if "grpc" in names or "_channel" in names
                else "other threads: " + (frames[1][0] if len(frames) > 1 else "?")
            )
        counts[b] += int(n)
        total += int(n)
    return {"samples": total, "buckets": counts, "movies": movies}


def report(result: dict[str, Any], per_movie_ms: float, unit: str) -> list[str]:
    """Shares of the samples, and each share of `per_movie_ms` (py-spy cannot sample
    50 threads at full rate, so absolute sample counts undercount; shares hold)."""
    total = result["samples"] or 1
    lines = [f"{'bucket':52} {'share':>6} {unit:>18}"]
    for name, n in result["buckets"].most_common():
        if n / total < 0.002:
            continue
        label = "".join(ch if ch.isprintable() else "?" for ch in name)[:52]
        lines.append(f"{label:52} {100 * n / total:5.1f}% {per_movie_ms * n / total:18.1f}")
    lines.append(f"{'total (' + str(total) + ' samples)':52} {'100%':>6} {per_movie_ms:18.1f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--gil", action="store_true", help="only the GIL holder (CPU), no --idle")
    parser.add_argument("--out", type=Path, default=Path("bench/profiles"), help="summaries")
    parser.add_argument(
        "--raw", type=Path, default=Path(".stack/bench-profiles"), help="py-spy stacks"
    )
    parser.add_argument("--poll", type=float, default=0.05, help="/cron/status poll interval (s)")
    args = parser.parse_args(argv)

    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        print("py-spy not found: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    args.raw.mkdir(parents=True, exist_ok=True)
    tag = f"n{args.n}-c{args.concurrency}{'-gil' if args.gil else ''}"
    with BenchStack(args.concurrency) as b:
        b.reset(args.n)
        b.run(args.n)  # warm the processes (clients built, threads spawned)
        b.reset(args.n)
        worker = max(b.stack.pids()["roast"])  # gunicorn's worker is the younger pid
        raw = args.raw / f"roast-{tag}.txt"
        cmd = [
            pyspy,
            "record",
            "--pid",
            str(worker),
            "--rate",
            str(args.rate),
            "--format",
            "raw",
            "--nonblocking",
            "--threads",
            "-o",
            str(raw),
        ]
        if not args.gil:
            cmd.append("--idle")
        else:
            cmd.append("--gil")
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        result = b.run(args.n, poll=args.poll)
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)
    analysis = analyse(raw, args.n, all_threads=args.gil)
    lines = [
        f"uncached run, N={args.n}, concurrency {args.concurrency}: wall {result.wall_s:.2f} s "
        f"(limit {limit_s(args.n, args.concurrency):.2f} s), roast POST p50 "
        f"{result.deliveries['roast']['duration_ms']['p50']:.0f} ms",
        f"CPU seconds during the run: {json.dumps(result.cpu)}",
        (
            "py-spy --gil: samples of the thread holding the GIL in the roast worker, "
            "as shares of its measured CPU "
            f"({1000 * result.cpu['roast'] / args.n:.1f} ms per movie):"
        )
        if args.gil
        else (
            f"py-spy --idle: samples of the threads handling a roast delivery, as shares of the "
            f"delivery's p50 ({result.deliveries['roast']['duration_ms']['p50']:.0f} ms):"
        ),
        *(
            report(analysis, 1000 * result.cpu["roast"] / args.n, "CPU ms/movie")
            if args.gil
            else report(
                analysis, result.deliveries["roast"]["duration_ms"]["p50"], "ms of a delivery"
            )
        ),
    ]
    text = "\n".join(lines)
    (args.out / f"roast-{tag}.summary.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
