"""What the simulated LLMs say: a research brief (Perplexity) and a roast (Grok).

Texts are deterministic per movie id and built from the same catalogue facts the
TMDB endpoints serve, so a brief never contradicts the movie's details. Every text
starts with "[simulated] " so a simulated answer can never pass for a real one.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from upstream_sim import catalogue
from upstream_sim.catalogue import pick, stable_hash

SIMULATED_PREFIX = "[simulated] "
_TMDB_ID = re.compile(r"TMDB id:\s*(\d{1,10})")
_MOVIE_TITLE = re.compile(r"Movie:\s*(.{1,200}?)\s*\((?:\d{4}|unknown year)\)")

_RECEPTION = [
    "a confident, if uneven, piece of genre filmmaking",
    "ambitious but overlong",
    "a crowd-pleaser with a sharp final act",
    "stylish, though thin on character",
    "a quiet surprise of the season",
    "divisive, with praise for its score and doubts about its script",
]  # fmt: skip
_PRODUCTION_FACTS = [
    "Principal photography took place over 41 days, largely on practical sets.",
    "The score was recorded with a 60-piece orchestra in a single weekend.",
    "Several scenes were reshot after test screenings, adding a new ending.",
    "The lead actor reportedly learned the protagonist's trade for the role.",
    "It premiered at a regional festival before a wide release.",
    "The production used a single vintage lens for the entire shoot.",
]  # fmt: skip
_ROAST_OPENERS = [
    "{title} is what happens when a mood board gets a distribution deal.",
    "{title} runs {runtime} minutes, and I felt every single one file for overtime.",
    "Somewhere, a screenwriting teacher is showing {title} as a cautionary tale.",
    "{title} has the confidence of a movie that skipped its own test screening.",
    "Watching {title} is like reading the terms and conditions, but with a score.",
]  # fmt: skip
_ROAST_MIDDLES = [
    "The premise ({premise}) is doing all the heavy lifting while the script naps.",
    "Its {genre} ambitions are strong; its follow-through is on a smoke break.",
    "The twist arrives so late it should have bought a ticket for the sequel.",
    "The plot ({premise}) sounds urgent until the film insists on explaining it twice.",
    "Critics called it {reception}, which is a polite way of checking their watches.",
]  # fmt: skip
_ROAST_CLOSERS = [
    "Two stars, one of them for the popcorn.",
    "See it, if only to understand your friends' group chat.",
    "Bring a pillow and low expectations; you will need at least one.",
    "It is not the worst film of the year, but it is definitely trying.",
    "The real mystery is who approved the runtime.",
]  # fmt: skip


def find_movie_id(text: str) -> int | None:
    """The movie a prompt is about, from the "TMDB id: N" PlotBurn's prompts carry."""
    match = _TMDB_ID.search(text)
    return int(match.group(1)) if match else None


def _title_from_prompt(text: str) -> str | None:
    match = _MOVIE_TITLE.search(text)
    return match.group(1).strip() if match else None


def _facts(
    config: dict[str, Any], movie_id: int | None, prompt: str, today: date
) -> dict[str, Any]:
    """The facts a text is written from: the catalogue's, else whatever the prompt says."""
    if movie_id is not None and catalogue.is_known(config, movie_id):
        info = catalogue.details(config, movie_id, today)
        return {
            "title": info["title"],
            "year": info["release_date"][:4],
            "genre": info["genres"][0]["name"].lower(),
            "runtime": info["runtime"],
            "premise": info["overview"].rstrip(".").lower(),
            "vote": info["vote_average"],
            "budget": info["budget"] // 1_000_000,
            "known": True,
        }
    return {
        "title": _title_from_prompt(prompt) or "this film",
        "year": "recent",
        "genre": "drama",
        "runtime": 100,
        "premise": "a story its marketing is careful not to explain",
        "vote": 6.4,
        "budget": 20,
        "known": False,
    }


def research_brief(
    config: dict[str, Any], movie_id: int | None, prompt: str, today: date
) -> str:
    facts = _facts(config, movie_id, prompt, today)
    key = movie_id if movie_id is not None else "unknown"
    director = catalogue.person(key, "director")
    lead = catalogue.person(key, "lead")
    support = catalogue.person(key, "support")
    opening = 2 + stable_hash("opening", key) % 60
    if not facts["known"]:
        return (
            f"{SIMULATED_PREFIX}{facts['title']} could not be matched to a catalogue entry, "
            "so this brief is general. It appears to be a recent theatrical release with "
            "limited published coverage. Reviews and box-office figures were not found in "
            "the sources searched."
        )
    return (
        f"{SIMULATED_PREFIX}{facts['title']} ({facts['year']}) is a {facts['genre']} feature "
        f"running {facts['runtime']} minutes, directed by {director} and starring {lead} "
        f"and {support}. Premise: {facts['premise']}. Early reviews describe it as "
        f"{pick(_RECEPTION, 'reception', key)}; it holds an average of "
        f"{facts['vote']}/10 on TMDB so far. It opened to an estimated ${opening} million "
        "against a reported "
        f"${facts['budget']} million budget. {pick(_PRODUCTION_FACTS, 'fact', key)}"
    )


def roast(config: dict[str, Any], movie_id: int | None, prompt: str, today: date) -> str:
    facts = _facts(config, movie_id, prompt, today)
    key = movie_id if movie_id is not None else "unknown"
    values = {**facts, "reception": pick(_RECEPTION, "reception", key)}
    return SIMULATED_PREFIX + " ".join(
        [
            pick(_ROAST_OPENERS, "opener", key).format(**values),
            pick(_ROAST_MIDDLES, "middle", key).format(**values),
            pick(_ROAST_CLOSERS, "closer", key).format(**values),
        ]
    )


def search_results(
    config: dict[str, Any], movie_id: int | None, prompt: str, today: date
) -> list[dict[str, Any]]:
    """Perplexity's ``search_results``; ``citations`` are their URLs."""
    facts = _facts(config, movie_id, prompt, today)
    title = facts["title"]
    slug = catalogue.slug_of(title) or "film"
    underscored = title.replace(" ", "_")
    day = today.isoformat()
    results = [
        {
            "title": f"{title} - Wikipedia",
            "url": f"https://en.wikipedia.org/wiki/{underscored}_(film)",
            "date": day,
        },
        {
            "title": f"{title} | Rotten Tomatoes",
            "url": f"https://www.rottentomatoes.com/m/{slug.replace('-', '_')}",
            "date": day,
        },
        {
            "title": f"{title} - Box Office Mojo",
            "url": f"https://www.boxofficemojo.com/title/{slug}/",
            "date": day,
        },
    ]
    if movie_id is not None:
        results.insert(
            0,
            {
                "title": f"{title} ({facts['year']}) - The Movie Database (TMDB)",
                "url": f"https://www.themoviedb.org/movie/{movie_id}-{slug}",
                "date": day,
            },
        )
    return results


def estimate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI-style tokenizers average on English."""
    return max(1, (len(text) + 3) // 4)
