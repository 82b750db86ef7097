"""`GET /feed`: the Worker's browsable feed of now playing, roasts and truths."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from functions import views
from functions.models import NowPlaying, iso
from functions.ports import CacheStore

FeedType = Literal["now-playing", "roast", "truth", "all"]
FEED_TYPES: tuple[FeedType, ...] = ("now-playing", "roast", "truth", "all")
INVALID_TYPE = "Invalid type. Use: now-playing, roast, truth, or all"


class FeedNotFound(Exception):
    """Nothing to show: the now-playing cache is empty, or no such document."""


@dataclass
class Feed:
    caches: CacheStore
    # The cached now-playing list (None while empty): the feed never fetches TMDB.
    cached_now_playing: Callable[[], NowPlaying | None]
    clock: Callable[[], datetime]

    def one(self, kind: FeedType, movie_id: int) -> dict[str, Any]:
        """`?id=N&type=roast|truth`: that one document."""
        if kind == "roast":
            record = self.caches.get_roast(movie_id, self.clock())
            if record is None:
                raise FeedNotFound(f"no roast for movie {movie_id}")
            return views.roast_document(record)
        truth = self.caches.get_truths([movie_id]).get(movie_id)
        if truth is None:
            raise FeedNotFound(f"no truth for movie {movie_id}")
        return views.truth_document(truth)

    def page(self, kind: FeedType, page: int, limit: int) -> dict[str, Any]:
        offset = (page - 1) * limit
        if kind == "now-playing":
            listing = self._listing()
            # has_roast tells the truth here too (the Worker always sent false).
            ready = self.caches.roasts_ready([m.id for m in listing.movies], self.clock())
            return {
                "type": kind,
                "total": len(listing.movies),
                "movies": [views.now_playing_movie(m, m.id in ready) for m in listing.movies],
                "dates": listing.dates,
            }
        if kind == "roast":
            records, total = self.caches.list_roasts(offset, limit, self.clock())
            results = [views.roast_document(r) for r in records]
        elif kind == "truth":
            truths, total = self.caches.list_truths(offset, limit)
            results = [views.truth_document(t) for t in truths]
        else:
            results, total = self._all(offset, limit)
        return {
            "type": kind,
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": math.ceil(total / limit) if total else 0,
            "results": results,
        }

    def _listing(self) -> NowPlaying:
        listing = self.cached_now_playing()
        if listing is None:
            raise FeedNotFound("the now-playing list is not cached yet; the nightly run fills it")
        return listing

    def _all(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Each now-playing movie with its roast card and research, or nulls."""
        movies = self._listing().movies
        chosen = movies[offset : offset + limit]
        ids = [m.id for m in chosen]
        roasts = self.caches.get_roasts(ids, self.clock())
        truths = self.caches.get_truths(ids)
        results = []
        for movie in chosen:
            roast, truth = roasts.get(movie.id), truths.get(movie.id)
            results.append(
                {
                    **views.now_playing_movie(movie, roast is not None),
                    "roast": roast.roast.card.model_dump(mode="json") if roast else None,
                    "roast_generated_at": iso(roast.roast.created_at) if roast else None,
                    "truth": truth.brief if truth else None,
                    "truth_fetched_at": iso(truth.created_at) if truth else None,
                }
            )
        return results, len(movies)
