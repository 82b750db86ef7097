"""In-memory fakes of the upstream ports (TMDB, research, roast), for unit tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

from functions import metering
from functions.errors import MovieNotFound, UpstreamUnavailable
from functions.models import Movie, MovieDetails, NowPlaying, Roast, RoastCard, Truth, Usage

# What each fake answer reports it cost (as the real providers now do).
RESEARCH_COST = 0.0031
ROAST_COST = 0.0012


# Inside the release window (3 to 10 days ago) of the unit tests' clock (2026-11-28),
# and still inside it a day or two later.
RELEASE_DATE = "2026-11-22"
DATES = {"maximum": "2026-11-30", "minimum": "2026-10-19"}


def make_movies(n: int, first_id: int = 1000) -> list[Movie]:
    return [
        Movie(
            id=first_id + i,
            title=f"Movie {i}",
            overview=f"Overview {i}",
            release_date=RELEASE_DATE,
            poster_path=f"/p{first_id + i}.jpg",
            vote_average=7.0,
            vote_count=100 + i,
            popularity=50.0 - i,
            genre_ids=[18],
        )
        for i in range(n)
    ]


def details_of(movie: Movie) -> MovieDetails:
    """TMDB-shaped details of a fake movie (its 26 fields) and a director."""
    meta = {
        **movie.model_dump(mode="json"),
        "adult": False,
        "backdrop_path": None,
        "belongs_to_collection": None,
        "budget": 1_000_000,
        "genres": [{"id": g, "name": "Drama"} for g in movie.genre_ids],
        "homepage": "",
        "imdb_id": f"tt{movie.id:07d}",
        "origin_country": ["US"],
        "original_title": movie.title,
        "production_companies": [],
        "production_countries": [],
        "revenue": 0,
        "runtime": 101,
        "spoken_languages": [{"english_name": "English", "iso_639_1": "en", "name": "English"}],
        "status": "Released",
        "tagline": "",
        "video": False,
    }
    return MovieDetails(meta=meta, director=f"Director of {movie.title}")


class FakeCatalog:
    def __init__(self, movies: list[Movie], extra: list[Movie] | None = None) -> None:
        self.movies = list(movies)
        self.extra = {m.id: m for m in extra or []}
        self.calls: Counter[str] = Counter()
        self.fail = False
        # `listing` is set once now_playing is called; with `release` given, now_playing
        # then blocks until it is set (a slow TMDB, to look at a run mid-fan-out).
        self.listing = threading.Event()
        self.release: threading.Event | None = None

    def now_playing(self) -> NowPlaying:
        self.calls["now_playing"] += 1
        self.listing.set()
        if self.release is not None and not self.release.wait(timeout=10):
            raise AssertionError("FakeCatalog.now_playing was never released")
        if self.fail:
            raise UpstreamUnavailable(
                "tmdb",
                "GET /movie/now_playing: server error (500) after 4 attempts",
                reason="tmdb: server error (500) after 4 attempts",
            )
        return NowPlaying(movies=list(self.movies), dates=DATES)

    def details(self, movie_id: int) -> MovieDetails:
        self.calls["details"] += 1
        metering.record_call("tmdb")
        for m in [*self.movies, *self.extra.values()]:
            if m.id == movie_id:
                return details_of(m)
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
            provider = "perplexity" if service == "research" else "xai"
            raise UpstreamUnavailable(
                service,
                "POST: server error (500) after 4 attempts",
                reason=f"{provider}: server error (500) after 4 attempts",
            )

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class FakeResearcher(_CountingLLM):
    def research(self, movie: Movie, details: MovieDetails) -> Truth:
        self._call("research", movie.id)
        metering.record_usage("research", 10, 20, RESEARCH_COST)
        return Truth(
            movie_id=movie.id,
            brief=f"Facts about {movie.title}",
            citations=["https://example.org"],
            model="fake-sonar",
            created_at=datetime.now(UTC),
            usage=Usage(
                prompt_tokens=10, completion_tokens=20, cost_usd=RESEARCH_COST, cost_reported=True
            ),
        )


class FakeRoaster(_CountingLLM):
    def roast(self, movie: Movie, details: MovieDetails, truth: Truth) -> Roast:
        self._call("roast", movie.id)
        metering.record_usage("roast", 30, 40, ROAST_COST)
        return Roast(
            movie_id=movie.id,
            card=card_for(movie.title),
            model="fake-grok",
            created_at=datetime.now(UTC),
            usage=Usage(
                prompt_tokens=30, completion_tokens=40, cost_usd=ROAST_COST, cost_reported=True
            ),
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
