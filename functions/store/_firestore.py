"""What the Firestore stores share: every google.api_core error that means "try again
later" becomes InfrastructureUnavailable (so event functions raise it and Pub/Sub
redelivers), read and write operations are metered, an expired document reads as a
miss, and a write can be staged for a unit of work's commit (writes.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore import CollectionReference, Query, WriteBatch

from functions import metering
from functions.config import LOG_TTL
from functions.errors import InfrastructureUnavailable
from functions.models import utcnow
from functions.store import collections as c

F = TypeVar("F", bound=Callable[..., Any])

_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.ResourceExhausted,
    gexc.RetryError,
    gexc.Unknown,
)


def _infra(fn: F) -> F:
    """Map Firestore's transient failures to our retryable error type."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _TRANSIENT as exc:
            raise InfrastructureUnavailable(f"firestore: {type(exc).__name__}") from exc
        except ValueError as exc:
            # A transaction that lost every retry to contention ends in a plain
            # ValueError ("Failed to commit transaction in N attempts"): transient too.
            if "Failed to commit transaction" not in str(exc):
                raise
            raise InfrastructureUnavailable("firestore: transaction contention") from exc

    return cast(F, wrapper)


def _reads(n: int = 1) -> None:
    metering.record_ops("firestore_reads", n)


def _writes(n: int = 1) -> None:
    metering.record_ops("firestore_writes", n)


@dataclass(frozen=True)
class StagedWrite:
    """One write, staged for a unit of work's commit instead of sent on its own."""

    apply: Callable[[WriteBatch], object]  # adds the write to a WriteBatch
    optional: bool = False  # dropped, not failing the rest, when its precondition fails


def commit_now(db: firestore.Client, *staged: StagedWrite) -> None:
    """Send staged writes at once, in one batch (the store's own, immediate write)."""
    batch = db.batch()
    for write in staged:
        write.apply(batch)
    batch.commit()


def _fresh(doc: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """TTL deletion lags up to a day and the emulator never deletes: expired is a miss."""
    if doc is None:
        return None
    expire_at = doc.get(c.EXPIRE_AT_FIELD)
    if expire_at is not None and expire_at <= now:
        return None
    return doc


def _delete_all(db: firestore.Client, query: Query | CollectionReference) -> list[str]:
    """Delete what the query selects, in batches; the deleted documents' ids."""
    deleted: list[str] = []
    refs = [snap.reference for snap in query.select([]).stream()]
    _reads(max(1, len(refs)))
    for start in range(0, len(refs), 400):
        batch = db.batch()
        for ref in refs[start : start + 400]:
            batch.delete(ref)
        batch.commit()
        _writes(len(refs[start : start + 400]))
    deleted += [ref.id for ref in refs]
    return deleted


def log_doc(entry: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    return {**entry, "created_at": now, c.EXPIRE_AT_FIELD: now + LOG_TTL}
