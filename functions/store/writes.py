"""The unit of work of a finished generation: the writes it leaves behind (the settled
budget, the roast with its has_roast entry, its debug entry, the lease given back)
staged and sent in one commit, one round trip.

    with uow.begin() as work:
        work.settle_budget(day, calls, cost)
        work.put_roast(record, now)
        work.release_lease(movie_id, holder)
        work.commit()              # nothing is sent before this; leaving without it sends nothing
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore import WriteBatch

from functions.models import BudgetPool, RoastRecord
from functions.store._firestore import StagedWrite, _infra, _writes
from functions.store.budget import FirestoreBudget
from functions.store.caches import FirestoreCaches
from functions.store.leases import FirestoreLeases
from functions.store.logs import FirestoreDebug


class FirestoreGenerationWork:
    """The staged writes of one generation; `commit()` sends them in one batch."""

    def __init__(self, uow: FirestoreUnitOfWork) -> None:
        self._uow = uow
        self._staged: list[StagedWrite] = []
        self._unstaged_releases: list[tuple[int, str]] = []
        self.committed = False

    def __enter__(self) -> FirestoreGenerationWork:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Leaving without commit() (an error in the block) sends nothing: the staged
        # writes are dropped with the work.
        self._staged.clear()

    def settle_budget(
        self, day: str, calls: int, cost_usd: float, pool: BudgetPool = BudgetPool.NIGHTLY
    ) -> None:
        staged = self._uow.budget.stage_add(day, calls, cost_usd, pool)
        if staged is not None:
            self._staged.append(staged)

    def put_roast(self, record: RoastRecord, now: datetime) -> None:
        self._staged.append(self._uow.caches.stage_roast(record, now))

    def put_debug(
        self, correlation_id: str, movie_id: int, data: dict[str, Any], now: datetime
    ) -> None:
        self._staged.append(self._uow.debug.stage_put(correlation_id, movie_id, data, now))

    def release_lease(self, movie_id: int, holder: str) -> None:
        staged = self._uow.leases.stage_release(movie_id, holder)
        if staged is None:
            self._unstaged_releases.append((movie_id, holder))  # read first, after the commit
        else:
            self._staged.append(staged)

    def commit(self) -> None:
        self._uow.send(self._staged)
        self._staged.clear()
        for movie_id, holder in self._unstaged_releases:
            self._uow.leases.release(movie_id, holder)
        self.committed = True


class FirestoreUnitOfWork:
    def __init__(
        self,
        db: firestore.Client,
        caches: FirestoreCaches,
        budget: FirestoreBudget,
        leases: FirestoreLeases,
        debug: FirestoreDebug,
    ) -> None:
        self._db = db
        self.caches = caches
        self.budget = budget
        self.leases = leases
        self.debug = debug

    def begin(self) -> FirestoreGenerationWork:
        return FirestoreGenerationWork(self)

    def _batch(self, writes: list[StagedWrite]) -> WriteBatch:
        batch = self._db.batch()
        for write in writes:
            write.apply(batch)
        return batch

    @_infra
    def send(self, writes: list[StagedWrite]) -> None:
        if not writes:
            return
        _writes(len(writes))
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
