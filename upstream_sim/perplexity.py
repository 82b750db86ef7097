"""Perplexity's Agent API as of late 2026: request validation, answers and error bodies.

Never more lenient than the real API (../shared/upstream-apis.md, with sources):
- ``POST /chat/completions`` (and ``/v1/sonar``) answer 403
  ``chat_completions_not_available``: Sonar chat completions were retired 2026-09-27;
- the request body is strict: any unknown field is a 400 naming it (``messages``,
  ``max_tokens``, top-level ``search_recency_filter``, ``web_search_options``...);
- a bare ``sonar`` (or any model not in the catalogue) is a 400 ``invalid_model``;
- a bad recency filter is a 400; ``max_output_tokens`` below 16 is raised to 16;
- the answer has no ``output_text``: the text is in ``output[type=message]``, sources
  in ``output[type=search_results]``, cost in ``usage.cost``;
- a run cut off at ``max_output_tokens`` is HTTP 200 with ``status: "incomplete"``;
- search is off unless the ``web_search`` tool is sent (the answer is then ungrounded
  and carries no sources and no search fee).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from upstream_sim.wire import Reply, Success, estimate_tokens, parse_object

# Fields the Agent API accepts at the top level of a request body.
REQUEST_FIELDS = frozenset(
    {
        "model", "models", "preset", "input", "instructions", "max_output_tokens",
        "tools", "tool_choice", "temperature", "top_p", "store", "response_format",
        "stream", "max_steps", "reasoning", "language_preference", "metadata",
    }
)  # fmt: skip
PRESETS = frozenset({"fast", "low", "medium", "high", "xhigh", "wide-research"})
RECENCY = ("hour", "day", "week", "month", "year")
# USD per million input and output tokens, per model slug.
MODEL_PRICES: dict[str, tuple[float, float]] = {
    "perplexity/sonar": (0.25, 2.50),
    "openai/gpt-6-luna": (0.20, 1.25),
    "xai/grok-4.20-non-reasoning": (1.25, 2.50),
}
PRESET_MODEL = "openai/gpt-6-luna"  # what the "fast" preset ran in Sep/Oct captures
SEARCH_FEE_USD = 0.0025  # standard web_search, per invocation
MIN_OUTPUT_TOKENS = 16

RETIRED_ENDPOINT = {
    "error": {
        "message": (
            "Sonar is now the Agent API. Use /v1/responses instead of /v1/sonar. Migrate "
            "here: https://docs.perplexity.ai/docs/agent-api/migrate-from-sonar/overview"
        ),
        "type": "chat_completions_not_available",
        "code": 403,
    }
}
UNAUTHORIZED = {
    "error": {
        "message": "Invalid API key provided. Ensure your API key is correct and active.",
        "type": "invalid_api_key",
        "code": 401,
    }
}


def error(status: int, kind: str, message: str, param: str | None = None) -> Reply:
    body: dict[str, Any] = {"message": message, "type": kind, "code": status}
    if param is not None:
        body["param"] = param
    return Reply.json(status, {"error": body})


def rate_limited(reset_epoch: int, limit: int = 50) -> Reply:
    reply = error(429, "request_rate_limit_exceeded", "Rate limit exceeded. Please retry later.")
    reply.headers.update(
        {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset_epoch),
        }
    )
    return reply


def server_error() -> Reply:
    return error(500, "internal_server_error", "Internal server error.")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _input_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return None
    texts: list[str] = []
    for item in value:
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            return None
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            ]
        else:
            return None
    return "\n".join(texts)


def validate(body: bytes) -> tuple[dict[str, Any] | None, Reply | None]:
    """The request with ``prompt`` (all its text) and ``search`` (the recency filter
    or None) added, or the 400 the real API would answer."""
    data = parse_object(body)
    if data is None:
        return None, error(400, "invalid_request", "invalid request body: not a JSON object")
    for name in data:
        if name not in REQUEST_FIELDS:
            return None, error(
                400, "invalid_request", f'invalid request body: json: unknown field "{name}"', name
            )
    model, preset = data.get("model"), data.get("preset")
    if model is None and preset is None and data.get("models") is None:
        return None, error(400, "invalid_request", "one of model, models or preset is required")
    if model is not None and (not isinstance(model, str) or model not in MODEL_PRICES):
        return None, error(400, "invalid_model", f"model is not supported: {str(model)[:100]}")
    if preset is not None and (not isinstance(preset, str) or preset not in PRESETS):
        return None, error(400, "invalid_request", f"unknown preset: {str(preset)[:100]}")
    prompt = _input_text(data.get("input"))
    if not prompt:
        return None, error(400, "invalid_request", "validation failed: input is required")
    instructions = data.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        return None, error(
            400, "invalid_request", "validation failed: instructions must be a string"
        )
    limit = data.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return None, error(
            400,
            "invalid_request",
            "validation failed: max_output_tokens must be a positive integer",
        )
    for name, high in (("temperature", 2), ("top_p", 1)):
        value = data.get(name)
        if value is not None and (not _number(value) or not 0 <= value <= high):
            return None, error(
                400, "invalid_request", f"validation failed: {name} must be between 0 and {high}"
            )
    search: str | None = None
    tools = data.get("tools") or []
    if not isinstance(tools, list):
        return None, error(400, "invalid_request", "validation failed: tools must be an array")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") not in ("web_search", "fetch_url"):
            return None, error(
                400, "invalid_request", f"validation failed: tools[{index}]: unknown tool type"
            )
        if tool["type"] == "web_search":
            filters = tool.get("filters") or {}
            if not isinstance(filters, dict):
                return None, error(
                    400,
                    "invalid_request",
                    f"validation failed: tools[{index}]: filters must be an object",
                )
            recency = filters.get("search_recency_filter", "year")
            if recency not in RECENCY:
                return None, error(
                    400,
                    "invalid_request",
                    f"validation failed: tools[{index}]: search recency filter must be one of: "
                    + " ".join(RECENCY),
                )
            search = str(recency)
    if preset is not None:
        search = search or "year"  # presets include search
    return {**data, "prompt": f"{instructions or ''}\n{prompt}", "search": search}, None


def answer(
    request: dict[str, Any],
    text: str,
    results: list[dict[str, Any]],
) -> Success:
    """The Agent API's response to a valid request whose answer is ``text``."""
    model = request.get("model") or PRESET_MODEL
    in_price, out_price = MODEL_PRICES.get(model, MODEL_PRICES[PRESET_MODEL])
    limit = max(MIN_OUTPUT_TOKENS, int(request.get("max_output_tokens") or 8192))
    output_tokens = estimate_tokens(text)
    status, incomplete = "completed", None
    if output_tokens > limit:
        text, output_tokens = text[: limit * 4], limit
        status, incomplete = "incomplete", {"reason": "max_output_tokens"}
    input_tokens = estimate_tokens(request["prompt"])
    searched = request["search"] is not None
    cost: dict[str, Any] = {
        "currency": "USD",
        "input_cost": round(input_tokens * in_price / 1e6, 6),
        "output_cost": round(output_tokens * out_price / 1e6, 6),
    }
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    output: list[dict[str, Any]] = []
    if searched:
        cost["tool_calls_cost"] = SEARCH_FEE_USD
        usage["tool_calls_details"] = {"search_web": {"invocation": 1, "cost_usd": SEARCH_FEE_USD}}
        output.append(
            {
                "type": "search_results",
                "queries": [request["prompt"][-120:].strip()],
                "results": results,
            }
        )
    cost["total_cost"] = round(
        cost["input_cost"] + cost["output_cost"] + cost.get("tool_calls_cost", 0.0), 6
    )
    usage["cost"] = cost
    output.append(
        {
            "type": "message",
            "id": f"msg_{uuid.uuid4().hex}",
            "role": "assistant",
            "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    )
    payload = {
        "id": f"resp_{uuid.uuid4()}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "error": None,
        "incomplete_details": incomplete,
        "output": output,
        "usage": usage,
    }
    broken = {k: v for k, v in payload.items() if k != "output"}
    headers = {
        "x-ratelimit-limit": "50",
        "x-ratelimit-remaining": "49",
        "x-ratelimit-reset": str(int(time.time()) + 1),
        "x-request-id": uuid.uuid4().hex,
    }
    return Success(payload, broken, input_tokens, output_tokens, cost["total_cost"], headers)


def failed_run(success: Success) -> dict[str, Any]:
    """HTTP 200 that reports a failed run (no output, not billed)."""
    return {
        **{k: v for k, v in success.payload.items() if k not in ("output", "usage")},
        "status": "failed",
        "output": [],
        "error": {"code": "internal_error", "message": "The agent run failed."},
    }
