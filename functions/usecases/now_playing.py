"""The now-playing list: the Worker's choice of TMDB's now-playing movies, read
through its 23-hour cache (`GET /now-playing`, and every run's movie list)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions import views
from functions.config import Settings
from functions.models import Movie, NowPlaying, utcnow
from functions.ports import CacheStore, MovieCatalog


@dataclass
class NowPlayingList:
    settings: Settings
    catalog: MovieCatalog
    caches: CacheStore
    clock: Callable[[], datetime] = utcnow

    def now_playing_list(self) -> tuple[NowPlaying, bool]:
        """The Worker's choice of now-playing movies, read through its 23-hour cache,
        and whether it came from the cache."""
        now = self.clock()
        cached = self.caches.get_now_playing(now)
        if cached is not None:
            return cached, True
        listing = self.catalog.now_playing()
        chosen = NowPlaying(
            movies=self.settings.movie_choice.choose(listing.movies, now.date()),
            dates=listing.dates,
        )
        self.caches.put_now_playing(chosen, now)
        return chosen, False

    def now_playing(self) -> list[Movie]:
        return self.now_playing_list()[0].movies

    def cached_title(self, movie_id: int) -> str | None:
        """The movie's title as the cached list has it (TMDB's), else None; never asks
        TMDB. For a movie that failed before TMDB's details said its title."""
        listing = self.caches.get_now_playing(self.clock())
        listed = {m.id: m.title for m in listing.movies} if listing is not None else {}
        return listed.get(movie_id)

    def now_playing_view(self) -> dict[str, Any]:
        """`GET /now-playing`: two Firestore reads however long the list (the list
        and the roast index)."""
        listing, cached = self.now_playing_list()
        ready = self.caches.roasts_ready([m.id for m in listing.movies], self.clock())
        return {
            "cached": cached,
            "page": 1,
            "total_pages": 1,
            "total_results": len(listing.movies),
            "dates": listing.dates,
            "movies": [views.now_playing_movie(m, m.id in ready) for m in listing.movies],
        }
