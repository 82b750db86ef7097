"""A local simulator of the wire formats of TMDB, Perplexity and xAI.

There is no internet where PlotBurn is developed and tested, so the real upstream
clients are pointed at this loopback server instead. It answers in the real APIs'
shapes, with configurable latency and deterministic faults (429 with Retry-After,
500, hangs, malformed bodies), and counts what it was asked, so tests and benchmarks
can assert on retries, concurrency and cost. Every LLM text it writes starts with
"[simulated] ".

    upstream_sim.server.SimServer   in-process server (tests, benchmarks)
    upstream_sim.client.SimControl  control API client, for a simulator subprocess
    python -m upstream_sim          run it in the foreground
"""

from __future__ import annotations

from upstream_sim.server import SimServer

__all__ = ["SimServer"]
