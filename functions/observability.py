"""Structured logs: JSON lines on stdout that Cloud Logging parses, and a Firestore
copy of the ones operators read through `/logs` and `/debug`.

Every line passes through the redactor, which replaces the configured secrets (API
keys, the admin token) wherever they appear, so no code path can leak one by logging
an exception or a URL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import datetime
from typing import Any, ClassVar

from functions.errors import InfrastructureUnavailable
from functions.models import LogSeverity, iso, utcnow
from functions.ports import LogStore

REDACTED = "[REDACTED]"


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


_redactor_lock = threading.Lock()
_redactor = Redactor()


def set_redactor(redactor: Redactor) -> None:
    global _redactor
    with _redactor_lock:
        _redactor = redactor


def redact(text: str) -> str:
    return _redactor(text)


def emit(
    severity: LogSeverity, message: str, correlation_id: str | None = None, **fields: Any
) -> None:
    """Write one structured line to stdout (what Cloud Logging ingests)."""
    entry: dict[str, Any] = {"severity": severity, "message": message, "time": iso(utcnow())}
    if correlation_id:
        entry["correlation_id"] = correlation_id
        entry["logging.googleapis.com/labels"] = {"correlation_id": correlation_id}
    entry.update(fields)
    line = redact(json.dumps(entry, default=str, ensure_ascii=False))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _JsonHandler(logging.Handler):
    """Routes library log records (google-cloud, httpx, tenacity) through `emit`."""

    _LEVELS: ClassVar[dict[int, LogSeverity]] = {
        logging.DEBUG: "DEBUG",
        logging.INFO: "INFO",
        logging.WARNING: "WARNING",
        logging.ERROR: "ERROR",
        logging.CRITICAL: "CRITICAL",
    }

    def emit(self, record: logging.LogRecord) -> None:
        severity = self._LEVELS.get(record.levelno, "INFO")
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not take the request down
            message = str(record.msg)
        emit(severity, message, logger=record.name)


def configure_stdlib_logging(level: int = logging.WARNING) -> None:
    root = logging.getLogger()
    if not any(isinstance(h, _JsonHandler) for h in root.handlers):
        root.handlers = [_JsonHandler()]
    root.setLevel(level)


# Where the work being logged came in (an HTTP route and method, or a Pub/Sub
# subscription and "EVENT"): set by the entry points, stored with each log entry.
_scope: ContextVar[tuple[str, str] | None] = ContextVar("plotburn_log_scope", default=None)


@contextlib.contextmanager
def log_scope(endpoint: str, method: str) -> Iterator[None]:
    token = _scope.set((endpoint, method))
    try:
        yield
    finally:
        _scope.reset(token)


# The Worker's four levels (/logs?level=), from Cloud Logging's severities.
_WORKER_LEVELS = {
    "DEBUG": "DEBUG", "INFO": "INFO", "NOTICE": "INFO", "WARNING": "WARN",
    "ERROR": "ERROR", "CRITICAL": "ERROR", "ALERT": "ERROR",
}  # fmt: skip


class Journal:
    """What the pipeline logs: always to stdout, and to Firestore when it matters to
    an operator reading `/logs` or `/debug` (run events, outcomes, rejections)."""

    def __init__(self, store: LogStore | None) -> None:
        self._store = store

    def log(
        self,
        severity: LogSeverity,
        message: str,
        correlation_id: str | None = None,
        *,
        persist: bool = True,
        **fields: Any,
    ) -> None:
        emit(severity, message, correlation_id, **fields)
        if not persist or self._store is None:
            return
        entry = self.entry(severity, message, correlation_id, **fields)
        try:
            self._store.write(entry)
        except InfrastructureUnavailable:
            # The stdout line above is the record of last resort; losing the Firestore
            # copy of a log entry must not fail (and so repeat) the work it describes.
            emit("WARNING", "log entry not persisted: firestore unavailable", correlation_id)

    @staticmethod
    def entry(
        severity: LogSeverity, message: str, correlation_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """The entry as persisted (redacted, JSON-safe), for a caller that stores it
        together with the write it describes and then calls `announce`."""
        entry: dict[str, Any] = json.loads(
            redact(
                json.dumps(
                    {
                        "severity": severity,
                        "message": message,
                        "correlation_id": correlation_id,
                        **fields,
                    },
                    default=str,
                )
            )
        )
        entry["timestamp"] = iso(utcnow())
        entry["level"] = _WORKER_LEVELS.get(severity, "INFO")
        endpoint, method = _scope.get() or ("pipeline", "EVENT")
        entry.setdefault("endpoint", endpoint)
        entry.setdefault("method", method)
        return entry

    @staticmethod
    def announce(entry: dict[str, Any]) -> None:
        """The stdout line of an entry that was persisted elsewhere."""
        fields = {
            k: v
            for k, v in entry.items()
            if k
            not in (
                "severity",
                "message",
                "correlation_id",
                "timestamp",
                "level",
                "endpoint",
                "method",
            )
        }
        emit(entry["severity"], entry["message"], entry.get("correlation_id"), **fields)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        return self._store.recent(limit) if self._store else []

    def query(
        self, limit: int, level: str | None = None, correlation_id: str | None = None
    ) -> list[dict[str, Any]]:
        return self._store.query(limit, level, correlation_id) if self._store else []

    def delete_older_than(self, cutoff: datetime) -> int:
        return self._store.delete_older_than(cutoff) if self._store else 0

    def for_run(self, correlation_id: str, limit: int) -> list[dict[str, Any]]:
        return self._store.for_run(correlation_id, limit) if self._store else []

    def info(self, message: str, correlation_id: str | None = None, **fields: Any) -> None:
        self.log("INFO", message, correlation_id, **fields)

    def warning(self, message: str, correlation_id: str | None = None, **fields: Any) -> None:
        self.log("WARNING", message, correlation_id, **fields)

    def error(self, message: str, correlation_id: str | None = None, **fields: Any) -> None:
        self.log("ERROR", message, correlation_id, **fields)
