"""`GET /dashboard`: the operator's page, one self-contained HTML file.

The page (functions/dashboard.html) carries its CSS and JS inline and loads nothing
from another origin except TMDB posters. It is served with a Content-Security-Policy
that allows exactly its own inline <script> and <style> by their SHA-256 hashes, so
even if some upstream text ever reached the DOM as markup, no injected script or event
handler could run. (The page renders all upstream text with textContent anyway.)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

import flask

PAGE = Path(__file__).with_name("dashboard.html")
POSTER_ORIGIN = "https://image.tmdb.org"


def _hashes(html: str, tag: str) -> list[str]:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(b.encode("utf-8")).digest()).decode() + "'"
        for b in blocks
    ]


@functools.cache
def _page() -> tuple[bytes, str]:
    html = PAGE.read_text(encoding="utf-8")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(_hashes(html, 'script'))}",
            f"style-src {' '.join(_hashes(html, 'style'))}",
            "connect-src 'self'",
            f"img-src 'self' data: {POSTER_ORIGIN}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html.encode("utf-8"), policy


def response() -> flask.Response:
    body, policy = _page()
    page = flask.Response(body, status=200, mimetype="text/html")
    page.headers["Content-Security-Policy"] = policy
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "no-referrer"
    page.headers["Cache-Control"] = "no-cache"
    return page
