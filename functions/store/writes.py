"""One commit for the writes several stores make together (FirestoreWrites)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from functions.store._firestore import _PENDING, _infra, _Write


class FirestoreWrites:
    """One commit for the writes several stores make in a `together()` block."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    @contextmanager
    def together(self) -> Iterator[None]:
        pending: list[_Write] = []
        token = _PENDING.set(pending)
        try:
            yield
        finally:
            _PENDING.reset(token)
            self._commit(pending)

    def _batch(self, writes: list[_Write]) -> Any:
        batch = self._db.batch()
        for write in writes:
            write.apply(batch)
        return batch

    @_infra
    def _commit(self, writes: list[_Write]) -> None:
        if not writes:
            return
        try:
            self._batch(writes).commit()
        except (gexc.FailedPrecondition, gexc.NotFound):
            # A lease that lapsed and was taken over is no longer ours to delete;
            # the rest must land all the same.
            required = [w for w in writes if not w.optional]
            if len(required) == len(writes):
                raise
            if required:
                self._batch(required).commit()
