"""Firestore implementations of the cache, lease, run and log stores.

Document layout (collection names in ``collections.py``):

    now_playing/{version}-{region}        movies[], dates, expire_at (23 h)
    truths/{version}-{movie_id}           movie, truth, fetched_at      (permanent)
    roasts/{version}-{movie_id}           movie, details, truth, roast, expire_at (30 days)
    roast_index/{version}                 ready.{movie_id}: expire_at   (has_roast, one read)
    debug/{correlation_id}-{movie_id}     a generation's debug payload, expire_at (7 days)
    leases/{version}-{movie_id}           holder, expire_at             (single flight)
    runs/{correlation_id}                 the run, expire_at (90 days)
    runs/{correlation_id}/outcomes/{id}   one movie's outcome, created once
    meta/stats                            total_runs
    logs/{auto}                           log entries, expire_at (7 days)

Every google.api_core error that means "try again later" becomes
InfrastructureUnavailable, so event functions raise it and Pub/Sub redelivers.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from google.api_core import exceptions as gexc
from google.cloud import firestore

from functions import metering
from functions.config import (
    BUDGET_TTL,
    DEBUG_TTL,
    LOG_TTL,
    NOW_PLAYING_TTL,
    RATE_LIMIT_TTL,
    ROAST_TTL,
    RUN_TTL,
)
from functions.errors import InfrastructureUnavailable
from functions.limits import TokenBucket
from functions.metering import COST_DECIMALS
from functions.models import (
    Movie,
    MovieOutcome,
    NowPlaying,
    RoastRecord,
    Run,
    RunStatus,
    Truth,
    utcnow,
)
from functions.ports import CacheKind, MovieContext
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

    return cast(F, wrapper)


def _reads(n: int = 1) -> None:
    metering.record_ops("firestore_reads", n)


def _writes(n: int = 1) -> None:
    metering.record_ops("firestore_writes", n)


@dataclass
class _Write:
    apply: Callable[[Any], Any]  # adds the write to a WriteBatch
    optional: bool  # dropped, not failing the rest, when its precondition fails


# Writes deferred by FirestoreWrites.together() in this request's context.
_PENDING: ContextVar[list[_Write] | None] = ContextVar("plotburn_pending_writes", default=None)


def _defer(apply: Callable[[Any], Any], optional: bool = False) -> bool:
    """Queue a write if a `together()` block is open; False means write it now."""
    pending = _PENDING.get()
    if pending is None:
        return False
    pending.append(_Write(apply, optional))
    return True


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


def _fresh(doc: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """TTL deletion lags up to a day and the emulator never deletes: expired is a miss."""
    if doc is None:
        return None
    expire_at = doc.get(c.EXPIRE_AT_FIELD)
    if expire_at is not None and expire_at <= now:
        return None
    return doc


class FirestoreCaches:
    def __init__(self, db: firestore.Client, cache_version: str, region: str | None) -> None:
        self._db = db
        self._version = cache_version
        self._region = region or "all"

    def _key(self, movie_id: int) -> str:
        return f"{self._version}-{movie_id}"

    def _now_playing_ref(self) -> Any:
        return self._db.collection(c.NOW_PLAYING).document(f"{self._version}-{self._region}")

    def _index_ref(self) -> Any:
        return self._db.collection(c.ROAST_INDEX).document(self._version)

    def _truth_ref(self, movie_id: int) -> Any:
        return self._db.collection(c.TRUTHS).document(self._key(movie_id))

    @_infra
    def get_now_playing(self, now: datetime) -> NowPlaying | None:
        snap = self._now_playing_ref().get()
        _reads()
        doc = _fresh(snap.to_dict() if snap.exists else None, now)
        if doc is None:
            return None
        return NowPlaying.model_validate(
            {"movies": doc.get("movies", []), "dates": doc.get("dates")}
        )

    @_infra
    def put_now_playing(self, listing: NowPlaying, now: datetime) -> None:
        _writes()
        self._now_playing_ref().set(
            {
                **listing.model_dump(mode="json"),
                "fetched_at": now,
                "cache_version": self._version,
                c.EXPIRE_AT_FIELD: now + NOW_PLAYING_TTL,
            }
        )

    @_infra
    def put_truth(self, movie: Movie, truth: Truth) -> None:
        _writes()
        self._truth_ref(movie.id).set(
            {
                "movie": movie.model_dump(mode="json"),
                "truth": truth.model_dump(),
                "fetched_at": truth.created_at,
                "cache_version": self._version,
            }
        )

    @_infra
    def get_truths(self, movie_ids: list[int]) -> dict[int, Truth]:
        if not movie_ids:
            return {}
        _reads(len(movie_ids))
        found: dict[int, Truth] = {}
        for snap in self._db.get_all([self._truth_ref(i) for i in movie_ids]):
            if snap.exists:
                truth = Truth.model_validate((snap.to_dict() or {})["truth"])
                found[truth.movie_id] = truth
        return found

    def _page(self, query: Any, offset: int, limit: int) -> tuple[list[Any], int]:
        total = int(query.count().get()[0][0].value)
        snaps = list(query.offset(offset).limit(limit).stream()) if offset < total else []
        _reads(1 + len(snaps) + min(offset, total))  # skipped documents are billed too
        return snaps, total

    @_infra
    def list_truths(self, offset: int, limit: int) -> tuple[list[Truth], int]:
        """Newest first, with the total."""
        query = (
            self._db.collection(c.TRUTHS)
            .where(filter=firestore.FieldFilter("cache_version", "==", self._version))
            .order_by("fetched_at", direction=firestore.Query.DESCENDING)
        )
        snaps, total = self._page(query, offset, limit)
        return [Truth.model_validate((s.to_dict() or {})["truth"]) for s in snaps], total

    @_infra
    def list_roasts(self, offset: int, limit: int, now: datetime) -> tuple[list[RoastRecord], int]:
        """Roasts, newest first. TTL deletion lags up to a day: an expired roast not
        yet deleted is counted in the total but left out of the page."""
        query = (
            self._db.collection(c.ROASTS)
            .where(filter=firestore.FieldFilter("cache_version", "==", self._version))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
        )
        snaps, total = self._page(query, offset, limit)
        fresh = [doc for s in snaps if (doc := _fresh(s.to_dict() or {}, now)) is not None]
        return [self._record(doc) for doc in fresh], total

    @staticmethod
    def _record(doc: dict[str, Any]) -> RoastRecord:
        return RoastRecord.model_validate(
            {k: doc[k] for k in ("movie", "details", "truth", "roast")}
        )

    @_infra
    def get_roast(self, movie_id: int, now: datetime) -> RoastRecord | None:
        snap = self._db.collection(c.ROASTS).document(self._key(movie_id)).get()
        _reads()
        doc = _fresh(snap.to_dict() if snap.exists else None, now)
        return self._record(doc) if doc else None

    @_infra
    def get_roasts(self, movie_ids: list[int], now: datetime) -> dict[int, RoastRecord]:
        if not movie_ids:
            return {}
        refs = [self._db.collection(c.ROASTS).document(self._key(i)) for i in movie_ids]
        _reads(len(refs))
        found: dict[int, RoastRecord] = {}
        for snap in self._db.get_all(refs):
            doc = _fresh(snap.to_dict() if snap.exists else None, now)
            if doc:
                record = self._record(doc)
                found[record.movie.id] = record
        return found

    def roast_ref(self, movie_id: int) -> Any:
        return self._db.collection(c.ROASTS).document(self._key(movie_id))

    def roast_from(self, snap: Any, now: datetime) -> RoastRecord | None:
        doc = _fresh(snap.to_dict() if snap.exists else None, now)
        return self._record(doc) if doc else None

    @_infra
    def get_roast_and_truth(
        self, movie_id: int, now: datetime
    ) -> tuple[RoastRecord | None, Truth | None]:
        roast_ref = self.roast_ref(movie_id)
        truth_ref = self._db.collection(c.TRUTHS).document(self._key(movie_id))
        roast: RoastRecord | None = None
        truth: Truth | None = None
        _reads(2)
        for snap in self._db.get_all([roast_ref, truth_ref]):
            if not snap.exists:
                continue
            if snap.reference.path == roast_ref.path:
                roast = self.roast_from(snap, now)
            else:
                truth = Truth.model_validate((snap.to_dict() or {})["truth"])
        return roast, truth

    @_infra
    def roasts_ready(self, movie_ids: list[int], now: datetime) -> set[int]:
        """One read however many movies: the roast index, not the roasts."""
        if not movie_ids:
            return set()
        snap = self._index_ref().get()
        _reads()
        ready = ((snap.to_dict() or {}).get("ready") or {}) if snap.exists else {}
        return {i for i in movie_ids if (expiry := ready.get(str(i))) is not None and expiry > now}

    @_infra
    def put_roast(self, record: RoastRecord, now: datetime) -> None:
        _writes()
        ref = self.roast_ref(record.movie.id)
        expire_at = now + ROAST_TTL
        doc = {
            "movie": record.movie.model_dump(mode="json"),
            "details": record.details.model_dump(mode="json"),
            "truth": record.truth.model_dump(),
            "roast": record.roast.model_dump(),
            "cache_version": self._version,
            "created_at": now,
            c.EXPIRE_AT_FIELD: expire_at,
        }
        index = self._index_ref()

        def write(batch: Any) -> None:
            # The roast and its has_roast entry land together (merge: only this
            # movie's entry of the index is written).
            batch.set(ref, doc)
            batch.set(index, {"ready": {str(record.movie.id): expire_at}}, merge=True)

        _writes()
        if not _defer(write):
            batch = self._db.batch()
            write(batch)
            batch.commit()

    @_infra
    def clear(self, kind: CacheKind) -> list[str]:
        """Delete every document of that cache; returns their ids."""
        name = {"roast": c.ROASTS, "now-playing": c.NOW_PLAYING, "truth": c.TRUTHS}[kind]
        deleted = _delete_all(self._db, self._db.collection(name))
        if kind == "roast":
            # has_roast's index goes with the roasts (a detail, not a cache entry).
            _delete_all(self._db, self._db.collection(c.ROAST_INDEX))
        return deleted


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
        self._taken: dict[str, Any] = {}

    def _ref(self, movie_id: int) -> Any:
        return self._db.collection(c.LEASES).document(f"{self._version}-{movie_id}")

    @_infra
    def acquire(self, movie_id: int, holder: str, now: datetime) -> bool:
        ref = self._ref(movie_id)
        doc = {"holder": holder, "taken_at": now, c.EXPIRE_AT_FIELD: now + self._lease}
        _writes()
        try:
            self._taken[holder] = ref.create(doc).update_time
            return True
        except gexc.AlreadyExists:
            pass
        snap = ref.get()
        _reads()
        if not snap.exists:
            return False  # released between our create and get: let the caller poll again
        current = snap.to_dict() or {}
        if current.get("holder") != holder and current[c.EXPIRE_AT_FIELD] > now:
            return False
        _writes()
        try:
            result = ref.update(
                doc, option=self._db.write_option(last_update_time=snap.update_time)
            )
        except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
            return False  # someone else took it first
        self._taken[holder] = result.update_time
        return True

    @_infra
    def release(self, movie_id: int, holder: str) -> None:
        ref = self._ref(movie_id)
        taken = self._taken.pop(holder, None)
        if taken is not None:
            _writes()
            option = self._db.write_option(last_update_time=taken)
            if _defer(lambda batch: batch.delete(ref, option=option), optional=True):
                return
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


class FirestoreRuns:
    def __init__(self, db: firestore.Client, caches: FirestoreCaches) -> None:
        self._db = db
        # movie_context reads the movie's roast in the same round trip as its run.
        self._caches = caches

    def _run(self, correlation_id: str) -> Any:
        return self._db.collection(c.RUNS).document(correlation_id)

    def _outcomes(self, correlation_id: str) -> Any:
        return self._run(correlation_id).collection(c.OUTCOMES)

    @staticmethod
    def _run_doc(run: Run) -> dict[str, Any]:
        return {
            **run.model_dump(mode="python"),
            "movie_ids": _pack_ids(run.movie_ids),
            "trigger": run.trigger.value,
            "status": run.status.value,
            "movies_fetched": run.movies_fetched,
            c.EXPIRE_AT_FIELD: run.started_at + RUN_TTL,
        }

    @_infra
    def create_run(self, run: Run) -> bool:
        ref = self._run(run.correlation_id)
        stats = self._db.collection(c.META).document("stats")
        doc = self._run_doc(run)

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
        self._run(run.correlation_id).set(self._run_doc(run), merge=True)

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
        result = self._outcomes(correlation_id).count().get()
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
        if run.status is not RunStatus.IN_PROGRESS:
            return run, False
        claimed = doc.get(CLOSING_FIELD)
        if claimed is not None and claimed > now - CLOSE_CLAIM:
            return run, False  # another delivery is closing it right now
        # Several last deliveries can race to close the run. Each would read all N
        # outcomes, so first they race for a claim on the run (a write conditioned on
        # the update time they read: one wins, no lock) and only the winner reads.
        # A claim older than CLOSE_CLAIM belongs to a closer that died: take it over.
        _writes()
        try:
            claim = ref.update(
                {CLOSING_FIELD: now},
                option=self._db.write_option(last_update_time=snap.update_time),
            )
        except (gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
            return run, False
        outcomes = self.list_outcomes(correlation_id)
        if not set(run.movie_ids) <= {o.movie_id for o in outcomes}:
            # Not every movie has landed (a caller counted on a stale view, e.g. just
            # after /cron/retry reopened the run): give the claim back, close nothing.
            _writes()
            try:
                ref.update(
                    {CLOSING_FIELD: firestore.DELETE_FIELD},
                    option=self._db.write_option(last_update_time=claim.update_time),
                )
            except (gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
                pass  # the run changed meanwhile: the claim went with it
            return run, False
        # The run is final once its closing write lands, not when closing began.
        closed_at = now + timedelta(seconds=time.monotonic() - started)
        final = run.finalized(outcomes, closed_at)
        _writes()
        try:
            ref.update(
                {**self._run_doc(final), CLOSING_FIELD: firestore.DELETE_FIELD},
                option=self._db.write_option(last_update_time=claim.update_time),
            )
        except (gexc.FailedPrecondition, gexc.Aborted):
            current = ref.get()  # reopened, or a takeover closed it meanwhile
            return (_run_from(current.to_dict() or {}) if current.exists else None), False
        return final, True

    @_infra
    def reopen(self, correlation_id: str, movie_ids: list[int], now: datetime) -> Run | None:
        ref = self._run(correlation_id)
        outcome_refs = [self._outcomes(correlation_id).document(str(i)) for i in movie_ids]

        @firestore.transactional
        def reopen(transaction: Any) -> Run | None:
            snap = ref.get(transaction=transaction)
            _reads()
            _writes(1 + len(outcome_refs))
            if not snap.exists:
                return None
            run = _run_from(snap.to_dict() or {})
            for outcome_ref in outcome_refs:
                transaction.delete(outcome_ref)
            opened = run.model_copy(
                update={"status": RunStatus.IN_PROGRESS, "finished_at": None, "reopened_at": now}
            )
            transaction.set(ref, self._run_doc(opened))
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


def _delete_all(db: firestore.Client, query: Any) -> list[str]:
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
        ref = self._db.collection(c.DEBUG).document(f"{correlation_id}-{movie_id}")
        doc = {
            "key": debug_key(correlation_id, movie_id),
            "correlation_id": correlation_id,
            "movie_id": movie_id,
            "data": data,
            "created_at": now,
            c.EXPIRE_AT_FIELD: now + DEBUG_TTL,
        }
        _writes()
        if not _defer(lambda batch: batch.set(ref, doc)):
            ref.set(doc)

    @staticmethod
    def _entries(query: Any, now: datetime) -> list[dict[str, Any]]:
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


class FirestoreBudget:
    """The day's spend, sharded over a few documents so that a 500-movie night does
    not send every increment to one hot document. Reads sum the shards in one
    round trip; writes are server-side increments on a random shard (no transaction,
    no lock)."""

    SHARDS = 8

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _shard(self, day: str, k: int) -> Any:
        return self._db.collection(c.BUDGETS).document(f"{day}-{k}")

    @_infra
    def spent(self, day: str) -> tuple[int, float]:
        calls, cost = 0, 0.0
        _reads(self.SHARDS)
        for snap in self._db.get_all([self._shard(day, k) for k in range(self.SHARDS)]):
            if snap.exists:
                doc = snap.to_dict() or {}
                calls += int(doc.get("calls", 0))
                cost += float(doc.get("cost_usd", 0.0))
        return calls, round(cost, COST_DECIMALS)

    @_infra
    def add(self, day: str, calls: int, cost_usd: float) -> None:
        if calls == 0 and cost_usd == 0:
            return
        _writes()
        shard = self._shard(day, random.randrange(self.SHARDS))
        doc = {
            "day": day,
            "calls": firestore.Increment(calls),
            "cost_usd": firestore.Increment(cost_usd),
            c.EXPIRE_AT_FIELD: _day_start(day) + BUDGET_TTL,
        }
        if not _defer(lambda batch: batch.set(shard, doc, merge=True)):
            shard.set(doc, merge=True)

    @_infra
    def claim_alert(self, day: str) -> bool:
        _writes()
        try:
            self._db.collection(c.BUDGETS).document(f"{day}-alert").create(
                {
                    "day": day,
                    "alerted_at": utcnow(),
                    c.EXPIRE_AT_FIELD: _day_start(day) + BUDGET_TTL,
                }
            )
        except gexc.AlreadyExists:
            return False
        return True


def _day_start(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


class FirestoreRateLimiter:
    """A token bucket per client: `rate_limits/{client}`. The bucket is read, refilled
    and spent in a transaction, so every instance shares it; each client has its own
    document, so there is no contention between clients. An idle bucket is full, so
    its document expires (TTL) an hour after its last use."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    @_infra
    def hit(self, client: str, now: datetime, limit_per_minute: int) -> int | None:
        ref = self._db.collection(c.RATE_LIMITS).document(client)

        @firestore.transactional
        def take(transaction: Any) -> int | None:
            snap = ref.get(transaction=transaction)
            _reads()
            doc = (snap.to_dict() or {}) if snap.exists else {}
            bucket = TokenBucket.restore(doc.get("tokens"), doc.get("updated_at"), limit_per_minute)
            retry_after = bucket.take(now)
            if retry_after is not None:
                return retry_after
            _writes()
            transaction.set(
                ref,
                {
                    "tokens": bucket.tokens,
                    "updated_at": now,
                    c.EXPIRE_AT_FIELD: now + RATE_LIMIT_TTL,
                },
            )
            return None

        return cast("int | None", take(self._db.transaction()))
