"""In-memory fakes of the upstream ports (TMDB, research, roast), for unit tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timezone

from functions import metering
from functions.errors import MovieNotFound, UpstreamUnavailable
from functions.models import Movie, Roast, RoastCard, Truth, Usage

# What each fake answer reports it cost (as the real providers now do).
RESEARCH_COST = 0.0031
ROAST_COST = 0.0012


def make_movies(n: int, first_id: int = 1000) -> list[Movie]:
    return [
        Movie(id=first_id + i, title=f"Movie {i}", overview=f"Overview {i}", release_date="2026-11-20")
        for i in range(n)
    ]


class FakeCatalog:
    def __init__(self, movies: list[Movie], extra: list[Movie] | None = None) -> None:
        self.movies = list(movies)
        self.extra = {m.id: m for m in extra or []}
        self.calls: Counter[str] = Counter()
        self.fail = False

    def now_playing(self) -> list[Movie]:
        self.calls["now_playing"] += 1
        if self.fail:
            raise UpstreamUnavailable("tmdb", "GET /movie/now_playing: server error (500) after 4 attempts")
        return list(self.movies)

    def details(self, movie_id: int) -> Movie:
        self.calls["details"] += 1
        for m in self.movies:
            if m.id == movie_id:
                return m
        if movie_id in self.extra:
            return self.extra[movie_id]
        raise MovieNotFound(movie_id)


class _CountingLLM:
    def __init__(self, delay: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[int] = Counter()
        self.failing: set[int] = set()
        self.delay = delay

    def _call(self, service: str, movie_id: int) -> None:
        # Like the real clients, every attempt is recorded in the current ledger.
        metering.record_call(service)
        with self._lock:
            self.calls[movie_id] += 1
        if self.delay:
            time.sleep(self.delay)
        if movie_id in self.failing:
            raise UpstreamUnavailable(service, "POST /chat/completions: server error (500) after 4 attempts")

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class FakeResearcher(_CountingLLM):
    def research(self, movie: Movie) -> Truth:
        self._call("research", movie.id)
        metering.record_usage("research", 10, 20, RESEARCH_COST)
        return Truth(
            movie_id=movie.id,
            brief=f"Facts about {movie.title}",
            citations=["https://example.org"],
            model="fake-sonar",
            created_at=datetime.now(timezone.utc),
            usage=Usage(prompt_tokens=10, completion_tokens=20, cost_usd=RESEARCH_COST, cost_reported=True),
        )


class FakeRoaster(_CountingLLM):
    def roast(self, movie: Movie, truth: Truth) -> Roast:
        self._call("roast", movie.id)
        metering.record_usage("roast", 30, 40, ROAST_COST)
        return Roast(
            movie_id=movie.id,
            card=card_for(movie.title),
            model="fake-grok",
            created_at=datetime.now(timezone.utc),
            usage=Usage(prompt_tokens=30, completion_tokens=40, cost_usd=ROAST_COST, cost_reported=True),
        )


def card_for(title: str) -> RoastCard:
    """A card within every limit."""
    return RoastCard(
        headline=f"{title} is a nap with a soundtrack",
        content="It starts.\n\nIt continues.\n\nIt ends, eventually.",
        chips=["the long stare", "one more ending"],
        internet_vibe=[f"comment {i}" for i in range(6)],
        your_opinion="Watch it if you need sleep.",
        similar_movies=[f"Movie {i} - also slow" for i in range(4)],
    )
