"""The caches (FirestoreCaches): now playing, truths, roasts and the roast index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore import (
    CollectionReference,
    DocumentReference,
    DocumentSnapshot,
    Query,
    WriteBatch,
)

from functions.config import NOW_PLAYING_TTL, ROAST_TTL
from functions.models import Movie, NowPlaying, RoastRecord, Truth
from functions.ports import CacheKind
from functions.store import collections as c
from functions.store._firestore import (
    StagedWrite,
    _delete_all,
    _fresh,
    _infra,
    _reads,
    _writes,
    commit_now,
)


class FirestoreCaches:
    def __init__(self, db: firestore.Client, cache_version: str, region: str | None) -> None:
        self._db = db
        self._version = cache_version
        self._region = region or "all"

    def _key(self, movie_id: int) -> str:
        return f"{self._version}-{movie_id}"

    def _now_playing_ref(self) -> DocumentReference:
        return self._db.collection(c.NOW_PLAYING).document(f"{self._version}-{self._region}")

    def _index_ref(self) -> DocumentReference:
        return self._db.collection(c.ROAST_INDEX).document(self._version)

    def _truth_ref(self, movie_id: int) -> DocumentReference:
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

    def _page(
        self, query: Query | CollectionReference, offset: int, limit: int
    ) -> tuple[list[DocumentSnapshot[Any]], int]:
        # The client's annotations type count() as returning the AggregationQuery
        # class rather than an instance, so its result is taken as Any here.
        counted: Any = query.count()
        total = int(counted.get()[0][0].value)
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

    def roast_ref(self, movie_id: int) -> DocumentReference:
        return self._db.collection(c.ROASTS).document(self._key(movie_id))

    def roast_from(self, snap: DocumentSnapshot[Any], now: datetime) -> RoastRecord | None:
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

    def stage_roast(self, record: RoastRecord, now: datetime) -> StagedWrite:
        """The roast and its has_roast index entry, as one staged write."""
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

        def write(batch: WriteBatch) -> None:
            # The roast and its has_roast entry land together (merge: only this
            # movie's entry of the index is written).
            batch.set(ref, doc)
            batch.set(index, {"ready": {str(record.movie.id): expire_at}}, merge=True)

        return StagedWrite(write)

    @_infra
    def put_roast(self, record: RoastRecord, now: datetime) -> None:
        _writes()
        commit_now(self._db, self.stage_roast(record, now))

    @_infra
    def clear(self, kind: CacheKind) -> list[str]:
        """Delete every document of that cache; returns their ids."""
        name = {"roast": c.ROASTS, "now-playing": c.NOW_PLAYING, "truth": c.TRUTHS}[kind]
        deleted = _delete_all(self._db, self._db.collection(name))
        if kind == "roast":
            # has_roast's index goes with the roasts (a detail, not a cache entry).
            _delete_all(self._db, self._db.collection(c.ROAST_INDEX))
        return deleted
