"""A deterministic movie catalogue in TMDB's shapes.

Every field of a movie is a pure function of its id (and today's date, for the
"recent" release dates), so the list entry and the details of one id always agree,
restarting the simulator changes nothing, and changing ``movies`` or
``first_movie_id`` at runtime never renames a movie.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, timedelta
from typing import Any

from upstream_sim.config import CATALOGUE_ONLY_COUNT, CATALOGUE_ONLY_FIRST_ID

PAGE_SIZE = 20
MAX_PAGE = 500
# Anchor of the title permutation, so that id 1000 is "The Last Algorithm".
_TITLE_ANCHOR = 1000

GENRES: dict[int, str] = {
    28: "Action",
    12: "Adventure",
    16: "Animation",
    35: "Comedy",
    80: "Crime",
    99: "Documentary",
    18: "Drama",
    10751: "Family",
    14: "Fantasy",
    36: "History",
    27: "Horror",
    10402: "Music",
    9648: "Mystery",
    10749: "Romance",
    878: "Science Fiction",
    53: "Thriller",
    10752: "War",
    37: "Western",
}
_GENRE_IDS = list(GENRES)
# The Worker skips documentaries and concert films: the regular now-playing movies
# never have these genres; only decoys do.
EXCLUDED_GENRES = (99, 10402)
_PLAYABLE_GENRE_IDS = [g for g in _GENRE_IDS if g not in EXCLUDED_GENRES]
# The Worker's release window: released 3 to 10 days ago. Regular movies fall inside.
WINDOW_NEWEST_DAYS, WINDOW_OLDEST_DAYS = 3, 10
# What each decoy is, in turn: listed as now playing, but outside the Worker's choice.
DECOY_KINDS = ("too_old", "too_new", "documentary", "music")

_ADJECTIVES = [
    "Last", "Silent", "Midnight", "Crimson", "Forgotten", "Infinite", "Hollow", "Electric",
    "Broken", "Golden", "Savage", "Quiet", "Final", "Neon", "Frozen", "Hidden",
    "Burning", "Lost", "Velvet", "Iron", "Paper", "Wild", "Distant", "Restless",
]  # fmt: skip
_NOUNS = [
    "Algorithm", "Protocol", "Harvest", "Kingdom", "Signal", "Orchard", "Horizon", "Witness",
    "Lighthouse", "Reckoning", "Inheritance", "Frequency", "Garden", "Heist", "Voyage", "Echo",
    "Covenant", "Circuit", "Tide", "Summer", "Machine", "Verdict", "Carnival", "Archive",
]  # fmt: skip
_TITLE_PATTERNS = [
    "The {adj} {noun}",
    "{adj} {noun}",
    "The {noun} of {adj} Hearts",
    "{noun}: {adj} Rising",
    "The {adj} {noun} II",
]
# 97 is coprime with 24*24, so consecutive ids walk the whole (adjective, noun) grid:
# any 576 consecutive ids have distinct titles.
_TITLE_STEP = 97

_ROLES = [
    "A disgraced cartographer", "Two estranged sisters", "A retired safecracker",
    "A small-town weather presenter", "An overworked night-shift nurse",
    "A teenage chess prodigy", "A washed-up magician", "A lighthouse keeper",
    "A rookie customs officer", "An elderly beekeeper",
]  # fmt: skip
_INCITING = [
    "finds a map that redraws itself every night",
    "inherits a house that remembers its previous owners",
    "intercepts a radio signal from thirty years in the future",
    "is mistaken for the world's most wanted art forger",
    "wakes up with someone else's memories",
    "discovers the town's clocks have all stopped at 3:17",
    "wins a lottery nobody remembers entering",
    "is hired to guard a crate that must never be opened",
    "receives letters written in their own handwriting",
    "finds a stranger living in the attic",
]  # fmt: skip
_GOALS = [
    "uncover who is behind it", "get back home", "keep a dangerous secret",
    "reunite a fractured family", "clear their name", "save a failing business",
    "outwit a relentless investigator", "win one last competition",
]  # fmt: skip
_DEADLINES = [
    "the harvest moon rises", "the storm makes landfall", "the auction closes",
    "the wedding begins", "the bridge is demolished", "the winter festival ends",
    "the power grid fails", "their past catches up with them",
]  # fmt: skip
_TAGLINES = [
    "Some doors should stay closed.", "Every map lies.", "The past is never finished.",
    "Nobody leaves unchanged.", "Trust no one. Especially yourself.",
    "One night. No second chances.", "It was never about the money.",
    "The truth has a price.",
]  # fmt: skip
_LANGUAGES = ["en"] * 7 + ["fr", "ko", "ja", "es", "de"]
LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "ko": "Korean",
    "ja": "Japanese", "es": "Spanish", "de": "German",
}  # fmt: skip
_FIRST_NAMES = [
    "Mara", "Tobias", "Ines", "Felix", "Priya", "Jonah", "Lena", "Oskar", "Amara", "Theo",
    "Noor", "Callum", "Sofia", "Rafael", "Hana", "Declan",
]  # fmt: skip
_LAST_NAMES = [
    "Vance", "Okafor", "Lindqvist", "Moreau", "Castellano", "Whitlock", "Nakamura",
    "Brennan", "Adeyemi", "Halvorsen", "Duarte", "Kowalski", "Ashby", "Ferreira",
]  # fmt: skip
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that, unlike hash(), is the same in every process and run."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def pick(items: list[str], *parts: object) -> str:
    return items[stable_hash(*parts) % len(items)]


def _image_path(movie_id: int, kind: str) -> str:
    value = stable_hash("image", kind, movie_id) << 96 | stable_hash("image2", kind, movie_id)
    chars = []
    for _ in range(27):
        value, digit = divmod(value, 62)
        chars.append(_BASE62[digit])
    return "/" + "".join(chars) + ".jpg"


def title_of(movie_id: int) -> str:
    offset = movie_id - _TITLE_ANCHOR
    cell = (offset * _TITLE_STEP) % (len(_ADJECTIVES) * len(_NOUNS))
    adjective, noun = _ADJECTIVES[cell % len(_ADJECTIVES)], _NOUNS[cell // len(_ADJECTIVES)]
    pattern = _TITLE_PATTERNS[offset % len(_TITLE_PATTERNS)]
    return pattern.format(adj=adjective, noun=noun)


def slug_of(title: str) -> str:
    return "-".join("".join(c for c in word if c.isalnum()) for word in title.lower().split())


def person(key: object, role: str) -> str:
    """A fictional name, stable for (movie, role): no real person is ever named."""
    return f"{pick(_FIRST_NAMES, 'first', role, key)} {pick(_LAST_NAMES, 'last', role, key)}"


def is_catalogue_only(movie_id: int) -> bool:
    return CATALOGUE_ONLY_FIRST_ID <= movie_id < CATALOGUE_ONLY_FIRST_ID + CATALOGUE_ONLY_COUNT


def now_playing_count(config: dict[str, Any], region: str | None) -> int:
    """How many movies are now playing, for a region if ``region_movies`` names it."""
    if region:
        regional = config["region_movies"].get(region.upper())
        if regional is not None:
            return int(regional)
    return int(config["movies"])


def _largest_list(config: dict[str, Any]) -> int:
    return max([int(config["movies"]), *map(int, config["region_movies"].values())])


def decoy_ids(config: dict[str, Any]) -> list[int]:
    """Listed after the regular movies of every region: released outside the Worker's
    window, or a documentary or music film (DECOY_KINDS, in turn)."""
    start = int(config["first_movie_id"]) + _largest_list(config)
    return [start + i for i in range(int(config["decoys"]))]


def decoy_kind(config: dict[str, Any], movie_id: int) -> str | None:
    start = int(config["first_movie_id"]) + _largest_list(config)
    offset = movie_id - start
    if 0 <= offset < int(config["decoys"]):
        return DECOY_KINDS[offset % len(DECOY_KINDS)]
    return None


def now_playing_ids(config: dict[str, Any], region: str | None) -> list[int]:
    first = int(config["first_movie_id"])
    regular = [first + i for i in range(now_playing_count(config, region))]
    return regular + decoy_ids(config)


def is_known(config: dict[str, Any], movie_id: int) -> bool:
    """True for a now-playing id (any region), a decoy or a catalogue-only id."""
    if is_catalogue_only(movie_id):
        return True
    first = int(config["first_movie_id"])
    return first <= movie_id < first + _largest_list(config) + int(config["decoys"])


def now_playing_dates(today: date) -> dict[str, str]:
    """TMDB's window: roughly the last five weeks up to the next couple of days."""
    return {
        "maximum": (today + timedelta(days=2)).isoformat(),
        "minimum": (today - timedelta(days=40)).isoformat(),
    }


def _release_date(config: dict[str, Any], movie_id: int, today: date) -> date:
    if is_catalogue_only(movie_id) or not is_known(config, movie_id):
        year = 2012 + stable_hash("year", movie_id) % 12
        return date(year, 1, 1) + timedelta(days=stable_hash("day", movie_id) % 365)
    kind = decoy_kind(config, movie_id)
    if kind == "too_old":
        return today - timedelta(days=WINDOW_OLDEST_DAYS + 1 + stable_hash("old", movie_id) % 20)
    if kind == "too_new":
        return today - timedelta(days=stable_hash("new", movie_id) % WINDOW_NEWEST_DAYS)
    span = WINDOW_OLDEST_DAYS - WINDOW_NEWEST_DAYS + 1
    return today - timedelta(days=WINDOW_NEWEST_DAYS + stable_hash("released", movie_id) % span)


def _popularity(config: dict[str, Any], movie_id: int) -> float:
    offset = movie_id - int(config["first_movie_id"])
    if is_catalogue_only(movie_id) or offset < 0:
        return round(2.0 + stable_hash("pop", movie_id) % 2000 / 100, 3)
    # Decreasing with the offset, so the list is in TMDB's default popularity order.
    return round(900.0 / (1 + 0.25 * offset), 3)


def genre_ids_of(config: dict[str, Any], movie_id: int) -> list[int]:
    genres = _PLAYABLE_GENRE_IDS
    first = stable_hash("genre1", movie_id) % len(genres)
    second = (first + 1 + stable_hash("genre2", movie_id) % (len(genres) - 1)) % len(genres)
    chosen = [genres[first], genres[second]]
    kind = decoy_kind(config, movie_id)
    if kind == "documentary":
        chosen[1] = 99
    elif kind == "music":
        chosen[1] = 10402
    return chosen


def overview_of(movie_id: int) -> str:
    return (
        f"{pick(_ROLES, 'role', movie_id)} {pick(_INCITING, 'inciting', movie_id)}, "
        f"and must {pick(_GOALS, 'goal', movie_id)} before "
        f"{pick(_DEADLINES, 'deadline', movie_id)}."
    )


def list_entry(config: dict[str, Any], movie_id: int, today: date) -> dict[str, Any]:
    """One movie in TMDB's movie-list shape (now_playing, popular, search...)."""
    title = title_of(movie_id)
    return {
        "adult": False,
        "backdrop_path": _image_path(movie_id, "backdrop"),
        "genre_ids": genre_ids_of(config, movie_id),
        "id": movie_id,
        "original_language": pick(_LANGUAGES, "lang", movie_id),
        "original_title": title,
        "overview": overview_of(movie_id),
        "popularity": _popularity(config, movie_id),
        "poster_path": _image_path(movie_id, "poster"),
        "release_date": _release_date(config, movie_id, today).isoformat(),
        "title": title,
        "video": False,
        "vote_average": round(5.0 + stable_hash("vote", movie_id) % 41 / 10, 1),
        "vote_count": 20 + stable_hash("votes", movie_id) % 4000,
    }


def credits(movie_id: int) -> dict[str, Any]:
    """TMDB's /movie/{id}/credits shape: a small cast and crew, the director included."""
    cast = [
        {
            "adult": False,
            "cast_id": index + 1,
            "character": f"{pick(_FIRST_NAMES, 'character', role, movie_id)}",
            "credit_id": f"{stable_hash('credit', role, movie_id):024x}",
            "gender": 0,
            "id": 10_000 + stable_hash("person", role, movie_id) % 900_000,
            "known_for_department": "Acting",
            "name": person(movie_id, role),
            "order": index,
            "original_name": person(movie_id, role),
            "popularity": 1.0,
            "profile_path": None,
        }
        for index, role in enumerate(("lead", "support"))
    ]
    crew = [
        {
            "adult": False,
            "credit_id": f"{stable_hash('credit', job, movie_id):024x}",
            "department": department,
            "gender": 0,
            "id": 10_000 + stable_hash("person", job, movie_id) % 900_000,
            "job": job,
            "known_for_department": department,
            "name": person(movie_id, key),
            "original_name": person(movie_id, key),
            "popularity": 1.0,
            "profile_path": None,
        }
        for job, department, key in (
            ("Director", "Directing", "director"),
            ("Screenplay", "Writing", "writer"),
        )
    ]
    return {"id": movie_id, "cast": cast, "crew": crew}


def runtime_of(movie_id: int) -> int:
    return 84 + stable_hash("runtime", movie_id) % 72


def details(config: dict[str, Any], movie_id: int, today: date) -> dict[str, Any]:
    """TMDB's /movie/{id} shape: the list fields plus the details-only ones."""
    entry = list_entry(config, movie_id, today)
    genre_ids = entry.pop("genre_ids")
    language = entry["original_language"]
    budget = (5 + stable_hash("budget", movie_id) % 180) * 1_000_000
    released_days = (today - date.fromisoformat(entry["release_date"])).days
    revenue = int(
        budget
        * (0.1 + stable_hash("revenue", movie_id) % 300 / 100)
        * min(1.0, max(released_days, 1) / 60)
    )
    entry.update(
        {
            "belongs_to_collection": None,
            "budget": budget,
            "genres": [{"id": gid, "name": GENRES[gid]} for gid in genre_ids],
            "homepage": f"https://www.example.com/movies/{slug_of(entry['title'])}",
            "imdb_id": f"tt{(movie_id * 7919 + 1_000_000) % 10_000_000:07d}",
            "origin_country": ["US"],
            "production_companies": [
                {
                    "id": 1000 + stable_hash("studio", movie_id) % 9000,
                    "logo_path": None,
                    "name": f"{pick(_LAST_NAMES, 'studio', movie_id)} Pictures",
                    "origin_country": "US",
                }
            ],
            "production_countries": [{"iso_3166_1": "US", "name": "United States of America"}],
            "revenue": revenue,
            "runtime": runtime_of(movie_id),
            "spoken_languages": [
                {
                    "english_name": LANGUAGE_NAMES[language],
                    "iso_639_1": language,
                    "name": LANGUAGE_NAMES[language],
                }
            ],
            "status": "Released",
            "tagline": pick(_TAGLINES, "tagline", movie_id),
        }
    )
    return dict(sorted(entry.items()))


def page_of(config: dict[str, Any], region: str | None, page: int, today: date) -> dict[str, Any]:
    """One now_playing page; past the last page TMDB answers an empty results list."""
    ids = now_playing_ids(config, region)
    total_pages = min(MAX_PAGE, max(1, math.ceil(len(ids) / PAGE_SIZE)))
    start = (page - 1) * PAGE_SIZE
    chosen = ids[start : start + PAGE_SIZE] if page <= total_pages else []
    return {
        "dates": now_playing_dates(today),
        "page": page,
        "results": [list_entry(config, movie_id, today) for movie_id in chosen],
        "total_pages": total_pages,
        "total_results": len(ids),
    }
