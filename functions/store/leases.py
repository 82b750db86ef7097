"""Single-flight generation leases (FirestoreLeases)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore import DocumentReference

from functions.ports import LeaseAttempt
from functions.store import collections as c
from functions.store._firestore import StagedWrite, _infra, _reads, _writes

# Set on a lease document while its movie cools down after a failed generation.
FAILED_UNTIL = "failed_until"


class FirestoreLeases:
    """A lease document per movie. Taking a free lease is a `create` (exactly one
    caller wins); taking a lapsed one (its holder crashed) is an update conditioned on
    the document's update time, so again one wins. No transactions: twenty callers
    racing for one movie must not queue on a lock."""

    def __init__(self, db: firestore.Client, cache_version: str, lease: timedelta) -> None:
        self._db = db
        self._version = cache_version
        self._lease = lease
        # holder -> update time of the lease write that made it ours, so release can
        # delete conditionally without reading the lease back first.
        self._taken: dict[str, datetime] = {}

    def _ref(self, movie_id: int) -> DocumentReference:
        return self._db.collection(c.LEASES).document(f"{self._version}-{movie_id}")

    @_infra
    def acquire(
        self, movie_id: int, holder: str, now: datetime, take_cooling: bool = True
    ) -> LeaseAttempt:
        ref = self._ref(movie_id)
        doc: dict[str, Any] = {
            "holder": holder,
            "taken_at": now,
            c.EXPIRE_AT_FIELD: now + self._lease,
        }
        _writes()
        try:
            self._taken[holder] = ref.create(doc).update_time
            return LeaseAttempt(True)
        except gexc.AlreadyExists:
            pass
        snap = ref.get()
        _reads()
        if not snap.exists:
            # Released between our create and get: let the caller poll again.
            return LeaseAttempt(False)
        current = snap.to_dict() or {}
        failed_until = current.get(FAILED_UNTIL)
        cooling = failed_until is not None and failed_until > now
        if cooling and not take_cooling:
            return LeaseAttempt(False, failed_until)
        held = current.get("holder") not in (holder, "") and current[c.EXPIRE_AT_FIELD] > now
        if held and not cooling:
            return LeaseAttempt(False)
        _writes()
        try:
            result = ref.update(
                {**doc, FAILED_UNTIL: firestore.DELETE_FIELD},
                option=self._db.write_option(last_update_time=snap.update_time),
            )
        except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
            return LeaseAttempt(False)  # someone else took it first
        self._taken[holder] = result.update_time
        return LeaseAttempt(True)

    @_infra
    def mark_failed(self, movie_id: int, holder: str, until: datetime) -> None:
        """Our lease becomes a cooling-down marker (no holder) that expires, and is
        deleted by the TTL policy, when the cooldown ends. Conditioned like release:
        a lease that lapsed and was taken over is not ours to mark."""
        taken = self._taken.pop(holder, None)
        if taken is None:
            return
        _writes()
        try:
            self._ref(movie_id).update(
                {"holder": "", FAILED_UNTIL: until, c.EXPIRE_AT_FIELD: until},
                option=self._db.write_option(last_update_time=taken),
            )
        except (gexc.FailedPrecondition, gexc.NotFound):
            pass

    def stage_release(self, movie_id: int, holder: str) -> StagedWrite | None:
        """Giving back a lease this instance took, as a staged delete conditioned on the
        lease being as we wrote it (optional: if it lapsed and was taken over, it is no
        longer ours to delete, and the rest of the commit lands without it). None when
        this instance did not take it: `release` then reads it first."""
        taken = self._taken.pop(holder, None)
        if taken is None:
            return None
        ref = self._ref(movie_id)
        option = self._db.write_option(last_update_time=taken)
        return StagedWrite(lambda batch: batch.delete(ref, option=option), optional=True)

    @_infra
    def release(self, movie_id: int, holder: str) -> None:
        ref = self._ref(movie_id)
        taken = self._taken.pop(holder, None)
        if taken is not None:
            _writes()
            try:
                ref.delete(option=self._db.write_option(last_update_time=taken))
            except (gexc.FailedPrecondition, gexc.NotFound):
                pass  # it lapsed and was taken over: no longer ours to release
            return
        snap = ref.get()
        _reads()
        if snap.exists and (snap.to_dict() or {}).get("holder") == holder:
            _writes()
            try:
                ref.delete(option=self._db.write_option(last_update_time=snap.update_time))
            except (gexc.FailedPrecondition, gexc.NotFound):
                pass  # it lapsed and was taken over: no longer ours to release
