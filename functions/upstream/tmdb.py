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
from functions.models import Movie, MovieDetails, NowPlaying
from functions.upstream.http import Gate, RetryPolicy, call_json

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


@dataclass(frozen=True)
class _Page:
    results: list[dict[str, Any]]
    total_pages: int
    dates: dict[str, str] | None


def _parse_page(body: Any) -> _Page:
    results = body["results"]
    if not isinstance(results, list):
        raise TypeError("results is not a list")
    dates = body.get("dates")
    window = (
        {k: str(dates[k]) for k in ("maximum", "minimum") if isinstance(dates.get(k), str)}
        if isinstance(dates, dict)
        else None
    )
    return _Page(results, int(body.get("total_pages") or 1), window or None)


def _parse_details(body: Any) -> MovieDetails:
    crew = (body.get("credits") or {}).get("crew") or []
    director = next(
        (
            str(person["name"])
            for person in crew
            if isinstance(person, dict) and person.get("job") == "Director" and person.get("name")
        ),
        None,
    )
    return MovieDetails(meta=body, director=director)


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
    # TMDB's fleet-wide limit (every request: pages and details).
    gate: Gate | None = None

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

    def _get(
        self, path: str, params: dict[str, Any], validate: Any, paced: bool = False, **kw: Any
    ) -> Any:
        auth_headers, auth_params = self._credentials()
        if paced and self.pacer is not None:
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
            gate=self.gate,
            **kw,
        )

    def _page(self, page: int) -> _Page:
        params: dict[str, Any] = {"page": page}
        if self.region:
            params["region"] = self.region
        # Pages go out many at once: paced under TMDB's soft ceiling. (A details call
        # is one per new movie, spread over the night's deliveries: not paced here.)
        # Every request also passes the fleet-wide limit (the gate).
        result: _Page = self._get("/movie/now_playing", params, _parse_page, paced=True)
        return result

    def now_playing(self) -> NowPlaying:
        first = self._page(1)
        pages = [first.results]
        last = min(first.total_pages, self.max_pages)
        if last > 1:
            # The page count is known after page 1: fetch the rest at once, not in turn.
            # Each page runs in a copy of this context, so its calls land in our ledger.
            with ThreadPoolExecutor(max_workers=min(8, last - 1)) as pool:
                jobs = [
                    pool.submit(contextvars.copy_context().run, self._page, n)
                    for n in range(2, last + 1)
                ]
                pages += [job.result().results for job in jobs]
        movies: dict[int, Movie] = {}
        for page in pages:
            for raw in page:
                movie = _parse_movie(raw)
                if movie is not None and movie.id not in movies:
                    movies[movie.id] = movie
        return NowPlaying(movies=list(movies.values()), dates=first.dates)

    def details(self, movie_id: int) -> MovieDetails:
        """The movie's details with its credits, in one request."""
        details: MovieDetails = self._get(
            f"/movie/{movie_id}",
            {"append_to_response": "credits"},
            _parse_details,
            not_found=lambda: MovieNotFound(movie_id),
        )
        return details
