"""TMDB: the now-playing list (every page) and a movie's details.

Either credential works: the read access token as ``Authorization: Bearer`` (preferred
when both are set: it stays out of URLs) or the v3 key as the ``api_key`` query
parameter. Requests are paced under TMDB's soft ceiling (about 40 a second).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from functions.errors import MovieNotFound, UpstreamBadResponse
from functions.models import Movie
from functions.upstream.http import RetryPolicy, call_json

SERVICE = "tmdb"
PROVIDER = "tmdb"


class Pacer:
    """At most `per_second` request starts a second from this process: each caller
    takes the next free slot and sleeps until it (thread-safe, no busy wait)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


def _parse_page(body: Any) -> tuple[list[dict[str, Any]], int]:
    results = body["results"]
    if not isinstance(results, list):
        raise TypeError("results is not a list")
    return results, int(body.get("total_pages") or 1)


def _parse_movie(raw: Any) -> Movie | None:
    try:
        return Movie.model_validate(raw)
    except ValidationError:
        return None  # one bad entry must not sink the whole list


@dataclass
class TmdbCatalog:
    client: httpx.Client
    base_url: str
    token: SecretStr | None
    policy: RetryPolicy
    api_key: SecretStr | None = None
    region: str | None = None
    max_pages: int = 50
    pacer: Pacer | None = None

    def _credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, query parameters) that authenticate a request."""
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token.get_secret_value()}"}, {}
        if self.api_key is not None:
            return {}, {"api_key": self.api_key.get_secret_value()}
        raise UpstreamBadResponse(
            SERVICE,
            "neither TMDB_API_TOKEN nor TMDB_API_KEY is set",
            reason=f"{PROVIDER}: no API credential configured",
        )

    def _get(self, path: str, params: dict[str, Any], validate: Any, **kw: Any) -> Any:
        auth_headers, auth_params = self._credentials()
        if self.pacer is not None:
            self.pacer.wait()
        return call_json(
            self.client,
            SERVICE,
            "GET",
            f"{self.base_url.rstrip('/')}{path}",
            provider=PROVIDER,
            policy=self.policy,
            headers={**auth_headers, "Accept": "application/json"},
            params={**params, **auth_params},
            validate=validate,
            **kw,
        )

    def _page(self, page: int) -> tuple[list[dict[str, Any]], int]:
        params: dict[str, Any] = {"page": page}
        if self.region:
            params["region"] = self.region
        result: tuple[list[dict[str, Any]], int] = self._get(
            "/movie/now_playing", params, _parse_page
        )
        return result

    def now_playing(self) -> list[Movie]:
        first, total_pages = self._page(1)
        pages = [first]
        last = min(total_pages, self.max_pages)
        if last > 1:
            # The page count is known after page 1: fetch the rest at once, not in turn.
            # Each page runs in a copy of this context, so its calls land in our ledger.
            with ThreadPoolExecutor(max_workers=min(8, last - 1)) as pool:
                jobs = [pool.submit(contextvars.copy_context().run, self._page, n) for n in range(2, last + 1)]
                pages += [job.result()[0] for job in jobs]
        movies: dict[int, Movie] = {}
        for page in pages:
            for raw in page:
                movie = _parse_movie(raw)
                if movie is not None and movie.id not in movies:
                    movies[movie.id] = movie
        return list(movies.values())

    def details(self, movie_id: int) -> Movie:
        def validate(body: Any) -> Movie:
            return Movie.model_validate(body)

        movie: Movie = self._get(
            f"/movie/{movie_id}", {}, validate, not_found=lambda: MovieNotFound(movie_id)
        )
        return movie
