"""The document itself: the route table, the info and tags, and the components the
other modules' schemas, responses and parameters make up."""

from __future__ import annotations

import copy
import functools
from typing import Any

from functions.api_contract import MAX_BODY_BYTES
from functions.openapi import paths_admin, paths_public
from functions.openapi.common import (
    API_KEY_HEADER,
    API_VERSION,
    CORRELATION_HEADER,
    OPENAPI_VERSION,
    ref,
)
from functions.openapi.feed import FEED_SCHEMAS
from functions.openapi.movies import MOVIE_SCHEMAS
from functions.openapi.ops import OPS_SCHEMAS
from functions.openapi.responses import ERROR_SCHEMAS, RESPONSES
from functions.openapi.status import STATUS_SCHEMAS

_SCHEMA_GROUPS = (ERROR_SCHEMAS, MOVIE_SCHEMAS, FEED_SCHEMAS, STATUS_SCHEMAS, OPS_SCHEMAS)
SCHEMAS: dict[str, Any] = {name: s for group in _SCHEMA_GROUPS for name, s in group.items()}
assert len(SCHEMAS) == sum(map(len, _SCHEMA_GROUPS)), "a schema name is defined twice"


def _paths() -> dict[str, Any]:
    """Every route, in the order the document has always listed them."""
    return {
        "/healthz": paths_public.healthz(),
        "/now-playing": paths_public.now_playing(),
        "/movie/{id}": paths_public.movie(),
        "/movie/{id}/debug": paths_admin.movie_debug(),
        "/feed": paths_public.feed(),
        "/cron/trigger": paths_admin.cron_trigger(),
        "/cron/status": paths_public.cron_status(),
        "/cron/retry": paths_admin.cron_retry(),
        "/logs": paths_admin.logs(),
        "/debug": paths_admin.debug(),
        "/cache/clear/{kind}": paths_admin.cache_clear(),
        "/budget": paths_admin.budget(),
        "/dashboard": paths_public.dashboard(),
        "/openapi.json": paths_public.openapi_json(),
    }


@functools.cache
def _document() -> dict[str, Any]:
    """Built once; `document()` hands out copies."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "PlotBurn api",
            "version": API_VERSION,
            "summary": "Nightly movie roasts: public reads, admin operations.",
            "description": (
                "The Cloudflare Worker's JSON, field for field, with PlotBurn's added fields "
                'beside it. Every error is {"error": "...", "message": "..."}. An '
                'unknown route answers 404 {"error": "Not found"}; a known route with '
                "another method answers 405 with Allow. No route reads a request body; one "
                f"over {MAX_BODY_BYTES} bytes is refused with 413.\n\n"
                "Admin routes take the key as `x-api-key: <PLOTBURN_ADMIN_TOKEN>` (the "
                "Worker's header) or `Authorization: Bearer <PLOTBURN_ADMIN_TOKEN>`: a "
                "missing or wrong key gets 401; with no token configured they answer 503 "
                "(never open). With PLOTBURN_REQUIRE_KEY set, every route but /healthz "
                "needs the key, as the Worker's did when its secret was set.\n\n"
                "Every response carries `x-correlation-id`: the request's own when it sent "
                "a safe one (letters, digits, . _ : -, at most 128), else `<epoch ms>-<hex>`. "
                "GET /debug?correlationId= finds what that request generated."
            ),
        },
        "tags": [
            {"name": "public", "description": "No key needed, unless PLOTBURN_REQUIRE_KEY is set."},
            {"name": "admin", "description": "x-api-key or Bearer PLOTBURN_ADMIN_TOKEN."},
        ],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "parameters": {
                "CorrelationIdHeader": {
                    "name": CORRELATION_HEADER,
                    "in": "header",
                    "required": False,
                    "description": (
                        "The request's correlation id, echoed in the response; one of another "
                        "form is replaced by a new one, not refused."
                    ),
                    "schema": ref("AnyCorrelationId"),
                }
            },
            "headers": {
                "CorrelationId": {
                    "description": (
                        "The request's correlation id (its x-correlation-id, or a new one)."
                    ),
                    "required": True,
                    "schema": ref("AnyCorrelationId"),
                }
            },
            "securitySchemes": {
                "adminApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": API_KEY_HEADER,
                    "description": "The value of PLOTBURN_ADMIN_TOKEN (the Worker's header).",
                },
                "adminBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The value of PLOTBURN_ADMIN_TOKEN.",
                },
            },
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
