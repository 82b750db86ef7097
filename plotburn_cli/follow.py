"""Following a run on `/cron/status` until it is final.

The one polling loop that `plotburn trigger --wait`, `make run` (local_stack) and the
end-to-end tests share: read the status, find the run, report progress, stop when the
run is no longer `in_progress`, give up at a deadline. A few failed reads in a row (a
blip, a cold start) are tolerated; more are raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

Run = dict[str, Any]
# Consecutive failed status reads tolerated while following a run.
MAX_READ_ERRORS = 5


class FollowTimeout(Exception):
    """The run was still in progress (or not yet shown) at the deadline."""

    def __init__(self, correlation_id: str, run: Run | None, timeout: float) -> None:
        state = "in progress" if run is not None else "not shown yet"
        super().__init__(f"run {correlation_id} still {state} after {timeout:g} s")
        self.run = run


def find_run(status: Mapping[str, Any], correlation_id: str) -> Run | None:
    """The run in a `/cron/status` answer (`last_run` or its `history`), or None."""
    runs = [status.get("last_run"), *(status.get("history") or [])]
    for run in runs:
        if isinstance(run, dict) and run.get("correlation_id") == correlation_id:
            return run
    return None


def follow_run(
    read_status: Callable[[], Mapping[str, Any]],
    correlation_id: str,
    *,
    timeout: float,
    interval: float,
    on_poll: Callable[[Run | None, float, str], None] = lambda run, elapsed, note: None,
    transient: tuple[type[Exception], ...] = (),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Run:
    """Poll until the run is final and return it; `on_poll(run, elapsed, note)` after
    each read. Raises FollowTimeout at the deadline, and the last `transient` error
    after MAX_READ_ERRORS of them in a row."""
    start = clock()
    errors = 0
    run: Run | None = None
    while True:
        note = ""
        try:
            status = read_status()
        except transient as exc:
            errors += 1
            if errors >= MAX_READ_ERRORS:
                raise
            note = f"retrying: {exc}"
        else:
            errors = 0
            run = find_run(status, correlation_id)
        on_poll(run, clock() - start, note)
        if run is not None and run.get("status") != "in_progress":
            return run
        if clock() - start >= timeout:
            raise FollowTimeout(correlation_id, run, timeout)
        sleep(interval)
