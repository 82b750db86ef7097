"""The fleet-wide limit per provider: its arithmetic (functions/limits.py), the gate
every request passes (functions/upstream/gate.py) on the in-memory limiter, a 429
pausing the provider for every instance, and the run deadline that grows with a big
night. The Firestore limiter keeps the same contract (tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from functions.config import Settings
from functions.errors import ProviderBusy, UpstreamUnavailable
from functions.limits import (
    SLOT_POLL_SECONDS,
    ProviderRate,
    ProviderState,
    estimated_finish,
    run_allowance,
    waits_until,
)
from functions.models import NightlyMessage, Run, Trigger
from functions.upstream.gate import ProviderGate
from functions.upstream.http import RetryPolicy
from tests.fakes import MemoryProviderLimiter
from tests.unit.conftest import World
from tests.unit.test_upstream_clients import (  # noqa: F401  (fixtures)
    DETAILS,
    MOVIE,
    PPLX_URL,
    agent_answer,
    client,
    naps,
    ok,
    researcher,
    router,
)

T0 = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
RATE = ProviderRate(per_minute=60, burst=3, in_flight=2)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ------------------------------------------------------------------ arithmetic


def test_a_full_bucket_grants_one_short_of_the_burst_then_one_a_second() -> None:
    state = ProviderState.restore(None, RATE)
    # One token kept back for jitter: a burst of 3 gives 2 at once.
    assert state.ask("a", at(0), RATE, 0, 35).granted
    assert state.ask("b", at(0), RATE, 0, 35).granted
    refused = state.ask("c", at(0), RATE, 0, 35)
    assert not refused.granted and not refused.reserved
    assert refused.wait_seconds == pytest.approx(1.0)
    assert state.ask("c", at(1), RATE, 0, 35).granted is False  # both slots still held
    state.slots = {}
    assert state.ask("c", at(1), RATE, 0, 35).granted


def test_a_waiting_caller_reserves_the_next_token_and_later_ones_queue_behind() -> None:
    rate = ProviderRate(per_minute=60, burst=2, in_flight=10)  # usable burst 1
    state = ProviderState.restore(None, rate)
    assert state.ask("a", at(0), rate, 10, 35).granted
    b = state.ask("b", at(0), rate, 10, 35)
    c = state.ask("c", at(0), rate, 10, 35)
    assert (b.reserved, c.reserved) == (True, True)
    assert (b.wait_seconds, c.wait_seconds) == (pytest.approx(1.0), pytest.approx(2.0))
    # Too far ahead for this caller's wait: refused, nothing reserved.
    d = state.ask("d", at(0), rate, 2.5, 35)
    assert not d.reserved and d.wait_seconds == pytest.approx(3.0)
    # Early: still waiting for its own moment; on time: granted without another token.
    assert state.ask("c", at(1.5), rate, 10, 35).wait_seconds == pytest.approx(0.5)
    assert state.ask("b", at(1), rate, 10, 35).granted
    assert state.ask("c", at(2), rate, 10, 35).granted


def test_in_flight_slots_cap_the_calls_under_way_and_lapse_if_never_released() -> None:
    rate = ProviderRate(per_minute=6000, burst=100, in_flight=2)
    state = ProviderState.restore(None, rate)
    assert state.ask("a", at(0), rate, 5, 30).granted
    assert state.ask("b", at(0), rate, 5, 30).granted
    full = state.ask("c", at(0), rate, 5, 30)
    assert not full.granted and full.reserved and full.wait_seconds == SLOT_POLL_SECONDS
    # a's holder crashed: its slot comes back once it lapses.
    assert state.ask("c", at(31), rate, 5, 30).granted


def test_a_cool_down_refuses_everyone_until_it_ends_and_is_never_shortened() -> None:
    state = ProviderState.restore(None, RATE)
    assert state.cool_down(at(10))
    assert not state.cool_down(at(5))
    refused = state.ask("a", at(2), RATE, 60, 35)
    assert refused.cooling and refused.wait_seconds == pytest.approx(8.0)
    assert state.ask("a", at(10), RATE, 60, 35).granted


def test_the_rate_bound_and_the_run_allowance() -> None:
    rate = ProviderRate(per_minute=60, burst=10, in_flight=50)
    assert rate.seconds_for(120) == pytest.approx(111.0)  # (N - (burst - 1)) / rate
    assert run_allowance(120, rate) == timedelta(seconds=111 * 1.5)
    assert ProviderRate(0, 1, 1).seconds_for(10_000) == 0.0


def test_estimated_finish_is_the_later_of_the_rate_and_the_pace() -> None:
    rate = ProviderRate(per_minute=60, burst=1, in_flight=50)
    # Nothing landed yet: the rate says 99 s for 100 movies (the first is the burst).
    assert estimated_finish(T0, at(5), 0, 100, rate) == at(99)
    # Half done in 80 s: the pace says 80 s more.
    assert estimated_finish(T0, at(80), 50, 100, rate) == at(160)


# ------------------------------------------------------------------ the gate


class FakeTime:
    """Clock, monotonic clock and sleep in one: sleeping advances both clocks."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return at(self.t)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.t += seconds


def gate(limiter: MemoryProviderLimiter, time_: FakeTime, max_wait: float = 60) -> ProviderGate:
    return ProviderGate(limiter, "research", max_wait, time_.now, time_.sleep, time_.monotonic)


def test_the_gate_waits_for_its_turn_then_holds_a_slot_for_the_call() -> None:
    limiter = MemoryProviderLimiter({"research": RATE})
    t = FakeTime()
    g = gate(limiter, t)
    for _ in range(4):
        with g.slot():
            assert limiter.in_flight("research") == 1
    assert limiter.in_flight("research") == 0
    assert t.slept == [1.0, 1.0]  # two from the burst, then one a second


def test_no_capacity_within_the_wait_raises_provider_busy_and_keeps_nothing() -> None:
    limiter = MemoryProviderLimiter({"research": ProviderRate(60, 2, 5)})
    t = FakeTime()
    g = gate(limiter, t, max_wait=0.5)
    with g.slot():
        pass
    with pytest.raises(ProviderBusy) as caught, g.slot():
        pytest.fail("no call without capacity")
    assert caught.value.retry_after_seconds == 1
    assert t.slept == []
    assert limiter.docs["research"]["reserved"] == {}


def test_a_wait_never_runs_past_the_lease_deadline() -> None:
    limiter = MemoryProviderLimiter({"research": ProviderRate(60, 2, 5)})
    t = FakeTime()
    g = gate(limiter, t, max_wait=60)
    with g.slot():
        pass
    with waits_until(t.monotonic() + 0.5), pytest.raises(ProviderBusy), g.slot():
        pass
    with waits_until(t.monotonic() + 5), g.slot():
        pass
    assert t.slept == [1.0]


# ------------------------------------------------- two instances, one limit


def test_two_instances_share_one_limit_and_a_429_pauses_both(
    client: httpx.Client,
    router: respx.Router,
    naps: list[float],
) -> None:
    """Two roast instances: each its own researcher and gate, one shared limiter
    (as two instances share Firestore). Together they get the rate, not twice it."""
    limiter = MemoryProviderLimiter({"research": ProviderRate(60, 3, 10)})
    t = FakeTime()
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(t.t)
        return ok(agent_answer())

    router.post(PPLX_URL).mock(side_effect=answer)
    one = researcher(client, gate=gate(limiter, t))
    two = researcher(client, gate=gate(limiter, t))
    for _ in range(3):
        one.research(MOVIE, DETAILS)
        two.research(MOVIE, DETAILS)
    # Burst of 2 (one kept back), then one a second across both instances.
    assert sent == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]

    # Instance one meets a 429 asking for 7 s (and, with one attempt, gives up):
    # instance two does not send until those 7 s are over.
    router.post(PPLX_URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "7"})])
    one_429 = researcher(client, gate=gate(limiter, t), policy=RetryPolicy(max_attempts=1))
    t.t += 10  # a fresh bucket
    with pytest.raises(UpstreamUnavailable):
        one_429.research(MOVIE, DETAILS)
    assert limiter.cool_downs == [("research", at(t.t + 7))]
    router.post(PPLX_URL).mock(side_effect=answer)
    before = t.t
    two.research(MOVIE, DETAILS)
    assert sent[-1] == pytest.approx(before + 7)


# ------------------------------------------------------------------ run deadline


def test_a_big_night_is_not_swept_before_its_rate_allows(world: World) -> None:
    settings = Settings(
        _env_file=None,
        read_cache_seconds=0,
        status_cache_seconds=0,
        run_deadline_minutes=30,
        rate_research_per_minute=50,
        rate_research_burst=1,
    )
    world.settings = settings
    ids = list(range(1, 2001))
    run = Run(
        correlation_id="manual-trigger-1",
        trigger=Trigger.MANUAL,
        started_at=world.clock.now,
        movie_ids=ids,
        published=True,
    )
    world.runs.create_run(run)
    # 2,000 movies at 50 a minute: 40 min, 60 with the safety factor.
    assert world.lifecycle.deadline_of(run) == timedelta(minutes=(2000 - 1) / 50 * 1.5)
    world.clock.advance(minutes=45)
    assert world.lifecycle.sweep_stuck_runs() == []
    shown = world.lifecycle.status(full=True)["last_run"]
    assert shown["status"] == "in_progress"
    assert shown["progress"] == {"done": 0, "total": 2000}
    assert shown["estimated_finish"] is not None and shown["deadline_at"] is not None
    world.clock.advance(minutes=16)
    assert [r.correlation_id for r in world.lifecycle.sweep_stuck_runs()] == ["manual-trigger-1"]


def test_status_shows_progress_while_open_and_no_estimate_once_closed(world: World) -> None:
    world.nightly.start_run(NightlyMessage(trigger=Trigger.SCHEDULED), world.clock())
    open_run: dict[str, Any] = world.lifecycle.status(full=True)["last_run"]
    assert open_run["status"] == "in_progress"
    assert open_run["progress"] == {"done": 0, "total": 5}
    assert open_run["estimated_finish"] is not None
    world.deliver_all()
    closed = world.lifecycle.status(full=True)["last_run"]
    assert closed["status"] == "success"
    assert closed["progress"] == {"done": 5, "total": 5}
    assert closed["estimated_finish"] is None and closed["deadline_at"] is None
