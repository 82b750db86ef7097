"""The upstream simulator: TMDB, auth, faults, latency, concurrency, keep-alive and the
control API. Perplexity's and xAI's wire contracts are in test_upstream_sim_llm.py,
which reuses the fixtures and request helpers defined here.

Each test starts its own SimServer on a free port, so tests stay independent and fast.
The LLM requests are shaped like PlotBurn's own (PerplexityResearcher.request_body and
GrokRoaster.request_body) and carry "TMDB id: N", which ties a call to movie N.
"""

from __future__ import annotations

import http.client as httpclient
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from functions.models import Movie, MovieDetails
from functions.selection import MovieChoice
from functions.upstream import prompts
from functions.upstream.http import RetryPolicy
from functions.upstream.tmdb import TmdbCatalog
from upstream_sim.client import SimControl
from upstream_sim.config import ConfigError
from upstream_sim.server import SimServer

AUTH = {"Authorization": "Bearer test-key"}
ROOT = Path(__file__).resolve().parents[2]
RESEARCH_MODEL = "perplexity/sonar"
ROAST_MODEL = "grok-4.20-non-reasoning"
LIST_KEYS = {
    "adult", "backdrop_path", "genre_ids", "id", "original_language", "original_title",
    "overview", "popularity", "poster_path", "release_date", "title", "video",
    "vote_average", "vote_count",
}  # fmt: skip
DETAILS_EXTRA = {
    "runtime", "genres", "tagline", "status", "budget", "revenue", "imdb_id", "homepage",
}  # fmt: skip
TMDB_500 = {
    "success": False,
    "status_code": 11,
    "status_message": "Internal error: Something went wrong, contact TMDB.",
}
PERPLEXITY_500 = {
    "error": {"message": "Internal server error.", "type": "internal_server_error", "code": 500}
}
PERPLEXITY_401 = {
    "message": "Invalid API key provided. Ensure your API key is correct and active.",
    "type": "invalid_api_key",
}
XAI_500 = {"code": "Internal error", "error": "The service encountered an internal error."}
NO_FAULTS = {"429": 0, "500": 0, "timeout": 0, "malformed": 0, "failed": 0}


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(headers=AUTH, timeout=10) as client:
        yield client


# -- request helpers (also used by test_upstream_sim_llm.py) ---------------------------------


def movie_line(movie_id: int | None, title: str = "The Last Algorithm") -> str:
    """Like prompts._movie_line; without an id the sim files the call under "unknown"."""
    return f"Movie: {title} (2026)." + (f" TMDB id: {movie_id}." if movie_id is not None else "")


def agent_body(
    movie_id: int | None, *, drop: tuple[str, ...] = (), **changes: Any
) -> dict[str, Any]:
    """Shaped like PerplexityResearcher.request_body; ``drop`` removes fields."""
    body: dict[str, Any] = {
        "model": RESEARCH_MODEL,
        "instructions": prompts.RESEARCH_INSTRUCTIONS,
        "input": (
            f"{movie_line(movie_id)}\nGenres: Drama, Thriller.\nDirector: Mara Stone.\n"
            "Original language: English."
        ),
        "max_output_tokens": 3000,
        "temperature": 0.3,
        "tools": [{"type": "web_search", "filters": {"search_recency_filter": "month"}}],
        "tool_choice": {"type": "web_search"},
        "store": False,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if k not in drop}


def card_format(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "roast_card",
            "schema": schema if schema is not None else prompts.roast_card_schema(),
            "strict": True,
        },
    }


def roast_body(
    movie_id: int | None, *, drop: tuple[str, ...] = (), **changes: Any
) -> dict[str, Any]:
    """Shaped like GrokRoaster.request_body (prompts.roast_messages, the card's schema)."""
    user = (
        f"{movie_line(movie_id)}\nDrama, Thriller | rating 7.1/10 | 112 min\n"
        "TMDB overview: something happens\n\nResearch:\nA brief."
    )
    body: dict[str, Any] = {
        "model": ROAST_MODEL,
        "messages": [
            {"role": "system", "content": prompts.ROAST_SYSTEM},
            {"role": "user", "content": user},
        ],
        "max_tokens": 1000,
        "temperature": 0.9,
        "top_p": 0.92,
        "response_format": card_format(),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if k not in drop}


def research(
    http: httpx.Client, sim: SimServer, movie_id: int | None, body: dict[str, Any] | None = None,
    path: str = "/v1/agent", **kw: Any,
) -> httpx.Response:  # fmt: skip
    payload = body if body is not None else agent_body(movie_id)
    return http.post(f"{sim.perplexity_base}{path}", json=payload, **kw)


def roast(
    http: httpx.Client, sim: SimServer, movie_id: int | None, body: dict[str, Any] | None = None,
    **kw: Any,
) -> httpx.Response:  # fmt: skip
    payload = body if body is not None else roast_body(movie_id)
    return http.post(f"{sim.xai_base}/chat/completions", json=payload, **kw)


def output_text(response: httpx.Response) -> str:
    """An Agent API answer's text (the raw JSON has no output_text: join the parts)."""
    return "".join(
        part["text"]
        for item in response.json()["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )


def completion_text(response: httpx.Response) -> str:
    text: str = response.json()["choices"][0]["message"]["content"]
    return text


# -- TMDB ------------------------------------------------------------------------------


def test_now_playing_pages_through_the_catalogue(http: httpx.Client) -> None:
    with SimServer(config={"movies": 45}) as sim:
        pages = [
            http.get(f"{sim.tmdb_base}/movie/now_playing", params={"page": n, "region": "US"})
            for n in (1, 2, 3, 4)
        ]
    assert [p.status_code for p in pages] == [200] * 4
    bodies = [p.json() for p in pages]
    assert [len(b["results"]) for b in bodies] == [20, 20, 5, 0]
    assert {(b["total_pages"], b["total_results"]) for b in bodies} == {(3, 45)}
    assert [b["page"] for b in bodies] == [1, 2, 3, 4]
    assert set(bodies[0]["dates"]) == {"maximum", "minimum"}
    ids = [m["id"] for b in bodies for m in b["results"]]
    assert ids == list(range(1000, 1045))
    first = bodies[0]["results"][0]
    assert set(first) == LIST_KEYS
    assert first["title"] == "The Last Algorithm" and first["original_title"] == first["title"]
    assert first["poster_path"].startswith("/") and first["poster_path"].endswith(".jpg")
    assert len(first["release_date"]) == 10 and first["overview"]
    popularity = [m["popularity"] for b in bodies for m in b["results"]]
    assert popularity == sorted(popularity, reverse=True)  # TMDB's default order
    assert len({m["title"] for b in bodies for m in b["results"]}) == 45


def test_now_playing_rejects_pages_out_of_range(sim: SimServer, http: httpx.Client) -> None:
    for page in ("0", "501", "abc", "-1"):
        response = http.get(f"{sim.tmdb_base}/movie/now_playing", params={"page": page})
        assert response.status_code == 400
        assert response.json()["status_code"] == 22
    default = http.get(f"{sim.tmdb_base}/movie/now_playing").json()
    assert default["page"] == 1 and len(default["results"]) == 15 and default["total_pages"] == 1


def test_region_movies_and_first_movie_id(http: httpx.Client) -> None:
    with SimServer(config={"first_movie_id": 5000, "region_movies": {"gb": 3}}) as sim:
        gb = http.get(f"{sim.tmdb_base}/movie/now_playing", params={"region": "GB"}).json()
        us = http.get(f"{sim.tmdb_base}/movie/now_playing", params={"region": "US"}).json()
    assert [m["id"] for m in gb["results"]] == [5000, 5001, 5002]
    assert us["total_results"] == 15 and us["results"][0]["id"] == 5000


def test_details_found_catalogue_only_and_not_found(sim: SimServer, http: httpx.Client) -> None:
    listed = http.get(f"{sim.tmdb_base}/movie/now_playing").json()["results"][3]
    details = http.get(f"{sim.tmdb_base}/movie/{listed['id']}")
    assert details.status_code == 200
    body = details.json()
    assert LIST_KEYS - {"genre_ids"} | DETAILS_EXTRA <= set(body)
    assert body["status"] == "Released" and body["runtime"] > 0
    assert all(set(g) == {"id", "name"} for g in body["genres"])
    assert {k: body[k] for k in ("id", "title", "overview", "release_date", "poster_path")} == {
        k: listed[k] for k in ("id", "title", "overview", "release_date", "poster_path")
    }
    hidden = http.get(f"{sim.tmdb_base}/movie/900042")
    assert hidden.status_code == 200 and hidden.json()["id"] == 900042
    for missing in ("999999", "900100", "abc", "1015"):
        response = http.get(f"{sim.tmdb_base}/movie/{missing}")
        assert response.status_code == 404, missing
        assert response.json() == {
            "success": False,
            "status_code": 34,
            "status_message": "The resource you requested could not be found.",
        }
    calls = sim.stats()["calls"]
    assert calls["tmdb_details"] == 6 and calls["tmdb_list"] == 1


# -- TMDB: the Worker's choice (release window, excluded genres), decoys, credits ------------

WINDOW_NEWEST, WINDOW_OLDEST = 3, 10  # released 3..10 UTC days ago, inclusive
EXCLUDED_GENRES = {99, 10402}  # documentary, music
LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "ko": "Korean",
    "ja": "Japanese", "es": "Spanish", "de": "German",
}  # fmt: skip
CAST_KEYS = {
    "adult", "cast_id", "character", "credit_id", "gender", "id", "known_for_department",
    "name", "order", "original_name", "popularity", "profile_path",
}  # fmt: skip
CREW_KEYS = {
    "adult", "credit_id", "department", "gender", "id", "job", "known_for_department",
    "name", "original_name", "popularity", "profile_path",
}  # fmt: skip


def utc_today() -> date:
    return datetime.now(UTC).date()


def now_playing_on_one_day(
    http: httpx.Client, sim: SimServer, **params: Any
) -> tuple[list[dict[str, Any]], date]:
    """Every page of the now-playing list, and the UTC day it was listed on (listed
    again if midnight passed meanwhile)."""
    while True:
        today = utc_today()
        movies: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            body = http.get(
                f"{sim.tmdb_base}/movie/now_playing", params={"page": page, **params}
            ).json()
            movies += body["results"]
            pages = body["total_pages"]
            page += 1
        if utc_today() == today:
            return movies, today


def days_ago(movie: dict[str, Any], today: date) -> int:
    return (today - date.fromisoformat(movie["release_date"])).days


def in_window(movie: dict[str, Any], today: date) -> bool:
    return WINDOW_NEWEST <= days_ago(movie, today) <= WINDOW_OLDEST


def kind_of(movie: dict[str, Any], today: date) -> str:
    """Why a movie is outside the Worker's choice (exactly one reason), or "chosen"."""
    genres = set(movie["genre_ids"]) & EXCLUDED_GENRES
    age = days_ago(movie, today)
    if in_window(movie, today):
        return {frozenset(): "chosen", frozenset({99}): "documentary",
                frozenset({10402}): "music"}.get(frozenset(genres), f"genres {genres}")  # fmt: skip
    if genres:
        return f"outside the window and genres {genres}"
    if age > WINDOW_OLDEST:
        return "too_old"
    return "too_new" if 0 <= age < WINDOW_NEWEST else f"released in {-age} days"


def test_regular_movies_are_inside_the_workers_choice(http: httpx.Client) -> None:
    with SimServer(config={"movies": 60}) as sim:
        movies, today = now_playing_on_one_day(http, sim)
    assert len(movies) == 60
    assert {kind_of(m, today) for m in movies} == {"chosen"}
    ages = {days_ago(m, today) for m in movies}
    assert ages == set(range(WINDOW_NEWEST, WINDOW_OLDEST + 1))  # the whole window, both ends
    assert not any(EXCLUDED_GENRES & set(m["genre_ids"]) for m in movies)


def test_decoys_are_listed_after_the_movies_outside_the_workers_choice(http: httpx.Client) -> None:
    with SimServer(config={"movies": 15, "decoys": 8}) as sim:
        movies, today = now_playing_on_one_day(http, sim)
        total = http.get(f"{sim.tmdb_base}/movie/now_playing").json()["total_results"]
        details = {m["id"]: http.get(f"{sim.tmdb_base}/movie/{m['id']}").json() for m in movies}
        after_the_decoys = http.get(f"{sim.tmdb_base}/movie/1023")

    assert len(movies) == total == 15 + 8
    ids = [m["id"] for m in movies]
    assert ids == list(range(1000, 1023))
    regular, decoys = movies[:15], movies[15:]
    assert all(WINDOW_NEWEST <= days_ago(m, today) <= WINDOW_OLDEST for m in regular)
    assert not any(EXCLUDED_GENRES & set(m["genre_ids"]) for m in regular)
    # Exactly the regular ones are chosen; each decoy misses for one reason, in turn.
    assert [m["id"] for m in movies if kind_of(m, today) == "chosen"] == ids[:15]
    assert [kind_of(m, today) for m in decoys] == ["too_old", "too_new", "documentary", "music"] * 2
    # PlotBurn's own choice drops the same ones.
    chosen = MovieChoice().choose([Movie.model_validate(m) for m in movies], today)
    assert [m.id for m in chosen] == ids[:15]
    # A decoy's details agree with its list entry.
    for movie in decoys:
        found = details[movie["id"]]
        assert found["release_date"] == movie["release_date"]
        assert [g["id"] for g in found["genres"]] == movie["genre_ids"]
    assert {g["name"] for g in details[1017]["genres"]} >= {"Documentary"}
    assert {g["name"] for g in details[1018]["genres"]} >= {"Music"}
    assert after_the_decoys.status_code == 404


def test_decoys_follow_the_largest_regional_list(http: httpx.Client) -> None:
    config = {"movies": 5, "region_movies": {"GB": 9}, "decoys": 3}
    with SimServer(config=config) as sim:
        gb = [m["id"] for m in now_playing_on_one_day(http, sim, region="GB")[0]]
        us = [m["id"] for m in now_playing_on_one_day(http, sim, region="US")[0]]
    assert gb == [*range(1000, 1009), 1009, 1010, 1011]
    assert us == [*range(1000, 1005), 1009, 1010, 1011]  # never one of GB's regular movies


def test_decoys_config(sim: SimServer, http: httpx.Client) -> None:
    assert sim.config["decoys"] == 0  # none unless asked for
    assert sim.configure(decoys=4)["decoys"] == 4
    for bad in (-1, "4", 1.5, None, 100_001):
        with pytest.raises(ConfigError):
            sim.configure(decoys=bad)
    assert sim.config["decoys"] == 4
    listed = http.get(f"{sim.tmdb_base}/movie/now_playing").json()
    assert listed["total_results"] == 15 + 4


def test_credits_alone_and_appended_name_the_director_the_brief_names(
    sim: SimServer, http: httpx.Client
) -> None:
    alone = http.get(f"{sim.tmdb_base}/movie/1003/credits")
    assert alone.status_code == 200
    credits = alone.json()
    assert set(credits) == {"id", "cast", "crew"} and credits["id"] == 1003
    assert credits["cast"] and all(set(p) == CAST_KEYS for p in credits["cast"])
    assert [p["order"] for p in credits["cast"]] == list(range(len(credits["cast"])))
    assert credits["crew"] and all(set(p) == CREW_KEYS for p in credits["crew"])
    directors = [p for p in credits["crew"] if p["job"] == "Director"]
    assert len(directors) == 1 and directors[0]["department"] == "Directing"
    director = directors[0]["name"]

    plain = http.get(f"{sim.tmdb_base}/movie/1003").json()
    assert "credits" not in plain
    for appended in ("credits", "videos,credits", "credits, images"):
        body = http.get(
            f"{sim.tmdb_base}/movie/1003", params={"append_to_response": appended}
        ).json()
        assert body["credits"] == {"cast": credits["cast"], "crew": credits["crew"]}, appended
        assert {k: v for k, v in body.items() if k != "credits"} == plain
    assert (
        "credits"
        not in http.get(
            f"{sim.tmdb_base}/movie/1003", params={"append_to_response": "videos"}
        ).json()
    )

    # The simulated research brief names the same (fictional) director...
    assert f"directed by {director}" in output_text(research(http, sim, 1003))
    # ...and PlotBurn's client finds it in one request.
    catalog = TmdbCatalog(
        client=http, base_url=sim.tmdb_base, token=SecretStr("test-key"), policy=RetryPolicy()
    )
    before = sim.stats()["calls"]["tmdb_details"]
    assert catalog.details(1003).director == director
    assert sim.stats()["calls"]["tmdb_details"] == before + 1
    other = http.get(f"{sim.tmdb_base}/movie/1004/credits").json()
    assert other["id"] == 1004 and other != credits


def test_credits_of_unknown_movies_and_other_paths_are_404(
    sim: SimServer, http: httpx.Client
) -> None:
    assert http.get(f"{sim.tmdb_base}/movie/900042/credits").status_code == 200  # catalogue-only
    for path in ("999999/credits", "abc/credits", "1015/credits", "1003/videos", "1003/credits/x"):
        response = http.get(f"{sim.tmdb_base}/movie/{path}")
        assert response.status_code == 404, path
        assert response.json()["status_code"] == 34


def test_spoken_languages_name_the_original_language(http: httpx.Client) -> None:
    with SimServer(config={"movies": 40}) as sim:
        details = [http.get(f"{sim.tmdb_base}/movie/{1000 + n}").json() for n in range(40)]
    codes = [d["original_language"] for d in details]
    assert "en" in codes and len(set(codes)) > 2  # English and others
    for found in details:
        code = found["original_language"]
        spoken = {s["iso_639_1"]: s for s in found["spoken_languages"]}
        assert spoken[code]["english_name"] == LANGUAGE_NAMES[code]
        assert MovieDetails(meta=found).language_name == LANGUAGE_NAMES[code]


def test_auth_is_required_and_401s_are_not_counted(sim: SimServer) -> None:
    with httpx.Client(timeout=5) as anonymous:
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
            tmdb = anonymous.get(f"{sim.tmdb_base}/movie/now_playing", headers=headers)
            assert tmdb.status_code == 401
            assert tmdb.json()["status_code"] == 7 and tmdb.json()["success"] is False
            for path in ("/v1/agent", "/v1/responses"):
                agent = anonymous.post(
                    f"{sim.perplexity_base}{path}", headers=headers, json=agent_body(1000)
                )
                assert agent.status_code == 401
                assert agent.json() == {"error": {**PERPLEXITY_401, "code": 401}}
            grok = anonymous.post(
                f"{sim.xai_base}/chat/completions", headers=headers, json=roast_body(1000)
            )
            assert grok.status_code == 401
            assert grok.json()["code"] == "Unauthenticated"
            assert "Authorization: Bearer" in grok.json()["error"]
        # TMDB also takes a v3 api_key parameter.
        keyed = anonymous.get(f"{sim.tmdb_base}/movie/1000", params={"api_key": "k"})
        assert keyed.status_code == 200
    assert sim.stats()["calls"] == {"tmdb_list": 0, "tmdb_details": 1, "research": 0, "roast": 0}


def test_unknown_routes_are_404(sim: SimServer, http: httpx.Client) -> None:
    for url in (
        f"{sim.url}/nowhere", f"{sim.perplexity_base}/v2/agent", f"{sim.xai_base}/responses"
    ):  # fmt: skip
        response = http.post(url, json={})
        assert response.status_code == 404, url
        assert response.json()["error"]["type"] == "not_found"
    assert http.get(f"{sim.tmdb_base}/tv/1").json()["status_code"] == 34


# -- faults ----------------------------------------------------------------------------------


def test_fail_first_fails_exactly_k_requests_per_key(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(fail_first={"research": 2, "tmdb": 1})
    answers = {movie: [research(http, sim, movie) for _ in range(4)] for movie in (1000, 1001)}
    statuses = {movie: [r.status_code for r in rs] for movie, rs in answers.items()}
    assert statuses == {1000: [500, 500, 200, 200], 1001: [500, 500, 200, 200]}
    failed = answers[1000][0]
    assert failed.json() == PERPLEXITY_500 and failed.headers["x-sim-fault"] == "500"
    assert "x-sim-fault" not in answers[1000][2].headers
    assert roast(http, sim, 1000).status_code == 200  # other services untouched
    tmdb = [
        http.get(f"{sim.tmdb_base}/movie/now_playing", params={"page": p})
        for p in (1, 1, 2)
    ]  # fmt: skip
    assert [r.status_code for r in tmdb] == [500, 200, 500]  # a list request's key is its page
    assert tmdb[0].json() == TMDB_500
    stats = sim.stats()
    assert stats["faults_injected"]["research"] == {**NO_FAULTS, "500": 4}
    assert stats["faults_injected"]["tmdb"]["500"] == 2
    assert stats["successes"] == {"tmdb": 1, "research": 4, "roast": 1}
    assert stats["calls"]["research"] == 8


def test_fail_first_kinds_cycle(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(
        fail_first={"roast": 4}, fail_first_kinds={"roast": ["429", "500"]}, retry_after_seconds=0
    )
    answers = [roast(http, sim, 1000) for _ in range(5)]
    assert [r.status_code for r in answers] == [429, 500, 429, 500, 200]
    assert answers[1].json() == XAI_500
    assert [r.headers.get("x-sim-fault") for r in answers] == ["429", "500", "429", "500", None]


def test_fail_movie_ids_always_500(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(fail_movie_ids={"roast": [1004], "tmdb": [1004]})
    assert [roast(http, sim, 1004).status_code for _ in range(3)] == [500, 500, 500]
    assert roast(http, sim, 1005).status_code == 200
    assert research(http, sim, 1004).status_code == 200
    assert http.get(f"{sim.tmdb_base}/movie/1004").status_code == 500
    assert sim.stats()["faults_injected"]["roast"]["500"] == 3


def test_tmdb_and_xai_429s_carry_retry_after(sim: SimServer, http: httpx.Client) -> None:
    """Perplexity's 429 carries x-ratelimit-* instead (test_upstream_sim_llm.py)."""
    sim.configure(fail_first={"tmdb": 1, "roast": 2}, fail_first_kinds=["429"])
    tmdb = http.get(f"{sim.tmdb_base}/movie/1000")
    assert tmdb.status_code == 429 and tmdb.headers["retry-after"] == "1"
    assert tmdb.json()["status_code"] == 25 and tmdb.json()["success"] is False
    first = roast(http, sim, 1000)
    assert first.status_code == 429 and first.headers["retry-after"] == "1"
    assert first.json() == {
        "code": "Too many requests",
        "error": "Your team has exceeded its request rate limit.",
    }
    sim.configure(retry_after_seconds=0.5)
    assert roast(http, sim, 1000).headers["retry-after"] == "0.5"
    assert roast(http, sim, 1000).status_code == 200
    assert sim.stats()["faults_injected"]["roast"]["429"] == 2


def test_failed_fault_is_a_500_outside_research(sim: SimServer, http: httpx.Client) -> None:
    """Only Perplexity reports a failed run as HTTP 200 (test_upstream_sim_llm.py)."""
    sim.configure(fail_first={"tmdb": 1, "roast": 1}, fail_first_kinds=["failed"])
    tmdb = http.get(f"{sim.tmdb_base}/movie/1000")
    assert tmdb.status_code == 500 and tmdb.json() == TMDB_500
    assert tmdb.headers["x-sim-fault"] == "failed"
    burn = roast(http, sim, 1000)
    assert burn.status_code == 500 and burn.json() == XAI_500
    assert http.get(f"{sim.tmdb_base}/movie/1000").status_code == 200
    assert roast(http, sim, 1000).status_code == 200
    stats = sim.stats()
    assert stats["faults_injected"]["tmdb"] == {**NO_FAULTS, "failed": 1}
    assert stats["faults_injected"]["roast"] == {**NO_FAULTS, "failed": 1}
    assert stats["successes"] == {"tmdb": 1, "research": 0, "roast": 1}


def test_malformed_bodies(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(fail_first=2, fail_first_kinds=["malformed"])
    truncated, missing = research(http, sim, 1000), research(http, sim, 1000)
    assert truncated.status_code == missing.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.content)
    assert "output" not in missing.json() and missing.json()["status"] == "completed"
    assert output_text(research(http, sim, 1000)).startswith("[simulated] ")
    roast(http, sim, 1001)
    broken_roast = roast(http, sim, 1001)
    assert broken_roast.status_code == 200 and "choices" not in broken_roast.json()
    http.get(f"{sim.tmdb_base}/movie/now_playing")
    listing = http.get(f"{sim.tmdb_base}/movie/now_playing")
    assert listing.status_code == 200 and "results" not in listing.json()
    stats = sim.stats()
    assert stats["faults_injected"]["research"]["malformed"] == 2
    assert stats["successes"]["research"] == 1 and stats["successes"]["roast"] == 0
    assert stats["tokens"]["research"]["completion"] > 0
    assert stats["tokens"]["roast"]["completion"] == 0 and stats["cost_usd"]["roast"] == 0


def test_timeout_fault_hangs_then_answers(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(fail_first={"roast": 1}, fail_first_kinds={"roast": ["timeout"]}, hang_seconds=3)
    with pytest.raises(httpx.ReadTimeout):
        roast(http, sim, 1000, timeout=0.15)
    assert sim.stats()["in_flight"]["roast"] == 1  # still hanging server-side
    started = time.monotonic()
    retry = roast(http, sim, 1000, timeout=5)  # attempt 2 for this movie: not faulted
    assert retry.status_code == 200 and time.monotonic() - started < 2
    sim.configure(hang_seconds=0.2)
    started = time.monotonic()
    patient = roast(http, sim, 1001, timeout=5)  # a patient client gets a normal answer
    assert patient.status_code == 200 and json.loads(completion_text(patient))["headline"]
    assert time.monotonic() - started >= 0.2
    stats = sim.stats()
    assert stats["faults_injected"]["roast"]["timeout"] == 2
    assert stats["successes"]["roast"] == 1  # a hung answer is a fault, not a success


def _rate_run(seed: int, concurrent: bool) -> dict[tuple[int, int], int]:
    """Four rounds of one research call per movie; status per (movie, round)."""
    config = {
        "movies": 30,
        "seed": seed,
        "retry_after_seconds": 0,
        "rate_429": {"research": 0.15},
        "rate_500": {"research": 0.15},
        "rate_malformed": {"research": 0.15},
        "rate_failed": {"research": 0.1},
    }
    outcome: dict[tuple[int, int], int] = {}
    with SimServer(config=config) as sim, httpx.Client(headers=AUTH, timeout=5) as http:

        def call(movie: int) -> int:
            """The status; 299 for a 200 whose body is unusable, 298 for a failed run."""
            response = research(http, sim, movie)
            if response.status_code != 200:
                return response.status_code
            try:
                body = response.json()
            except json.JSONDecodeError:
                return 299
            if body["status"] == "failed":
                return 298
            return 200 if "output" in body else 299

        movies = list(range(1000, 1030))
        with ThreadPoolExecutor(max_workers=30) as pool:
            for round_ in range(4):
                order = movies if not concurrent else list(reversed(movies))
                if concurrent:
                    results = dict(zip(order, pool.map(call, order), strict=True))
                else:
                    results = {movie: call(movie) for movie in order}
                outcome.update({(m, round_): s for m, s in results.items()})
        faults = sim.stats()["faults_injected"]["research"]
        assert sum(faults.values()) == sum(1 for s in outcome.values() if s != 200)
        assert faults["failed"] == sum(1 for s in outcome.values() if s == 298)
    return outcome


def test_rate_faults_are_deterministic_regardless_of_concurrency() -> None:
    sequential = _rate_run(seed=7, concurrent=False)
    assert _rate_run(seed=7, concurrent=True) == sequential
    kinds = set(sequential.values())
    assert kinds == {200, 429, 500, 299, 298}  # about 55% of 120 calls faulted, every kind
    assert _rate_run(seed=8, concurrent=False) != sequential


# -- concurrency and keep-alive ------------------------------------------------------------------


def test_max_in_flight_under_500_concurrent_slow_requests() -> None:
    """520 slow requests at once are all accepted and all in flight together.

    The latency is long enough that all of them are surely in flight, however loaded
    the machine; once they are, release_sleepers() answers them without waiting it out.
    One stdlib connection per thread: a shared httpx pool serialises its bookkeeping
    under this many threads and would measure the client, not the simulator.
    """
    n_research, n_roast = 300, 220
    with SimServer(config={"latency_ms": {"research": 30_000, "roast": 30_000}}) as sim:

        def call(path: str, body: dict[str, Any]) -> int:
            connection = httpclient.HTTPConnection("127.0.0.1", sim.port, timeout=20)
            try:
                connection.request("POST", path, body=json.dumps(body), headers=AUTH)
                response = connection.getresponse()
                response.read()
                return response.status
            finally:
                connection.close()

        calls = [("/perplexity/v1/agent", agent_body(1000 + i % 15)) for i in range(n_research)]
        calls += [("/xai/v1/chat/completions", roast_body(1000 + i % 15)) for i in range(n_roast)]
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            jobs = [pool.submit(call, *c) for c in calls]
            deadline = time.monotonic() + 20
            while sim.stats()["in_flight"]["llm"] < len(calls) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert sim.stats()["in_flight"]["llm"] == len(calls)
            sim.release_sleepers()
            statuses = [job.result(timeout=20) for job in jobs]
        stats = sim.stats()
    assert statuses == [200] * len(calls)
    assert stats["max_in_flight"] == {
        "research": n_research, "roast": n_roast, "tmdb": 0, "llm": 520,
    }  # fmt: skip
    assert stats["in_flight"] == {"research": 0, "roast": 0, "tmdb": 0, "llm": 0}
    assert stats["calls"]["research"] == n_research and stats["successes"]["roast"] == n_roast


def test_keep_alive_serves_many_requests_on_one_connection(sim: SimServer) -> None:
    connection = httpclient.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    sockets = set()
    try:
        for _ in range(3):
            connection.request("GET", "/tmdb/3/movie/1000", headers=AUTH)
            response = connection.getresponse()
            assert response.status == 200 and response.getheader("Content-Length")
            assert json.loads(response.read())["id"] == 1000
            for path, body in (
                ("/xai/v1/chat/completions", roast_body(1000)),
                ("/perplexity/v1/agent", agent_body(1000)),
            ):
                connection.request("POST", path, body=json.dumps(body), headers=AUTH)
                response = connection.getresponse()
                assert response.status == 200 and json.loads(response.read())["usage"]
            sockets.add(id(connection.sock))
        assert len(sockets) == 1 and connection.sock is not None  # never reconnected
    finally:
        connection.close()
    assert sim.stats()["calls"] == {"tmdb_list": 0, "tmdb_details": 3, "research": 3, "roast": 3}


# -- control API ---------------------------------------------------------------------------------


def test_reset_zeroes_counters_and_keeps_config(sim: SimServer, http: httpx.Client) -> None:
    sim.configure(fail_first={"research": 1}, movies=7)
    assert research(http, sim, 1000).status_code == 500
    assert research(http, sim, 1000).status_code == 200
    assert roast(http, sim, 1000).status_code == 200
    http.get(f"{sim.tmdb_base}/movie/now_playing")
    assert sim.stats()["cost_usd"]["roast"] > 0
    assert http.post(f"{sim.url}/_sim/reset").json() == {"ok": True}
    stats = sim.stats()
    assert stats["calls"] == {"tmdb_list": 0, "tmdb_details": 0, "research": 0, "roast": 0}
    assert stats["calls_by_movie"] == {"research": {}, "roast": {}, "tmdb_details": {}}
    assert stats["faults_injected"]["research"] == NO_FAULTS
    assert stats["max_in_flight"]["llm"] == 0 and stats["tokens"]["research"]["prompt"] == 0
    assert stats["cost_usd"] == {"research": 0, "roast": 0}
    assert sim.config["movies"] == 7
    assert research(http, sim, 1000).status_code == 500  # attempt numbers restart too


def test_config_merges_per_service_and_validates(sim: SimServer) -> None:
    full = sim.configure(latency_ms={"research": 5})
    assert full["latency_ms"] == {"tmdb": 0, "research": 5, "roast": 0}
    full = sim.configure(latency_ms={"roast": 7}, rate_500=0.25, seed=3)
    assert full["latency_ms"] == {"tmdb": 0, "research": 5, "roast": 7}
    assert full["rate_500"] == {"tmdb": 0.25, "research": 0.25, "roast": 0.25}
    assert full["movies"] == 15 and full["first_movie_id"] == 1000 and full["seed"] == 3
    full = sim.configure(
        rate_failed={"research": 0.5},
        fail_first_kinds={"research": ["failed", "429"]},
        roast_overlong_answers={1000: 2, "1001": 0},
    )
    assert full["rate_failed"] == {"tmdb": 0.0, "research": 0.5, "roast": 0.0}
    assert full["fail_first_kinds"]["research"] == ["failed", "429"]
    assert full["roast_overlong_answers"] == {"1000": 2, "1001": 0}  # keys as JSON has them
    for bad in (
        {"latency": 5},
        {"rate_500": {"research": 1.5}},
        {"rate_500": {"llm": 0.1}},
        {"rate_429": 0.5, "rate_timeout": 0.6},
        {"rate_failed": {"research": 0.8}},  # with rate_500 at 0.25: over 1
        {"fail_first_kinds": ["503"]},
        {"fail_first_kinds": {"research": []}},
        {"movies": -1},
        {"roast_overlong_answers": {"abc": 1}},
        {"roast_overlong_answers": {"1000": 101}},
        {"roast_overlong_answers": {"1000": -1}},
        {"roast_overlong_answers": [1000]},
        {"roast_text_override": {"1000": 5}},
    ):
        with pytest.raises(ConfigError):
            sim.configure(**bad)
    assert sim.config["rate_500"]["research"] == 0.25  # a rejected update changes nothing
    assert sim.config["roast_overlong_answers"] == {"1000": 2, "1001": 0}
    # The same knobs grouped by service; the stored config stays knob-major.
    full = sim.configure(
        faults={"roast": {"rate_429": 0.1, "fail_first": 2}, "tmdb": {"rate_500": 0}}
    )
    assert full["rate_429"] == {"tmdb": 0.0, "research": 0.0, "roast": 0.1}
    assert full["rate_500"] == {"tmdb": 0.0, "research": 0.25, "roast": 0.25}
    assert full["fail_first"]["roast"] == 2 and "faults" not in full
    with pytest.raises(ConfigError):
        sim.configure(faults={"roast": {"rate_4299": 0.1}})
    # Restoring a saved full config is exact (e2e tests restore their baseline this way).
    baseline = SimServer().config
    assert baseline["rate_failed"] == {"tmdb": 0.0, "research": 0.0, "roast": 0.0}
    assert baseline["roast_overlong_answers"] == {}
    sim.configure(roast_text_override={1000: "x"}, region_movies={"GB": 3})
    assert sim.configure(**baseline) == baseline


def test_control_api_over_http_and_sim_control(sim: SimServer, http: httpx.Client) -> None:
    assert http.get(f"{sim.url}/_sim/health").json() == {"ok": True, "simulated": True}
    merged = http.post(f"{sim.url}/_sim/config", json={"fail_first": {"roast": 1}, "movies": 45})
    assert merged.status_code == 200
    assert merged.json()["fail_first"] == {"tmdb": 0, "research": 0, "roast": 1}
    assert http.post(f"{sim.url}/_sim/config", json={"nope": 1}).status_code == 400
    wrong_method = http.get(f"{sim.url}/_sim/reset")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert http.get(f"{sim.url}/_sim/nothing").status_code == 404
    with SimControl(sim.url) as control:
        control.wait_ready(timeout=2)
        assert control.health()["simulated"] is True
        config = control.configure(latency_ms={"tmdb": 1})
        assert config["movies"] == 45 and config["latency_ms"]["tmdb"] == 1
        assert control.config() == config
        roast(http, sim, 1000)
        stats = control.stats()
        assert stats["calls"]["roast"] == 1 and stats["faults_injected"]["roast"]["500"] == 1
        assert set(stats) == {
            "calls", "calls_by_movie", "successes", "faults_injected",
            "rate_limited", "in_flight", "max_in_flight", "tokens", "cost_usd",
        }  # fmt: skip
        assert stats["cost_usd"] == {"research": 0, "roast": 0}  # a 500 is not billed
        assert set(stats["faults_injected"]["tmdb"]) == set(NO_FAULTS)
        control.reset()
        assert control.stats()["calls"]["roast"] == 0
        with pytest.raises(httpx.HTTPStatusError):
            control.configure(rate_500=2)


def test_cli_prints_ready_line_and_stops_on_sigterm() -> None:
    config = json.dumps({"fail_first": {"research": 1}})
    process = subprocess.Popen(
        [sys.executable, "-m", "upstream_sim", "--port", "0", "--movies", "45",
         "--latency-tmdb-ms", "3", "--config-json", config],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("upstream_sim ready http://127.0.0.1:")
        assert line.endswith("(SIMULATED upstreams: TMDB, Perplexity, xAI)")
        url = line.split()[2]
        with SimControl(url) as control:
            config_now = control.config()
        assert config_now["movies"] == 45 and config_now["latency_ms"]["tmdb"] == 3
        assert config_now["fail_first"]["research"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert process.stderr is not None and process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- the providers' own rate limits ------------------------------------------------------


def test_enforced_rate_limit_answers_each_providers_429_and_counts_it(
    sim: SimServer, http: httpx.Client
) -> None:
    sim.configure(rate_per_minute={"research": 60, "tmdb": 60}, rate_burst=2)
    url = f"{sim.perplexity_base}/v1/agent"
    answers = [http.post(url, json=agent_body(1000)) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.json()["error"]["type"] == "request_rate_limit_exceeded"
    assert refused.headers["x-ratelimit-limit"] == "60"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert int(refused.headers["x-ratelimit-reset"]) >= int(time.time())
    details = f"{sim.tmdb_base}/movie/1000"
    tmdb = [http.get(details) for _ in range(3)]
    assert [r.status_code for r in tmdb] == [200, 200, 429]
    assert tmdb[2].json()["status_code"] == 25
    assert 0 < float(tmdb[2].headers["Retry-After"]) <= 1.0
    stats = sim.stats()
    assert stats["rate_limited"] == {"tmdb": 1, "research": 1, "roast": 0}
    assert stats["faults_injected"]["research"] == NO_FAULTS
    time.sleep(1.05)  # a token a second
    assert http.post(url, json=agent_body(1000)).status_code == 200
    sim.reset()  # full buckets again
    assert [http.post(url, json=agent_body(1000)).status_code for _ in range(2)] == [200, 200]
