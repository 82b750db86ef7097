"""What a piece of work spent upstream: calls per service, tokens and cost per LLM.

The upstream layer records into whichever Ledger is current (a context variable),
so the pipeline can ask "what did researching and roasting this movie cost?" without
threading a counter through every signature. Every attempt is a call, retries
included; a call never made (another caller was generating the movie) costs nothing.
Cost is recorded per answer: what the provider reported where the answer carries it
(Perplexity's ``usage.cost``, xAI's ``cost_in_usd_ticks``), else our estimate from the
price settings; a failed attempt (429, 5xx, timeout) is not billed and costs nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

SERVICES = ("tmdb", "research", "roast")
COST_DECIMALS = 10


@dataclass(frozen=True)
class Price:
    """A model's list price: USD per million input and output tokens, plus a fee per
    answered request (Perplexity's web search). Used only where an answer does not
    report its own cost."""

    input_per_mtok: float
    output_per_mtok: float
    per_request: float = 0.0

    def estimate(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_per_mtok / 1e6
            + output_tokens * self.output_per_mtok / 1e6
            + self.per_request
        )


class ServiceSpend(BaseModel):
    model_config = ConfigDict(extra="ignore")

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def plus(self, other: ServiceSpend) -> ServiceSpend:
        return ServiceSpend(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class Spend(BaseModel):
    """Calls and tokens per service. Summable; stored on outcomes and runs."""

    model_config = ConfigDict(extra="ignore")

    tmdb: ServiceSpend = ServiceSpend()
    research: ServiceSpend = ServiceSpend()
    roast: ServiceSpend = ServiceSpend()

    def service(self, name: str) -> ServiceSpend:
        """One service's spend by its name in SERVICES."""
        spend: ServiceSpend = getattr(self, name)
        return spend

    def plus(self, other: Spend) -> Spend:
        return Spend(**{s: self.service(s).plus(other.service(s)) for s in SERVICES})

    @property
    def paid_calls(self) -> int:
        return self.research.calls + self.roast.calls

    @property
    def cost_usd(self) -> float:
        """What the answers cost in USD, rounded to xAI's tick (1e-10 USD): every cost a
        provider reports is a whole number of ticks, so sums taken in any order round
        to the same exact figure."""
        return round(sum(self.service(s).cost_usd for s in SERVICES), COST_DECIMALS)


class Ledger:
    """Counts calls and tokens; a ledger opened inside another also counts into it."""

    def __init__(self, parent: Ledger | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._ops: dict[str, int] = {}
        self._counts: dict[str, dict[str, float]] = {
            s: {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
            for s in SERVICES
        }

    def call(self, service: str) -> None:
        if service in self._counts:
            with self._lock:
                self._counts[service]["calls"] += 1
        if self._parent is not None:
            self._parent.call(service)

    def usage(self, service: str, prompt: int, completion: int, cost_usd: float) -> None:
        if service in self._counts:
            with self._lock:
                self._counts[service]["prompt_tokens"] += prompt
                self._counts[service]["completion_tokens"] += completion
                self._counts[service]["cost_usd"] += cost_usd
        if self._parent is not None:
            self._parent.usage(service, prompt, completion, cost_usd)

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


def record_usage(service: str, prompt: int, completion: int, cost_usd: float) -> None:
    """Tokens and cost of one answer (see the module doc for where cost comes from)."""
    book = _current.get()
    if book is not None:
        book.usage(service, prompt, completion, cost_usd)


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
