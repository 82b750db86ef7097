"""Anonymous traffic cannot starve the night: the public share of the budget, the
failed-movie cooldown, and waiters that count against the caller's limit and back off."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from functions.errors import (
    BudgetExhausted,
    GenerationInProgress,
    RateLimited,
    RecentlyFailed,
    UpstreamUnavailable,
)
from functions.models import BudgetPool, NightlyMessage, RunStatus, Trigger
from tests.unit.conftest import World

FAILING = 1000


def with_settings(world: World, **update: object) -> None:
    world.settings = world.settings.model_copy(update=update)


def test_a_failing_movie_loop_spends_only_the_public_share(world: World) -> None:
    # The attack without the cooldown: every public request pays again for a movie
    # that keeps failing, until the public share is gone.
    with_settings(
        world,
        daily_call_budget=20,
        public_budget_share=0.2,
        failed_movie_cooldown_minutes=0,
        paid_requests_per_minute=1000,
    )
    world.roaster.failing = {FAILING}
    refused = 0
    for _ in range(50):
        try:
            world.generation.movie(FAILING, client="attacker")
        except UpstreamUnavailable:
            pass
        except BudgetExhausted:
            refused += 1
    assert refused > 40
    spent = world.daily_budget.spent_by_pool(world.clock().date().isoformat())
    assert spent.pool(BudgetPool.PUBLIC).calls <= 4  # 20 x 0.2
    assert spent.pool(BudgetPool.NIGHTLY).calls == 0
    # The public pool running dry is a warning, not the ALERT that pages the operator.
    assert not [e for e in world.logs.entries if e["severity"] == "ALERT"]
    assert any("public share" in e["message"] for e in world.logs.entries)

    world.roaster.failing = set()
    world.nightly.start_run(NightlyMessage(trigger=Trigger.SCHEDULED), world.clock())
    world.deliver_all()
    last = world.lifecycle.status(full=True)["last_run"]
    assert (last["status"], last["roasts_generated"]) == (RunStatus.SUCCESS.value, 5)


def test_a_failed_movie_cools_down_for_public_callers(world: World) -> None:
    with_settings(world, failed_movie_cooldown_minutes=30)
    world.roaster.failing = {FAILING}
    with pytest.raises(UpstreamUnavailable):
        world.generation.movie(FAILING, client="c1")
    paid = (world.researcher.total, world.roaster.total)
    for client in ("c1", "c2", "c3"):
        with pytest.raises(RecentlyFailed) as caught:
            world.generation.movie(FAILING, client=client)
        assert 29 * 60 < caught.value.retry_after_seconds <= 30 * 60
    assert (world.researcher.total, world.roaster.total) == paid  # nobody paid again

    world.clock.advance(minutes=31)
    with pytest.raises(UpstreamUnavailable):
        world.generation.movie(FAILING, client="c1")  # cooled down: tried once more
    assert world.roaster.total == paid[1] + 1


def test_the_admin_and_the_night_retry_a_cooling_movie(world: World) -> None:
    world.roaster.failing = {FAILING}
    with pytest.raises(UpstreamUnavailable):
        world.generation.movie(FAILING, client="c1")
    world.roaster.failing = set()
    record, cached = world.generation.movie(FAILING)  # the admin key
    assert (record.movie.id, cached) == (FAILING, False)
    # Once roasted, the public read is a cache hit, cooldown or not.
    assert world.generation.movie(FAILING, client="c1")[1] is True


def test_a_night_failure_cools_the_movie_for_public_callers(world: World) -> None:
    world.roaster.failing = {FAILING}
    world.nightly.start_run(NightlyMessage(trigger=Trigger.SCHEDULED), world.clock())
    world.deliver_all()
    assert world.lifecycle.status(full=True)["last_run"]["roasts_failed"] == 1
    paid = world.roaster.total
    with pytest.raises(RecentlyFailed):
        world.generation.movie(FAILING, client="c1")
    assert world.roaster.total == paid


def test_waiters_count_against_the_callers_limit(world: World) -> None:
    with_settings(world, paid_requests_per_minute=2, public_wait_seconds=0.05)
    assert world.leases.acquire(FAILING, "someone-else", world.clock())
    for _ in range(2):
        with pytest.raises(GenerationInProgress) as caught:
            world.generation.movie(FAILING, client="waiter")
        assert caught.value.retry_after_seconds == 5
    with pytest.raises(RateLimited):
        world.generation.movie(FAILING, client="waiter")
    assert world.roaster.total == 0


def test_waiters_back_off_and_public_ones_give_up_sooner(world: World) -> None:
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        time.sleep(seconds)

    world.generation.sleep = nap
    with_settings(world, public_wait_seconds=0.5, single_flight_wait_seconds=30)
    assert world.leases.acquire(FAILING, "someone-else", world.clock())
    started = time.monotonic()
    with pytest.raises(GenerationInProgress):
        world.generation.movie(FAILING, client="waiter")
    assert time.monotonic() - started < 10  # not the trusted 30 s wait
    assert naps[:3] == [0.01, 0.02, 0.04]  # 0.01 s first, then doubling
    assert len(naps) < 12  # polls back off: not one every 0.01 s for 0.5 s


def test_budget_pools_add_up_to_the_day(world: World) -> None:
    with_settings(world, daily_call_budget=10, public_budget_share=0.3)
    assert world.budget.ceiling(BudgetPool.PUBLIC).calls == 3
    assert world.budget.ceiling(BudgetPool.NIGHTLY).calls == 7  # not 6.999... floored
    world.generation.movie(1001, client="c1")
    world.generation.movie(1002)
    state = world.budget.budget_state()
    assert state["calls"] == 4
    assert state["pools"]["public"]["calls"] == 2
    assert state["pools"]["nightly"]["calls"] == 2
    assert state["pools"]["public"]["exhausted"] is True  # 2 + 2 > 3
    assert state["exhausted"] is False


def test_a_zero_public_share_means_public_misses_never_pay(world: World) -> None:
    with_settings(world, public_budget_share=0.0)
    with pytest.raises(BudgetExhausted):
        world.generation.movie(1001, client="c1")
    assert world.researcher.total == 0
    assert world.generation.movie(1001)[1] is False  # the admin still may


def test_cooldown_off(world: World) -> None:
    with_settings(world, failed_movie_cooldown_minutes=0)
    world.roaster.failing = {FAILING}
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            world.generation.movie(FAILING, client="c1")
    assert world.roaster.calls[FAILING] == 2
    assert timedelta(0) == world.settings.failed_movie_cooldown
