"""Every prompt PlotBurn sends, in one place.

Both prompts carry "TMDB id: N" so a log line, a bill or the local simulator can tie a
call to its movie.
"""

from __future__ import annotations

from functions.models import Movie, Truth

RESEARCH_SYSTEM = (
    "You are a film researcher. Write a factual brief of the movie: premise, director "
    "and main cast, genre, runtime, critical and audience reception so far, box office if "
    "known, and notable production facts. Facts only, no opinions of your own. Under 250 words."
)

ROAST_SYSTEM = (
    "You are PlotBurn, a sharp, funny film critic. Roast the movie in 120 to 180 words, "
    "using only the facts in the brief. Punch at the film, never at real people's looks, "
    "identity or private lives. Plain text, no markdown, no links."
)


def _movie_line(movie: Movie) -> str:
    year = (movie.release_date or "")[:4] or "unknown year"
    return f"Movie: {movie.title} ({year}). TMDB id: {movie.id}."


def research_messages(movie: Movie) -> list[dict[str, str]]:
    user = f"{_movie_line(movie)}\nTMDB overview: {movie.overview or '(none)'}"
    return [{"role": "system", "content": RESEARCH_SYSTEM}, {"role": "user", "content": user}]


def roast_messages(movie: Movie, truth: Truth) -> list[dict[str, str]]:
    user = f"{_movie_line(movie)}\nResearch brief:\n{truth.brief}"
    return [{"role": "system", "content": ROAST_SYSTEM}, {"role": "user", "content": user}]
