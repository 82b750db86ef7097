"""``make bench`` = ``python -m bench``: the benchmarks of issue 5.

python -m bench            full run (~10 min); writes bench/RESULTS.md,
                           bench/walltime.png and bench/results.json
python -m bench --quick    N=15 only, one repetition, short read windows; writes
                           nothing unless --out is given
python -m bench --out DIR  write the results to DIR instead
python -m bench --only rate   only the rate-limited night (bench/ratelimit.py, ~6 min);
                           updates its section of bench/RESULTS.md and results.json
python -m bench --only cold
                           only the cold-night scenario (bench/cold.py, ~3 min); prints
                           it, and with --merge puts it into bench/results.json and
                           re-renders bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bench import cold, ratelimit, report, suite

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="PlotBurn benchmarks (issue 5)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="N=15 only, 1 repetition (smoke check)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for RESULTS.md, walltime.png, results.json",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="re-render the report from a results.json instead of measuring",
    )
    parser.add_argument(
        "--only",
        choices=["rate", "cold"],
        default=None,
        help="run one scenario: rate = the rate-limited night (N=120, 60/min, burst 10); "
        "cold = the cold nights (N=15)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only cold: merge into bench/results.json and re-render RESULTS.md",
    )
    args = parser.parse_args(argv)
    # The stack logs to <run_dir>/stack.log; keep its INFO lines off the terminal.
    logging.getLogger("local_stack").propagate = False

    if args.only == "rate":
        return _only_rate(args.out if args.out is not None else HERE)
    if args.only == "cold":
        return _only_cold(args.merge)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        results["targets"] = suite.targets(results)
    else:
        results = suite.run(quick=args.quick)
    print()
    for t in results["targets"]:
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT MET")
        print(f"  [{met:>7}] {t['target']}: {t['figure']}  (bound {t['bound']})")
    out = args.out if args.out is not None else (None if args.quick else HERE)
    if out is None:
        print("\n--quick: nothing written (pass --out DIR to keep the results)")
        return 1 if results.get("errors") else 0
    if not args.quick and args.from_json is None:
        results["ratelimit"] = ratelimit.run()
    for path in report.write(results, out):
        print(f"wrote {path}")
    if results.get("ratelimit"):
        ratelimit.write_section(out / "RESULTS.md", results["ratelimit"])
    if results.get("errors"):
        print("errors:", *results["errors"], sep="\n  ")
        return 1
    return 0


def _only_rate(out: Path) -> int:
    result = ratelimit.run()
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "results.json"
    if raw.exists():
        stored = json.loads(raw.read_text())
        stored["ratelimit"] = result
        raw.write_text(json.dumps(stored, indent=1, default=str) + "\n")
    (out / "ratelimit.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    ratelimit.write_section(out / "RESULTS.md", result)
    print(ratelimit.markdown(result))
    return 0 if result["met"] else 1


def _only_cold(merge: bool) -> int:
    measured = cold.measure()
    row = cold.target({"cold_nights": measured})
    assert row is not None
    print(f"\n  {row['target']}: {row['figure']}  (bound {row['bound']})")
    print("\n".join(cold.markdown({"cold_nights": measured})))
    if merge:
        results = json.loads((HERE / "results.json").read_text())
        results["cold_nights"] = measured
        results["targets"] = suite.targets(results)
        for path in report.write(results, HERE):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
