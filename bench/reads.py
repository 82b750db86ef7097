"""Read latency and throughput on a warm cache: GET /movie/{id}, GET /now-playing,
and a raw Firestore get of the same roast document, each under 1, 8 and 32
concurrent clients (threads in this process, each with its own httpx.Client; the
raw gets share one firestore.Client, as the api function's threads do)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.harness import BenchStack, Summary, _pcts
from functions.config import Settings

LEVELS = (1, 8, 32)
TARGETS = ("movie", "now_playing", "raw_get", "healthz")
WARMUP_S = 0.5


CACHE_VERSION = Settings.model_fields["cache_version"].default


def _load(
    make_call: Callable[[], tuple[Callable[[], bool], Callable[[], None]]],
    clients: int,
    duration: float,
) -> dict[str, Any]:
    """`clients` threads call as fast as they can for `duration` seconds, after each
    made one call (its connection is open) and a common warm-up. Every call started
    inside the window is kept; a thread is "stalled" if it completed none there."""
    start_barrier = threading.Barrier(clients + 1)
    lock = threading.Lock()
    latencies: list[float] = []
    per_thread: list[int] = []
    errors = [0]
    window: dict[str, float] = {}
    go = threading.Event()

    def worker() -> None:
        call, close = make_call()
        try:
            call()  # connect before the clock starts
            start_barrier.wait()
            go.wait()
            warm_until, stop_at = window["warm_until"], window["stop_at"]
            mine: list[float] = []
            bad = 0
            while True:
                t = time.perf_counter()
                if t >= stop_at:
                    break
                ok = call()
                took = time.perf_counter() - t
                if t >= warm_until:
                    mine.append(took)
                    bad += not ok
            with lock:
                latencies.extend(mine)
                per_thread.append(len(mine))
                errors[0] += bad
        finally:
            close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for th in threads:
        th.start()
    start_barrier.wait()  # every thread is connected
    now = time.perf_counter()
    window["warm_until"] = now + WARMUP_S
    window["stop_at"] = now + WARMUP_S + duration
    go.set()
    for th in threads:
        th.join(timeout=duration + 60)
    ms = [x * 1000 for x in latencies]
    if not ms:
        raise RuntimeError(
            f"no request of {clients} clients started inside the {duration} s window"
        )
    return {
        "requests": len(ms),
        "errors": errors[0],
        "rps": len(ms) / duration,
        "stalled_clients": sum(1 for n in per_thread if n == 0),
        **_pcts(ms),
    }


def measure(b: BenchStack, movie_id: int, reps: int, duration: float) -> dict[str, Any]:
    from google.cloud import firestore

    stack = b.stack
    os.environ["FIRESTORE_EMULATOR_HOST"] = stack.firestore_host
    db = firestore.Client(project=stack.project)
    doc = db.collection("roasts").document(f"{CACHE_VERSION}-{movie_id}")
    if not doc.get().exists:
        raise RuntimeError(
            f"roast document {CACHE_VERSION}-{movie_id} missing: the cache is not warm"
        )
    base = stack.api_url.rstrip("/")  # paths below start with "/"

    def http_call(path: str) -> Callable[[], tuple[Callable[[], bool], Callable[[], None]]]:
        def make() -> tuple[Callable[[], bool], Callable[[], None]]:
            client = httpx.Client(base_url=base, timeout=30)

            def call() -> bool:
                return client.get(path).status_code == 200

            return call, client.close

        return make

    def raw_call() -> tuple[Callable[[], bool], Callable[[], None]]:
        def call() -> bool:
            return bool(doc.get().exists)

        return call, lambda: None

    makers = {
        "movie": http_call(f"/movie/{movie_id}"),
        "now_playing": http_call("/now-playing"),
        "raw_get": raw_call,
        "healthz": http_call("/healthz"),
    }
    for name in ("movie", "now_playing"):
        r = httpx.get(base + makers_path(name, movie_id), timeout=30)
        if r.status_code != 200:
            raise RuntimeError(f"GET {makers_path(name, movie_id)} answered {r.status_code}")

    samples: dict[str, dict[int, list[dict[str, Any]]]] = {
        t: {c: [] for c in LEVELS} for t in TARGETS
    }
    for _ in range(reps):
        for clients in LEVELS:
            for target in TARGETS:  # interleaved, so drift hits every target alike
                try:
                    samples[target][clients].append(_load(makers[target], clients, duration))
                except RuntimeError as exc:
                    print(f"  reads: {target} x{clients}: {exc}", flush=True)
    db.close()

    out: dict[str, Any] = {
        "movie_id": movie_id,
        "duration_s": duration,
        "reps": reps,
        "results": {},
    }
    for target in TARGETS:
        out["results"][target] = {}
        for clients in LEVELS:
            runs = samples[target][clients]
            if not runs:
                continue
            out["results"][target][str(clients)] = {
                "p50_ms": Summary([r["p50"] for r in runs]).to_json(2),
                "p99_ms": Summary([r["p99"] for r in runs]).to_json(2),
                "rps": Summary([r["rps"] for r in runs]).to_json(1),
                "requests": sum(r["requests"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "stalled_clients": sum(r["stalled_clients"] for r in runs),
            }
    return out


def makers_path(name: str, movie_id: int) -> str:
    return {"movie": f"/movie/{movie_id}", "now_playing": "/now-playing"}[name]
