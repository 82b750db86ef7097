"""The simulated upstreams' behaviour: request in, reply out, no sockets.

Kept apart from the HTTP plumbing (server.py) so the rules (auth, validation, faults,
latency, counters) read top to bottom in one place. Order of checks per request:

1. route, then auth (a 401 is not counted as a call: the real APIs do not bill it);
2. count the call and mark it in flight;
3. validation errors (bad page, unknown movie, a request body the real API rejects:
   see perplexity.py and xai.py) are answered without faults: faults only hit
   requests that would otherwise succeed;
4. the fault decision (faults.decide) for this service, key and attempt number;
5. the latency sleep (plus ``hang_seconds`` for a timeout fault), then the answer.

Counters are updated before the reply is written, so a client that has its response
can rely on stats() already reflecting it.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from upstream_sim import catalogue, content, faults, perplexity, xai
from upstream_sim.config import default_config, merge_config
from upstream_sim.limits import ProviderBuckets
from upstream_sim.stats import Stats
from upstream_sim.wire import Reply, Success, has_bearer, retry_after_text

_DETAILS_PATH = re.compile(r"/movie/([^/]+?)(/credits)?")
# Where the Worker's Sonar chat completions lived; retired (403) since 2026-09-27.
PERPLEXITY_RETIRED_PATHS = frozenset({"/perplexity/chat/completions", "/perplexity/v1/sonar"})
PERPLEXITY_AGENT_PATHS = frozenset({"/perplexity/v1/agent", "/perplexity/v1/responses"})

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


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


class Simulator:
    """Configuration, counters and the endpoints of the three simulated APIs."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self._config_lock = threading.Lock()
        self._config: dict[str, Any] = merge_config(default_config(), config)
        self.stats = Stats()
        self.buckets = ProviderBuckets()
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
        return datetime.now(UTC).date()

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
        if path in PERPLEXITY_RETIRED_PATHS:
            return Reply.json(403, perplexity.RETIRED_ENDPOINT)
        if path in PERPLEXITY_AGENT_PATHS:
            return self._llm(method, "research", headers, body)
        if path == "/xai/v1/chat/completions":
            return self._llm(method, "roast", headers, body)
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
        self.buckets.reset()
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
        build: Callable[[], Success],
    ) -> Reply:
        """Enforce the provider's rate limit, decide the fault, sleep the latency, and
        answer (or fail) accordingly."""
        wait = self.buckets.take(
            service, float(config["rate_per_minute"][service]), int(config["rate_burst"][service])
        )
        if wait is not None:
            self.stats.rate_limited(service)
            return self._rate_limited(service, wait, int(config["rate_per_minute"][service]))
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
            reply = self._rate_limited(service, float(config["retry_after_seconds"]))
        elif fault == "500" or (fault == "failed" and service != "research"):
            reply = self._server_error(service)
        else:
            success = build()
            if fault == "failed":  # Perplexity: HTTP 200 reporting a failed run
                reply = Reply.json(200, perplexity.failed_run(success))
            elif fault == "malformed":
                # Alternate the two ways a 200 can be unusable: not JSON, or the wrong JSON.
                if attempt % 2 == 1:
                    whole = json.dumps(success.payload).encode()
                    reply = Reply(200, whole[: max(1, len(whole) // 2)])
                else:
                    reply = Reply.json(200, success.broken_payload)
            else:
                if fault is None:  # a hung ("timeout") answer is a fault, not a success
                    self.stats.success(
                        service, success.prompt_tokens, success.completion_tokens, success.cost_usd
                    )
                reply = Reply.json(200, success.payload, success.headers)
        reply.headers.update(marker)
        return reply

    @staticmethod
    def _rate_limited(service: str, seconds: float, per_minute: int = 50) -> Reply:
        if service == "research":
            # Perplexity sends its x-ratelimit-* headers (reset as an epoch second).
            return perplexity.rate_limited(math.ceil(time.time() + seconds), per_minute)
        reply = Reply.json(429, TMDB_RATE_LIMITED) if service == "tmdb" else xai.rate_limited()
        reply.headers["Retry-After"] = retry_after_text(math.ceil(seconds * 10) / 10)
        return reply

    @staticmethod
    def _server_error(service: str) -> Reply:
        if service == "research":
            return perplexity.server_error()
        return Reply.json(500, TMDB_INTERNAL_ERROR) if service == "tmdb" else xai.server_error()

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
        if not has_bearer(headers) and not (_first(query, "api_key") or "").strip():
            return Reply.json(401, TMDB_UNAUTHORIZED)
        config = self.config
        if details is None:
            self.stats.begin("tmdb_list", "tmdb", None)
            try:
                return self._now_playing(config, query)
            finally:
                self.stats.end("tmdb")
        raw_id = details.group(1)
        # Credits alone, or with the details (append_to_response=credits): one call.
        only_credits = details.group(2) is not None
        appended = {a.strip() for a in (_first(query, "append_to_response") or "").split(",")}
        self.stats.begin("tmdb_details", "tmdb", raw_id[:32])
        try:
            return self._details(config, raw_id, only_credits, "credits" in appended)
        finally:
            self.stats.end("tmdb")

    def _now_playing(self, config: dict[str, Any], query: Mapping[str, list[str]]) -> Reply:
        raw_page = (_first(query, "page") or "1").strip()
        page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() else 0
        if not 1 <= page <= catalogue.MAX_PAGE:
            self.pause(float(config["latency_ms"]["tmdb"]) / 1000)
            return Reply.json(400, TMDB_INVALID_PAGE)
        region = (_first(query, "region") or "").strip() or None

        def build() -> Success:
            payload = catalogue.page_of(config, region, page, self.today())
            broken = {k: v for k, v in payload.items() if k != "results"}
            return Success(payload, broken)

        return self._answer("tmdb", config, f"page:{page}", None, build)

    def _details(
        self, config: dict[str, Any], raw_id: str, only_credits: bool, with_credits: bool
    ) -> Reply:
        numeric = raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10
        movie_id = int(raw_id) if numeric else None
        if movie_id is None or not catalogue.is_known(config, movie_id):
            self.pause(float(config["latency_ms"]["tmdb"]) / 1000)
            return Reply.json(404, TMDB_NOT_FOUND)

        def build() -> Success:
            if only_credits:
                payload = catalogue.credits(movie_id)
                return Success(payload, {"id": movie_id})
            payload = catalogue.details(config, movie_id, self.today())
            if with_credits:
                credits = catalogue.credits(movie_id)
                payload["credits"] = {"cast": credits["cast"], "crew": credits["crew"]}
            broken = {k: v for k, v in payload.items() if k not in ("id", "title")}
            return Success(payload, broken)

        key = f"{movie_id}/credits" if only_credits else str(movie_id)
        return self._answer("tmdb", config, key, movie_id, build)

    # -- Perplexity's Agent API and xAI's chat completions -------------------------------

    def _llm(self, method: str, service: str, headers: Mapping[str, str], body: bytes) -> Reply:
        api = perplexity if service == "research" else xai
        if method != "POST":
            reply = (
                perplexity.error(405, "invalid_request", f"Method {method} not allowed.")
                if api is perplexity
                else xai.error(405, "Method not allowed", f"Method {method} not allowed.")
            )
            reply.headers["Allow"] = "POST"
            return reply
        if not has_bearer(headers):
            return (
                Reply.json(401, perplexity.UNAUTHORIZED)
                if api is perplexity
                else xai.unauthorized()
            )
        config = self.config
        request, rejection = api.validate(body)
        prompt = request["prompt"] if request is not None else ""
        movie_id = content.find_movie_id(prompt)
        movie_key = str(movie_id) if movie_id is not None else "unknown"
        self.stats.begin(service, service, movie_key)
        try:
            if request is None:
                assert rejection is not None
                self.pause(float(config["latency_ms"][service]) / 1000)
                return rejection
            answer = self._research if service == "research" else self._roast
            return self._answer(
                service,
                config,
                movie_key,
                movie_id,
                lambda: answer(config, request, movie_id, movie_key),
            )
        finally:
            self.stats.end(service)

    def _research(
        self, config: dict[str, Any], request: dict[str, Any], movie_id: int | None, movie_key: str
    ) -> Success:
        today = self.today()
        prompt = request["prompt"]
        text: str | None = config["research_text_override"].get(movie_key)
        if text is None:
            text = content.research_brief(config, movie_id, prompt, today)
        results = content.search_results(config, movie_id, prompt, today)
        return perplexity.answer(request, text, results)

    def _roast(
        self, config: dict[str, Any], request: dict[str, Any], movie_id: int | None, movie_key: str
    ) -> Success:
        today = self.today()
        prompt = request["prompt"]
        text: str | None = config["roast_text_override"].get(movie_key)
        # The first N answers for a movie break the card's word limits (repair tests).
        overlong = self.stats.count_answer("roast", movie_key) <= int(
            config["roast_overlong_answers"].get(movie_key, 0)
        )
        writer = content.overlong_card if overlong else content.roast_card
        card = None if text is not None else writer(config, movie_id, prompt, today)
        return xai.answer(request, card, text)
