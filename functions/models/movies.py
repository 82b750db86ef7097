"""Movies as TMDB shows them: its lists and one movie's details."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from functions.models.base import MAX_MOVIE_ID, Frozen


class Movie(Frozen):
    """A movie as TMDB's lists show it (now_playing)."""

    id: int = Field(gt=0, le=MAX_MOVIE_ID)
    title: str = Field(max_length=500)
    overview: str = Field("", max_length=10_000)
    release_date: str | None = Field(None, max_length=32)
    poster_path: str | None = Field(None, max_length=500)
    original_language: str | None = Field(None, max_length=16)
    vote_average: float | None = None
    vote_count: int | None = None
    popularity: float | None = None
    genre_ids: list[int] = Field(default_factory=list, max_length=50)

    @field_validator("genre_ids", mode="before")
    @classmethod
    def _none_is_no_genres(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("overview", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("release_date", "poster_path", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class NowPlaying(Frozen):
    """TMDB's now-playing list (every page, de-duplicated) and its date window."""

    movies: list[Movie]
    # TMDB's {"maximum", "minimum"} from page 1.
    dates: dict[str, str] | None = None


# The 26 fields of TMDB's GET /movie/{id} that the Worker served as `movie`.
MOVIE_META_FIELDS = (
    "adult", "backdrop_path", "belongs_to_collection", "budget", "genres", "homepage", "id",
    "imdb_id", "origin_country", "original_language", "original_title", "overview",
    "popularity", "poster_path", "production_companies", "production_countries",
    "release_date", "revenue", "runtime", "spoken_languages", "status", "tagline", "title",
    "video", "vote_average", "vote_count",
)  # fmt: skip


class MovieDetails(Frozen):
    """TMDB's details of one movie (fetched once, when it is first roasted): the 26
    MovieMeta fields as TMDB sent them, and the director from its credits."""

    meta: dict[str, Any]
    director: str | None = None

    @field_validator("meta")
    @classmethod
    def _the_26_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("id"), int) or not isinstance(value.get("title"), str):
            raise ValueError("details need an integer id and a title")
        return {name: value.get(name) for name in MOVIE_META_FIELDS}

    @property
    def movie(self) -> Movie:
        """The list-shaped movie of these details."""
        genres = self.meta.get("genres") or []
        return Movie.model_validate(
            {**self.meta, "genre_ids": [g.get("id") for g in genres if isinstance(g, dict)]}
        )

    @property
    def genre_names(self) -> list[str]:
        return [
            str(g["name"])
            for g in self.meta.get("genres") or []
            if isinstance(g, dict) and g.get("name")
        ]

    @property
    def language_name(self) -> str | None:
        """The original language's English name (from spoken_languages), else its code."""
        code = self.meta.get("original_language")
        for language in self.meta.get("spoken_languages") or []:
            if isinstance(language, dict) and language.get("iso_639_1") == code:
                return str(language.get("english_name") or code)
        return str(code) if code else None
