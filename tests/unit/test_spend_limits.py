"""Issue 7 on fakes: who may make us pay, how often, and the daily ceiling."""

from __future__ import annotations

import pytest

from functions.errors import BudgetExhausted, NotOnDemand, RateLimited, UpstreamUnavailable
from functions.models import NightlyMessage, Trigger
from functions.usecases.roast_movie import REASON_BUDGET
from tests.unit.conftest import World


def with_settings(world: World, **update: object) -> None:
    world.settings = world.settings.model_copy(update=update)


def test_public_miss_generates_only_now_playing_movies(world: World) -> None:
    with pytest.raises(NotOnDemand):
        world.generation.movie(900000, client="c1")
    assert world.roaster.total == 0 and world.catalog.calls["details"] == 0
    # The admin (client=None) may generate anything TMDB knows.
    record, cached = world.generation.movie(900000)
    assert (record.movie.id, cached) == (900000, False)
    # One TMDB details call: the lookup's details are the ones kept with the roast.
    assert world.catalog.calls["details"] == 1
    # Once cached, anyone may read it, and TMDB is not asked again.
    record, cached = world.generation.movie(900000, client="c1")
    assert (record.movie.id, cached) == (900000, True)
    assert world.roaster.total == 1 and world.catalog.calls["details"] == 1


def test_any_movie_setting_opens_on_demand(world: World) -> None:
    with_settings(world, on_demand_any_movie=True)
    record, cached = world.generation.movie(900001, client="c1")
    assert (record.movie.id, record.details.meta["id"], cached) == (900001, 900001, False)


def test_paid_requests_are_rate_limited_per_client(world: World) -> None:
    with_settings(world, paid_requests_per_minute=2, on_demand_any_movie=True)
    world.generation.movie(1000, client="a")
    world.generation.movie(1001, client="a")
    with pytest.raises(RateLimited) as caught:
        world.generation.movie(1002, client="a")
    assert 0 < caught.value.retry_after_seconds <= 60
    world.generation.movie(1002, client="b")  # another client has its own window
    world.generation.movie(1000, client="a")  # cached reads are not limited
    assert world.roaster.total == 3
    world.clock.advance(minutes=1)
    world.generation.movie(1003, client="a")
    assert world.roaster.total == 4


def test_call_budget_stops_generation_and_alerts_once(world: World) -> None:
    with_settings(world, daily_call_budget=4, public_budget_share=0.0)
    world.generation.movie(1000)
    world.generation.movie(1001)
    assert world.budget.budget_state()["calls"] == 4
    with pytest.raises(BudgetExhausted):
        world.generation.movie(1002)
    with pytest.raises(BudgetExhausted):
        world.generation.movie(1003)
    assert world.researcher.total == 2 and world.roaster.total == 2
    alerts = [e for e in world.logs.entries if e["severity"] == "ALERT"]
    assert len(alerts) == 1
    assert world.budget.budget_state()["exhausted"] is True
    world.clock.advance(days=1)  # a new UTC day, a new budget
    world.generation.movie(1002)


def test_nightly_run_crossing_the_budget_is_partial(world: World) -> None:
    with_settings(world, daily_call_budget=6, public_budget_share=0.0)
    run = world.nightly.start_run(NightlyMessage(trigger=Trigger.SCHEDULED), world.clock())
    world.deliver_all()
    final = world.lifecycle.status(full=True)["last_run"]
    assert final["correlation_id"] == run.correlation_id
    assert (final["status"], final["roasts_generated"], final["roasts_failed"]) == ("partial", 3, 2)
    assert set(final["failure_reasons"].values()) == {REASON_BUDGET}
    assert world.researcher.total == 3 and world.roaster.total == 3
    assert world.lifecycle.status(full=True)["budget"]["exhausted"] is True


def test_cost_budget(world: World) -> None:
    with_settings(
        world, daily_cost_budget_usd=0.01, price_research_per_call=0.004, public_budget_share=0.0
    )
    world.generation.movie(1000)  # 0.004 + tokens
    world.generation.movie(1001)  # 0.008 + tokens
    world.generation.movie(1002)  # 0.012 + tokens: crosses the ceiling
    with pytest.raises(BudgetExhausted):
        world.generation.movie(1003)
    assert world.budget.budget_state()["estimated_cost_usd"] >= 0.01


def test_retries_count_against_the_budget(world: World) -> None:
    world.roaster.failing = {1000}
    with pytest.raises(UpstreamUnavailable):
        world.generation.movie(1000)
    # One research and one (failed) roast call were made and recorded.
    assert world.budget.budget_state()["calls"] == 2


def test_rate_limit_is_a_token_bucket_not_a_fixed_window(world: World) -> None:
    with_settings(world, paid_requests_per_minute=3, on_demand_any_movie=True)
    # A burst of 3 just before a minute boundary...
    world.clock.now = world.clock.now.replace(second=59)
    for movie_id in (1000, 1001, 1002):
        world.generation.movie(movie_id, client="a")
    with pytest.raises(RateLimited) as caught:
        world.generation.movie(1003, client="a")
    assert caught.value.retry_after_seconds == 20  # one token every 60/3 s
    # ...buys nothing more just after it (a fixed window would allow 3 more here).
    world.clock.advance(seconds=2)
    with pytest.raises(RateLimited):
        world.generation.movie(1003, client="a")
    world.clock.advance(seconds=18)  # 20 s after the burst: exactly one token
    world.generation.movie(1003, client="a")
    with pytest.raises(RateLimited):
        world.generation.movie(1004, client="a")
    assert world.roaster.total == 4


def test_on_demand_tmdb_lookups_are_rate_limited_too(world: World) -> None:
    with_settings(world, paid_requests_per_minute=1, on_demand_any_movie=True)
    world.generation.movie(900000, client="a")  # one lookup + one generation: one request
    with pytest.raises(RateLimited):
        world.generation.movie(900001, client="a")
    assert world.catalog.calls["details"] == 1
    assert world.roaster.total == 1


def test_budget_is_exhausted_exactly_when_a_new_movie_no_longer_fits(world: World) -> None:
    with_settings(world, daily_call_budget=3, public_budget_share=0.0)
    assert world.budget.budget_state()["exhausted"] is False
    world.generation.movie(1000)  # research + roast: 2 of 3
    state = world.budget.budget_state()
    assert (state["calls"], state["remaining_calls"], state["exhausted"]) == (2, 1, True)
    with pytest.raises(BudgetExhausted):
        world.generation.movie(1001)  # needs 2: refused, as the state said
    # A movie whose truth is kept needs only the roast call, which still fits.
    world.operations.clear_cache("roast")
    world.generation.movie(1000)
    assert world.budget.budget_state()["remaining_calls"] == 0
