"""The OpenAPI 3.1 contract of the `api` function, served at `GET /openapi.json`.

The bodies are the Cloudflare Worker's JSON (../shared/seed-api.md), field for field,
with PlotBurn's added fields beside them. Built from the same constants `http_api`
validates with (id ranges, the correlation id patterns, the /logs and /feed limits,
the cache kinds), so the document cannot drift from the checks. Every object stays
open to added fields ("only add fields, never rename"); the unit tests check each
real response against it with unknown fields forbidden, so nothing goes undocumented.

The modules, one job each:
  common        the building blocks: header names, $refs, object and response shapes
  responses     the Error body and the shared responses (components/responses)
  movies        TMDB's details, the now-playing list, the roast card and document
  feed          the stored research and the pages of GET /feed
  status        liveness, a roast in progress, runs, budget, /cron/* answers
  ops           log entries, debug entries, what a cache clear removed
  operation     security requirements, shared parameters, `operation()`
  paths_public  the public routes' path items
  paths_admin   the admin routes' path items
  assemble      the route table, info, tags and components: `document()`

`http_api` imports this package to serve it. The limits come from
`functions.api_contract`; nothing here imports `http_api`.
"""

from __future__ import annotations

from functions.openapi.assemble import document
from functions.openapi.common import (
    API_KEY_HEADER,
    API_VERSION,
    CORRELATION_HEADER,
    CORRELATION_RESPONSE_HEADER,
    COUNT,
    CSP_HEADER,
    DATE,
    MOVIE_ID,
    NOW_PLAYING_CACHE_CONTROL,
    OPENAPI_VERSION,
    REQUIRED_RETRY_AFTER,
    RETRY_AFTER,
    SEVERITY,
    STRINGS,
    TIMESTAMP,
)
from functions.openapi.movies import NOW_PLAYING_MOVIE_PROPERTIES, ROAST_DOCUMENT_PROPERTIES
from functions.openapi.operation import (
    ADMIN,
    ANY_ID_PARAM,
    KEYABLE,
    MOVIE_ID_PARAM,
    OPEN,
    RUN_ID_PARAM,
)

__all__ = [
    "ADMIN",
    "ANY_ID_PARAM",
    "API_KEY_HEADER",
    "API_VERSION",
    "CORRELATION_HEADER",
    "CORRELATION_RESPONSE_HEADER",
    "COUNT",
    "CSP_HEADER",
    "DATE",
    "KEYABLE",
    "MOVIE_ID",
    "MOVIE_ID_PARAM",
    "NOW_PLAYING_CACHE_CONTROL",
    "NOW_PLAYING_MOVIE_PROPERTIES",
    "OPEN",
    "OPENAPI_VERSION",
    "REQUIRED_RETRY_AFTER",
    "RETRY_AFTER",
    "ROAST_DOCUMENT_PROPERTIES",
    "RUN_ID_PARAM",
    "SEVERITY",
    "STRINGS",
    "TIMESTAMP",
    "document",
]
