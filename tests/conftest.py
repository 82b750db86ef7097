"""Fixtures shared by every test level.

Every test gets a pristine ``os.environ`` back afterwards (config tests set variables
freely), and a fresh composition root: whatever App a test built or installed is
forgotten, so the next test's ``bootstrap.get_app()`` starts from nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from functions import bootstrap


@pytest.fixture(autouse=True)
def _isolated_environment() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        bootstrap.reset()


def settings_variables() -> list[str]:
    """Every environment variable Settings reads (each field's alias or aliases)."""
    from functions.config import Settings

    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names.update(getattr(alias, "choices", None) or [alias])  # type: ignore[list-item]
    return sorted(str(n) for n in names)


@pytest.fixture
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset everything Settings reads, so a developer's exported PLOTBURN_*, TMDB_*,
    ... cannot change a unit test's defaults. Opt in with
    ``pytestmark = pytest.mark.usefixtures("clean_settings_env")`` (it then runs
    before the test's own fixtures, such as ``world``)."""
    for name in settings_variables():
        monkeypatch.delenv(name, raising=False)


# Test tiers by directory: what a test needs is where it lives. `make test-fast` runs
# what needs neither (tests/unit, tests/infra, tests/tools).
_TIERS = {"integration": "emulators", "e2e": "stack"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = os.path.dirname(__file__)
    for item in items:
        relative = os.path.relpath(str(item.path), tests_dir)
        marker = _TIERS.get(relative.split(os.sep, 1)[0])
        if marker is not None:
            item.add_marker(getattr(pytest.mark, marker))
            if marker == "stack":
                item.add_marker(pytest.mark.emulators)  # a stack runs both emulators
