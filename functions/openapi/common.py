"""The building blocks of the OpenAPI document: the header names, `$ref`s, the JSON
response and object shapes, and the small schemas (counts, ids, dates) used throughout."""

from __future__ import annotations

from typing import Any, get_args

from functions.api_contract import NOW_PLAYING_MAX_AGE_SECONDS
from functions.models import MAX_MOVIE_ID, LogSeverity

OPENAPI_VERSION = "3.1.0"
API_VERSION = "2.0.0"
CSP_HEADER = "Content-Security-Policy"
CORRELATION_HEADER = "x-correlation-id"
API_KEY_HEADER = "x-api-key"
NOW_PLAYING_CACHE_CONTROL = f"public, max-age={NOW_PLAYING_MAX_AGE_SECONDS}"


def ref(name: str) -> dict[str, str]:
    """A reference to a schema in components/schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


def resp(name: str) -> dict[str, str]:
    """A reference to a shared response in components/responses."""
    return {"$ref": f"#/components/responses/{name}"}


CORRELATION_RESPONSE_HEADER = {"$ref": "#/components/headers/CorrelationId"}


def json_response(
    schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON response; every response carries the request's x-correlation-id."""
    return {
        "description": description,
        "headers": {CORRELATION_HEADER: CORRELATION_RESPONSE_HEADER, **(headers or {})},
        "content": {"application/json": {"schema": schema}},
    }


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def object_schema(
    properties: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """An object; all its properties are required unless `required` says otherwise."""
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
        **extra,
    }


COUNT = {"type": "integer", "minimum": 0}
MOVIE_ID = {"type": "integer", "minimum": 1, "maximum": MAX_MOVIE_ID}
TIMESTAMP = {"type": "string", "format": "date-time"}
DATE = {"type": "string", "format": "date"}
STRINGS = {"type": "array", "items": {"type": "string"}}
SEVERITY = {"type": "string", "enum": list(get_args(LogSeverity))}
RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}
REQUIRED_RETRY_AFTER = {**RETRY_AFTER, "required": True}
