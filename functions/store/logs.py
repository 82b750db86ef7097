"""Log entries (FirestoreLogs) and each generation's debug payload (FirestoreDebug)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore import CollectionReference, Query

from functions.config import DEBUG_TTL
from functions.store import collections as c
from functions.store._firestore import (
    StagedWrite,
    _delete_all,
    _fresh,
    _infra,
    _reads,
    _writes,
    commit_now,
    log_doc,
)


class FirestoreLogs:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    @_infra
    def write(self, entry: dict[str, Any]) -> None:
        _writes()
        self._db.collection(c.LOGS).add(log_doc(entry))

    @staticmethod
    def _clean(doc: dict[str, Any]) -> dict[str, Any]:
        doc.pop(c.EXPIRE_AT_FIELD, None)
        doc.pop("created_at", None)
        return doc

    @_infra
    def query(
        self, limit: int, level: str | None = None, correlation_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first; `level` is the Worker's (DEBUG, INFO, WARN, ERROR). Each filter
        combination is spelled out whole, so tests/infra can match it to its index."""
        newest = firestore.Query.DESCENDING
        logs = self._db.collection(c.LOGS)
        if correlation_id is not None and level is not None:
            query = (
                self._db.collection(c.LOGS)
                .where(filter=firestore.FieldFilter("correlation_id", "==", correlation_id))
                .where(filter=firestore.FieldFilter("level", "==", level))
                .order_by("created_at", direction=firestore.Query.DESCENDING)
            )
        elif correlation_id is not None:
            query = (
                self._db.collection(c.LOGS)
                .where(filter=firestore.FieldFilter("correlation_id", "==", correlation_id))
                .order_by("created_at", direction=firestore.Query.DESCENDING)
            )
        elif level is not None:
            query = (
                self._db.collection(c.LOGS)
                .where(filter=firestore.FieldFilter("level", "==", level))
                .order_by("created_at", direction=firestore.Query.DESCENDING)
            )
        else:
            query = logs.order_by("created_at", direction=newest)
        entries = [self._clean(s.to_dict() or {}) for s in query.limit(limit).stream()]
        _reads(max(1, len(entries)))
        return entries

    def recent(self, limit: int) -> list[dict[str, Any]]:
        return self.query(limit)

    def for_run(self, correlation_id: str, limit: int) -> list[dict[str, Any]]:
        return self.query(limit, correlation_id=correlation_id)

    @_infra
    def delete_older_than(self, cutoff: datetime) -> int:
        query = self._db.collection(c.LOGS).where(
            filter=firestore.FieldFilter("created_at", "<", cutoff)
        )
        return len(_delete_all(self._db, query))


class FirestoreDebug:
    """Each generation's debug payload (what TMDB, Perplexity and Grok answered), by
    the correlation id that paid for it and by movie."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    @_infra
    def put(self, correlation_id: str, movie_id: int, data: dict[str, Any], now: datetime) -> None:
        _writes()
        commit_now(self._db, self.stage_put(correlation_id, movie_id, data, now))

    def stage_put(
        self, correlation_id: str, movie_id: int, data: dict[str, Any], now: datetime
    ) -> StagedWrite:
        ref = self._db.collection(c.DEBUG).document(f"{correlation_id}-{movie_id}")
        doc = {
            "key": debug_key(correlation_id, movie_id),
            "correlation_id": correlation_id,
            "movie_id": movie_id,
            "data": data,
            "created_at": now,
            c.EXPIRE_AT_FIELD: now + DEBUG_TTL,
        }
        return StagedWrite(lambda batch: batch.set(ref, doc))

    @staticmethod
    def _entries(query: Query | CollectionReference, now: datetime) -> list[dict[str, Any]]:
        docs = [s.to_dict() or {} for s in query.stream()]
        _reads(max(1, len(docs)))
        return [{"key": d["key"], "data": d["data"]} for d in docs if _fresh(d, now)]

    @_infra
    def for_correlation(
        self, correlation_id: str, limit: int, now: datetime
    ) -> list[dict[str, Any]]:
        query = (
            self._db.collection(c.DEBUG)
            .where(filter=firestore.FieldFilter("correlation_id", "==", correlation_id))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
        )
        return self._entries(query.limit(limit), now)

    @_infra
    def for_movie(self, movie_id: int, limit: int, now: datetime) -> list[dict[str, Any]]:
        query = (
            self._db.collection(c.DEBUG)
            .where(filter=firestore.FieldFilter("movie_id", "==", movie_id))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
        )
        return self._entries(query.limit(limit), now)

    @_infra
    def clear(self) -> list[str]:
        return _delete_all(self._db, self._db.collection(c.DEBUG))


def debug_key(correlation_id: str, movie_id: int) -> str:
    """The Worker's key form for a generation's debug entry."""
    return f"debug:{correlation_id}:{movie_id}"
