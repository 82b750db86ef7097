"""The simulated upstreams' behaviour: request in, reply out, no sockets.

Kept apart from the HTTP plumbing (server.py) so the rules (auth, validation, faults,
latency, counters) read top to bottom in one place. Order of checks per request:

1. route, then auth (a 401 is not counted as a call: the real APIs do not bill it);
2. count the call and mark it in flight;
3. validation errors (bad page, unknown movie, bad chat body) are answered without
   faults: faults only hit requests that would otherwise succeed;
4. the fault decision (faults.decide) for this service, key and attempt number;
5. the latency sleep (plus ``hang_seconds`` for a timeout fault), then the answer.

Counters are updated before the reply is written, so a client that has its response
can rely on stats() already reflecting it.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from upstream_sim import catalogue, content, faults
from upstream_sim.config import default_config, merge_config
from upstream_sim.stats import Stats

DEFAULT_MODELS = {"research": "sonar", "roast": "grok-4-fast-non-reasoning"}
_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
_DETAILS_PATH = re.compile(r"/movie/([^/]+)")

TMDB_UNAUTHORIZED = {
    "success": False,
    "status_code": 7,
    "status_message": "Invalid API key: You must be granted a valid key.",
}
TMDB_NOT_FOUND = {
    "success": False,
    "status_code": 34,
    "status_message": "The resource you requested could not be found.",
}
TMDB_INVALID_PAGE = {
    "success": False,
    "status_code": 22,
    "status_message": (
        "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer."
    ),
}
TMDB_RATE_LIMITED = {
    "success": False,
    "status_code": 25,
    "status_message": "Your request count (#) is over the allowed limit of (40).",
}
TMDB_INTERNAL_ERROR = {
    "success": False,
    "status_code": 11,
    "status_message": "Internal error: Something went wrong, contact TMDB.",
}


def _llm_error(message: str, kind: str, code: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind}
    if code is not None:
        error["code"] = code
    return {"error": error}


def to_json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Reply:
    """One HTTP answer; the server adds Content-Length (so keep-alive works)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, to_json(payload), dict(headers or {}))


@dataclass
class _Success:
    """What a request that is not faulted would answer, and what it bills."""

    payload: dict[str, Any]
    broken_payload: dict[str, Any]  # the same body with its key fields missing
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _has_bearer(headers: Mapping[str, str]) -> bool:
    scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _message_text(message: dict[str, Any]) -> str:
    value = message.get("content")
    if isinstance(value, str):
        return value
    # OpenAI-style content parts: [{"type": "text", "text": "..."}]
    return "\n".join(
        part["text"]
        for part in value or []
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )


def _parse_chat(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The chat request, or the reason it is a 400 (OpenAI-style validation)."""
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        return None, "Request body is not valid JSON."
    if not isinstance(data, dict):
        return None, "Request body must be a JSON object."
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, "'messages' is required and must be a non-empty array."
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return None, f"messages[{index}] must be an object with a valid 'role'."
        if not isinstance(message.get("content"), (str, list)):
            return None, f"messages[{index}].content must be a string or an array."
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        return None, "'model' must be a non-empty string."
    max_tokens = data.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        return None, "'max_tokens' must be a positive integer."
    temperature = data.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, (int, float))
        or isinstance(temperature, bool)
        or not 0 <= temperature <= 2
    ):
        return None, "'temperature' must be a number between 0 and 2."
    return data, None


class Simulator:
    """Configuration, counters and the endpoints of the three simulated APIs."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self._config_lock = threading.Lock()
        self._config: dict[str, Any] = merge_config(default_config(), config)
        self.stats = Stats()
        # Set on shutdown: cuts every latency/hang sleep short so stop() is prompt.
        self.stopping = threading.Event()
        # Sleeps wait on this; bumping the generation ends the sleeps in progress.
        self._wake = threading.Condition()
        self._generation = 0

    # -- configuration -----------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The current configuration (a snapshot; never mutate it)."""
        return self._config

    def configure(self, partial: dict[str, Any] | None) -> dict[str, Any]:
        """Merge a partial config in and return the full new config (a copy)."""
        with self._config_lock:
            self._config = merge_config(self._config, partial)
            return json.loads(json.dumps(self._config))  # type: ignore[no-any-return]

    def config_copy(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._config))  # type: ignore[no-any-return]

    def pause(self, seconds: float) -> None:
        """Sleep (latency, hang), unless released or shut down meanwhile."""
        if seconds <= 0:
            return
        deadline = time.monotonic() + seconds
        with self._wake:
            generation = self._generation
            while not self.stopping.is_set() and self._generation == generation:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._wake.wait(remaining)

    def release_sleepers(self) -> None:
        """End every latency/hang sleep in progress now; later requests sleep as usual.

        Lets a test or benchmark hold many requests in flight on a long latency, check
        they are all in flight at once, then finish them without waiting it out.
        """
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def shut_down(self) -> None:
        """Answer every sleeping request at once and skip all future sleeps."""
        self.stopping.set()
        self.release_sleepers()

    @staticmethod
    def today() -> date:
        return datetime.now(timezone.utc).date()

    # -- routing -------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        path = path.rstrip("/") or "/"
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        if path.startswith("/tmdb/3/"):
            return self._tmdb(method, path[len("/tmdb/3") :], query, headers)
        if path == "/perplexity/chat/completions":
            return self._chat(method, "research", headers, body)
        if path == "/xai/v1/chat/completions":
            return self._chat(method, "roast", headers, body)
        return Reply.json(404, {"error": {"message": f"No route for {path}", "type": "not_found"}})

    # -- control API -------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        routes: dict[tuple[str, str], Callable[[], Reply]] = {
            ("GET", "/_sim/health"): lambda: Reply.json(200, {"ok": True, "simulated": True}),
            ("GET", "/_sim/stats"): lambda: Reply.json(200, self.stats.snapshot()),
            ("POST", "/_sim/reset"): self._reset,
            ("GET", "/_sim/config"): lambda: Reply.json(200, self.config_copy()),
            ("POST", "/_sim/config"): lambda: self._configure(body),
        }
        action = routes.get((method, path))
        if action is not None:
            return action()
        allowed = sorted(m for m, p in routes if p == path)
        if allowed:
            return Reply.json(
                405, {"error": f"{method} not allowed"}, {"Allow": ", ".join(allowed)}
            )
        return Reply.json(404, {"error": f"unknown control endpoint {path}"})

    def _reset(self) -> Reply:
        self.stats.reset()
        return Reply.json(200, {"ok": True})

    def _configure(self, body: bytes) -> Reply:
        try:
            partial = json.loads(body.decode("utf-8")) if body.strip() else {}
            return Reply.json(200, self.configure(partial))
        except (UnicodeDecodeError, ValueError) as exc:  # ConfigError is a ValueError
            return Reply.json(400, {"error": str(exc)})

    # -- shared fault/latency path ---------------------------------------------------

    def _answer(
        self,
        service: str,
        config: dict[str, Any],
        key: str,
        movie_id: int | None,
        build: Callable[[], _Success],
    ) -> Reply:
        """Decide the fault, sleep the latency, and answer (or fail) accordingly."""
        attempt = self.stats.next_attempt(service, key)
        fault = faults.decide(config, service, key, attempt, movie_id)
        delay = float(config["latency_ms"][service]) / 1000
        if fault is not None:
            self.stats.fault(service, fault)
        if fault == "timeout":
            delay += float(config["hang_seconds"])
        self.pause(delay)
        marker = {"X-Sim-Fault": fault} if fault else {}
        if fault == "429":
            seconds = config["retry_after_seconds"]
            body = (
                TMDB_RATE_LIMITED
                if service == "tmdb"
                else _llm_error(
                    f"Rate limit exceeded. Retry after {_retry_after(seconds)} seconds.",
                    "rate_limit_exceeded",
                    429,
                )
            )
            return Reply.json(429, body, {"Retry-After": _retry_after(seconds), **marker})
        if fault == "500":
            body = (
                TMDB_INTERNAL_ERROR
                if service == "tmdb"
                else _llm_error(
                    "The server had an error while processing your request.", "server_error", 500
                )
            )
            return Reply.json(500, body, marker)
        success = build()
        if fault == "malformed":
            # Alternate the two ways a 200 can be unusable: not JSON, or the wrong JSON.
            if attempt % 2 == 1:
                whole = to_json(success.payload)
                return Reply(200, whole[: max(1, len(whole) // 2)], marker)
            return Reply.json(200, success.broken_payload, marker)
        if fault is None:
            self.stats.success(service, success.prompt_tokens, success.completion_tokens)
        return Reply.json(200, success.payload, marker)

    # -- TMDB ------------------------------------------------------------------------------

    def _tmdb(
        self,
        method: str,
        subpath: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
    ) -> Reply:
        listing = subpath == "/movie/now_playing"
        details = None if listing else _DETAILS_PATH.fullmatch(subpath)
        if not listing and details is None:
            return Reply.json(404, TMDB_NOT_FOUND)
        if method != "GET":
            return Reply.json(405, TMDB_NOT_FOUND, {"Allow": "GET"})
        # TMDB takes a v4 bearer token or a v3 api_key query parameter.
        if not _has_bearer(headers) and not (_first(query, "api_key") or "").strip():
            return Reply.json(401, TMDB_UNAUTHORIZED)
        config = self.config
        if details is None:
            self.stats.begin("tmdb_list", "tmdb", None)
            try:
                return self._now_playing(config, query)
            finally:
                self.stats.end("tmdb")
        raw_id = details.group(1)
        self.stats.begin("tmdb_details", "tmdb", raw_id[:32])
        try:
            return self._details(config, raw_id)
        finally:
            self.stats.end("tmdb")

    def _now_playing(self, config: dict[str, Any], query: Mapping[str, list[str]]) -> Reply:
        raw_page = (_first(query, "page") or "1").strip()
        page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() else 0
        if not 1 <= page <= catalogue.MAX_PAGE:
            self.pause(float(config["latency_ms"]["tmdb"]) / 1000)
            return Reply.json(400, TMDB_INVALID_PAGE)
        region = (_first(query, "region") or "").strip() or None

        def build() -> _Success:
            payload = catalogue.page_of(config, region, page, self.today())
            broken = {k: v for k, v in payload.items() if k != "results"}
            return _Success(payload, broken)

        return self._answer("tmdb", config, f"page:{page}", None, build)

    def _details(self, config: dict[str, Any], raw_id: str) -> Reply:
        numeric = raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10
        movie_id = int(raw_id) if numeric else None
        if movie_id is None or not catalogue.is_known(config, movie_id):
            self.pause(float(config["latency_ms"]["tmdb"]) / 1000)
            return Reply.json(404, TMDB_NOT_FOUND)

        def build() -> _Success:
            payload = catalogue.details(config, movie_id, self.today())
            broken = {k: v for k, v in payload.items() if k not in ("id", "title")}
            return _Success(payload, broken)

        return self._answer("tmdb", config, str(movie_id), movie_id, build)

    # -- Perplexity and xAI chat completions ----------------------------------------------

    def _chat(
        self, method: str, service: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        if method != "POST":
            return Reply.json(
                405,
                _llm_error(f"Method {method} not allowed.", "invalid_request_error"),
                {"Allow": "POST"},
            )
        if not _has_bearer(headers):
            return Reply.json(
                401,
                _llm_error(
                    "Missing or invalid API key: send 'Authorization: Bearer <key>'.",
                    "invalid_request_error",
                ),
            )
        config = self.config
        request, problem = _parse_chat(body)
        prompt = (
            "\n".join(_message_text(m) for m in request["messages"]) if request is not None else ""
        )
        movie_id = content.find_movie_id(prompt)
        movie_key = str(movie_id) if movie_id is not None else "unknown"
        self.stats.begin(service, service, movie_key)
        try:
            if request is None:
                self.pause(float(config["latency_ms"][service]) / 1000)
                return Reply.json(
                    400, _llm_error(problem or "Bad request.", "invalid_request_error", 400)
                )
            return self._answer(
                service,
                config,
                movie_key,
                movie_id,
                lambda: self._completion(service, config, request, prompt, movie_id, movie_key),
            )
        finally:
            self.stats.end(service)

    def _completion(
        self,
        service: str,
        config: dict[str, Any],
        request: dict[str, Any],
        prompt: str,
        movie_id: int | None,
        movie_key: str,
    ) -> _Success:
        today = self.today()
        override_key = "research_text_override" if service == "research" else "roast_text_override"
        text: str | None = config[override_key].get(movie_key)
        if text is None:
            writer = content.research_brief if service == "research" else content.roast
            text = writer(config, movie_id, prompt, today)
        completion_tokens = content.estimate_tokens(text)
        finish_reason = "stop"
        max_tokens = request.get("max_tokens")
        if max_tokens is not None and completion_tokens > max_tokens:
            text, completion_tokens, finish_reason = text[: max_tokens * 4], max_tokens, "length"
        prompt_tokens = content.estimate_tokens(prompt)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        choice = {
            "index": 0,
            "finish_reason": finish_reason,
            "message": {"role": "assistant", "content": text},
        }
        payload: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "model": request.get("model") or DEFAULT_MODELS[service],
            "object": "chat.completion",
            "created": int(time.time()),
        }
        if service == "research":
            results = content.search_results(config, movie_id, prompt, today)
            payload["citations"] = [r["url"] for r in results]
            payload["search_results"] = results
            usage["search_context_size"] = "low"
        else:
            payload["system_fingerprint"] = "fp_simulated"
        payload["usage"] = usage
        payload["choices"] = [choice]
        broken = {k: v for k, v in payload.items() if k != "choices"}
        return _Success(payload, broken, prompt_tokens, completion_tokens)
