"""SimControl: the control API (/_sim) from another process, over HTTP.

The local stack and benchmarks run the simulator as a subprocess
(``python -m upstream_sim``); this is how they configure it and read its counters.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import httpx


class SimControl:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, f"/_sim/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "health")
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "stats")
        return result

    def reset(self) -> None:
        """Zero every counter on the simulator; its configuration is kept."""
        self._json("POST", "reset")

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "config")
        return result

    def configure(self, **partial: Any) -> dict[str, Any]:
        """Merge a partial config in; returns the full config. A bad value raises
        httpx.HTTPStatusError (400) with the reason in the response body."""
        result: dict[str, Any] = self._json("POST", "config", partial)
        return result

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll /_sim/health until the simulator answers (it was just spawned)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.health().get("ok"):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(f"upstream simulator at {self.url} not ready after {timeout}s")
            time.sleep(0.05)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SimControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
