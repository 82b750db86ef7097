from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def firestore_db() -> Iterator[object]:
    from google.cloud import firestore
    import httpx
    host = os.environ["FIRESTORE_EMULATOR_HOST"]
    httpx.delete(f"http://{host}/emulator/v1/projects/plotburn-test/databases/(default)/documents")
    yield firestore.Client(project="plotburn-test")
