"""The simulator's configuration: defaults, validation and partial (merge) updates.

The configuration is a plain JSON-able dict so that the same value travels unchanged
through the Python API, ``POST /_sim/config`` and ``--config-json``. It is treated as
immutable: every change builds a new dict (copy-on-write), so request threads can read
a consistent snapshot without holding a lock.

Per-service knobs are dicts keyed by ``tmdb``, ``research`` and ``roast``. In a partial
update a per-service dict is merged key by key; a bare value (``{"rate_500": 0.1}``,
``{"latency_ms": 0}``) is shorthand for "this value for every service". The same knobs
may also be grouped by service under ``faults``
(``{"faults": {"research": {"rate_429": 0.1, "fail_first": 1}}}``); the stored config is
always knob-major. Every other value, dicts like ``roast_text_override`` included, is
replaced whole, so ``configure(**saved_full_config)`` restores a config exactly.
"""

from __future__ import annotations

import copy
from typing import Any

SERVICES: tuple[str, ...] = ("tmdb", "research", "roast")
# "failed": Perplexity's HTTP 200 with status "failed" (a 500 on the other services).
FAULT_KINDS: tuple[str, ...] = ("429", "500", "timeout", "malformed", "failed")
RATE_KEYS: tuple[str, ...] = (
    "rate_429",
    "rate_500",
    "rate_timeout",
    "rate_malformed",
    "rate_failed",
)
PER_SERVICE_KEYS: tuple[str, ...] = (
    "latency_ms",
    *RATE_KEYS,
    "fail_first",
    "fail_first_kinds",
    "fail_movie_ids",
    "rate_per_minute",
    "rate_burst",
)
# Dicts keyed by region or movie id; replaced whole by an update.
DICT_KEYS: tuple[str, ...] = (
    "region_movies",
    "roast_text_override",
    "research_text_override",
    "roast_overlong_answers",
)
SCALAR_KEYS: tuple[str, ...] = (
    "movies",
    "decoys",
    "first_movie_id",
    "seed",
    "retry_after_seconds",
    "hang_seconds",
)
# Ids 900000..900099 exist for details but are never "now playing".
CATALOGUE_ONLY_FIRST_ID = 900_000
CATALOGUE_ONLY_COUNT = 100
MAX_MOVIES = 100_000
MAX_MOVIE_ID = 2**31 - 1


class ConfigError(ValueError):
    """A configuration value the simulator cannot honour (bad key, type or range)."""


def _per_service(value: Any) -> dict[str, Any]:
    return {service: copy.deepcopy(value) for service in SERVICES}


DEFAULT_CONFIG: dict[str, Any] = {
    "movies": 15,
    # Listed after the movies of every region, outside the Worker's choice: released
    # too long ago or too recently, or a documentary or music film (in turn).
    "decoys": 0,
    "first_movie_id": 1000,
    "region_movies": {},
    "seed": 0,
    "latency_ms": _per_service(0),
    "rate_429": _per_service(0.0),
    "rate_500": _per_service(0.0),
    "rate_timeout": _per_service(0.0),
    "rate_malformed": _per_service(0.0),
    "rate_failed": _per_service(0.0),
    "fail_first": _per_service(0),
    "fail_first_kinds": _per_service(["500"]),
    "fail_movie_ids": _per_service([]),
    # The provider's own rate limit (upstream_sim/limits.py): 0 per minute is none.
    "rate_per_minute": _per_service(0),
    "rate_burst": _per_service(1),
    "retry_after_seconds": 1,
    "hang_seconds": 5.0,
    "roast_text_override": {},
    "research_text_override": {},
    "roast_overlong_answers": {},
}


def default_config() -> dict[str, Any]:
    """A fresh, independent copy of the defaults."""
    return copy.deepcopy(DEFAULT_CONFIG)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float))) and not isinstance(value, bool)


def _int(name: str, value: Any, low: int, high: int) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _number(name: str, value: Any, low: float, high: float) -> float | int:
    if not _is_number(value) or not low <= value <= high:
        raise ConfigError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return value  # type: ignore[no-any-return]


def _movie_id(name: str, value: Any) -> int:
    """Accept ints and digit strings (JSON object keys arrive as strings)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    return _int(name, value, 1, MAX_MOVIE_ID)


def _validate_service_value(key: str, service: str, value: Any) -> Any:
    name = f"{key}.{service}"
    if key == "latency_ms":
        return _number(name, value, 0, 600_000)
    if key in RATE_KEYS:
        return float(_number(name, value, 0.0, 1.0))
    if key == "rate_per_minute":
        return _number(name, value, 0, 1_000_000)
    if key == "rate_burst":
        return _int(name, value, 1, 1_000_000)
    if key == "fail_first":
        return _int(name, value, 0, 1_000_000)
    if key == "fail_first_kinds":
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{name} must be a non-empty list of {list(FAULT_KINDS)}")
        kinds = [str(kind) for kind in value]
        bad = [kind for kind in kinds if kind not in FAULT_KINDS]
        if bad:
            raise ConfigError(f"{name}: unknown fault kinds {bad}; use {list(FAULT_KINDS)}")
        return kinds
    if key == "fail_movie_ids":
        if not isinstance(value, list):
            raise ConfigError(f"{name} must be a list of movie ids")
        return sorted({_movie_id(name, item) for item in value})
    raise ConfigError(f"unknown per-service key {key!r}")  # pragma: no cover


def _merge_per_service(key: str, current: dict[str, Any], update: Any) -> dict[str, Any]:
    if not isinstance(update, dict):
        update = {service: update for service in SERVICES}
    merged = dict(current)
    for service, value in update.items():
        if service not in SERVICES:
            raise ConfigError(f"{key}: unknown service {service!r}; use {list(SERVICES)}")
        merged[service] = _validate_service_value(key, service, copy.deepcopy(value))
    return merged


def _validate_dict(key: str, update: Any) -> dict[str, Any]:
    """region_movies ({"GB": 30}) or a text override ({"1000": "text"}), normalised."""
    if not isinstance(update, dict):
        raise ConfigError(f"{key} must be an object")
    result: dict[str, Any] = {}
    for raw_key, value in update.items():
        if key == "region_movies":
            entry = str(raw_key).upper()
            if len(entry) != 2 or not entry.isalpha():
                raise ConfigError(f"region_movies: {raw_key!r} is not a 2-letter region")
            result[entry] = _int(f"region_movies.{entry}", value, 0, MAX_MOVIES)
        elif key == "roast_overlong_answers":
            entry = str(_movie_id(key, raw_key))
            result[entry] = _int(f"{key}.{entry}", value, 0, 100)
        else:
            entry = str(raw_key).strip()
            if entry != "unknown":  # "unknown": prompts without a "TMDB id: N"
                entry = str(_movie_id(key, entry))
            if not isinstance(value, str):
                raise ConfigError(f"{key}.{entry} must be a string")
            result[entry] = value
    return result


def _faults_to_knob_major(faults: Any) -> dict[str, dict[str, Any]]:
    """{"research": {"rate_429": 0.1}} -> {"rate_429": {"research": 0.1}}."""
    if not isinstance(faults, dict):
        raise ConfigError("faults must be an object keyed by service")
    knobs: dict[str, dict[str, Any]] = {}
    for service, settings in faults.items():
        if service not in SERVICES:
            raise ConfigError(f"faults: unknown service {service!r}; use {list(SERVICES)}")
        if not isinstance(settings, dict):
            raise ConfigError(f"faults.{service} must be an object")
        for knob, value in settings.items():
            if knob not in PER_SERVICE_KEYS:
                raise ConfigError(
                    f"faults.{service}: unknown key {knob!r}; use {list(PER_SERVICE_KEYS)}"
                )
            knobs.setdefault(knob, {})[service] = value
    return knobs


def merge_config(base: dict[str, Any], partial: dict[str, Any] | None) -> dict[str, Any]:
    """Return a new config: ``base`` with ``partial`` merged in, validated.

    Raises ConfigError (and leaves ``base`` untouched) on any bad key or value, so a
    typo in a benchmark's fault settings fails loudly instead of silently doing nothing.
    """
    merged = copy.deepcopy(base)
    if not partial:
        return merged
    if not isinstance(partial, dict):
        raise ConfigError("config must be a JSON object")
    updates = [(k, v) for k, v in partial.items() if k != "faults"]
    if "faults" in partial:
        updates += list(_faults_to_knob_major(partial["faults"]).items())
    for key, value in updates:
        if key in PER_SERVICE_KEYS:
            merged[key] = _merge_per_service(key, merged[key], value)
        elif key in DICT_KEYS:
            merged[key] = _validate_dict(key, value)
        elif key in ("movies", "decoys"):
            merged[key] = _int(key, value, 0, MAX_MOVIES)
        elif key == "first_movie_id":
            merged[key] = _int(key, value, 1, MAX_MOVIE_ID - MAX_MOVIES)
        elif key == "seed":
            merged[key] = _int(key, value, -(2**63), 2**63 - 1)
        elif key == "retry_after_seconds":
            merged[key] = _number(key, value, 0, 86_400)
        elif key == "hang_seconds":
            merged[key] = _number(key, value, 0, 3_600)
        else:
            known = sorted([*SCALAR_KEYS, *PER_SERVICE_KEYS, *DICT_KEYS, "faults"])
            raise ConfigError(f"unknown config key {key!r}; known keys: {known}")
    for service in SERVICES:
        total = sum(merged[rate][service] for rate in RATE_KEYS)
        if total > 1.0 + 1e-9:
            raise ConfigError(f"fault rates for {service} add up to {total:.3f}, more than 1")
    return merged
