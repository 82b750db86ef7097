"""Deliver Pub/Sub messages to the functions the way Eventarc does in production.

Why not the emulator's own push subscriptions: the emulator pushes at most two messages
per subscription at a time, so every local run would be sequential, while production
(Eventarc -> Cloud Run) runs up to max-instances x concurrency deliveries at once --
exactly the situation in which races, duplicate work and rate limits show up.

So the stack creates plain PULL subscriptions and this relay streaming-pulls each of
them with ``concurrency`` messages in flight and POSTs every message to its function as
a binary-mode CloudEvent, byte-for-byte what Eventarc sends for
``google.cloud.pubsub.topic.v1.messagePublished``.  It also plays the parts of the
subscription's retry policy (nack after an exponential backoff), of Pub/Sub
dead-lettering (which the emulator does not do by itself) and, on request, of Pub/Sub's
at-least-once duplicates (``deliver_twice``).

The relay runs as threads inside the caller's process: the streaming pull manager's
threads, one executor per subscription, and a shared ``httpx.Client``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

from local_stack import pubsub

log = logging.getLogger(__name__)

CONCURRENCY_ENV = "PLOTBURN_LOCAL_CONCURRENCY"
DEFAULT_CONCURRENCY = 32
EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"

# The attributes real Pub/Sub adds to a dead-lettered message.
DLQ_DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
DLQ_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
DLQ_SUBSCRIPTION_PROJECT = "CloudPubSubDeadLetterSourceSubscriptionProject"
DLQ_PUBLISH_TIME = "CloudPubSubDeadLetterSourceTopicPublishTime"


def concurrency_from_env(default: int = DEFAULT_CONCURRENCY) -> int:
    """``PLOTBURN_LOCAL_CONCURRENCY`` if set (models the roast function's max instances)."""
    raw = os.environ.get(CONCURRENCY_ENV)
    if not raw:
        return default
    value = int(raw)
    if value < 1:
        raise ValueError(f"{CONCURRENCY_ENV} must be >= 1, got {raw!r}")
    return value


@dataclass(frozen=True)
class Route:
    """One subscription and the function its messages are delivered to."""

    subscription: str  # short id, e.g. "plotburn-roast-to-roast"
    topic: str  # short id of the topic the subscription is attached to (for ce-source)
    url: str  # function endpoint, e.g. "http://127.0.0.1:8081/"
    # Where to dead-letter after max_delivery_attempts; None = retry forever (the
    # dead-letter subscription itself has no dead-letter policy in production either).
    dead_letter_topic: str | None = None


@dataclass(frozen=True)
class RelayConfig:
    concurrency: int = DEFAULT_CONCURRENCY  # messages in flight per subscription
    max_delivery_attempts: int = 5
    min_backoff: float = 0.5  # retry policy: first redelivery delay ...
    max_backoff: float = 5.0  # ... doubling up to this
    deliver_twice: bool = False  # POST every message twice, concurrently
    request_timeout: float = 600.0  # per POST; the functions' timeout in production

    def backoff(self, attempt: int) -> float:
        """Delay before redelivering after failed attempt number ``attempt`` (1-based)."""
        return min(self.min_backoff * (2 ** max(attempt - 1, 0)), self.max_backoff)


@dataclass
class SubscriptionStats:
    received: int = 0  # messages handed to us by the stream (redeliveries included)
    delivered: int = 0  # POSTs made (two per message with deliver_twice)
    succeeded: int = 0  # POSTs answered 2xx
    failed: int = 0  # POSTs answered non-2xx, or connection error / timeout
    acked: int = 0
    nacked: int = 0
    dead_lettered: int = 0
    in_flight: int = 0  # POSTs currently outstanding
    max_in_flight: int = 0


def rfc3339(ts: datetime) -> str:
    """Pub/Sub's timestamp format: UTC, millisecond precision, "Z" suffix."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build_cloud_event(
    *,
    project: str,
    topic: str,
    subscription: str,
    message_id: str,
    data: bytes,
    attributes: Mapping[str, str],
    publish_time: datetime,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the binary-mode CloudEvent Eventarc POSTs for a message."""
    published = rfc3339(publish_time)
    headers = {
        "ce-id": message_id,
        "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}",
        "ce-type": EVENT_TYPE,
        "ce-specversion": "1.0",
        "ce-time": published,
        "Content-Type": "application/json",
    }
    body = {
        "message": {
            "data": base64.b64encode(data).decode("ascii"),
            "attributes": dict(attributes),
            # Eventarc sends both spellings; functions may read either.
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        },
        "subscription": f"projects/{project}/subscriptions/{subscription}",
    }
    return headers, json.dumps(body).encode()


class Relay:
    """Streaming-pull ``routes`` and POST each message to its function (see module doc)."""

    def __init__(
        self,
        *,
        pubsub_host: str,
        project: str,
        routes: Sequence[Route],
        config: RelayConfig | None = None,
    ) -> None:
        self.pubsub_host = pubsub_host
        self.project = project
        self.routes = list(routes)
        self.config = config or RelayConfig()
        if self.config.concurrency < 1 or self.config.max_delivery_attempts < 1:
            raise ValueError("concurrency and max_delivery_attempts must be >= 1")

        self._stats: dict[str, SubscriptionStats] = {
            r.subscription: SubscriptionStats() for r in self.routes
        }
        self._stats_lock = threading.Lock()
        # Delivery attempts per (subscription, message id).  The emulator fills
        # message.delivery_attempt only for subscriptions that have a dead-letter policy
        # -- and then it also dead-letters by itself -- so we count ourselves.  The relay
        # is the only consumer of its subscriptions, so an in-memory count is exact.
        self._attempts: dict[tuple[str, str], int] = {}
        self._attempts_lock = threading.Lock()

        self._stopping = threading.Event()
        self._started = False
        self._stopped = False
        self._futures: list[pubsub_v1.subscriber.futures.StreamingPullFuture] = []
        self._executors: list[ThreadPoolExecutor] = []
        self._twin_executor: ThreadPoolExecutor | None = None
        self._subscriber: pubsub_v1.SubscriberClient | None = None
        self._publisher: pubsub_v1.PublisherClient | None = None
        self._http: httpx.Client | None = None
        self._idle = threading.Condition(self._stats_lock)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        if self._started:
            raise RuntimeError("relay already started")
        self._started = True
        cfg = self.config
        posts_per_message = 2 if cfg.deliver_twice else 1
        pool = cfg.concurrency * len(self.routes) * posts_per_message + 8
        # No keep-alive: gunicorn drops idle connections after 2 s, and a POST racing
        # that close would fail spuriously and be counted as a delivery failure.
        # Connecting to localhost per request costs next to nothing.
        self._http = httpx.Client(
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=0),
            timeout=httpx.Timeout(cfg.request_timeout, connect=5.0),
        )
        self._subscriber = pubsub.subscriber_client(self.pubsub_host)
        self._publisher = pubsub.publisher_client(self.pubsub_host)
        if cfg.deliver_twice:
            self._twin_executor = ThreadPoolExecutor(
                max_workers=cfg.concurrency * len(self.routes), thread_name_prefix="relay-twin"
            )
        try:
            for route in self.routes:
                executor = ThreadPoolExecutor(
                    max_workers=cfg.concurrency, thread_name_prefix=f"relay-{route.subscription}"
                )
                self._executors.append(executor)
                future = self._subscriber.subscribe(
                    pubsub.subscription_path(self.project, route.subscription),
                    callback=lambda message, route=route: self._on_message(route, message),
                    flow_control=pubsub_v1.types.FlowControl(max_messages=cfg.concurrency),
                    scheduler=ThreadScheduler(executor=executor),
                )
                self._futures.append(future)
                log.info(
                    "relay: %s -> %s (concurrency %d, max attempts %d%s)",
                    route.subscription,
                    route.url,
                    cfg.concurrency,
                    cfg.max_delivery_attempts,
                    ", deliver twice" if cfg.deliver_twice else "",
                )
        except BaseException:
            self.stop()
            raise
        return self

    def cancel(self) -> None:
        """Stop pulling new messages (first half of ``stop``); idempotent.

        The stack calls this, then kills the functions so in-flight POSTs end at once,
        then ``stop()``.
        """
        self._stopping.set()
        for future in self._futures:
            future.cancel()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the streams, wait for in-flight POSTs, close every client; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.cancel()
        for future in self._futures:
            try:
                future.result(timeout=timeout)
            except Exception:
                pass
        with self._idle:
            if not self._idle.wait_for(
                lambda: all(s.in_flight == 0 for s in self._stats.values()), timeout=timeout
            ):
                log.warning("relay: POSTs still in flight after %.0fs; closing anyway", timeout)
        if self._http is not None:
            self._http.close()
        for executor in [*self._executors, *filter(None, [self._twin_executor])]:
            executor.shutdown(wait=False, cancel_futures=True)
        if self._subscriber is not None:
            self._subscriber.close()
        if self._publisher is not None:
            pubsub.close_publisher(self._publisher)
        log.info("relay stopped: %s", self.stats())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- stats ---------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per subscription (a consistent snapshot)."""
        with self._stats_lock:
            return {name: asdict(s) for name, s in self._stats.items()}

    def reset_stats(self) -> None:
        """Zero the counters (in-flight POSTs keep being tracked)."""
        with self._stats_lock:
            for name, s in self._stats.items():
                self._stats[name] = SubscriptionStats(
                    in_flight=s.in_flight, max_in_flight=s.in_flight
                )

    def _count(self, subscription: str, **increments: int) -> None:
        with self._stats_lock:
            s = self._stats[subscription]
            for key, value in increments.items():
                setattr(s, key, getattr(s, key) + value)

    # -- delivery ------------------------------------------------------------------

    def _on_message(self, route: Route, message: Message) -> None:
        """Streaming-pull callback.  Must never raise: the client would swallow the error
        and the message would sit leased until its ack deadline (10 min)."""
        try:
            self._handle(route, message)
        except Exception:
            log.exception(
                "relay: %s: message %s: unexpected error", route.subscription, message.message_id
            )
            message.nack()
            self._count(route.subscription, nacked=1)

    def _handle(self, route: Route, message: Message) -> None:
        if self._stopping.is_set():
            message.nack()  # leave it for the next run; not counted as an attempt
            return
        key = (route.subscription, message.message_id)
        with self._attempts_lock:
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
        self._count(route.subscription, received=1)

        headers, body = build_cloud_event(
            project=self.project,
            topic=route.topic,
            subscription=route.subscription,
            message_id=message.message_id,
            data=message.data,
            attributes=message.attributes,
            publish_time=message.publish_time,
        )
        if self.config.deliver_twice and self._twin_executor is not None:
            # Two concurrent POSTs of the identical event: the duplicate arrives while
            # the first is still being processed, the nastiest case for idempotency.
            twin: Future[str | None] = self._twin_executor.submit(self._post, route, headers, body)
            errors = [self._post(route, headers, body), twin.result()]
        else:
            errors = [self._post(route, headers, body)]
        error = next((e for e in errors if e is not None), None)

        if error is None:
            message.ack()
            self._forget(key)
            self._count(route.subscription, acked=1)
            return

        if route.dead_letter_topic and attempt >= self.config.max_delivery_attempts:
            self._dead_letter(route, message, attempt, error)
            return

        delay = self.config.backoff(attempt)
        log.warning(
            "relay: %s: message %s attempt %d failed (%s); redelivering in %.1fs",
            route.subscription,
            message.message_id,
            attempt,
            error,
            delay,
        )
        # Holding the message during the backoff (instead of a timer) keeps it counted
        # against flow control, which is close enough to a retry policy for local runs,
        # and the wait ends at once when the relay stops.
        self._stopping.wait(delay)
        message.nack()
        self._count(route.subscription, nacked=1)

    def _post(self, route: Route, headers: dict[str, str], body: bytes) -> str | None:
        """POST one delivery; None on 2xx, else a short description of the failure."""
        assert self._http is not None
        with self._stats_lock:
            s = self._stats[route.subscription]
            s.delivered += 1
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
        error: str | None
        try:
            resp = self._http.post(route.url, content=body, headers=headers)
            if 200 <= resp.status_code < 300:
                error = None
            else:
                snippet = resp.text[:200].replace("\n", " ")
                error = f"HTTP {resp.status_code}: {snippet}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except RuntimeError as exc:  # client closed under us while stopping
            error = f"relay stopping: {exc}"
        with self._idle:
            s = self._stats[route.subscription]
            s.in_flight -= 1
            if error is None:
                s.succeeded += 1
            else:
                s.failed += 1
            self._idle.notify_all()
        return error

    def _dead_letter(self, route: Route, message: Message, attempt: int, error: str) -> None:
        """Forward to the dead-letter topic with Pub/Sub's attributes, then ack."""
        assert self._publisher is not None and route.dead_letter_topic is not None
        attributes: dict[str, Any] = dict(message.attributes)
        attributes.update(
            {
                DLQ_DELIVERY_COUNT: str(attempt),
                DLQ_SUBSCRIPTION: route.subscription,
                DLQ_SUBSCRIPTION_PROJECT: self.project,
                DLQ_PUBLISH_TIME: rfc3339(message.publish_time),
            }
        )
        try:
            self._publisher.publish(
                pubsub.topic_path(self.project, route.dead_letter_topic),
                message.data,
                **attributes,
            ).result(timeout=30)
        except Exception:
            log.exception(
                "relay: %s: dead-lettering message %s failed",
                route.subscription,
                message.message_id,
            )
            self._stopping.wait(self.config.max_backoff)
            message.nack()
            self._count(route.subscription, nacked=1)
            return
        log.warning(
            "relay: %s: message %s dead-lettered to %s after %d attempts (last: %s)",
            route.subscription,
            message.message_id,
            route.dead_letter_topic,
            attempt,
            error,
        )
        message.ack()
        self._forget((route.subscription, message.message_id))
        self._count(route.subscription, dead_lettered=1)

    def _forget(self, key: tuple[str, str]) -> None:
        with self._attempts_lock:
            self._attempts.pop(key, None)


__all__ = [
    "CONCURRENCY_ENV",
    "DLQ_DELIVERY_COUNT",
    "DLQ_PUBLISH_TIME",
    "DLQ_SUBSCRIPTION",
    "DLQ_SUBSCRIPTION_PROJECT",
    "EVENT_TYPE",
    "Relay",
    "RelayConfig",
    "Route",
    "SubscriptionStats",
    "build_cloud_event",
    "concurrency_from_env",
]
