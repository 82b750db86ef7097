"""Errors: the `Error` body every failure shares, and the shared responses
(components/responses) the operations refer to by name."""

from __future__ import annotations

from typing import Any

from functions.api_contract import MAX_BODY_BYTES
from functions.openapi.common import (
    REQUIRED_RETRY_AFTER,
    RETRY_AFTER,
    json_response,
    object_schema,
    ref,
)

ERROR_SCHEMAS: dict[str, Any] = {
    "Error": object_schema(
        {
            "error": {
                "type": "string",
                "description": "What went wrong (the status' name, or a title).",
            },
            "message": {"type": "string", "description": "Why, in words an operator can act on."},
        },
        description='Every error response: {"error", "message"}.',
    ),
    "UnauthorizedError": object_schema(
        {
            "error": {"const": "Unauthorized"},
            "message": {"type": "string", "enum": ["Missing x-api-key header", "Invalid API key"]},
        },
        description="No key was presented (neither x-api-key nor a bearer token), or a wrong one.",
    ),
}

UNAVAILABLE = "Firestore or Pub/Sub is unavailable (retry shortly)"
RESPONSES: dict[str, Any] = {
    "BadRequest": json_response(ref("Error"), "A parameter is missing or malformed."),
    "Unauthorized": json_response(
        ref("UnauthorizedError"),
        "Missing or wrong key (x-api-key or Authorization: Bearer).",
        {"WWW-Authenticate": {"required": True, "schema": {"const": "Bearer"}}},
    ),
    "NotFound": json_response(ref("Error"), "No such resource."),
    "PayloadTooLarge": json_response(
        ref("Error"), f"The request carries a body over {MAX_BODY_BYTES} bytes."
    ),
    "TooManyRequests": json_response(
        ref("Error"),
        "This client's requests that need a new (paid) roast are over the per-minute limit; "
        "or, with PLOTBURN_REQUIRE_KEY, its wrong admin keys are (see AdminThrottled).",
        {"Retry-After": REQUIRED_RETRY_AFTER},
    ),
    "AdminThrottled": json_response(
        ref("Error"),
        "This client presented too many wrong admin keys: every key it presents is refused, "
        "the right one included, until Retry-After (on admin routes; on public ones only "
        "with PLOTBURN_REQUIRE_KEY).",
        {"Retry-After": REQUIRED_RETRY_AFTER},
    ),
    "BadGateway": json_response(ref("Error"), "An upstream API failed after bounded retries."),
    "Unavailable": json_response(
        ref("Error"),
        f"{UNAVAILABLE}, then with Retry-After; or, with PLOTBURN_REQUIRE_KEY, the key "
        "is required but PLOTBURN_ADMIN_TOKEN is not set.",
        {"Retry-After": RETRY_AFTER},
    ),
    "AdminUnavailable": json_response(
        ref("Error"),
        "Admin routes are disabled (PLOTBURN_ADMIN_TOKEN is not set, or shorter than "
        "32 characters), or "
        f"{UNAVAILABLE} (then with Retry-After).",
        {"Retry-After": RETRY_AFTER},
    ),
}
