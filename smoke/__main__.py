"""``make smoke``: one minimal real call to each provider, before the first night.

With TMDB, Perplexity and xAI credentials in the environment (the same variables the
functions read), it makes exactly three paid-or-free calls through PlotBurn's own
clients: TMDB details of one movie, one short research, one roast card. It prints
the model, latency, tokens and cost of each and stops at the first error, naming the
provider and its error code. Nothing is retried, cached or written anywhere.

Exit codes: 0 all three answered; 1 a provider refused or failed; 2 credentials
missing (nothing was called).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from functions import bootstrap, metering
from functions.config import load_settings
from functions.errors import ConfigError, PlotBurnError, UpstreamError
from functions.models import MovieDetails
from functions.upstream.http import RetryPolicy

# A movie every TMDB account can read (Fight Club).
DEFAULT_MOVIE_ID = 550
# Enough for a few sentences: the smoke checks the wire format, not the brief.
RESEARCH_TOKENS = 200

NEEDS = (
    ("TMDB_API_TOKEN or TMDB_API_KEY", ("TMDB_API_TOKEN", "TMDB_API_KEY")),
    ("PERPLEXITY_API_KEY", ("PERPLEXITY_API_KEY",)),
    ("XAI_API_KEY", ("XAI_API_KEY",)),
)


def missing_credentials(env: dict[str, str]) -> list[str]:
    return [label for label, names in NEEDS if not any(env.get(n, "").strip() for n in names)]


def _line(
    out: TextIO, provider: str, model: str, millis: float, spend: Any, note: str = ""
) -> None:
    tokens = f"{spend.prompt_tokens} in / {spend.completion_tokens} out"
    cost = f"${spend.cost_usd:.6f}"
    print(f"ok    {provider:<10} {model:<32} {millis:7.0f} ms  {tokens:<20} {cost}{note}", file=out)


def _timed(call: Callable[[], Any]) -> tuple[Any, float, metering.Spend]:
    with metering.ledger() as book:
        started = time.perf_counter()
        result = call()
        millis = (time.perf_counter() - started) * 1000
    return result, millis, book.spend()


def run(movie_id: int, out: TextIO, err: TextIO) -> int:
    missing = missing_credentials(dict(os.environ))
    if missing:
        print(
            "make smoke calls the real TMDB, Perplexity and xAI APIs once each, so it needs "
            "their credentials in the environment. Not set: " + ", ".join(missing) + ".\n"
            "Export them (the same values as the Secret Manager secrets) and run it again.",
            file=err,
        )
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"FAIL  configuration: {exc}", file=err)
        return 2
    # One attempt each: the point is to see the first error as the provider sends it.
    clients = bootstrap.upstream_clients(
        settings, bootstrap.build_http_client(settings), RetryPolicy(max_attempts=1)
    )
    provider = "tmdb"
    try:
        details: MovieDetails
        details, millis, spend = _timed(lambda: clients["catalog"].details(movie_id))
        movie = details.movie
        _line(out, provider, "v3 /movie/{id}", millis, spend.tmdb, f"  {movie.title}")
        provider = "perplexity"
        researcher = clients["researcher"]
        answer, millis, spend = _timed(lambda: researcher.ask(movie, details, RESEARCH_TOKENS))
        note = f"  {answer.status}, {len(answer.search_results)} sources"
        _line(out, provider, answer.model or researcher.model, millis, spend.research, note)
        provider = "xai"
        truth = researcher.truth_from(movie, answer)
        roaster = clients["roaster"]
        roast, millis, spend = _timed(lambda: roaster.roast(movie, details, truth))
        _line(out, provider, roast.model, millis, spend.roast, f"  {roast.card.headline!r}")
    except UpstreamError as exc:
        print(f"FAIL  {exc.reason} ({exc.detail})", file=err)
        return 1
    except PlotBurnError as exc:
        print(f"FAIL  {provider}: {exc}", file=err)
        return 1
    print("smoke: all three providers answered in the formats PlotBurn expects.", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--movie-id", type=int, default=DEFAULT_MOVIE_ID)
    args = parser.parse_args(argv)
    return run(args.movie_id, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
