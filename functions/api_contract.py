"""The API's contract in numbers and names: limits, defaults and patterns that the
routes enforce and the OpenAPI document publishes. A leaf: it imports nothing of
the routes or the document, so both can import it."""

from __future__ import annotations

from functions.ports import CACHE_KINDS

MAX_BODY_BYTES = 16 * 1024
# /logs: the Worker's default and clamp (out-of-range limits are clamped, not refused).
LOGS_DEFAULT_LIMIT = 100
LOGS_MAX_LIMIT = 1000
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
LOGS_DEFAULT_OLDER_THAN_DAYS = 30
LOGS_MAX_OLDER_THAN_DAYS = 3650
FEED_DEFAULT_LIMIT = 10
FEED_MAX_LIMIT = 100
FEED_MAX_PAGE = 100_000
CLEARABLE = (*CACHE_KINDS, "all")
# Any correlation id of a safe form: run ids, request ids from x-correlation-id.
# Not "." or "..", nor "__...__": Firestore refuses those as document ids (a /debug
# lookup of one would fail with InvalidArgument instead of answering 404).
SAFE_ID_PATTERN = r"^(?!\.\.?$)(?!__.*__$)[A-Za-z0-9._:-]{1,128}$"
# How long clients and CDNs may reuse /now-playing: a roast landing shows in
# has_roast within this.
NOW_PLAYING_MAX_AGE_SECONDS = 60
