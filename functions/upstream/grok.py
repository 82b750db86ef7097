"""xAI Grok: the roast card of a movie, written from its truth.

Chat completions with structured output (``response_format`` ``json_schema``, the
card's schema): the item counts are enforced by xAI, the word limits are checked here
with ``RoastCard``. A card that is not JSON or breaks a limit gets one repair turn
(the answer and what is wrong with it go back to the model); a second bad card fails
the movie as ``invalid_roast``, and nothing of it is cached.

No penalty parameters: grok-4.20 and grok-4.3 answer 400 to ``presence_penalty`` and
``frequency_penalty``, even at 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from functions.errors import InvalidRoast
from functions.metering import Price
from functions.models import Movie, MovieDetails, Roast, RoastCard, Truth, Usage, utcnow
from functions.upstream import prompts
from functions.upstream.http import Gate, RetryPolicy, post_billed

SERVICE = "roast"
PROVIDER = "xai"
# xAI reports cost in ticks of 1e-10 USD.
USD_PER_TICK = 1e-10


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    model: str
    usage: Usage


def parse_answer(body: Any, price: Price) -> ChatAnswer:
    """A chat completion body; ValueError/KeyError/TypeError for the wrong shape."""
    text = body["choices"][0]["message"]["content"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty completion")
    raw = body.get("usage") or {}
    prompt_tokens = int(raw.get("prompt_tokens") or 0)
    # Reasoning tokens are billed as output on top of completion_tokens.
    details = raw.get("completion_tokens_details") or {}
    completion_tokens = int(raw.get("completion_tokens") or 0) + int(
        details.get("reasoning_tokens") or 0
    )
    ticks = raw.get("cost_in_usd_ticks")
    if isinstance(ticks, int) and not isinstance(ticks, bool):
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=ticks * USD_PER_TICK,
            cost_reported=True,
        )
    else:
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=price.estimate(prompt_tokens, completion_tokens),
        )
    return ChatAnswer(text.strip(), str(body.get("model") or ""), usage)


def card_problems(text: str) -> tuple[RoastCard | None, list[str]]:
    """The card in an answer, or what is wrong with it (for the repair turn)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, ["the answer is not a JSON object"]
    try:
        return RoastCard.model_validate(data), []
    except ValidationError as exc:
        return None, [
            f"{'.'.join(str(p) for p in err['loc']) or 'card'}: {err['msg']}"
            for err in exc.errors()
        ]


@dataclass
class GrokRoaster:
    client: httpx.Client
    base_url: str
    api_key: SecretStr | None
    model: str
    policy: RetryPolicy
    price: Price
    max_tokens: int = 1000
    temperature: float = 0.9
    top_p: float = 0.92
    # The provider's fleet-wide limit (None: unlimited, as `make smoke` calls).
    gate: Gate | None = None

    def request_body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "roast_card",
                    "schema": prompts.roast_card_schema(),
                    "strict": True,
                },
            },
        }

    def _complete(self, messages: list[dict[str, str]]) -> ChatAnswer:
        return post_billed(
            self.client,
            service=SERVICE,
            provider=PROVIDER,
            url=f"{self.base_url.rstrip('/')}/chat/completions",
            api_key=self.api_key,
            key_variable="XAI_API_KEY",
            policy=self.policy,
            body=self.request_body(messages),
            validate=lambda body: parse_answer(body, self.price),
            gate=self.gate,
        )

    def roast(self, movie: Movie, details: MovieDetails, truth: Truth) -> Roast:
        messages = prompts.roast_messages(movie, details, truth)
        answer = self._complete(messages)
        usage = answer.usage
        card, problems = card_problems(answer.text)
        if card is None:
            answer = self._complete(prompts.repair_messages(messages, answer.text, problems))
            usage = usage.plus(answer.usage)
            card, problems = card_problems(answer.text)
            if card is None:
                raise InvalidRoast("; ".join(problems)[:500])
        return Roast(
            movie_id=movie.id,
            card=card,
            model=answer.model or self.model,
            created_at=utcnow(),
            usage=usage,
        )
