"""The one settings object, read from the environment, declared in groups.

Every knob PlotBurn has is a field of one group (platform, upstreams, movie choice,
limits and caches here; budget and prices in `budget_settings`, the providers' rate
limits in `rate_settings`), and every TTL is a constant at the top of this file, so
"where is X configured" has one answer: `Settings`, assembled at the bottom.
Secrets are ``SecretStr`` so that a repr, a log line or a validation error can never
print them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.budget_settings import BudgetSettings
from functions.errors import ConfigError
from functions.rate_settings import ProviderRateSettings
from functions.selection import MovieChoice

# The seed Worker's cache lifetimes (NOW_PLAYING_TTL, ROAST_TTL, LOG_RETENTION_DAYS).
NOW_PLAYING_TTL = timedelta(hours=23)
ROAST_TTL = timedelta(days=30)
LOG_TTL = timedelta(days=7)
# The generation debug payloads behind /debug and /movie/{id}/debug.
DEBUG_TTL = timedelta(days=7)
# The seed kept its last 10 runs forever in KV; we keep run records for 90 days and
# count every run ever in a counter document, so `total_runs` stays true.
RUN_TTL = timedelta(days=90)
HISTORY_LIMIT = 10
RATE_LIMIT_TTL = timedelta(hours=1)
BUDGET_TTL = timedelta(days=40)

# Perplexity's Agent API model (never a preset: a preset may run another vendor's
# model) and xAI's fast non-reasoning model; the Worker's `sonar` and
# `grok-4-1-fast-non-reasoning` were retired in 2026 (see README, "Upstream APIs").
DEFAULT_PERPLEXITY_MODEL = "perplexity/sonar"
DEFAULT_XAI_MODEL = "grok-4.20-non-reasoning"


class _Group(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @field_validator(
        "admin_token",
        "client_key_secret",
        "tmdb_api_token",
        "tmdb_api_key",
        "perplexity_api_key",
        "xai_api_key",
        mode="before",
        check_fields=False,
    )
    @classmethod
    def _blank_secret_is_unset(cls, value: Any) -> Any:
        # An empty variable (or a secret version holding only a newline) means "not
        # set": a blank TMDB token must not win over a real TMDB v3 key. A secret read
        # from a file usually ends in a newline: no secret counts its whitespace.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return (raw.strip() or None) if isinstance(raw, str) else value


class PlatformSettings(_Group):
    """The project, its topics, the admin key, and what the operator sees."""

    project: str = Field(
        "plotburn-local",
        validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"),
    )

    nightly_topic: str = Field("plotburn-nightly", validation_alias="PLOTBURN_NIGHTLY_TOPIC")
    roast_topic: str = Field("plotburn-roast", validation_alias="PLOTBURN_ROAST_TOPIC")
    dead_letter_topic: str = Field(
        "plotburn-dead-letter", validation_alias="PLOTBURN_DEAD_LETTER_TOPIC"
    )

    # At least 32 characters (see functions/admin_access.py), else the admin routes
    # answer 503; a short token never stops the public routes.
    admin_token: SecretStr | None = Field(None, validation_alias="PLOTBURN_ADMIN_TOKEN")
    # The HMAC key of rate-limit client keys, shared by every instance. Unset: each
    # instance makes a random one (limits are then per instance, and a WARNING says so).
    client_key_secret: SecretStr | None = Field(None, validation_alias="PLOTBURN_CLIENT_KEY_SECRET")
    # As the Worker did when its API_SECRET_KEY was set: every route but /healthz
    # needs the admin key (x-api-key or Authorization: Bearer), reads included.
    require_key: bool = Field(False, validation_alias="PLOTBURN_REQUIRE_KEY")
    # Log one line per invocation with its Firestore reads/writes, Pub/Sub publishes
    # and upstream calls (the benchmarks count cost from these).
    log_ops: bool = Field(False, validation_alias="PLOTBURN_LOG_OPS")
    # How long a publish (the nightly message, a run's roast messages) may take
    # before the work is retried (a 503, redelivery).
    publish_timeout_seconds: float = Field(
        60.0, gt=0, le=540, validation_alias="PLOTBURN_PUBLISH_TIMEOUT_SECONDS"
    )


class UpstreamSettings(_Group):
    """TMDB, Perplexity and xAI: where, with which credentials and models, and how
    hard each call is tried."""

    tmdb_api_base: str = Field("https://api.themoviedb.org/3", validation_alias="TMDB_API_BASE")
    # Either TMDB credential works: the read access token (sent as a bearer token,
    # preferred when both are set) or the v3 API key (the api_key query parameter).
    tmdb_api_token: SecretStr | None = Field(None, validation_alias="TMDB_API_TOKEN")
    tmdb_api_key: SecretStr | None = Field(None, validation_alias="TMDB_API_KEY")
    # The Worker's region: TMDB lists the movies in theatres there.
    tmdb_region: str | None = Field("IN", validation_alias="TMDB_REGION", pattern=r"^[A-Z]{2}$")
    # A safety valve: TMDB's now_playing can report hundreds of pages for some regions.
    tmdb_max_pages: int = Field(50, ge=1, le=500, validation_alias="TMDB_MAX_PAGES")
    # TMDB's soft ceiling is about 40 requests a second; one instance stays under it
    # when it reads many pages at once.
    tmdb_requests_per_second: float = Field(
        35.0, gt=0, le=1000, validation_alias="TMDB_REQUESTS_PER_SECOND"
    )

    perplexity_api_base: str = Field(
        "https://api.perplexity.ai", validation_alias="PERPLEXITY_API_BASE"
    )
    perplexity_api_key: SecretStr | None = Field(None, validation_alias="PERPLEXITY_API_KEY")
    perplexity_model: str = Field(
        DEFAULT_PERPLEXITY_MODEL, min_length=1, validation_alias="PERPLEXITY_MODEL"
    )
    # The research brief's output limit (an incomplete answer is retried once with
    # twice this) and the web search's recency filter (hour|day|week|month|year).
    perplexity_max_output_tokens: int = Field(
        3000, ge=16, le=32_000, validation_alias="PERPLEXITY_MAX_OUTPUT_TOKENS"
    )
    perplexity_search_recency: str = Field(
        "month",
        pattern=r"^(hour|day|week|month|year)$",
        validation_alias="PERPLEXITY_SEARCH_RECENCY",
    )

    xai_api_base: str = Field("https://api.x.ai/v1", validation_alias="XAI_API_BASE")
    xai_api_key: SecretStr | None = Field(None, validation_alias="XAI_API_KEY")
    xai_model: str = Field(DEFAULT_XAI_MODEL, min_length=1, validation_alias="XAI_MODEL")
    xai_max_tokens: int = Field(1000, ge=100, le=16_000, validation_alias="XAI_MAX_TOKENS")
    # One pooled HTTP client per instance serves all three APIs.
    http_max_connections: int = Field(
        200, ge=1, le=10_000, validation_alias="PLOTBURN_HTTP_MAX_CONNECTIONS"
    )
    http_max_keepalive: int = Field(
        100, ge=0, le=10_000, validation_alias="PLOTBURN_HTTP_MAX_KEEPALIVE"
    )

    # Upstream calls: per-attempt timeout and how many attempts before a movie fails.
    # Worst case per call: 4 x 30 s + 3 x 10 s backoff = 150 s; research and roast
    # together 300 s, inside the roast function's 540 s and the 330 s lease below.
    upstream_timeout_seconds: float = Field(
        30.0, gt=0, le=300, validation_alias="PLOTBURN_UPSTREAM_TIMEOUT_SECONDS"
    )
    upstream_max_attempts: int = Field(
        4, ge=1, le=10, validation_alias="PLOTBURN_UPSTREAM_MAX_ATTEMPTS"
    )
    upstream_backoff_max_seconds: float = Field(
        10.0, gt=0, le=120, validation_alias="PLOTBURN_UPSTREAM_BACKOFF_MAX_SECONDS"
    )


class MovieChoiceSettings(_Group):
    """Which now-playing movies are roasted (the Worker's choice)."""

    # The Worker's choice of movies: released from OLDEST to NEWEST days ago (UTC days,
    # inclusive), none of the excluded genres (99 Documentary, 10402 Music).
    release_window_oldest_days: int = Field(
        10, ge=0, le=365, validation_alias="PLOTBURN_RELEASE_WINDOW_OLDEST_DAYS"
    )
    release_window_newest_days: int = Field(
        3, ge=0, le=365, validation_alias="PLOTBURN_RELEASE_WINDOW_NEWEST_DAYS"
    )
    excluded_genres: str = Field(
        "99,10402",
        pattern=r"^\s*([0-9]{1,7}\s*(,\s*[0-9]{1,7}\s*)*)?$",
        validation_alias="PLOTBURN_EXCLUDED_GENRES",
    )

    @model_validator(mode="after")
    def _window_is_not_empty(self) -> MovieChoiceSettings:
        if self.release_window_newest_days > self.release_window_oldest_days:
            raise ValueError(
                "PLOTBURN_RELEASE_WINDOW_NEWEST_DAYS is more than "
                "PLOTBURN_RELEASE_WINDOW_OLDEST_DAYS"
            )
        return self

    @property
    def movie_choice(self) -> MovieChoice:
        genres = frozenset(int(g) for g in self.excluded_genres.split(",") if g.strip())
        return MovieChoice(
            oldest_days=self.release_window_oldest_days,
            newest_days=self.release_window_newest_days,
            excluded_genres=genres,
        )


class LimitSettings(_Group):
    """How long things may take, and who may make PlotBurn pay."""

    # A run still in_progress this long after it started is finalized by the sweep.
    run_deadline_minutes: float = Field(
        30.0, gt=0, le=24 * 60, validation_alias="PLOTBURN_RUN_DEADLINE_MINUTES"
    )
    # How long a caller waits for another caller's generation of the same movie.
    single_flight_wait_seconds: float = Field(
        25.0, ge=0, le=500, validation_alias="PLOTBURN_SINGLE_FLIGHT_WAIT_SECONDS"
    )
    # A generation lease older than this is presumed dead (its holder crashed). It
    # must outlast the slowest generation (see the upstream worst case above).
    generation_lease_seconds: float = Field(
        330.0, gt=0, le=900, validation_alias="PLOTBURN_GENERATION_LEASE_SECONDS"
    )

    # A movie whose generation failed is not generated again for public callers for
    # this long: each retry would pay the upstream calls again (0 turns it off).
    failed_movie_cooldown_minutes: float = Field(
        30.0, ge=0, le=24 * 60, validation_alias="PLOTBURN_FAILED_MOVIE_COOLDOWN_MINUTES"
    )
    # How long a public caller waits for another caller's generation of the same
    # movie before it gets 202 and Retry-After (trusted callers wait the longer
    # single_flight_wait_seconds): a waiter holds a request slot while it waits.
    public_wait_seconds: float = Field(
        5.0, ge=0, le=60, validation_alias="PLOTBURN_PUBLIC_WAIT_SECONDS"
    )

    # Who may make us pay. A public cache miss generates only for movies in the
    # now-playing list unless this is on; the admin token may always generate.
    on_demand_any_movie: bool = Field(False, validation_alias="PLOTBURN_ON_DEMAND_ANY_MOVIE")
    # Paid requests (cache misses that would call upstream) per client per minute.
    paid_requests_per_minute: int = Field(
        5, ge=1, le=10_000, validation_alias="PLOTBURN_PAID_REQUESTS_PER_MINUTE"
    )
    # Proxies we run in front of Google's front end, each appending to X-Forwarded-For.
    trusted_proxy_hops: int = Field(0, ge=0, le=5, validation_alias="PLOTBURN_TRUSTED_PROXY_HOPS")
    # An IPv6 client is its network of this many bits (a /64 is one subscriber's):
    # rotating addresses inside it is one client.
    ipv6_prefix_bits: int = Field(64, ge=1, le=128, validation_alias="PLOTBURN_IPV6_PREFIX_BITS")

    @property
    def run_deadline(self) -> timedelta:
        return timedelta(minutes=self.run_deadline_minutes)

    @property
    def generation_lease(self) -> timedelta:
        return timedelta(seconds=self.generation_lease_seconds)

    @property
    def failed_movie_cooldown(self) -> timedelta:
        return timedelta(minutes=self.failed_movie_cooldown_minutes)


class CacheSettings(_Group):
    """Cache versions and per-instance read caches (the TTLs are the constants above)."""

    # Part of every cache document's id: a new version starts the caches afresh.
    # v2: roasts are cards (structured output) and truths keep their search results.
    cache_version: str = Field(
        "v2", validation_alias="PLOTBURN_CACHE_VERSION", pattern=r"^[A-Za-z0-9_.-]{1,32}$"
    )

    # GET /movie serves a roast this instance read in the last N seconds from memory
    # (0 turns it off). Roasts change only when regenerated or cleared, and the seed's
    # Workers KV read path was eventually consistent for about as long.
    read_cache_seconds: float = Field(
        30.0, ge=0, le=600, validation_alias="PLOTBURN_READ_CACHE_SECONDS"
    )

    # /cron/status, /debug and the dashboard derive an open run's counters from all
    # of its outcome documents (N reads). An instance reuses what it read for this
    # long, so many pollers of a 500-movie run cost one read of it per interval.
    status_cache_seconds: float = Field(
        1.0, ge=0, le=60, validation_alias="PLOTBURN_STATUS_CACHE_SECONDS"
    )
    # How many roasts and open runs one instance keeps in those read caches.
    read_cache_size: int = Field(
        2048, ge=1, le=100_000, validation_alias="PLOTBURN_READ_CACHE_SIZE"
    )
    status_cache_size: int = Field(
        64, ge=1, le=10_000, validation_alias="PLOTBURN_STATUS_CACHE_SIZE"
    )


class Settings(
    PlatformSettings,
    UpstreamSettings,
    MovieChoiceSettings,
    LimitSettings,
    BudgetSettings,
    CacheSettings,
    ProviderRateSettings,
):
    """Every setting, read from the environment once (`load_settings`). The groups
    above say what belongs together; each variable keeps its own name."""


def load_settings() -> Settings:
    """Read the environment once, failing with a message that names the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        # Values are deliberately left out: they may be secrets.
        raise ConfigError(f"invalid configuration: {problems}") from None
