"""Which request gets which fault, decided deterministically.

A fault depends only on (config, service, key, attempt number), never on timing or
thread order: the n-th request for movie 1003 to the roast service faults the same way
in every run with the same seed, however many other requests race alongside it. That
makes fault-injection tests and benchmark runs reproducible.
"""

from __future__ import annotations

from typing import Any

from upstream_sim.catalogue import stable_hash
from upstream_sim.config import FAULT_KINDS, RATE_KEYS


def unit_draw(seed: int, service: str, key: str, attempt: int) -> float:
    """A reproducible uniform number in [0, 1) for one request."""
    return stable_hash("fault", seed, service, key, attempt) / 2**64


def decide(
    config: dict[str, Any], service: str, key: str, attempt: int, movie_id: int | None
) -> str | None:
    """The fault kind ("429", "500", "timeout", "malformed") for this request, or None.

    Precedence: a permanently failing movie (``fail_movie_ids``) always gets 500; then
    the first ``fail_first`` attempts per key fail, cycling through ``fail_first_kinds``;
    then one draw against the cumulative rates, so rates of 0.1 and 0.2 fault 30% of
    requests with no overlap between kinds.
    """
    if movie_id is not None and movie_id in config["fail_movie_ids"][service]:
        return "500"
    fail_first = int(config["fail_first"][service])
    if attempt <= fail_first:
        kinds: list[str] = config["fail_first_kinds"][service]
        return kinds[(attempt - 1) % len(kinds)]
    draw = unit_draw(int(config["seed"]), service, key, attempt)
    threshold = 0.0
    for kind, rate_key in zip(FAULT_KINDS, RATE_KEYS, strict=True):
        threshold += float(config[rate_key][service])
        if draw < threshold:
            return kind
    return None
