"""Integration tests run against a real Firestore emulator, started once per session
through its launcher in its own process group (local_stack.emulators) and emptied
before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.emulators import FirestoreEmulator

PROJECT = "plotburn-test"


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    emulator = FirestoreEmulator(project=PROJECT)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def firestore_db(firestore_emulator: FirestoreEmulator) -> Any:
    from google.cloud import firestore

    firestore_emulator.reset(PROJECT)
    # The client library finds the emulator through this variable; the autouse
    # fixture in tests/conftest.py restores the environment after each test.
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_emulator.host
    return firestore.Client(project=PROJECT)
