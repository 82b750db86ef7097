"""TMDB: the now-playing list (every page) and a movie's details."""

from __future__ import annotations

import contextvars
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
    region: str | None = None
    max_pages: int = 50
    on_attempt: Callable[[str], None] | None = None

    def _get(self, path: str, params: dict[str, Any], validate: Any, **kw: Any) -> Any:
        if self.token is None:
            raise UpstreamBadResponse(SERVICE, "no API token configured (TMDB_API_TOKEN)")
        return call_json(
            self.client,
            SERVICE,
            "GET",
            f"{self.base_url.rstrip('/')}{path}",
            policy=self.policy,
            headers={
                "Authorization": f"Bearer {self.token.get_secret_value()}",
                "Accept": "application/json",
            },
            params=params,
            validate=validate,
            on_attempt=(lambda: self.on_attempt(SERVICE)) if self.on_attempt else None,
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
