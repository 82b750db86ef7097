"""The rate-limited night: N=120 with the simulator enforcing Perplexity-like limits on
research (60 requests a minute, a burst of 10, 429 beyond), once with PlotBurn's
fleet-wide limiter configured to match and once with it off (the failure it prevents).

python -m bench --only rate   runs just this (about 6 minutes); writes
                              bench/ratelimit.json and the section in RESULTS.md
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness import FUNCTION_ENV, BenchStack, Summary

N = 120
PER_MINUTE = 60
BURST = 10
# (N - burst) / rate: the least time the provider allows for N researches.
BOUND_S = (N - BURST) / (PER_MINUTE / 60)
TARGET_FACTOR = 1.2
LIMITED_REPS = 3
UNLIMITED_REPS = 2
CONCURRENCY = 32

LIMITER_ENV = {
    **FUNCTION_ENV,
    "PLOTBURN_RATE_RESEARCH_PER_MINUTE": str(PER_MINUTE),
    "PLOTBURN_RATE_RESEARCH_BURST": str(BURST),
    "PLOTBURN_RATE_RESEARCH_IN_FLIGHT": "50",
    # roast and TMDB keep their defaults (xAI tier 0, TMDB's ceiling): not binding here.
    "PLOTBURN_RATE_ROAST_PER_MINUTE": "1800",
    "PLOTBURN_RATE_ROAST_BURST": "30",
    "PLOTBURN_RATE_TMDB_PER_MINUTE": "2400",
    "PLOTBURN_RATE_TMDB_BURST": "40",
}
LIMITER_OFF = {"PLOTBURN_RATE_RESEARCH_PER_MINUTE": "0"}


def say(*parts: Any) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def _night(b: BenchStack, limiter: bool) -> dict[str, Any]:
    b.reset(N)
    b.sim.configure(rate_per_minute={"research": PER_MINUTE}, rate_burst={"research": BURST})
    b.sim.reset()
    r = b.run(N, timeout=600, poll=0.5)
    relay = b.stack.relay_stats()
    dead = sum(s.get("dead_lettered", 0) for s in relay.values())
    failed_posts = sum(s.get("failed", 0) for k, s in relay.items() if "roast" in k)
    out = {
        "limiter": limiter,
        "wall_s": round(r.wall_s, 2),
        "status": r.status.get("status"),
        "generated": r.status.get("roasts_generated"),
        "failed": r.status.get("roasts_failed"),
        "failure_reasons": sorted(set((r.status.get("failure_reasons") or {}).values())),
        "sim_429": r.sim["rate_limited"]["research"],
        "sim_research_calls": r.sim["calls"]["research"],
        "dead_letters": dead,
        "redelivered_roast_posts": failed_posts,
        "per_movie": {k: round(v / N, 2) for k, v in r.ops["run"].items()},
        "run": r.to_json()["run"],
    }
    say(
        f"  limiter {'on ' if limiter else 'off'}: {out['status']} in {out['wall_s']} s, "
        f"{out['generated']} generated, {out['failed']} failed, {out['sim_429']} 429s, "
        f"{dead} dead letters, {failed_posts} handed back"
    )
    return out


def run(limited_reps: int = LIMITED_REPS, unlimited_reps: int = UNLIMITED_REPS) -> dict[str, Any]:
    say(f"rate-limited night: N={N}, research {PER_MINUTE}/min burst {BURST} at the simulator")
    limited: list[dict[str, Any]] = []
    unlimited: list[dict[str, Any]] = []
    with BenchStack(CONCURRENCY, env=LIMITER_ENV) as b:
        say(f"  up in {b.started_s:.1f} s")
        for _ in range(limited_reps):
            limited.append(_night(b, limiter=True))
        b.stack.configure_function_env("roast", LIMITER_OFF)
        for _ in range(unlimited_reps):
            unlimited.append(_night(b, limiter=False))
    walls = Summary([n["wall_s"] for n in limited])
    ok = all(
        n["status"] == "success" and n["generated"] == N and n["dead_letters"] == 0 for n in limited
    )
    return {
        "command": "python -m bench --only rate",
        "n": N,
        "per_minute": PER_MINUTE,
        "burst": BURST,
        "bound_s": BOUND_S,
        "target_s": round(TARGET_FACTOR * BOUND_S, 1),
        "limited": limited,
        "unlimited": unlimited,
        "limited_wall_s": walls.to_json(2),
        "limited_ratio_to_bound": Summary([w / BOUND_S for w in walls.values]).to_json(3),
        "limited_sim_429": Summary([n["sim_429"] for n in limited]).to_json(0),
        "met": ok and walls.median <= TARGET_FACTOR * BOUND_S,
    }


START, END = "<!-- ratelimit:start -->", "<!-- ratelimit:end -->"


def markdown(r: dict[str, Any]) -> str:
    """The RESULTS.md section of the rate-limited night."""
    w, ratio = r["limited_wall_s"], r["limited_ratio_to_bound"]

    def row(n: dict[str, Any]) -> str:
        pm = n["per_movie"]
        return (
            f"| {'on' if n['limiter'] else 'off'} | {n['status']} | {n['wall_s']:.1f} s | "
            f"{n['generated']} | {n['failed']} | {n['sim_429']} | {n['sim_research_calls']} | "
            f"{n['dead_letters']} | {n['redelivered_roast_posts']} | "
            f"{pm.get('firestore_reads', 0):.2f} / {pm.get('firestore_writes', 0):.2f} |"
        )

    reasons = sorted({x for n in r["unlimited"] for x in n["failure_reasons"]})
    lines = [
        START,
        "## Rate-limited night",
        "",
        f"Command: `{r['command']}` (also part of `make bench`). N={r['n']}, relay "
        f"concurrency {CONCURRENCY}, the simulator enforcing research at {r['per_minute']} "
        f"requests a minute with a burst of {r['burst']} (429 `request_rate_limit_exceeded` "
        "beyond it, x-ratelimit-* headers), PlotBurn's limiter set to the same "
        f"(`PLOTBURN_RATE_RESEARCH_PER_MINUTE={r['per_minute']}`, "
        f"`PLOTBURN_RATE_RESEARCH_BURST={r['burst']}`), then switched off "
        "(`PLOTBURN_RATE_RESEARCH_PER_MINUTE=0`) for the same night.",
        "",
        f"- Bound: (N - burst) / rate = {r['bound_s']:.0f} s; target <= "
        f"{TARGET_FACTOR} x = {r['target_s']} s: **{'met' if r['met'] else 'NOT MET'}**.",
        f"- Limiter on, {len(r['limited'])} nights: wall {w['median']:.1f} s median "
        f"({w['min']:.1f}-{w['max']:.1f}), {ratio['median']:.3f} x the bound "
        f"({ratio['min']:.3f}-{ratio['max']:.3f}); 429s at the simulator "
        f"{r['limited_sim_429']['values']}.",
        f"- Limiter off: {', '.join(n['status'] for n in r['unlimited'])}; failed movies' "
        f"reasons: {', '.join(reasons) or 'none'}.",
        "",
        "| limiter | status | wall | generated | failed | 429s at sim | research calls | "
        "dead letters | roast deliveries handed back | Firestore reads / writes per movie |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[row(n) for n in r["limited"] + r["unlimited"]],
        "",
        "Firestore per movie here counts the whole run (fan-out, outcomes, the limiter's "
        "read, conditional write and slot release for each TMDB, research and roast request, and a "
        "second read and write for each request that waited for its reserved turn).",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(md_path: Any, r: dict[str, Any]) -> None:
    """Put the section into RESULTS.md, replacing an earlier one."""
    text = md_path.read_text() if md_path.exists() else ""
    section = markdown(r)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    md_path.write_text(text)
