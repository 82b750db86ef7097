"""The OpenAI-style chat completion both LLM APIs speak (Perplexity and xAI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from functions import metering
from functions.errors import UpstreamBadResponse
from functions.models import Usage
from functions.upstream.http import RetryPolicy, call_json


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    citations: list[str] = field(default_factory=list)


def _parse_completion(body: Any) -> Completion:
    text = body["choices"][0]["message"]["content"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty completion")
    usage = body.get("usage") or {}
    citations = body.get("citations") or [
        r.get("url") for r in body.get("search_results") or [] if isinstance(r, dict)
    ]
    return Completion(
        text=text.strip(),
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        ),
        citations=[str(c) for c in citations if isinstance(c, str) and c][:20],
    )


@dataclass
class ChatClient:
    service: str
    client: httpx.Client
    base_url: str
    api_key: SecretStr | None
    model: str
    policy: RetryPolicy
    max_tokens: int = 700
    on_attempt: Callable[[str], None] | None = None

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        if self.api_key is None:
            raise UpstreamBadResponse(self.service, "no API key configured")
        result: Completion = call_json(
            self.client,
            self.service,
            "POST",
            f"{self.base_url.rstrip('/')}/chat/completions",
            policy=self.policy,
            headers={"Authorization": f"Bearer {self.api_key.get_secret_value()}"},
            json_body={"model": self.model, "messages": messages, "max_tokens": self.max_tokens},
            validate=_parse_completion,
            on_attempt=(lambda: self.on_attempt(self.service)) if self.on_attempt else None,
        )
        metering.record_tokens(self.service, result.usage.prompt_tokens, result.usage.completion_tokens)
        return result
