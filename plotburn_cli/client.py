"""Where the API is, and how to talk to it: config resolution and one small client
that turns every failure into a CliError with a message an operator can act on."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
STATE_FILE = Path(".stack") / "stack.json"
USER_AGENT = "plotburn-cli/1.0"

ClientFactory = Callable[[str, float], httpx.Client]


class CliError(Exception):
    """Something went wrong that the operator should read; never carries the token."""


class ApiError(CliError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None
    source: str  # where the URL came from, for error messages


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError, OverflowError):
        return False
    return True


def _stack_state(cwd: Path) -> dict[str, Any] | None:
    """The local stack's state file (`make serve` writes it), if its owner still runs."""
    try:
        state = json.loads((cwd / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("api_url"), str):
        return None
    if "owner_pid" in state and not _pid_alive(state["owner_pid"]):
        return None
    return state


def resolve_target(
    url: str | None, token: str | None, environ: Mapping[str, str], cwd: Path
) -> Target:
    """Flags, then PLOTBURN_API_URL / PLOTBURN_ADMIN_TOKEN, then the local stack's
    .stack/stack.json in the current directory, then http://127.0.0.1:8080.

    The stack file's token is used only with the stack file's URL: a local token is
    never sent to some other API.
    """
    token = token or environ.get("PLOTBURN_ADMIN_TOKEN") or None
    if url:
        return Target(_base(url), token, "--url")
    if environ.get("PLOTBURN_API_URL"):
        return Target(_base(environ["PLOTBURN_API_URL"]), token, "PLOTBURN_API_URL")
    state = _stack_state(cwd)
    if state is not None:
        stack_token = (
            state.get("admin_token") if isinstance(state.get("admin_token"), str) else None
        )
        return Target(_base(state["api_url"]), token or stack_token, str(STATE_FILE))
    return Target(_base(DEFAULT_URL), token, "the default")


def _base(url: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url if url.endswith("/") else url + "/"


def _error_message(body: Any) -> str | None:
    """What an error body says: the Worker's {"error", "message"} (the message says why;
    the error alone when there is no message), and any per-cache `errors`."""
    if not isinstance(body, dict):
        return None
    parts = [body.get("message"), body.get("error")]
    message = next((p for p in parts if isinstance(p, str) and p), None)
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        message = "; ".join([*([message] if message else []), *map(str, errors)])
    return message


def default_client_factory(base_url: str, timeout: float) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=timeout, headers={"User-Agent": USER_AGENT})


class Api:
    """The routes the CLI uses. Paths are relative, so an API behind a base path works."""

    def __init__(self, target: Target, client: httpx.Client) -> None:
        self.target = target
        self.http = client

    def _redact(self, text: str) -> str:
        token = self.target.token
        return text.replace(token, "[REDACTED]") if token and len(token) >= 4 else text

    def request(
        self, method: str, path: str, *, admin: bool = False, params: dict[str, Any] | None = None
    ) -> Any:
        headers: dict[str, str] = {"Accept": "application/json"}
        if admin:
            if not self.target.token:
                raise CliError(
                    "this command needs the admin token: set PLOTBURN_ADMIN_TOKEN or pass --token"
                )
            # The Worker's header (PlotBurn also takes `Authorization: Bearer`, but a
            # bearer token can collide with an identity token in front of the api).
            headers["x-api-key"] = self.target.token
        try:
            response = self.http.request(method, path, headers=headers, params=params)
        except httpx.TimeoutException:
            raise CliError(
                f"the PlotBurn API at {self.target.url} did not answer {method} /{path} in time"
            ) from None
        except httpx.TransportError as exc:
            reason = self._redact(str(exc)) or type(exc).__name__
            raise CliError(
                f"cannot reach the PlotBurn API at {self.target.url} (from {self.target.source}): "
                f"{reason}. Is it running? Start one with `make serve`, or set "
                "PLOTBURN_API_URL / --url."
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            message = _error_message(body) or response.reason_phrase or "request failed"
            hint = ""
            if response.status_code == 401:
                hint = " (check PLOTBURN_ADMIN_TOKEN or --token)"
            raise ApiError(
                response.status_code,
                self._redact(f"{method} /{path}: HTTP {response.status_code}: {message}{hint}"),
            )
        if body is None:
            raise CliError(
                f"{method} /{path}: the answer from {self.target.url} is not JSON "
                f"(HTTP {response.status_code}); is that a PlotBurn API?"
            )
        return body

    def status(self) -> dict[str, Any]:
        # With the admin token the status carries today's budget, the runs' spend and
        # why movies failed in the providers' words; without it, the public form.
        return dict(self.request("GET", "cron/status", admin=bool(self.target.token)))

    def trigger(self) -> dict[str, Any]:
        return dict(self.request("POST", "cron/trigger", admin=True))

    def retry(self, correlation_id: str) -> dict[str, Any]:
        return dict(
            self.request("POST", "cron/retry", admin=True, params={"correlationId": correlation_id})
        )

    def logs(
        self, limit: int | None, level: str | None = None, correlation_id: str | None = None
    ) -> dict[str, Any]:
        wanted = {"limit": limit, "level": level, "correlationId": correlation_id}
        params = {k: v for k, v in wanted.items() if v is not None}
        return dict(self.request("GET", "logs", admin=True, params=params or None))

    def delete_logs(self, older_than_days: int | None) -> dict[str, Any]:
        params = {"olderThanDays": older_than_days} if older_than_days is not None else None
        return dict(self.request("DELETE", "logs", admin=True, params=params))

    def debug(self, correlation_id: str) -> dict[str, Any]:
        return dict(
            self.request("GET", "debug", admin=True, params={"correlationId": correlation_id})
        )

    def movie_debug(self, movie_id: int) -> dict[str, Any]:
        return dict(self.request("GET", f"movie/{movie_id}/debug", admin=True))

    def clear(self, kind: str) -> dict[str, Any]:
        return dict(self.request("DELETE", f"cache/clear/{kind}", admin=True))

    def budget(self) -> dict[str, Any]:
        return dict(self.request("GET", "budget", admin=True))
