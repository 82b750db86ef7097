"""bench/RESULTS.md, bench/walltime.png and bench/results.json from one suite run."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench import cold
from bench.harness import sequential_s

PROFILES = Path(__file__).parent / "profiles"


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt_range(s: dict[str, Any], unit: str = " s", digits: int = 2) -> str:
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    sizes = sorted(results["sizes"].values(), key=lambda s: s["n"])
    ns = [s["n"] for s in sizes]
    fig, ax = plt.subplots(figsize=(8, 5.2), dpi=110)

    def series(key: str) -> tuple[list[float], list[list[float]]]:
        med = [s[key]["median"] for s in sizes]
        err = [
            [m - s[key]["min"] for m, s in zip(med, sizes, strict=True)],
            [s[key]["max"] - m for m, s in zip(med, sizes, strict=True)],
        ]
        return med, err

    med, err = series("uncached_wall_s")
    ax.errorbar(
        ns,
        med,
        yerr=err,
        marker="o",
        capsize=4,
        lw=2,
        label="fan-out, uncached (measured, median, min–max)",
    )
    med, err = series("cached_wall_s")
    ax.errorbar(
        ns, med, yerr=err, marker="s", capsize=4, lw=1.5, label="fan-out, cached (measured)"
    )
    fine = sorted(set(ns + list(range(15, max(ns) + 1, 5))))
    ax.plot(
        ns,
        [s["limit_s"] for s in sizes],
        "k--",
        marker="x",
        label="limit: list fetch + ceil(N/C) × (TMDB details + research + roast)",
    )
    ax.plot(
        fine,
        [sequential_s(n) for n in fine],
        ":",
        color="tab:red",
        label="seed's sequential design: N × 1.2 s",
    )
    for s in sizes:
        ax.annotate(
            f"C={s['concurrency']}",
            (s["n"], s["limit_s"]),
            textcoords="offset points",
            xytext=(4, -12),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    targets = [
        (s["n"], s["limit_s"] * f)
        for s, f in ((s, {15: 1.5, 500: 1.3}.get(s["n"])) for s in sizes)
        if f
    ]
    if targets:
        ax.plot(
            [t[0] for t in targets],
            [t[1] for t in targets],
            "v",
            color="tab:green",
            ms=8,
            ls="none",
            label="target (1.5× limit at N=15, 1.3× at N=500)",
        )
    ax.set_xticks(ns)
    ax.set_xticklabels([str(n) for n in ns])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("movies per night (N)")
    ax.set_ylabel("wall time, trigger → run final (s)")
    ax.set_title(
        "PlotBurn nightly run: wall time vs N\n(simulated upstreams: TMDB 50 ms, research 400 ms, roast 300 ms)",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _phase_rows(size: dict[str, Any]) -> dict[str, float]:
    """Median seconds of each stage of the uncached runs."""
    runs = size["runs"]["uncached"]

    def med(fn: Any) -> float:
        vals = []
        for r in runs:
            try:
                vals.append(fn(r["timeline"], r))
            except KeyError:
                pass
        return _med(vals)

    return {
        "trigger → fanout delivery starts (api publish, Pub/Sub, relay)": med(
            lambda t, r: t["fanout_post_start"]
        ),
        "→ first roast delivery starts (list fetch, run record, publish, Pub/Sub, relay)": med(
            lambda t, r: t["first_roast_post_start"] - t["fanout_post_start"]
        ),
        "→ last outcome recorded (the roast deliveries)": med(
            lambda t, r: t["last_outcome"] - t["first_roast_post_start"]
        ),
        "→ run finalized (count, list outcomes, conditional update)": med(
            lambda t, r: t["run_finished_logged"] - t["last_outcome"]
        ),
        "→ seen final by the 50 ms `/cron/status` poll": med(
            lambda t, r: r["wall_s"] - t["run_finished_logged"]
        ),
        "total (wall)": med(lambda t, r: r["wall_s"]),
        "(fanout delivery, whole POST)": med(
            lambda t, r: r["deliveries"]["nightly"]["duration_ms"]["p50"] / 1000
        ),
    }


def _cpu_rows(size: dict[str, Any], kind: str = "uncached") -> dict[str, float]:
    runs = size["runs"][kind]
    keys = [k for k in runs[0]["cpu_s"] if k != "elapsed"]
    return {k: _med([r["cpu_s"][k] for r in runs]) for k in keys} | {
        "elapsed": _med([r["cpu_s"]["elapsed"] for r in runs])
    }


def markdown(results: dict[str, Any], png_name: str = "walltime.png") -> str:
    m = results["machine"]
    sizes = sorted(results["sizes"].values(), key=lambda s: s["n"])
    L: list[str] = []
    w = L.append
    w("# PlotBurn benchmarks")
    w("")
    w(f"- **Date**: {results['date']}")
    w(
        f"- **Machine**: `nproc` = {m['nproc']}, MemTotal = {m['mem_total_gib']} GiB ({m['cpu_model'] or 'cpu model unknown'}); "
        f"load average before the run {' '.join(m['loadavg_at_start'])} (1, 5, 15 min; other work on the machine shows here)"
    )
    w(
        f"- **Command**: `{results['command']}` (= `.venv/bin/python -m bench`; `python -m bench --quick` is the N=15-only smoke check). "
        f"Took {results['elapsed_s']:.0f} s."
    )
    if results.get("note"):
        w(f"- **Note**: {results['note']}")
    lat = results["latency_ms"]
    w(
        f"- **Upstreams**: the project's simulator at TMDB {lat['tmdb']} ms, research {lat['research']} ms, roast {lat['roast']} ms per call. "
        "Everything else is the real local stack (`local_stack.Stack`): Firestore and Pub/Sub emulators, the three functions under "
        "functions-framework (gunicorn, 64 threads), the relay delivering Pub/Sub like Eventarc with C messages in flight per subscription "
        "(the local twin of roast's `max_instance_count`). All of it shares the machine's cores with the benchmark's own clients."
    )
    w(
        "- **Method**: wall time = `POST /cron/trigger` sent → the `/cron/status` answer that shows the run final (polled every 50 ms). "
        "Firestore is emptied and the simulator's counters zeroed before each repetition; each figure is the median of the repetitions "
        "with (min–max). Costs are counted from the functions' `invocation ops` log lines (`PLOTBURN_LOG_OPS=1`), not estimated; "
        "the benchmark's own `/cron/status` polls are counted apart."
    )
    w(
        "- **Physical limit** (`bench.harness.limit_s`): the TMDB list (page 1, then the other pages 8 at a time, their starts "
        "paced at 35 a second under TMDB's soft ceiling), then per wave of C movies one TMDB details call, one research and one "
        "roast. Since the Worker-compatibility work (issue 12) every new movie costs that TMDB details call (with credits: the "
        "26 fields `/movie/{id}` serves and the director the research names), kept with its roast; the run document is created "
        "when the trigger answers (one more write per run); and each generation's commit also carries its debug entry and its "
        "`has_roast` index entry (more writes in the same round trip, not more round trips)."
    )
    w("")
    if results.get("errors"):
        w("")
        w("**Sections that failed in this run:** " + "; ".join(f"`{e}`" for e in results["errors"]))
    w("## Figures against targets")
    w("")
    w("| target | measured | bound | met |")
    w("|---|---|---|---|")
    for t in results["targets"]:
        met = "n/a" if t["met"] is None else ("**met**" if t["met"] else "**not met**")
        note = f" — {t['note']}" if t["note"] else ""
        w(f"| {t['target']} | {t['figure']} | {t['bound']}{note} | {met} |")
    w("")
    w("## 1–2. Run wall time")
    w("")
    w(f"![wall time vs N]({png_name})")
    w("")
    w(
        "| N | C | limit | uncached (median, min–max) | ÷ limit | uncached, server-side¹ | cached | sequential design | reps |"
    )
    w("|---|---|---|---|---|---|---|---|---|")
    for s in sizes:
        w(
            f"| {s['n']} | {s['concurrency']} | {s['limit_s']:.2f} s | {_fmt_range(s['uncached_wall_s'])} | "
            f"{s['uncached_ratio_to_limit']['median']:.2f}× | {_fmt_range(s['uncached_server_s'])} | {_fmt_range(s['cached_wall_s'])} | "
            f"{s['sequential_s']:.0f} s | {s['reps']} |"
        )
    w("")
    w(
        "¹ server-side: trigger sent → the run's `finished_at`, i.e. without the polling slack — and without the finalize "
        "itself, because `finished_at` is stamped before the finalizing delivery lists the outcomes and writes the run. "
        "limit = list fetch (50 ms + ⌈(pages−1)/8⌉ × 50 ms, 20 movies a page) + ⌈N/C⌉ × (400 + 300) ms."
    )
    w("")
    if results.get("cold"):
        w(
            "**Cold start.** The first run a freshly started stack sees, the emulators' JVMs cold too (fanout and roast build "
            "their Firestore, Pub/Sub and HTTP clients on their first event, see `functions/bootstrap.py`); the table above "
            "excludes it, and the cold nights below measure the functions' own cold start:"
        )
        w("")
        w("| N | C | cold uncached run | limit | fanout delivery | roast delivery p50 |")
        w("|---|---|---|---|---|---|")
        for c in results["cold"]:
            u = c["uncached"]
            d = u["deliveries"]
            w(
                f"| {c['n']} | {c['concurrency']} | {u['wall_s']:.2f} s | {c['limit_s']:.2f} s | "
                f"{d['nightly']['duration_ms']['p50']:.0f} ms | {d['roast']['duration_ms']['p50']:.0f} ms |"
            )
        w("")
    for line in cold.markdown(results):
        w(line)
    w(
        "**Where an uncached run's time goes** (median seconds after the trigger, from the functions' log timestamps and the relay's POST times):"
    )
    w("")
    header = "| stage | " + " | ".join(f"N={s['n']}" for s in sizes) + " |"
    w(header)
    w("|---|" + "---|" * len(sizes))
    phases = [_phase_rows(s) for s in sizes]
    for key in phases[0]:
        w(f"| {key} | " + " | ".join(f"{p[key]:.2f}" for p in phases) + " |")
    w(
        "| roast delivery (one movie), p50 — upstream part is 0.70 s | "
        + " | ".join(
            f"{_med([r['deliveries']['roast']['duration_ms']['p50'] for r in s['runs']['uncached']]) / 1000:.2f}"
            for s in sizes
        )
        + " |"
    )
    w(
        "| cached run: roast delivery p50 (no upstream) | "
        + " | ".join(
            f"{_med([r['deliveries']['roast']['duration_ms']['p50'] for r in s['runs']['cached']]) / 1000:.2f}"
            for s in sizes
        )
        + " |"
    )
    w(
        "| `/cron/status` poll latency p50 / max (ms) | "
        + " | ".join(
            f"{_med([r['poll_latency_ms']['p50'] for r in s['runs']['uncached']]):.0f} / {max(r['poll_latency_ms']['max'] for r in s['runs']['uncached']):.0f}"
            for s in sizes
        )
        + " |"
    )
    w("")
    w(
        "**CPU seconds used during an uncached run** (median; user+system from `/proc/<pid>/stat`; the machine has "
        f"{m['nproc']} cores, i.e. {m['nproc']} CPU-seconds per second):"
    )
    w("")
    cpus = [_cpu_rows(s) for s in sizes]
    w(header)
    w("|---|" + "---|" * len(sizes))
    for key in cpus[0]:
        label = {
            "elapsed": "run wall time",
            "bench+relay": "benchmark process (relay, poller)",
        }.get(key, key)
        w(f"| {label} | " + " | ".join(f"{c.get(key, 0):.2f}" for c in cpus) + " |")
    w(
        "| total CPU ÷ (wall × cores) | "
        + " | ".join(
            f"{sum(v for k, v in c.items() if k != 'elapsed') / (c['elapsed'] * m['nproc']):.0%}"
            for c in cpus
        )
        + " |"
    )
    w("")
    w("## 3. Reads on a warm cache")
    w("")
    for rd_key, rd_title in (
        ("reads", "PLOTBURN_READ_CACHE_SECONDS=30 (the default)"),
        ("reads_no_read_cache", "PLOTBURN_READ_CACHE_SECONDS=0: every GET /movie reads Firestore"),
    ):
        rd = results.get(rd_key)
        if rd:
            w(f"**{rd_title}.**")
            w("")
            w(
                f"Each cell: median over {rd['reps']} windows of {rd['duration_s']:.0f} s (after 0.5 s warm-up), (min–max). "
                "Clients are threads of the benchmark process, each with its own `httpx.Client`; the raw gets share one "
                "`google.cloud.firestore.Client` (as the api function's threads do) and read the same roast document "
                f"(`roasts/v2-{rd['movie_id']}`) that `GET /movie/{rd['movie_id']}` serves."
            )
            w("")
            w("| request | clients | p50 (ms) | p99 (ms) | requests/s | errors |")
            w("|---|---|---|---|---|---|")
            names = {
                "movie": f"GET /movie/{rd['movie_id']}",
                "now_playing": "GET /now-playing (15 movies)",
                "raw_get": "raw Firestore get",
                "healthz": "GET /healthz (no Firestore: HTTP + framework only)",
            }
            for target, name in names.items():
                for lvl, cell in rd["results"].get(target, {}).items():
                    w(
                        f"| {name} | {lvl} | {_fmt_range(cell['p50_ms'], '', 1)} | {_fmt_range(cell['p99_ms'], '', 1)} | "
                        f"{_fmt_range(cell['rps'], '', 0)} | {cell['errors']} |"
                    )
            w("")
    w("## 4. Cost, counted")
    w("")
    w(
        "Per movie, from the `invocation ops` lines of fanout, roast and the api's `/cron/trigger` (median over the repetitions; "
        "Firestore reads include aggregation queries at 1 read each):"
    )
    w("")
    w(
        "| N | run | Firestore reads | Firestore writes | Pub/Sub publishes | TMDB calls | research calls | roast calls |"
    )
    w("|---|---|---|---|---|---|---|---|")
    for s in sizes:
        for kind in ("uncached", "cached"):
            c = s[f"cost_per_movie_{kind}"]
            w(
                f"| {s['n']} | {kind} | {_fmt_range(c['firestore_reads'], '', 1)} | {_fmt_range(c['firestore_writes'], '', 1)} | "
                f"{c['pubsub_publishes']['median']:.2f} | {c['upstream_tmdb']['median']:.2f} | {c['upstream_research']['median']:.2f} | "
                f"{c['upstream_roast']['median']:.2f} |"
            )
    w("")
    w(
        "Per new movie at N=500, measured the same way before and after the changes that touched "
        "its path (`make bench` at each commit): 15.0 Firestore reads and 8.0 writes at `466526d`; "
        "15.0 and 10.0 once a generation's commit also carried its debug entry and its has_roast "
        "index entry (issue 12, `0534e31`); 15.0 and 9.0 with the explicit unit of work (issue 13); "
        "18.1 and 15.1 with the fleet-wide provider limits (issue 15), which the bench's stacks keep "
        "on but set too high to bind: each request to a provider (TMDB details, research, roast) "
        "takes its token and in-flight slot with a read and a conditional write, and gives the slot "
        "back with a write. Apart from those, the round trips are the same throughout: one read of "
        "the run, outcome and cached roast, one of roast and truth, one commit for everything the "
        "generation leaves behind."
    )
    w("")
    obs = [r["ops"]["observer"] for s in sizes for r in s["runs"]["uncached"]]
    if obs:
        per_poll = _med(
            [o["firestore_reads"] / o["status_polls"] for o in obs if o["status_polls"]]
        )
        w(
            f"Not counted above: the benchmark's own `/cron/status` polls cost {per_poll:.0f} Firestore reads each (median over all "
            "uncached runs; an open run's counters are derived from its outcome documents on every read)."
        )
        w("")
    nm = results.get("new_movies")
    if nm:
        w(
            f"**A night with 2 new movies of 15** (night one: 13 movies, all new; then the simulator lists 15, the now-playing cache "
            f"is cleared with `DELETE /cache/clear/now-playing`, and night two runs; {nm['reps']} repetitions). Per run:"
        )
        w("")
        w("| | Firestore reads | Firestore writes | Pub/Sub publishes | TMDB | research | roast |")
        w("|---|---|---|---|---|---|---|")
        for label, key in (
            ("night one (13 new)", "night_one_per_run"),
            ("night two (2 new, 13 cached)", "night_two_per_run"),
        ):
            c = nm[key]
            w(
                f"| {label} | {_fmt_range(c['firestore_reads'], '', 0)} | {_fmt_range(c['firestore_writes'], '', 0)} | "
                f"{c['pubsub_publishes']['median']:.0f} | {c['upstream_tmdb']['median']:.0f} | {c['upstream_research']['median']:.0f} | "
                f"{c['upstream_roast']['median']:.0f} |"
            )
        w("")
        w(
            f"Upstream calls: {100 * nm['upstream_calls_reduction']['median']:.0f}% fewer than night one "
            f"({100 * nm['paid_calls_reduction']['median']:.0f}% fewer paid research + roast calls). The seed claims ~90%. "
            "What night two still calls is exactly one TMDB list page plus the research and roast of the 2 new movies (nothing "
            "cached is paid twice), so this is the floor: 4 paid calls against night one's 26 is 85%, and against a 15-movie "
            'night one it would be 87% (13 of 15). "~90%" is right in substance; the exact saving is (N − new) / N.'
        )
        w("")
    w("## 5. Memory")
    w("")
    big = results["sizes"].get("500")
    if big and "memory" in big:
        w(
            "Resident memory of each function's process group (gunicorn arbiter + its one worker) while N=500 ran, uncached "
            "then cached (median over the repetitions, (min–max)); VmHWM is the worker's high-water mark since it started:"
        )
        w("")
        w(
            "| function | RSS before the run | peak RSS sampled every 100 ms | VmHWM (max over the group) |"
        )
        w("|---|---|---|---|")
        for f, mem in big["memory"].items():
            w(
                f"| {f} | {_fmt_range(mem['rss_before_mb'], ' MiB', 0)} | {_fmt_range(mem['peak_rss_sampled_mb'], ' MiB', 0)} | "
                f"{_fmt_range(mem['vm_hwm_max_mb'], ' MiB', 0)} |"
            )
        w("")
    else:
        w("Not measured in this run (N=500 is part of the full run only).")
        w("")
    w("## 6. Upstream concurrency cap")
    w("")
    w(
        "The simulator's `max_in_flight` (research + roast requests open at once), per N, over every repetition:"
    )
    w("")
    w("| N | C (relay concurrency) | max in flight, research + roast | research | roast |")
    w("|---|---|---|---|---|")
    for s in sizes:
        mi = s["max_in_flight"]
        w(f"| {s['n']} | {s['concurrency']} | {mi['llm']} | {mi['research']} | {mi['roast']} |")
    w("")
    notes = Path(__file__).parent / "FINDINGS.md"
    if notes.exists():
        w(notes.read_text().strip())
        w("")
    summaries = sorted(PROFILES.glob("*.summary.txt")) if PROFILES.exists() else []
    if summaries:
        w("## Profiles")
        w("")
        w(
            "Made by `python -m bench.profile` (not by `make bench`; py-spy is pinned in requirements-dev.txt), "
            "each on a fresh stack after one warm-up run, with the same simulator latencies. "
            "py-spy cannot sample 50 threads at full rate, so buckets are shown as shares, scaled to the delivery's p50 "
            "(`--idle`: wall time of the threads handling a roast delivery) or to the worker's measured CPU per movie (`--gil`)."
        )
        w("")
    for summary in summaries:
        w(f"### Profile: `{summary.name}`")
        w("")
        w("```")
        w(summary.read_text().rstrip())
        w("```")
        w("")
    return "\n".join(L) + "\n"


def write(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    if results["sizes"]:
        png = out_dir / "walltime.png"
        plot(results, png)
        paths.append(png)
    raw = out_dir / "results.json"
    raw.write_text(json.dumps(results, indent=1, default=str) + "\n")
    paths.append(raw)
    md = out_dir / "RESULTS.md"
    md.write_text(markdown(results))
    paths.append(md)
    return paths
