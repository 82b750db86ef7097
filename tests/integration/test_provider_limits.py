"""The fleet-wide provider limit: the same contract held against the Firestore limiter
on the emulator and the in-memory fake; then two separately wired apps (two
`bootstrap.build` wirings, two Firestore clients, one emulator database) showing the
limit is shared, not per instance, and that a 429 met by one pauses the other."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from functions.bootstrap import build
from functions.config import Settings
from functions.errors import UpstreamUnavailable
from functions.limits import SLOT_POLL_SECONDS, ProviderRate
from functions.store.provider_limits import FirestoreProviderLimiter
from tests.fakes import MemoryProviderLimiter, MemoryPublisher, details_of, make_movies
from tests.integration.conftest import PROJECT

NOW = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
RATES = {
    "research": ProviderRate(per_minute=60, burst=3, in_flight=2),
    "roast": ProviderRate(per_minute=0, burst=1, in_flight=1),  # off
}


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.fixture(params=["memory", "firestore"])
def limiter(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryProviderLimiter(RATES, slot_seconds=30)
    return FirestoreProviderLimiter(request.getfixturevalue("firestore_db"), RATES, 30)


def test_burst_then_reserved_turns(limiter: Any) -> None:
    assert limiter.acquire("research", "a", at(0), 0).granted
    limiter.release("research", "a")
    assert limiter.acquire("research", "b", at(0), 0).granted
    limiter.release("research", "b")
    refused = limiter.acquire("research", "c", at(0), 0.5)
    assert not refused.granted and not refused.reserved
    assert refused.wait_seconds == pytest.approx(1.0)
    turn = limiter.acquire("research", "c", at(0), 5)
    assert turn.reserved and turn.wait_seconds == pytest.approx(1.0)
    assert limiter.acquire("research", "d", at(0), 5).wait_seconds == pytest.approx(2.0)
    assert limiter.acquire("research", "c", at(1), 5).granted


def test_in_flight_slots_are_given_back_or_lapse(limiter: Any) -> None:
    assert limiter.acquire("research", "a", at(0), 5).granted
    assert limiter.acquire("research", "b", at(0), 5).granted
    full = limiter.acquire("research", "c", at(5), 5)
    assert not full.granted and full.wait_seconds == SLOT_POLL_SECONDS
    limiter.release("research", "a")
    assert limiter.acquire("research", "c", at(5), 5).granted
    # b crashed holding its slot: it lapses 30 s after it was taken.
    assert not limiter.acquire("research", "d", at(20), 5).granted
    assert limiter.acquire("research", "d", at(31), 5).granted


def test_a_cool_down_pauses_the_provider_and_stands_against_a_shorter_one(limiter: Any) -> None:
    limiter.cool_down("research", at(10))
    limiter.cool_down("research", at(3))
    refused = limiter.acquire("research", "a", at(1), 60)
    assert refused.cooling and refused.wait_seconds == pytest.approx(9.0)
    assert limiter.acquire("research", "a", at(10), 60).granted


def test_a_provider_with_its_limit_off_is_always_granted(limiter: Any) -> None:
    for n in range(5):
        assert limiter.acquire("roast", f"h{n}", at(0), 0).granted
    limiter.release("roast", "h0")
    limiter.cool_down("roast", at(60))
    assert limiter.acquire("roast", "h9", at(1), 0).granted


# ----------------------------------------------------- two instances, one limit


def agent_answer() -> dict[str, Any]:
    return {
        "id": "resp_1",
        "status": "completed",
        "model": "perplexity/sonar",
        "output": [
            {"type": "message", "content": [{"type": "output_text", "text": "The brief. [1]"}]}
        ],
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


class Provider:
    """A Perplexity stand-in both apps call: when each request arrived, and 429s on
    demand (each with Retry-After)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[tuple[str, float]] = []
        self.refuse_next: float | None = None

    def transport(self, instance: str) -> Callable[[httpx.Request], httpx.Response]:
        def handle(request: httpx.Request) -> httpx.Response:
            with self.lock:
                self.sent.append((instance, time.monotonic()))
                if self.refuse_next is not None:
                    retry_after, self.refuse_next = self.refuse_next, None
                    return httpx.Response(429, headers={"Retry-After": f"{retry_after:g}"})
            return httpx.Response(200, json=agent_answer())

        return handle


def wire_instance(provider: Provider, name: str) -> Any:
    from google.cloud import firestore

    settings = Settings(
        _env_file=None,
        perplexity_api_key="test-key",
        perplexity_api_base="http://perplexity.test",
        rate_research_per_minute=60,
        rate_research_burst=3,
        rate_research_in_flight=5,
        upstream_max_attempts=1,
    )
    return build(
        settings,
        firestore_client=firestore.Client(project=PROJECT),
        http_client=httpx.Client(transport=httpx.MockTransport(provider.transport(name))),
        publisher=MemoryPublisher(),
    )


def test_two_wired_apps_share_the_limit_and_a_429_pauses_both(firestore_db: Any) -> None:
    provider = Provider()
    one, two = wire_instance(provider, "one"), wire_instance(provider, "two")
    movie = make_movies(1)[0]
    details = details_of(movie)

    def research_three(app: Any) -> None:
        for _ in range(3):
            app.generation.researcher.research(movie, details)

    threads = [threading.Thread(target=research_three, args=(app,)) for app in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    times = sorted(t for _, t in provider.sent)
    assert len(times) == 6 and {name for name, _ in provider.sent} == {"one", "two"}
    # Together: two at once (a burst of 3, one kept back), then one a second. Each
    # instance alone would have sent its three at once.
    start = times[0]
    for k, sent in enumerate(times[2:], start=1):
        assert sent - start >= k - 0.05, (k, [round(t - start, 2) for t in times])

    # One instance meets a 429 asking for 3 s; the other does not send until then.
    time.sleep(3)  # a full bucket again
    provider.refuse_next = 3.0
    with pytest.raises(UpstreamUnavailable):
        one.generation.researcher.research(movie, details)
    refused_at = provider.sent[-1][1]
    two.generation.researcher.research(movie, details)
    assert provider.sent[-1][0] == "two"
    assert provider.sent[-1][1] - refused_at >= 2.9
