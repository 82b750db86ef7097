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
