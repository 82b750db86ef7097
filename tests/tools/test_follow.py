"""plotburn_cli.follow: the one loop that follows a run to its end (CLI, make run, tests)."""

from __future__ import annotations

from typing import Any

import pytest

from plotburn_cli.follow import MAX_READ_ERRORS, FollowTimeout, find_run, follow_run


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def status_of(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"last_run": runs[0] if runs else None, "history": list(runs), "total_runs": len(runs)}


def run(cid: str, state: str) -> dict[str, Any]:
    return {"correlation_id": cid, "status": state}


def test_find_run_looks_in_last_run_and_history() -> None:
    status = status_of(run("b", "in_progress"), run("a", "success"))
    assert find_run(status, "a") == run("a", "success")
    assert find_run(status, "b") == run("b", "in_progress")
    assert find_run(status, "c") is None
    assert find_run({"last_run": None, "history": []}, "a") is None


def test_follows_until_final_reporting_each_read() -> None:
    answers = iter(
        [status_of(), status_of(run("r", "in_progress")), status_of(run("r", "partial"))]
    )
    clock, seen = Clock(), []
    final = follow_run(
        lambda: next(answers),
        "r",
        timeout=10,
        interval=0.5,
        on_poll=lambda r, elapsed, note: seen.append((r and r["status"], elapsed, note)),
        sleep=clock.sleep,
        clock=clock,
    )
    assert final == run("r", "partial")
    assert seen == [(None, 0.0, ""), ("in_progress", 0.5, ""), ("partial", 1.0, "")]
    assert clock.sleeps == [0.5, 0.5]


def test_gives_up_at_the_deadline_with_the_run_as_last_seen() -> None:
    clock = Clock()
    with pytest.raises(FollowTimeout) as caught:
        follow_run(
            lambda: status_of(run("r", "in_progress")),
            "r",
            timeout=2,
            interval=0.5,
            sleep=clock.sleep,
            clock=clock,
        )
    assert caught.value.run == run("r", "in_progress")
    assert "still in progress after 2 s" in str(caught.value)
    assert clock.now == 2.0


def test_tolerates_a_few_failed_reads_then_raises() -> None:
    clock = Clock()
    calls = {"n": 0}

    def flaky() -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError("blip")
        return status_of(run("r", "success"))

    notes: list[str] = []
    final = follow_run(
        flaky,
        "r",
        timeout=10,
        interval=1,
        on_poll=lambda r, e, note: notes.append(note),
        transient=(ConnectionError,),
        sleep=clock.sleep,
        clock=clock,
    )
    assert final["status"] == "success" and notes == ["retrying: blip", "retrying: blip", ""]

    def down() -> dict[str, Any]:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        follow_run(
            down,
            "r",
            timeout=100,
            interval=1,
            transient=(ConnectionError,),
            sleep=clock.sleep,
            clock=clock,
        )
    # An error that is not transient is raised at once.
    with pytest.raises(KeyError):
        follow_run(lambda: {}["x"], "r", timeout=100, interval=1, transient=(ConnectionError,))
    assert MAX_READ_ERRORS >= 2
