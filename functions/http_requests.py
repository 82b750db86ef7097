"""Reading an HTTP request and answering it: the request's correlation id, its
parameters, and the Worker's JSON error body. Who is asking (the admin key, the
client's rate-limit key) is `http_auth`'s. The routes (`http_api`) are built on these."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import flask
from werkzeug.http import HTTP_STATUS_CODES

from functions.api_contract import SAFE_ID_PATTERN
from functions.models import CORRELATION_ID_PATTERN, bad_id, epoch_ms, utcnow

REQUEST_ID_KEY = "plotburn.correlation_id"
AUTHORIZED_KEY = "plotburn.authorized"  # set once the admin key was checked


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.title = title


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(
        json.dumps(body, ensure_ascii=False, default=str),
        status=status,
        mimetype="application/json",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "x-correlation-id, Retry-After"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error(
    status: int, message: str, headers: dict[str, str] | None = None, title: str | None = None
) -> flask.Response:
    """The Worker's error body: what went wrong (the status' name), and why."""
    return respond(
        {"error": title or HTTP_STATUS_CODES.get(status, "Error"), "message": message},
        status,
        headers,
    )


def int_param(request: flask.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} must be an integer from {low} to {high}")
    return int(raw)


def clamped_int(request: flask.Request, name: str, default: int, low: int, high: int) -> int:
    """The Worker's way with limits: a number out of range is clamped, junk is the default."""
    raw = (request.args.get(name) or "").strip()
    if not re.fullmatch(r"-?[0-9]{1,12}", raw):
        return default
    return min(high, max(low, int(raw)))


def run_id(request: flask.Request) -> str:
    value = request.args.get("correlationId")
    if not value:
        raise ApiError(400, "correlationId is required")
    if not re.fullmatch(CORRELATION_ID_PATTERN, value):
        raise ApiError(400, "correlationId is malformed")
    return value


def any_correlation_id(request: flask.Request) -> str:
    value = request.args.get("correlationId")
    if not value:
        raise ApiError(400, "correlationId query parameter is required")
    if not re.fullmatch(SAFE_ID_PATTERN, value):
        raise ApiError(400, "correlationId may use only letters, digits and . _ : - (at most 128)")
    return value


def request_correlation_id(request: flask.Request) -> str:
    """The caller's x-correlation-id when it is safe to store and echo, else a new one."""
    offered = (request.headers.get("x-correlation-id") or "").strip()
    if re.fullmatch(SAFE_ID_PATTERN, offered):
        return offered
    return f"{epoch_ms(utcnow())}-{secrets.token_hex(4)}"


def request_id(request: flask.Request) -> str:
    """This request's correlation id, as `handle` chose it."""
    chosen = request.environ.get(REQUEST_ID_KEY)
    return chosen if isinstance(chosen, str) else request_correlation_id(request)


def parse_movie_id(movie_id: str) -> int:
    if bad_id(movie_id):
        raise ApiError(400, "movie id must be a positive integer")
    return int(movie_id)
