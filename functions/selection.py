"""Which now-playing movies PlotBurn roasts: the Worker's choice.

TMDB lists hundreds of movies as now playing in a region (a six-week window); the
Worker kept the ones released from ten days ago to three days ago (UTC days,
inclusive) and skipped documentaries and concert films, about 15 a night.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from functions.models import Movie


@dataclass(frozen=True)
class MovieChoice:
    oldest_days: int = 10
    newest_days: int = 3
    excluded_genres: frozenset[int] = frozenset({99, 10402})

    def window(self, today: date) -> tuple[date, date]:
        """The first and last release day kept, inclusive."""
        return today - timedelta(days=self.oldest_days), today - timedelta(days=self.newest_days)

    def keeps(self, movie: Movie, today: date) -> bool:
        try:
            released = date.fromisoformat((movie.release_date or "")[:10])
        except ValueError:
            return False  # no (or no readable) release date: outside every window
        first, last = self.window(today)
        return first <= released <= last and not self.excluded_genres & set(movie.genre_ids)

    def choose(self, movies: Iterable[Movie], today: date) -> list[Movie]:
        return [m for m in movies if self.keeps(m, today)]
