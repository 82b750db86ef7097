"""The Worker's JSON, field for field (../shared/seed-api.md), from PlotBurn's models.

Pure functions: no I/O. Fields PlotBurn adds stand beside the Worker's, never instead
of them.
"""

from __future__ import annotations

from typing import Any

from functions.models import Movie, RoastRecord, Truth, iso

DISCLAIMER = "Satire. Facts unchanged."
POSTER_BASE = "https://image.tmdb.org/t/p/w500"


def poster_url(poster_path: str | None) -> str | None:
    return f"{POSTER_BASE}{poster_path}" if poster_path else None


def now_playing_movie(movie: Movie, has_roast: bool) -> dict[str, Any]:
    return {
        "id": movie.id,
        "title": movie.title,
        "release_date": movie.release_date,
        "rating": float(movie.vote_average or 0.0),
        "votes": int(movie.vote_count or 0),
        "popularity": float(movie.popularity or 0.0),
        "overview": movie.overview,
        "poster_url": poster_url(movie.poster_path),
        "has_roast": has_roast,
    }


def roast_document(record: RoastRecord) -> dict[str, Any]:
    """A roast as /movie/{id} serves it, without `cached` (the /feed form)."""
    return {
        "movie": dict(record.details.meta),
        "roast": record.roast.card.model_dump(mode="json"),
        "generated_at": iso(record.roast.created_at),
        "disclaimer": DISCLAIMER,
        "truth_source": record.truth.source,
        "truth_fetched_at": iso(record.truth.created_at),
        # PlotBurn's additions.
        "roast_model": record.roast.model,
        "citations": list(record.truth.citations),
    }


def movie_response(record: RoastRecord, cached: bool) -> dict[str, Any]:
    return {"cached": cached, **roast_document(record)}


def truth_document(truth: Truth) -> dict[str, Any]:
    """A stored truth, in the Worker's field names."""
    usage = truth.usage
    return {
        "source": truth.source,
        "fetchedAt": iso(truth.created_at),
        "model": truth.model,
        "citations": list(truth.citations),
        "searchResults": [
            {"title": r.title, "url": r.url, "date": r.date, "snippet": r.snippet}
            for r in truth.search_results
        ],
        "content": truth.brief,
        "usage": {
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "cost": {"currency": "USD", "total_cost": usage.cost_usd},
        },
        "cost": usage.cost_usd,
        "movieId": truth.movie_id,
    }


def debug_payload(record: RoastRecord, correlation_id: str, now: Any) -> dict[str, Any]:
    """What one generation saw and made (the Worker's debug entry `data`)."""
    return {
        "movie": dict(record.details.meta),
        "director": record.details.director,
        "truth": truth_document(record.truth),
        "roast": record.roast.card.model_dump(mode="json"),
        "roast_model": record.roast.model,
        "result": "generated",
        "correlationId": correlation_id,
        "timestamp": iso(now),
    }


# What /cron/status shows a caller without the admin key: the Worker's run fields
# (../shared/seed-api.md) and why movies failed as short codes; no spend, no budget
# and no upstream text (which can name a credential's state or a provider's answer).
PUBLIC_RUN_FIELDS = (
    "timestamp", "trigger", "correlation_id", "movies_fetched", "roasts_processed",
    "roasts_cached", "roasts_generated", "roasts_failed", "failed_movie_ids",
    "duration_ms", "status", "finished_at",
)  # fmt: skip
PROGRESS_FIELDS = ("progress", "estimated_finish", "deadline_at")
# Outcome reasons that are already codes (runs, roast_movie, errors); any other reason
# is an upstream's answer and shows as UPSTREAM_ERROR.
PUBLIC_REASONS = frozenset(
    {"deadline_exceeded", "dead_lettered", "movie_not_found", "budget_exhausted",
     "truncated", "invalid_roast"}
)  # fmt: skip
UPSTREAM_ERROR = "upstream_error"
RUN_FAILED = "run_failed"
PROVIDERS = ("tmdb:", "perplexity:", "xai:")


def public_reason(reason: str) -> str:
    """A failure reason as the public sees it: a code, never an upstream's words."""
    if reason in PUBLIC_REASONS:
        return reason
    return UPSTREAM_ERROR if reason.startswith(PROVIDERS) else RUN_FAILED


def public_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run's status JSON (Run.to_status_json) without spend or upstream text."""
    shown = {name: run[name] for name in PUBLIC_RUN_FIELDS}
    # How far an open run is, and when it should end: no spend, no upstream text.
    shown.update({name: run[name] for name in PROGRESS_FIELDS if name in run})
    reasons = run.get("failure_reasons") or {}
    shown["failure_reasons"] = {k: public_reason(str(v)) for k, v in reasons.items()}
    shown["error"] = None if run.get("error") is None else public_reason(str(run["error"]))
    return shown


_LOG_FIELDS = {
    "timestamp", "level", "severity", "correlation_id", "endpoint", "method", "movie_id",
    "title", "response_status", "duration_ms", "reason", "error", "message",
}  # fmt: skip


def log_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored log entry in the Worker's shape (optional fields only when known)."""
    entry: dict[str, Any] = {
        "timestamp": doc.get("timestamp"),
        "level": doc.get("level") or "INFO",
        "correlationId": doc.get("correlation_id"),
        "endpoint": doc.get("endpoint") or "pipeline",
        "method": doc.get("method") or "EVENT",
    }
    optional = {
        "movieId": doc.get("movie_id"),
        "movieTitle": doc.get("title"),
        "responseStatus": doc.get("response_status"),
        "duration": doc.get("duration_ms"),
        "error": doc.get("error") or doc.get("reason"),
    }
    entry.update({k: v for k, v in optional.items() if v is not None})
    metadata = {k: v for k, v in doc.items() if k not in _LOG_FIELDS and v is not None}
    if metadata:
        entry["metadata"] = metadata
    # PlotBurn's additions: what happened, and Cloud Logging's severity (ALERT is an
    # ERROR to the Worker's levels).
    entry["message"] = doc.get("message")
    entry["severity"] = doc.get("severity")
    return entry
