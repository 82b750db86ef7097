"""The status schemas: liveness, a roast being generated, the correlation ids, the runs,
today's budget and the answers of /cron/status, /cron/trigger and /cron/retry."""

from __future__ import annotations

from typing import Any

from functions.api_contract import SAFE_ID_PATTERN
from functions.metering import SERVICES
from functions.models import CORRELATION_ID_PATTERN
from functions.openapi.common import (
    COUNT,
    DATE,
    MOVIE_ID,
    TIMESTAMP,
    nullable,
    object_schema,
    ref,
)
from functions.views import (
    PROGRESS_FIELDS,
    PUBLIC_REASONS,
    PUBLIC_RUN_FIELDS,
    RUN_FAILED,
    UPSTREAM_ERROR,
)

RUN_PROPERTIES: dict[str, Any] = {
    "timestamp": {**TIMESTAMP, "description": "When the run started."},
    "trigger": {"type": "string", "enum": ["scheduled", "manual"]},
    "correlation_id": ref("CorrelationId"),
    "movies_fetched": COUNT,
    "roasts_processed": COUNT,
    "roasts_cached": COUNT,
    "roasts_generated": COUNT,
    "roasts_failed": COUNT,
    "failed_movie_ids": {"type": "array", "items": MOVIE_ID},
    "failure_reasons": {
        "type": "object",
        "description": "Failed movie id -> why it failed.",
        "propertyNames": {"pattern": "^[1-9][0-9]*$"},
        "additionalProperties": {"type": "string"},
    },
    "duration_ms": nullable({**COUNT, "description": "null while in_progress"}),
    "status": ref("RunStatus"),
    "finished_at": nullable(TIMESTAMP),
    "error": nullable({"type": "string", "description": "Why the run could not start at all."}),
    "upstream_calls": object_schema(
        {s: COUNT for s in SERVICES},
        description="Calls made per upstream service, retries included.",
    ),
    "tokens": object_schema(
        {s: ref("TokenCount") for s in ("research", "roast")},
        description="Tokens reported by the LLM APIs' usage.",
    ),
    "estimated_cost_usd": {
        "type": "number",
        "minimum": 0,
        "description": "As the providers reported it (list-price estimate where they did not).",
    },
}
RUN_PROPERTIES.update(
    {
        "progress": object_schema(
            {"done": COUNT, "total": COUNT},
            description="Movies with an outcome, of the run's movies (in /cron/status).",
        ),
        "estimated_finish": nullable(
            {
                **TIMESTAMP,
                "description": "While in_progress: when the run should end, from its "
                "pace and the configured research rate (in /cron/status).",
            }
        ),
        "deadline_at": nullable(
            {
                **TIMESTAMP,
                "description": "While in_progress: when the sweep closes it, its unfinished "
                "movies failed; grows with the run's movies at the research rate.",
            }
        ),
    }
)
# A failure reason as the public sees it (views.public_reason).
REASON_CODE = {
    "type": "string",
    "enum": sorted({*PUBLIC_REASONS, UPSTREAM_ERROR, RUN_FAILED}),
}

# The Run fields every answer carries; /cron/status adds progress and the estimate.
RUN_FIELDS = [
    "timestamp", "trigger", "correlation_id", "movies_fetched", "roasts_processed",
    "roasts_cached", "roasts_generated", "roasts_failed", "failed_movie_ids",
    "failure_reasons", "duration_ms", "status", "finished_at", "error", "upstream_calls",
    "tokens", "estimated_cost_usd",
]  # fmt: skip

STATUS_SCHEMAS: dict[str, Any] = {
    "Generating": object_schema(
        {
            "message": {"type": "string"},
            "movie_id": MOVIE_ID,
            "status": {"const": "generating"},
        },
        description="Another caller is generating this movie's roast.",
    ),
    "Health": object_schema({"ok": {"const": True}}),
    "CorrelationId": {
        "type": "string",
        "pattern": CORRELATION_ID_PATTERN,
        "description": "A run's id: cron-<epoch ms> or manual-trigger-<epoch ms>.",
    },
    "AnyCorrelationId": {
        "type": "string",
        "pattern": SAFE_ID_PATTERN,
        "description": "Any correlation id: a run's, or a request's (from x-correlation-id).",
    },
    "RunStatus": {"type": "string", "enum": ["in_progress", "success", "partial", "failed"]},
    "TokenCount": object_schema({"prompt": COUNT, "completion": COUNT}),
    "Run": object_schema(
        RUN_PROPERTIES,
        required=RUN_FIELDS,
        description=(
            "A nightly or manual run. The seed Worker's CronResult fields, plus added "
            "ones (never renamed). While in_progress, counters are live; a run shows "
            "as in_progress from the moment POST /cron/trigger answers 202. This full "
            "form is shown to the admin key's holder."
        ),
    ),
    "PublicRun": object_schema(
        {
            **{name: RUN_PROPERTIES[name] for name in (*PUBLIC_RUN_FIELDS, *PROGRESS_FIELDS)},
            "failure_reasons": {
                **RUN_PROPERTIES["failure_reasons"],
                "description": "Failed movie id -> why it failed, as a code.",
                "additionalProperties": REASON_CODE,
            },
            "error": nullable({**REASON_CODE, "description": "Why the run could not start."}),
        },
        required=[*PUBLIC_RUN_FIELDS, "failure_reasons", "error"],
        description=(
            "A run as /cron/status shows it without the admin key: the seed Worker's "
            "CronResult fields and failure codes; no spend and no upstream error text."
        ),
    ),
    "BudgetPool": object_schema(
        {
            "calls": {"type": "integer"},
            "call_ceiling": COUNT,
            "estimated_cost_usd": {"type": "number"},
            "cost_ceiling_usd": {"type": "number", "minimum": 0},
            "remaining_calls": COUNT,
            "exhausted": {"type": "boolean"},
        },
        description="One pool's part of today's spend and of the ceilings.",
    ),
    "Budget": object_schema(
        {
            "day": DATE,
            "calls": {"type": "integer"},
            "call_ceiling": COUNT,
            "estimated_cost_usd": {"type": "number"},
            "cost_ceiling_usd": {"type": "number", "minimum": 0},
            "remaining_calls": COUNT,
            "exhausted": {
                "type": "boolean",
                "description": "True once a new movie (research + roast, 2 calls) no longer "
                "fits under the nightly pool's call ceiling, or its cost ceiling is reached: "
                "the nightly run and admins generate nothing new then.",
            },
            "public_share": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "PLOTBURN_PUBLIC_BUDGET_SHARE: the part of both ceilings "
                "public cache misses may spend.",
            },
            "pools": object_schema(
                {"public": ref("BudgetPool"), "nightly": ref("BudgetPool")},
                description="Public on-demand generation pays from its own share; the "
                "nightly runs and admin requests pay from the rest.",
            ),
        },
        description="Today's (UTC) paid upstream spend against its ceilings.",
    ),
    "CronStatus": object_schema(
        {
            "last_run": nullable(ref("Run")),
            "history": {
                "type": "array",
                "maxItems": 10,
                "description": "The last 10 runs, newest first.",
                "items": ref("Run"),
            },
            "total_runs": COUNT,
            "budget": ref("Budget"),
        },
        description="/cron/status with the admin key: full runs, and today's budget.",
    ),
    "PublicCronStatus": object_schema(
        {
            "last_run": nullable(ref("PublicRun")),
            "history": {
                "type": "array",
                "maxItems": 10,
                "description": "The last 10 runs, newest first.",
                "items": ref("PublicRun"),
            },
            "total_runs": COUNT,
        },
        description="/cron/status without the admin key: no budget, no spend.",
    ),
    "TriggerAccepted": object_schema(
        {
            "message": {"type": "string"},
            "correlation_id": ref("CorrelationId"),
            "status": {"const": "started"},
            "check_status_at": {"const": "/cron/status"},
        }
    ),
    "RetryResult": object_schema(
        {
            "correlation_id": ref("CorrelationId"),
            "retried_movie_ids": {"type": "array", "items": MOVIE_ID},
            "status": ref("RunStatus"),
            "check_status_at": {"const": "/cron/status"},
        }
    ),
}
