"""Pub/Sub publishing: the real publisher and an in-memory fake.

Roast messages are published the way the client library is built to be used: every
`publish()` call returns a future at once and the library batches and sends them
concurrently; we then wait for all the futures together, not one after another.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

from google.api_core import exceptions as gexc

# By their full names: the hand-written google.cloud.pubsub_v1 ships no py.typed, so mypy
# treats it as a missing import (Any); `from google.cloud import pubsub_v1` would look it up
# as an attribute of the typed google.cloud namespace package and fail.
from google.cloud.pubsub_v1 import PublisherClient
from google.cloud.pubsub_v1.types import BatchSettings

from functions import metering
from functions.errors import InfrastructureUnavailable
from functions.models import NightlyMessage, RoastMessage


def encode(message: NightlyMessage | RoastMessage) -> bytes:
    return message.model_dump_json(exclude_none=True).encode("utf-8")


class PubSubPublisher:
    def __init__(
        self,
        client: PublisherClient,
        project: str,
        nightly_topic: str,
        roast_topic: str,
        timeout_seconds: float = 60.0,
    ) -> None:
        self._client = client
        self._timeout = timeout_seconds
        self._nightly = client.topic_path(project, nightly_topic)
        self._roast = client.topic_path(project, roast_topic)

    @staticmethod
    def build_client() -> PublisherClient:
        # Batches of up to 100 messages, flushed after 10 ms: a 500-movie night is a
        # handful of RPCs, and a single manual trigger is not held back noticeably.
        return PublisherClient(
            batch_settings=BatchSettings(max_messages=100, max_bytes=1_000_000, max_latency=0.01)
        )

    def publish_nightly(self, message: NightlyMessage) -> str:
        metering.record_ops("pubsub_publishes", 1)
        return self._wait([self._client.publish(self._nightly, encode(message))])[0]

    def publish_roasts(self, messages: list[RoastMessage]) -> None:
        metering.record_ops("pubsub_publishes", len(messages))
        self._wait([self._client.publish(self._roast, encode(m)) for m in messages])

    def _wait(self, pending: list[Any]) -> list[str]:
        _, not_done = futures.wait(pending, timeout=self._timeout)
        if not_done:
            raise InfrastructureUnavailable(f"pubsub: {len(not_done)} publishes timed out")
        ids: list[str] = []
        for future in pending:
            try:
                ids.append(future.result())
            except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
                raise InfrastructureUnavailable(f"pubsub: {type(exc).__name__}") from exc
        return ids
