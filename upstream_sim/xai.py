"""xAI's chat completions as of late 2026: models, structured output, cost, errors.

Never more lenient than the real API (../shared/upstream-apis.md, with sources):
- ``grok-4-fast-non-reasoning`` and ``grok-4-1-fast-non-reasoning`` were retired on
  2026-05-15; they, like any model not listed here, answer 404;
- ``presence_penalty`` and ``frequency_penalty`` answer 400 on grok-4.20 and grok-4.3,
  even at 0;
- ``response_format`` ``json_schema`` is honoured: the answer is JSON that fits the
  requested schema (its properties, required fields and item counts); a schema xAI
  rejects (array-form ``items``, an empty ``enum``) is a 400;
- usage reports ``cost_in_usd_ticks`` (1 tick = 1e-10 USD);
- errors are ``{"code": "<gRPC status text>", "error": "<message>"}``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from upstream_sim.wire import Reply, Success, estimate_tokens, parse_object

# Live models (alias -> the dated name answers carry), and their prices in ticks per
# token (USD per million tokens x 1e4): $1.25 in, $2.50 out.
MODELS: dict[str, str] = {
    "grok-4.20-non-reasoning": "grok-4.20-0309-non-reasoning",
    "grok-4.20-0309-non-reasoning": "grok-4.20-0309-non-reasoning",
    "grok-4.20-reasoning": "grok-4.20-0309-reasoning",
    "grok-4.20-0309-reasoning": "grok-4.20-0309-reasoning",
    "grok-4.3": "grok-4.3",
}
TICKS_PER_INPUT_TOKEN = 12_500
TICKS_PER_OUTPUT_TOKEN = 25_000
USD_PER_TICK = 1e-10
_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
_PENALTIES = {"presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty"}


def error(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"code": code, "error": message})


def invalid(message: str) -> Reply:
    return error(400, "Client specified an invalid argument", message)


def unauthorized() -> Reply:
    return error(
        401,
        "Unauthenticated",
        "Missing or invalid API key: send 'Authorization: Bearer <key>'. You can obtain an "
        "API key from https://console.x.ai.",
    )


def rate_limited() -> Reply:
    return error(429, "Too many requests", "Your team has exceeded its request rate limit.")


def server_error() -> Reply:
    return error(500, "Internal error", "The service encountered an internal error.")


def _message_text(message: dict[str, Any]) -> str:
    value = message.get("content")
    if isinstance(value, str):
        return value
    return "\n".join(
        part["text"]
        for part in value or []
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )


def _schema_problem(schema: Any, path: str = "schema") -> str | None:
    """What xAI would reject in a structured-output schema, or None."""
    if not isinstance(schema, dict):
        return f"{path} must be an object"
    if isinstance(schema.get("items"), list):
        return f"{path}.items: array-form items are not supported"
    if "enum" in schema and not schema["enum"]:
        return f"{path}.enum must not be empty"
    for name in ("minItems", "maxItems"):
        count = schema.get(name, 0)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return f"{path}.{name} must be a non-negative integer"
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        return f"{path}.properties must be an object"
    for name, sub in properties.items():
        if isinstance(sub, bool):
            return f"{path}.properties.{name}: boolean schemas are not supported"
        problem = _schema_problem(sub, f"{path}.properties.{name}")
        if problem:
            return problem
    if isinstance(schema.get("items"), dict):
        return _schema_problem(schema["items"], f"{path}.items")
    return None


def validate(body: bytes) -> tuple[dict[str, Any] | None, Reply | None]:
    """The request with ``prompt`` (all message text) and ``schema`` (or None) added,
    or the error the real API would answer."""
    data = parse_object(body)
    if data is None:
        return None, invalid("Failed to deserialize the JSON body into the target type")
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        return None, invalid("model is required")
    if model not in MODELS:
        return None, error(
            404,
            "Some requested entity was not found",
            f"The model {model[:100]} does not exist or your team does not have access to it.",
        )
    for name, wire_name in _PENALTIES.items():
        if name in data:
            return None, invalid(f"Argument not supported on this model: {wire_name}")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, invalid("messages must be a non-empty array")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return None, invalid(f"messages[{index}] must be an object with a valid role")
        if not isinstance(message.get("content"), (str, list)):
            return None, invalid(f"messages[{index}].content must be a string or an array")
    for name in ("max_tokens", "max_completion_tokens"):
        value = data.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            return None, invalid(f"{name} must be a positive integer")
    for name, high in (("temperature", 2), ("top_p", 1)):
        value = data.get(name)
        if value is not None and (
            not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= high
        ):
            return None, invalid(f"{name} must be between 0 and {high}")
    schema = None
    response_format = data.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            problem = _schema_problem(schema)
            if problem:
                return None, invalid(f"Invalid response_format: {problem}")
        elif kind not in ("text", "json_object"):
            return None, invalid("response_format.type must be text, json_object or json_schema")
    prompt = "\n".join(_message_text(m) for m in messages)
    return {**data, "prompt": prompt, "schema": schema}, None


def fit(card: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The card as constrained decoding would shape it to ``schema``: only the schema's
    properties, every required one present, arrays within minItems..maxItems."""
    fitted: dict[str, Any] = {}
    properties: dict[str, Any] = schema.get("properties") or {}
    for name, sub in properties.items():
        value = card.get(name, "")
        if isinstance(sub, dict) and sub.get("type") == "array":
            items = list(value) if isinstance(value, list) else [str(value)]
            low = int(sub.get("minItems", 0))
            high = int(sub.get("maxItems", max(len(items), low)))
            while items and len(items) < low:
                items.append(items[len(items) % len(items)])
            value = items[:high]
        elif isinstance(sub, dict) and sub.get("type") == "string" and not isinstance(value, str):
            value = str(value)
        if name in properties:
            fitted[name] = value
    return fitted


def answer(request: dict[str, Any], card: dict[str, Any] | None, text: str | None) -> Success:
    """A chat completion answering with ``text`` as is, else with ``card`` (fitted to
    the requested schema, or as plain text when no schema was asked for)."""
    if text is None:
        assert card is not None
        schema = request["schema"]
        if schema is not None:
            text = json.dumps(fit(card, schema), ensure_ascii=False)
        elif (
            isinstance(request.get("response_format"), dict)
            and request["response_format"].get("type") == "json_object"
        ):
            text = json.dumps(card, ensure_ascii=False)
        else:
            text = f"{card['headline']}\n\n{card['content']}"
    completion_tokens = estimate_tokens(text)
    finish_reason = "stop"
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    if limit is not None and completion_tokens > limit:
        text, completion_tokens, finish_reason = text[: limit * 4], limit, "length"
    prompt_tokens = estimate_tokens(request["prompt"])
    ticks = prompt_tokens * TICKS_PER_INPUT_TOKEN + completion_tokens * TICKS_PER_OUTPUT_TOKEN
    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODELS[request["model"]],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {
                "text_tokens": prompt_tokens, "audio_tokens": 0,
                "image_tokens": 0, "cached_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
            },
            "num_sources_used": 0,
            "cost_in_usd_ticks": ticks,
        },
        "system_fingerprint": "fp_simulated",
    }  # fmt: skip
    broken = {k: v for k, v in payload.items() if k != "choices"}
    return Success(payload, broken, prompt_tokens, completion_tokens, ticks * USD_PER_TICK)
