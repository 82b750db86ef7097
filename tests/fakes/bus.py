"""The in-memory Pub/Sub publisher the unit tests wire in place of PubSubPublisher."""

from __future__ import annotations

import threading

from functions.models import NightlyMessage, RoastMessage


class MemoryPublisher:
    """Records what would have been published."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.nightly: list[NightlyMessage] = []
        self.roasts: list[RoastMessage] = []

    def publish_nightly(self, message: NightlyMessage) -> str:
        with self._lock:
            self.nightly.append(message)
            return str(len(self.nightly))

    def publish_roasts(self, messages: list[RoastMessage]) -> None:
        with self._lock:
            self.roasts.extend(messages)
