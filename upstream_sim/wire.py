"""What every simulated endpoint answers with: a Reply, and what a success bills."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def to_json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Reply:
    """One HTTP answer; the server adds Content-Length (so keep-alive works)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, to_json(payload), dict(headers or {}))


@dataclass
class Success:
    """What a request that is not faulted would answer, and what it bills."""

    payload: dict[str, Any]
    broken_payload: dict[str, Any]  # the same body with its key fields missing
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def retry_after_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def has_bearer(headers: Any) -> bool:
    scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def parse_object(body: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object, or None."""
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def estimate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI-style tokenizers average on English."""
    return max(1, (len(text) + 3) // 4)
