"""A local simulator of the wire formats of TMDB, Perplexity and xAI.

There is no internet where PlotBurn is developed and tested, so the real upstream
clients are pointed at this loopback server instead. It speaks the APIs as they are
in late 2026 and only those (TMDB v3; Perplexity's Agent API, its retired Sonar chat
completions answering 403; xAI chat completions with structured output and live models
only), rejecting what the real APIs reject with their error bodies (perplexity.py,
xai.py). It has configurable latency and deterministic faults (429, 500, hangs,
malformed bodies, Perplexity's HTTP 200 "failed" runs), reports usage and cost as the
providers do, and counts what it was asked, so tests and benchmarks can assert on
retries, concurrency and cost. Every LLM text it writes starts with "[simulated] ".

    upstream_sim.server.SimServer   in-process server (tests, benchmarks)
    upstream_sim.client.SimControl  control API client, for a simulator subprocess
    python -m upstream_sim          run it in the foreground
"""

from __future__ import annotations

from upstream_sim.server import SimServer

__all__ = ["SimServer"]
