"""``python -m upstream_sim``: run the simulator in the foreground until SIGTERM/SIGINT.

Prints exactly one ready line (flushed) once the port is bound, so a parent process
can wait for it before pointing clients at the simulator.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import Any

from upstream_sim.config import ConfigError
from upstream_sim.server import SimServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m upstream_sim",
        description="Simulated TMDB, Perplexity and xAI APIs on loopback (no internet needed).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--movies", type=int, help="how many movies are now playing")
    parser.add_argument("--latency-tmdb-ms", type=float, help="sleep before each TMDB answer")
    parser.add_argument("--latency-research-ms", type=float, help="same, Perplexity")
    parser.add_argument("--latency-roast-ms", type=float, help="same, xAI")
    parser.add_argument(
        "--config-json", help="a partial config as JSON, applied after the other flags"
    )
    return parser


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.movies is not None:
        config["movies"] = args.movies
    latency = {
        service: value
        for service, value in (
            ("tmdb", args.latency_tmdb_ms),
            ("research", args.latency_research_ms),
            ("roast", args.latency_roast_ms),
        )
        if value is not None
    }
    if latency:
        config["latency_ms"] = latency
    return config


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        extra = json.loads(args.config_json) if args.config_json else {}
        if not isinstance(extra, dict):
            raise ConfigError("--config-json must be a JSON object")
        server = SimServer(args.host, args.port, build_config(args))
        server.simulator.configure(extra)
    except (ConfigError, ValueError) as exc:
        parser.error(str(exc))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    try:
        print(
            f"upstream_sim ready {server.url} (SIMULATED upstreams: TMDB, Perplexity, xAI)",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
