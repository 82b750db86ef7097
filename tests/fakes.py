"""In-memory fakes of the upstream ports (TMDB, research, roast), for unit tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timezone

from functions import metering
from functions.errors import MovieNotFound, UpstreamUnavailable
from functions.models import Movie, Roast, Truth, Usage


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
        metering.record_tokens("research", 10, 20)
        return Truth(
            movie_id=movie.id,
            brief=f"Facts about {movie.title}",
            citations=["https://example.org"],
            model="fake-sonar",
            created_at=datetime.now(timezone.utc),
            usage=Usage(prompt_tokens=10, completion_tokens=20),
        )


class FakeRoaster(_CountingLLM):
    def roast(self, movie: Movie, truth: Truth) -> Roast:
        self._call("roast", movie.id)
        metering.record_tokens("roast", 30, 40)
        return Roast(
            movie_id=movie.id,
            roast=f"{movie.title} is a nap with a soundtrack.",
            model="fake-grok",
            created_at=datetime.now(timezone.utc),
            usage=Usage(prompt_tokens=30, completion_tokens=40),
        )
