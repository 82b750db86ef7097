"""The dashboard in a real browser (Debian's headless Chromium) on the local stack,
after a run whose simulated roast of one movie is an XSS payload: the page must show
the run and the movies, and show that roast as literal text without running any of it.

Chromium is installed with apt-get if missing. The browser may resolve no host but
the loopback, so the page is proven to work offline (posters fall back to initials).
A screenshot lands in test-output/; PLOTBURN_UPDATE_SCREENSHOT=1 also copies it to
docs/dashboard.png for the README.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.e2e.conftest import Driver
from tests.unit.api_harness import Api, api, api_flask_app  # noqa: F401 (fixtures)
from tests.unit.conftest import world  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output" / "e2e"
INJECTED = (
    "Roast of the night: "
    "<script>window.__pwned=1;document.body.setAttribute('data-pwned','1')</script>"
    "<img src=x onerror=\"window.__pwned=2;document.body.setAttribute('data-pwned','2')\">"
)


def _install_chromium() -> str | None:
    def attempt(*argv: str) -> bool:
        try:
            return (
                subprocess.run(
                    list(argv),
                    capture_output=True,
                    timeout=900,
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                ).returncode
                == 0
            )
        except (OSError, subprocess.TimeoutExpired):
            return False

    if not attempt("apt-get", "install", "-y", "--no-install-recommends", "chromium"):
        attempt("apt-get", "update")
        attempt("apt-get", "install", "-y", "--no-install-recommends", "chromium")
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or _install_chromium()
    if path is None:
        pytest.skip("Debian's chromium is not installed and `apt-get install chromium` failed")
    return path


@pytest.fixture
def profile() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="plotburn-chromium-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _browse(chromium: str, profile: str, url: str, *mode: str, budget_ms: int = 5000) -> str:
    argv = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        # Offline: nothing but the loopback resolves (TMDB posters fail and fall back).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--window-size=1280,1600",
        f"--virtual-time-budget={budget_ms}",
        *mode,
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.stack
def test_dashboard_shows_the_runs_and_renders_roasts_as_text(
    driver: Driver, chromium: str, profile: str
) -> None:
    sim = driver.stack.sim
    first = int(sim.config()["first_movie_id"])
    failing = first + 3
    # Grok's answer for the first movie: a valid card whose text is markup.
    card = {
        "headline": INJECTED,
        "content": f"{INJECTED}\n\nSecond paragraph.\n\nThird paragraph.",
        "chips": ["script tag", "image tag"],
        "internet_vibe": [INJECTED] + [f"vibe {i}" for i in range(5)],
        "your_opinion": INJECTED,
        "similar_movies": [f"Movie {i} - markup too" for i in range(4)],
    }
    sim.configure(roast_text_override={str(first): json.dumps(card)})
    # Three nights: all generated, all cached, then (roast cache cleared) one movie failing.
    assert driver.wait_final(driver.trigger())["status"] == "success"
    assert driver.wait_final(driver.trigger())["roasts_generated"] == 0
    assert driver.http.delete("/cache/clear/roast", headers=driver.admin).status_code == 200
    sim.configure(fail_movie_ids={"roast": [failing]})
    run = driver.wait_final(driver.trigger())
    assert run["status"] == "partial" and run["failed_movie_ids"] == [failing], run
    movies = driver.http.get("/now-playing").json()["movies"]
    titles = {m["id"]: m["title"] for m in movies}

    url = driver.stack.api_url + "dashboard"
    dom = _browse(chromium, profile, url, "--dump-dom")

    # The last run: status, counters, the failed movie and why (as the public code:
    # the page reads the public /cron/status, which has no spend).
    assert re.search(r'data-field="status"[^>]*>partial<', dom), dom[:3000]
    assert f'data-field="correlation_id">{run["correlation_id"]}<' in dom
    fetched = run["movies_fetched"]
    for field in ("fetched", "generated", "failed", "cached"):
        value = fetched if field == "fetched" else run[f"roasts_{field}"]
        assert re.search(rf'data-field="{field}"><div class="v">{value}<', dom), field
    assert f"{fetched} of {fetched} movies processed" in dom
    assert 'data-field="cost"' not in dom and 'data-field="calls"' not in dom
    failed_row = re.search(r'data-field="failed-movies">.*?</table>', dom, flags=re.DOTALL)
    assert failed_row is not None
    assert html.escape(titles[failing], quote=False) in failed_row.group(0)
    assert "upstream_error" in failed_row.group(0)
    assert html.escape(run["failure_reasons"][str(failing)], quote=False) not in dom
    # The chart has a bar group per run; the budget is the admin key's only.
    for past in driver.status()["history"]:
        assert f'data-run="{past["correlation_id"]}"' in dom
    assert 'data-field="budget-state">Budget figures are for the admin key' in dom
    # Every now-playing movie, by title; roasts loaded for the ready ones only.
    for movie in movies:
        assert f'data-field="title">{html.escape(movie["title"], quote=False)}<' in dom, movie[
            "title"
        ]
    assert dom.count('data-field="roast"') >= len(movies) // 2
    assert "No roast yet." in dom  # the failed one
    # Each loaded roast is the Worker's card: headline, chips, three paragraphs, the
    # internet's vibe, an opinion, similar movies, and the disclaimer.
    cards = dom.count('data-field="roast"')
    for part in ("headline", "chips", "content", "internet-vibe", "opinion", "similar-movies"):
        assert dom.count(f'data-field="{part}"') == cards, part
    assert dom.count("Satire. Facts unchanged.") == cards
    assert "<li>script tag</li><li>image tag</li>" in dom  # the injected card's chips
    # The injected roast shows as literal text (headline, paragraph, vibe, opinion)...
    assert dom.count(html.escape(INJECTED, quote=False)) == 4
    assert "&lt;script&gt;window.__pwned=1" in dom
    # ... and none of it became markup or ran.
    assert "data-pwned" not in dom.replace(html.escape(INJECTED, quote=False), "")
    assert not re.search(r"<img[^>]*\bsrc=\"x\"", dom)
    assert dom.count("<script>") == 1  # only the page's own
    assert 'id="problem" class="problem" hidden=""' in dom  # no error banner

    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "dashboard.png"
    shot.unlink(missing_ok=True)
    _browse(chromium, profile, url, f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 20_000
    if os.environ.get("PLOTBURN_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "dashboard.png")


def test_dashboard_refreshes_while_a_run_is_in_progress(
    api: Api, chromium: str, profile: str
) -> None:
    """No stack needed: the real api on the in-memory pipeline, behind a loopback
    server that lands one more movie each time the page polls /cron/status."""
    world = api.world
    world.clock.advance(minutes=1)
    assert api.client.post("/cron/trigger", headers=api.admin).status_code == 202
    api.fanout()
    for _ in range(2):
        world.roasting.process_movie(world.publisher.roasts.pop(0))
    polls: list[str] = []
    roasts_read: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        if path == "/cron/status":
            polls.append(path)
            if world.publisher.roasts:
                world.roasting.process_movie(world.publisher.roasts.pop(0))
        elif path.startswith("/movie/"):
            roasts_read.append(path)
        return api.flask_app(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # The page reads /cron/status and /now-playing in parallel, so the refresh whose
        # status poll lands the last movie (at 6 s) may read the list just before it.
        # The run's end earns one more quick look (at 9 s): that one lists every roast,
        # and the page loads the new one at once (cards on screen are measured, not left
        # to the IntersectionObserver's next frame, which an idle page may never render).
        # 40 s of virtual time also covers the idle refresh after it (at 39 s).
        dom = _browse(
            chromium,
            profile,
            f"http://127.0.0.1:{server.server_port}/dashboard",
            "--dump-dom",
            budget_ms=40_000,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
    # In progress, it polls every 3 s (idle, every 30 s): three polls take the run
    # from 2 to 5 of 5 movies, and the page shows the end, with every roast loaded once.
    assert len(polls) >= 4
    assert 'data-field="status">success<' in dom
    assert 'data-field="progress">5 of 5 movies processed<' in dom
    assert dom.count('data-field="roast"') == 5
    assert sorted(roasts_read) == [f"/movie/{m.id}" for m in world.catalog.movies]
    for card in ("headline", "chips", "content", "internet-vibe", "opinion", "similar-movies"):
        assert dom.count(f'data-field="{card}"') == 5, card
