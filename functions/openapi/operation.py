"""How an operation is written: who may call it (the security requirements), the
parameters several share, and `operation()`, which adds the responses every route can give."""

from __future__ import annotations

from typing import Any

from functions.openapi.common import MOVIE_ID, ref, resp

# Admin routes: the key as the Worker's clients send it, or as a bearer token.
ADMIN: list[dict[str, list[str]]] = [{"adminApiKey": []}, {"adminBearer": []}]
# Public routes: open, unless PLOTBURN_REQUIRE_KEY is set (then as ADMIN).
KEYABLE: list[dict[str, list[str]]] = [{}, *ADMIN]
OPEN: list[dict[str, list[str]]] = []

RUN_ID_PARAM = {
    "name": "correlationId",
    "in": "query",
    "required": True,
    "description": "A run's id: cron-<epoch ms> or manual-trigger-<epoch ms>.",
    "schema": ref("CorrelationId"),
}
ANY_ID_PARAM = {
    "name": "correlationId",
    "in": "query",
    "required": True,
    "description": (
        "Any correlation id of a safe form (letters, digits, . _ : -, at most 128): a "
        "run's, or a request's from its x-correlation-id."
    ),
    "schema": ref("AnyCorrelationId"),
}
MOVIE_ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "TMDB movie id.",
    "schema": MOVIE_ID,
}


def operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Any],
    *,
    admin: bool = False,
    keyable: bool = True,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """An operation, with the responses every route can give (413; 401, 429 and 503
    unless it never needs a key) added to `responses`, sorted by status."""
    responses = dict(responses)
    responses.setdefault("413", resp("PayloadTooLarge"))
    if admin:
        responses.setdefault("401", resp("Unauthorized"))
        responses.setdefault("429", resp("AdminThrottled"))
        responses.setdefault("503", resp("AdminUnavailable"))
    elif keyable:
        responses.setdefault("401", resp("Unauthorized"))
        responses.setdefault("429", resp("AdminThrottled"))
        responses.setdefault("503", resp("Unavailable"))
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": ADMIN if admin else KEYABLE if keyable else OPEN,
        "parameters": [
            *(parameters or []),
            {"$ref": "#/components/parameters/CorrelationIdHeader"},
        ],
        "responses": dict(sorted(responses.items())),
    }
    if description:
        op["description"] = description
    return op
