"""What one Firestore call costs the emulator, by kind of call.

    .venv/bin/python -m bench.emulator_ops [--calls 200]

Starts a Firestore emulator of its own, makes each kind of call the pipeline makes
one after another (no contention), and prints the wall time per call and the CPU the
emulator's JVM burned per call. The point it backs in FINDINGS.md: on the emulator a
call costs about the same whatever it carries, so the number of round trips per movie,
not their size, is what the local stack's run time is made of.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from google.cloud import firestore

from bench.harness import cpu_seconds
from local_stack.emulators import FirestoreEmulator

TEXT = "x" * 3000  # about a roast's or a truth's size


def measure(emulator: FirestoreEmulator, calls: int) -> list[tuple[str, float, float]]:
    db = firestore.Client(project=emulator.project)
    col = db.collection("ops")
    outcomes = col.document("run").collection("outcomes")

    def emulator_cpu() -> float:
        return sum(cpu_seconds(pid) for pid in emulator.pids)

    for i in range(20):
        col.document(f"doc{i}").set({"n": i, "text": TEXT})

    def batch_of_two(i: int) -> None:
        batch = db.batch()
        batch.create(col.document(f"outcome{i}"), {"n": i})
        batch.create(col.document(f"log{i}"), {"n": i, "text": TEXT})
        batch.commit()

    kinds: list[tuple[str, Callable[[int], Any]]] = [
        ("get (1 document)", lambda i: col.document("doc1").get()),
        (
            "get_all (3 documents)",
            lambda i: list(db.get_all([col.document(f"doc{j}") for j in range(3)])),
        ),
        (
            "get_all (8 documents)",
            lambda i: list(db.get_all([col.document(f"doc{j}") for j in range(8)])),
        ),
        ("create (1 document)", lambda i: col.document(f"new{i}").create({"n": i, "text": TEXT})),
        ("batch (2 creates)", batch_of_two),
        (
            "increment (merge set)",
            lambda i: col.document("shard").set({"n": firestore.Increment(1)}, merge=True),
        ),
    ]
    for i in range(15):
        outcomes.document(str(i)).set({"n": i})
    kinds.append(("count (15 documents)", lambda i: outcomes.count().get()))

    rows: list[tuple[str, float, float]] = []
    kinds[0][1](0)  # the first call warms the channel; not measured
    for name, call in kinds:
        cpu0, t0 = emulator_cpu(), time.perf_counter()
        for i in range(calls):
            call(i)
        rows.append(
            (
                name,
                (time.perf_counter() - t0) / calls * 1000,
                (emulator_cpu() - cpu0) / calls * 1000,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls of each kind")
    args = parser.parse_args()
    with FirestoreEmulator(project="bench-ops") as emulator:
        os.environ[FirestoreEmulator.env_var] = emulator.host  # the client reads it
        rows = measure(emulator, args.calls)
    print(
        f"| call ({args.calls} each, one at a time) | wall ms per call | emulator CPU ms per call |"
    )
    print("|---|---|---|")
    for name, wall_ms, cpu_ms in rows:
        print(f"| {name} | {wall_ms:.1f} | {cpu_ms:.1f} |")


if __name__ == "__main__":
    main()
