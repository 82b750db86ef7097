"""Firestore collection names and the TTL field, in one place.

infra/firestore.tf declares a TTL policy on EXPIRE_AT_FIELD for every collection group
in EXPIRING_COLLECTIONS; tests/infra holds the two to each other.
"""

from __future__ import annotations

# The one field every expiring document carries. Firestore's TTL policy deletes a
# document some time (up to ~24 h) after this moment; reads treat it as gone at once.
EXPIRE_AT_FIELD = "expire_at"

NOW_PLAYING = "now_playing"  # {version}-{region}: the now-playing list, 23 h
TRUTHS = "truths"  # {version}-{movie_id}: research brief, permanent
ROASTS = "roasts"  # {version}-{movie_id}: roast + movie + truth, 30 days
RUNS = "runs"  # {correlation_id}: one run, 90 days
OUTCOMES = "outcomes"  # runs/{correlation_id}/outcomes/{movie_id}, 90 days
LOGS = "logs"  # auto id: log entries, 7 days
DEBUG = "debug"  # {correlation_id}-{movie_id}: a generation's debug payload, 7 days
ROAST_INDEX = "roast_index"  # {version}: movie id -> roast expiry, for has_roast in one read
LEASES = "leases"  # {version}-{movie_id}: single-flight generation lease
META = "meta"  # counters that never expire (total_runs)
RATE_LIMITS = "rate_limits"  # {client hash}: token bucket of paid requests, 1 h after last use
PROVIDER_LIMITS = "provider_limits"  # {provider}: fleet-wide rate limit, never expires
BUDGETS = "budgets"  # {utc day}-{shard}: the day's paid calls and cost, 40 days

EXPIRING_COLLECTIONS = (
    NOW_PLAYING, ROASTS, RUNS, OUTCOMES, LOGS, DEBUG, LEASES, RATE_LIMITS, BUDGETS,
)  # fmt: skip
