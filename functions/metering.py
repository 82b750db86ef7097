"""What a piece of work spent upstream: calls per service and tokens per LLM.

The upstream layer records into whichever Ledger is current (a context variable),
so the pipeline can ask "what did researching and roasting this movie cost?" without
threading a counter through every signature. Every attempt is a call, retries
included; a call never made (another caller was generating the movie) costs nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from pydantic import BaseModel, ConfigDict

SERVICES = ("tmdb", "research", "roast")


class ServiceSpend(BaseModel):
    model_config = ConfigDict(extra="ignore")

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def plus(self, other: ServiceSpend) -> ServiceSpend:
        return ServiceSpend(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class Spend(BaseModel):
    """Calls and tokens per service. Summable; stored on outcomes and runs."""

    model_config = ConfigDict(extra="ignore")

    tmdb: ServiceSpend = ServiceSpend()
    research: ServiceSpend = ServiceSpend()
    roast: ServiceSpend = ServiceSpend()

    def plus(self, other: Spend) -> Spend:
        return Spend(**{s: getattr(self, s).plus(getattr(other, s)) for s in SERVICES})

    @property
    def paid_calls(self) -> int:
        return self.research.calls + self.roast.calls

    @property
    def empty(self) -> bool:
        return all(getattr(self, s).calls == 0 for s in SERVICES)


class Ledger:
    """Counts calls and tokens; a ledger opened inside another also counts into it."""

    def __init__(self, parent: Ledger | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._ops: dict[str, int] = {}
        self._counts: dict[str, dict[str, int]] = {s: {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0} for s in SERVICES}

    def call(self, service: str) -> None:
        if service in self._counts:
            with self._lock:
                self._counts[service]["calls"] += 1
        if self._parent is not None:
            self._parent.call(service)

    def tokens(self, service: str, prompt: int, completion: int) -> None:
        if service in self._counts:
            with self._lock:
                self._counts[service]["prompt_tokens"] += prompt
                self._counts[service]["completion_tokens"] += completion
        if self._parent is not None:
            self._parent.tokens(service, prompt, completion)

    def op(self, name: str, n: int) -> None:
        with self._lock:
            self._ops[name] = self._ops.get(name, 0) + n
        if self._parent is not None:
            self._parent.op(name, n)

    def ops(self) -> dict[str, int]:
        """Firestore reads/writes and Pub/Sub publishes made inside the block."""
        with self._lock:
            return dict(self._ops)

    def spend(self) -> Spend:
        with self._lock:
            return Spend.model_validate({s: dict(v) for s, v in self._counts.items()})


_current: ContextVar[Ledger | None] = ContextVar("plotburn_ledger", default=None)


def current() -> Ledger | None:
    return _current.get()


@contextlib.contextmanager
def ledger() -> Iterator[Ledger]:
    """Record the upstream spend of everything done inside the block."""
    book = Ledger(parent=_current.get())
    token = _current.set(book)
    try:
        yield book
    finally:
        _current.reset(token)


def record_call(service: str) -> None:
    book = _current.get()
    if book is not None:
        book.call(service)


def record_tokens(service: str, prompt: int, completion: int) -> None:
    book = _current.get()
    if book is not None:
        book.tokens(service, prompt, completion)


def record_ops(name: str, n: int = 1) -> None:
    book = _current.get()
    if book is not None:
        book.op(name, n)


def total(spends: list[Any]) -> Spend:
    result = Spend()
    for spend in spends:
        if spend is not None:
            result = result.plus(spend if isinstance(spend, Spend) else Spend.model_validate(spend))
    return result
