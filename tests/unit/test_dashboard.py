"""GET /dashboard: one self-contained page, served with a strict CSP. (What it shows
is checked in a real browser by tests/e2e/test_dashboard_browser.py.)"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import flask
import pytest

from functions import dashboard
from tests.unit.api_harness import Api, api, api_flask_app  # noqa: F401 (fixtures)

SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # an identifier createElementNS needs; never fetched


def _directives(policy: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_dashboard_is_public_html_with_a_strict_csp(api: Api) -> None:
    response = api.client.get("/dashboard")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = response.get_data(as_text=True)
    csp = _directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:", "https://image.tmdb.org"]
    assert csp["base-uri"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    # Scripts and styles: exactly the page's own inline blocks, by hash. No
    # 'unsafe-inline', so an injected <script> or onerror= could never run.
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    assert len(scripts) == 1 and len(styles) == 1
    assert csp["script-src"] == [_sha256(scripts[0])]
    assert csp["style-src"] == [_sha256(styles[0])]
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    # The same with a trailing slash.
    again = api.client.get("/dashboard/")
    assert again.status_code == 200 and again.get_data(as_text=True) == page


def test_dashboard_loads_nothing_from_other_origins() -> None:
    page = dashboard.PAGE.read_text(encoding="utf-8")
    urls = set(re.findall(r"https?://[^\s'\"<>)]+", page))
    assert urls <= {"https://image.tmdb.org/t/p/w185", SVG_NAMESPACE}, urls
    # No external resources of any kind, no fonts, no CDN.
    assert not re.search(r"<(link|iframe|object|embed)\b", page, flags=re.IGNORECASE)
    assert not re.search(r"<script[^>]*\bsrc=", page, flags=re.IGNORECASE)
    assert "@import" not in page and "@font-face" not in page and "url(" not in page


def test_dashboard_reads_the_api_with_relative_urls_and_never_parses_html() -> None:
    page = dashboard.PAGE.read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", page, flags=re.DOTALL).group(1)  # type: ignore[union-attr]
    for path in ("cron/status", "now-playing", "movie/"):
        assert f"'{path}" in script
        assert f"'/{path}" not in script  # relative: works behind any base path
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "srcdoc",
        "DOMParser",
    ):
        assert sink not in script, sink
    # No inline event handler attributes anywhere (the CSP would block them anyway).
    assert not re.search(r"\son[a-z]+\s*=", page.replace("\n", " "))
    # Refreshes every 3 s while a run is in progress.
    assert "FAST_MS = 3000" in script and "'in_progress'" in script


def test_dashboard_reads_the_worker_shapes() -> None:
    """/now-playing's has_roast and poster_url, and /movie/{id}'s roast card."""
    page = dashboard.PAGE.read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", page, flags=re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "movie.has_roast === true" in script and "roast_ready" not in script
    for field in ("poster_url", "rating", "votes", "release_date"):
        assert f"movie.{field}" in script, field
    for field in (
        "headline",
        "chips",
        "content",
        "internet_vibe",
        "your_opinion",
        "similar_movies",
    ):
        assert f"card.{field}" in script, field
    for field in ("truth_source", "truth_fetched_at", "generated_at", "disclaimer", "citations"):
        assert f"data.{field}" in script, field
    # The old flat shape is gone.
    assert "roast.text" not in script and "truth.brief" not in script
    # Posters: only TMDB's w500 URL form is accepted, and shown at w185 (the CSP's origin).
    assert r"^https:\/\/image\.tmdb\.org\/t\/p\/w500(\/[A-Za-z0-9._-]{1,200})$" in script


def _policy() -> str:
    """The Content-Security-Policy header the dashboard is served with."""
    with flask.Flask(__name__).app_context():
        return str(dashboard.response().headers["Content-Security-Policy"])


def test_the_csp_hashes_follow_the_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The policy is computed from the file: a changed script gets its own hash."""
    changed = tmp_path / "dashboard.html"
    changed.write_text(
        dashboard.PAGE.read_text(encoding="utf-8").replace(
            "'use strict';", "'use strict'; /* changed */"
        ),
        encoding="utf-8",
    )
    before = _policy()
    monkeypatch.setattr(dashboard, "PAGE", changed)
    dashboard._page.cache_clear()
    try:
        after = _policy()
        script = re.search(
            r"<script>(.*?)</script>", changed.read_text(encoding="utf-8"), flags=re.DOTALL
        ).group(1)  # type: ignore[union-attr]
        assert _sha256(script) in after and after != before
    finally:
        dashboard._page.cache_clear()


def test_dashboard_is_read_only(api: Api) -> None:
    assert api.client.post("/dashboard").status_code == 405
    assert api.client.delete("/dashboard").status_code == 405
