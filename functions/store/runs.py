"""Runs and their per-movie outcomes (FirestoreRuns)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, cast

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore import (
    CollectionReference,
    DocumentReference,
    DocumentSnapshot,
    Transaction,
)
from google.cloud.firestore_v1.types.write import WriteResult

from functions.config import RUN_TTL
from functions.models import MovieOutcome, Run, RunStatus
from functions.ports import MovieContext
from functions.store import collections as c
from functions.store._firestore import _infra, _reads, _writes, log_doc
from functions.store.caches import FirestoreCaches

# Set on the run by the delivery that is closing it; see FirestoreRuns.finalize.
CLOSING_FIELD = "closing_at"
CLOSE_CLAIM = timedelta(seconds=30)


def _run_from(doc: dict[str, Any]) -> Run:
    ids = doc.get("movie_ids")
    if isinstance(ids, str):
        doc = {**doc, "movie_ids": [int(i) for i in ids.split(",") if i]}
    return Run.model_validate(doc)


def _pack_ids(ids: list[int]) -> str:
    """A run's movie ids as one string. Every roast delivery reads its run, and the
    client library decodes an array value by value in Python: 500 ids cost ≈ 2 ms of
    CPU per read as an array, ≈ 0.2 ms as one string (and nothing queries them)."""
    return ",".join(str(i) for i in ids)


def _run_doc(run: Run) -> dict[str, Any]:
    return {
        **run.model_dump(mode="python"),
        "movie_ids": _pack_ids(run.movie_ids),
        "trigger": run.trigger.value,
        "status": run.status.value,
        "movies_fetched": run.movies_fetched,
        c.EXPIRE_AT_FIELD: run.started_at + RUN_TTL,
    }


# FirestoreRuns.finalize, step by step. Several last deliveries can race to close the
# run. Each would read all N outcomes, so first they race for a claim on the run (a
# write conditioned on the update time they read: one wins, no lock) and only the
# winner reads. A claim older than CLOSE_CLAIM belongs to a closer that died: take it
# over.


def _claim_close(
    db: firestore.Client,
    ref: DocumentReference,
    snap: DocumentSnapshot[Any],
    doc: dict[str, Any],
    run: Run,
    now: datetime,
) -> WriteResult | None:
    """The claim's write result if this delivery is to close the run, else None.
    `doc` is `snap`'s data and `run` the run it holds (decoded once, by the caller)."""
    if run.status is not RunStatus.IN_PROGRESS:
        return None
    claimed = doc.get(CLOSING_FIELD)
    if claimed is not None and claimed > now - CLOSE_CLAIM:
        return None  # another delivery is closing it right now
    _writes()
    try:
        return ref.update(
            {CLOSING_FIELD: now},
            option=db.write_option(last_update_time=snap.update_time),
        )
    except (gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
        return None


def _give_back(db: firestore.Client, ref: DocumentReference, claim: WriteResult) -> None:
    """Drop our claim without closing the run."""
    _writes()
    try:
        ref.update(
            {CLOSING_FIELD: firestore.DELETE_FIELD},
            option=db.write_option(last_update_time=claim.update_time),
        )
    except (gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
        pass  # the run changed meanwhile: the claim went with it


def _close(
    db: firestore.Client, ref: DocumentReference, claim: WriteResult, final: Run
) -> tuple[Run | None, bool]:
    """Write the final run over our claim; if the run changed meanwhile, it as it is."""
    _writes()
    try:
        ref.update(
            {**_run_doc(final), CLOSING_FIELD: firestore.DELETE_FIELD},
            option=db.write_option(last_update_time=claim.update_time),
        )
    except (gexc.FailedPrecondition, gexc.Aborted):
        current = ref.get()  # reopened, or a takeover closed it meanwhile
        return (_run_from(current.to_dict() or {}) if current.exists else None), False
    return final, True


class FirestoreRuns:
    def __init__(self, db: firestore.Client, caches: FirestoreCaches) -> None:
        self._db = db
        # movie_context reads the movie's roast in the same round trip as its run.
        self._caches = caches

    def _run(self, correlation_id: str) -> DocumentReference:
        return self._db.collection(c.RUNS).document(correlation_id)

    def _outcomes(self, correlation_id: str) -> CollectionReference:
        outcomes: CollectionReference = self._run(correlation_id).collection(c.OUTCOMES)
        return outcomes

    @_infra
    def create_run(self, run: Run) -> bool:
        ref = self._run(run.correlation_id)
        stats = self._db.collection(c.META).document("stats")
        doc = _run_doc(run)

        # One atomic commit, no transaction: the create fails the whole batch if the
        # run exists, so total_runs counts each run once. One write per run, not per
        # movie: the stats document is not hot.
        batch = self._db.batch()
        batch.create(ref, doc)
        batch.set(stats, {"total_runs": firestore.Increment(1)}, merge=True)
        _writes(2)
        try:
            batch.commit()
        except gexc.AlreadyExists:
            return False
        return True

    @_infra
    def get_run(self, correlation_id: str) -> Run | None:
        snap = self._run(correlation_id).get()
        _reads()
        return _run_from(snap.to_dict() or {}) if snap.exists else None

    @_infra
    def update_run(self, run: Run) -> None:
        """Write the run as it now stands (its movie list, or a failed start)."""
        _writes()
        self._run(run.correlation_id).set(_run_doc(run), merge=True)

    @_infra
    def mark_published(self, correlation_id: str) -> None:
        _writes()
        self._run(correlation_id).update({"published": True})

    @_infra
    def get_outcome(self, correlation_id: str, movie_id: int) -> MovieOutcome | None:
        snap = self._outcomes(correlation_id).document(str(movie_id)).get()
        _reads()
        return MovieOutcome.model_validate(snap.to_dict()) if snap.exists else None

    @_infra
    def movie_context(self, correlation_id: str, movie_id: int, now: datetime) -> MovieContext:
        run_ref = self._run(correlation_id)
        outcome_ref = self._outcomes(correlation_id).document(str(movie_id))
        roast_ref = self._caches.roast_ref(movie_id)
        context = MovieContext()
        _reads(3)
        for snap in self._db.get_all([run_ref, outcome_ref, roast_ref]):
            if not snap.exists:
                continue
            if snap.reference.path == run_ref.path:
                context.run = _run_from(snap.to_dict() or {})
            elif snap.reference.path == outcome_ref.path:
                context.outcome = MovieOutcome.model_validate(snap.to_dict())
            else:
                context.roast = self._caches.roast_from(snap, now)
        return context

    @_infra
    def record_outcome(
        self, correlation_id: str, outcome: MovieOutcome, log_entry: dict[str, Any] | None = None
    ) -> bool:
        doc = {
            **outcome.model_dump(mode="python"),
            "outcome": outcome.outcome.value,
            c.EXPIRE_AT_FIELD: outcome.recorded_at + RUN_TTL,
        }
        ref = self._outcomes(correlation_id).document(str(outcome.movie_id))
        try:
            if log_entry is None:
                _writes()
                ref.create(doc)
            else:
                # One commit: the create fails the whole batch if the outcome exists.
                _writes(2)
                batch = self._db.batch()
                batch.create(ref, doc)
                batch.set(self._db.collection(c.LOGS).document(), log_doc(log_entry))
                batch.commit()
        except gexc.AlreadyExists:
            return False  # a duplicate delivery: the first one counted
        return True

    @_infra
    def count_outcomes(self, correlation_id: str) -> int:
        # count() is untyped in the client (see FirestoreCaches._page).
        counted: Any = self._outcomes(correlation_id)
        result = counted.count().get()
        _reads()  # an aggregation is billed one read per 1,000 index entries
        return int(result[0][0].value)

    @_infra
    def list_outcomes(self, correlation_id: str) -> list[MovieOutcome]:
        outcomes = [
            MovieOutcome.model_validate(s.to_dict())
            for s in self._outcomes(correlation_id).stream()
        ]
        _reads(max(1, len(outcomes)))
        return outcomes

    @_infra
    def finalize(self, correlation_id: str, now: datetime) -> tuple[Run | None, bool]:
        started = time.monotonic()
        ref = self._run(correlation_id)
        snap = ref.get()
        _reads()
        if not snap.exists:
            return None, False
        doc = snap.to_dict() or {}
        run = _run_from(doc)
        claim = _claim_close(self._db, ref, snap, doc, run, now)
        if claim is None:
            return run, False
        outcomes = self.list_outcomes(correlation_id)
        if not run.all_landed(outcomes):
            # Not every movie has landed (a caller counted on a stale view, e.g. just
            # after /cron/retry reopened the run): give the claim back, close nothing.
            _give_back(self._db, ref, claim)
            return run, False
        # The run is final once its closing write lands, not when closing began.
        closed_at = now + timedelta(seconds=time.monotonic() - started)
        return _close(self._db, ref, claim, run.finalized(outcomes, closed_at))

    @_infra
    def reopen(self, correlation_id: str, movie_ids: list[int], now: datetime) -> Run | None:
        ref = self._run(correlation_id)
        outcome_refs = [self._outcomes(correlation_id).document(str(i)) for i in movie_ids]

        @firestore.transactional
        def reopen(transaction: Transaction) -> Run | None:
            snap = ref.get(transaction=transaction)
            _reads()
            _writes(1 + len(outcome_refs))
            if not snap.exists:
                return None
            run = _run_from(snap.to_dict() or {})
            for outcome_ref in outcome_refs:
                transaction.delete(outcome_ref)
            opened = run.reopened(now)
            transaction.set(ref, _run_doc(opened))
            return opened

        return cast("Run | None", reopen(self._db.transaction()))

    @_infra
    def recent_runs(self, limit: int) -> list[Run]:
        query = (
            self._db.collection(c.RUNS)
            .order_by("started_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        runs = [_run_from(s.to_dict() or {}) for s in query.stream()]
        _reads(max(1, len(runs)))
        return runs

    @_infra
    def total_runs(self) -> int:
        snap = self._db.collection(c.META).document("stats").get()
        _reads()
        return int((snap.to_dict() or {}).get("total_runs", 0)) if snap.exists else 0

    @_infra
    def stuck_runs(self, started_before: datetime) -> list[Run]:
        query = (
            self._db.collection(c.RUNS)
            .where(filter=firestore.FieldFilter("status", "==", RunStatus.IN_PROGRESS.value))
            .where(filter=firestore.FieldFilter("started_at", "<", started_before))
        )
        runs = [_run_from(s.to_dict() or {}) for s in query.stream()]
        _reads(max(1, len(runs)))
        return runs
