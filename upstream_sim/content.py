"""What the simulated LLMs say: a research brief (Perplexity) and a roast card (Grok).

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


def research_brief(config: dict[str, Any], movie_id: int | None, prompt: str, today: date) -> str:
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


_HEADLINE_PROBLEMS = [
    "all premise, no payoff",
    "a trailer stretched to feature length",
    "style on loan, script on leave",
    "a twist nobody asked for",
    "two endings, zero landings",
]  # fmt: skip
_CHIPS = [
    "the endless stare", "that second ending", "the suspicious map", "slow clap finale",
    "the talking clock", "the group chat scene", "one more flashback", "the loud score",
]  # fmt: skip
_VIBES = [
    "Loved the look of it, forgot the plot by dinner.",
    "The lead carries it further than the script deserves.",
    "Too long, but the final act almost saves it.",
    "My whole group argued about the ending afterwards.",
    "Great score, shame about the dialogue.",
    "Worth it on a big screen, skip it at home.",
    "The trailer told the whole story already.",
    "Surprisingly fun if you expect very little.",
]  # fmt: skip
_OPINIONS = [
    "Watch it if you enjoy {genre} films that look better than they think. "
    "Skip it if you need a story that lands.",
    "Fans of the cast will have a good time; everyone else can wait for streaming "
    "and a fast-forward button.",
    "See it with friends who like to talk during films: there is plenty of room for "
    "commentary.",
]  # fmt: skip
_SIMILAR_CONTEXT = [
    "also a {genre} story about secrets",
    "a similar slow-burning mystery",
    "the same mix of comedy and dread",
    "another tale of an unlikely hero",
]  # fmt: skip


def roast_card(
    config: dict[str, Any], movie_id: int | None, prompt: str, today: date
) -> dict[str, Any]:
    """A roast card within every limit of the Worker's card (PlotBurn's RoastCard)."""
    facts = _facts(config, movie_id, prompt, today)
    key = movie_id if movie_id is not None else "unknown"
    values = {**facts, "reception": pick(_RECEPTION, "reception", key)}
    headline = " ".join(
        f"{SIMULATED_PREFIX}{facts['title']}: {pick(_HEADLINE_PROBLEMS, 'headline', key)}".split()[
            :12
        ]
    )
    paragraphs = [
        " ".join(
            (SIMULATED_PREFIX + pick(_ROAST_OPENERS, "opener", key).format(**values)).split()[:45]
        ),
        " ".join(pick(_ROAST_MIDDLES, "middle", key).format(**values).split()[:60]),
        " ".join(pick(_ROAST_CLOSERS, "closer", key).format(**values).split()[:40]),
    ]
    first = stable_hash("chips", key)
    chips = [_CHIPS[(first + i) % len(_CHIPS)] for i in range(2 + first % 2)]
    start = stable_hash("vibes", key)
    vibes = [_VIBES[(start + i) % len(_VIBES)] for i in range(6)]
    base = movie_id if movie_id is not None else 1000
    similar = [
        f"{catalogue.title_of(base + 7 * (i + 1))} - "
        + _SIMILAR_CONTEXT[i].format(genre=facts["genre"])
        for i in range(4)
    ]
    return {
        "headline": headline,
        "content": "\n\n".join(paragraphs),
        "chips": chips,
        "internet_vibe": vibes,
        "your_opinion": pick(_OPINIONS, "opinion", key).format(**values),
        "similar_movies": similar,
    }


def overlong_card(
    config: dict[str, Any], movie_id: int | None, prompt: str, today: date
) -> dict[str, Any]:
    """The same card with a headline far over its 12 words: what a model that ignores
    the word limits sends (the schema cannot enforce them)."""
    card = roast_card(config, movie_id, prompt, today)
    card["headline"] = card["headline"] + " " + " ".join(["and", "on"] * 10)
    return card


def search_results(
    config: dict[str, Any], movie_id: int | None, prompt: str, today: date
) -> list[dict[str, Any]]:
    """The results of Perplexity's ``search_results`` output item (as the Agent API
    sends them: ``date`` is optional, and the Box Office Mojo entry has none)."""
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
    return [
        {
            "id": index,
            **result,
            "snippet": f"{title}: {facts['premise']}."[:300],
            "last_updated": day,
            "source": "web",
        }
        for index, result in enumerate(results, start=1)
    ]
