"""Every prompt PlotBurn sends, and the roast card's JSON schema, in one place.

Both prompts carry "TMDB id: N" so a log line, a bill or the local simulator can tie a
call to its movie.
"""

from __future__ import annotations

from typing import Any

from functions.models import (
    CARD_CHIP_WORDS,
    CARD_CHIPS_ITEMS,
    CARD_CONTENT_MAX_WORDS,
    CARD_CONTENT_PARAGRAPHS,
    CARD_HEADLINE_MAX_WORDS,
    CARD_OPINION_MAX_WORDS,
    CARD_SIMILAR_CONTEXT_MAX_WORDS,
    CARD_SIMILAR_ITEMS,
    CARD_VIBE_ITEMS,
    CARD_VIBE_MAX_WORDS,
    Movie,
    MovieDetails,
    Truth,
)

# The Worker's research brief: six sections, factual, from web sources.
RESEARCH_INSTRUCTIONS = """You are a film researcher. Using current web sources, write a \
factual brief of the movie named in the input, in six numbered sections:
1. Plot: 200 to 250 words, from beginning to end.
2. Main characters: one line each.
3. Key conflicts and how they resolve.
4. Themes and tone.
5. Notable story elements: coincidences, tropes, and moments viewers call melodramatic \
or unintentionally funny.
6. Audience and critic pulse: the overall reception, 3 to 5 strengths, 3 to 5 \
weaknesses, and widely discussed scenes, memes or controversies.
State facts only, as the sources report them; say so where the sources are silent. \
Cite sources by number."""

ROAST_SYSTEM = f"""You are PlotBurn, a sharp, funny film critic. You write a roast card \
of one movie as a JSON object, from the research you are given.
Rules:
- Satire with the facts unchanged: everything you state about the film comes from the \
research. Never invent plot points, people, numbers or reception.
- No spoilers beyond the premise.
- Plain global English that a reader in India, Brazil or Nigeria understands: no slang, \
idioms or Western pop-culture references.
- Punch at the film, never at real people's looks, identity or private lives.
The card's fields and their hard limits:
- headline: at most {CARD_HEADLINE_MAX_WORDS} words; the film's one main problem, short \
and punchy.
- content: exactly {CARD_CONTENT_PARAGRAPHS} paragraphs separated by blank lines, at most \
{CARD_CONTENT_MAX_WORDS} words in all (aim for 130 to 150).
- chips: {CARD_CHIPS_ITEMS[0]} or {CARD_CHIPS_ITEMS[1]} items of {CARD_CHIP_WORDS[0]} to \
{CARD_CHIP_WORDS[1]} words each: memorable moments or themes, meme-worthy.
- internet_vibe: exactly {CARD_VIBE_ITEMS} items of at most {CARD_VIBE_MAX_WORDS} words \
each: what people actually say online, mixed sentiment matching the film's real reception.
- your_opinion: at most {CARD_OPINION_MAX_WORDS} words: a direct take on who should watch.
- similar_movies: exactly {CARD_SIMILAR_ITEMS} items, each "Title - context" with at most \
{CARD_SIMILAR_CONTEXT_MAX_WORDS} words of context: neutral similarity, never "better than".
Keep within every limit: a shorter card is fine, a padded one is not."""

ROAST_REPAIR = """That card breaks these limits:
{problems}
Answer with the whole card again as JSON, fixed so that it keeps every limit. Shorten \
or cut; do not add filler."""


def _year(movie: Movie) -> str:
    return (movie.release_date or "")[:4] or "unknown year"


def _movie_line(movie: Movie) -> str:
    return f"Movie: {movie.title} ({_year(movie)}). TMDB id: {movie.id}."


def research_input(movie: Movie, details: MovieDetails) -> str:
    """What the Worker named: title, year, genres, director and original language."""
    genres = ", ".join(details.genre_names) or "unknown"
    return "\n".join(
        [
            _movie_line(movie),
            f"Genres: {genres}.",
            f"Director: {details.director or 'unknown'}.",
            f"Original language: {details.language_name or 'unknown'}.",
        ]
    )


def roast_messages(movie: Movie, details: MovieDetails, truth: Truth) -> list[dict[str, str]]:
    """The Worker's user message: title (year), genres | rating | runtime, the TMDB
    overview, and the full research."""
    rating = f"{movie.vote_average:.1f}/10" if movie.vote_average else "not rated yet"
    runtime = details.meta.get("runtime")
    facts = " | ".join(
        [", ".join(details.genre_names) or "genre unknown", f"rating {rating}",
         f"{runtime} min" if runtime else "runtime unknown"]
    )  # fmt: skip
    user = (
        f"{_movie_line(movie)}\n"
        f"{facts}\n"
        f"TMDB overview: {movie.overview or '(none)'}\n\n"
        f"Research:\n{truth.brief}"
    )
    return [{"role": "system", "content": ROAST_SYSTEM}, {"role": "user", "content": user}]


def repair_messages(
    messages: list[dict[str, str]], answer: str, problems: list[str]
) -> list[dict[str, str]]:
    listed = "\n".join(f"- {p}" for p in problems)
    return [
        *messages,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": ROAST_REPAIR.format(problems=listed)},
    ]


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _list(items: int | tuple[int, int], description: str) -> dict[str, Any]:
    low, high = (items, items) if isinstance(items, int) else items
    return {
        "type": "array",
        "items": {"type": "string"},
        "minItems": low,
        "maxItems": high,
        "description": description,
    }


def roast_card_schema() -> dict[str, Any]:
    """The card as xAI structured output takes it: item counts are enforced by the
    schema; word limits cannot be, so they are described and validated on arrival."""
    properties = {
        "headline": _text(f"At most {CARD_HEADLINE_MAX_WORDS} words."),
        "content": _text(
            f"{CARD_CONTENT_PARAGRAPHS} paragraphs separated by blank lines, at most "
            f"{CARD_CONTENT_MAX_WORDS} words in all."
        ),
        "chips": _list(
            CARD_CHIPS_ITEMS, f"Each {CARD_CHIP_WORDS[0]} to {CARD_CHIP_WORDS[1]} words."
        ),
        "internet_vibe": _list(CARD_VIBE_ITEMS, f"Each at most {CARD_VIBE_MAX_WORDS} words."),
        "your_opinion": _text(f"At most {CARD_OPINION_MAX_WORDS} words."),
        "similar_movies": _list(
            CARD_SIMILAR_ITEMS,
            f'Each "Title - context", at most {CARD_SIMILAR_CONTEXT_MAX_WORDS} words of context.',
        ),
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
