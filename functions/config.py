"""The one settings object, read from the environment.

Every knob PlotBurn has is a field here, so "where is X configured" has one answer.
Secrets are ``SecretStr`` so that a repr, a log line or a validation error can never
print them.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.errors import ConfigError
from functions.metering import Spend

# The seed Worker's cache lifetimes (NOW_PLAYING_TTL, ROAST_TTL, LOG_RETENTION_DAYS).
NOW_PLAYING_TTL = timedelta(hours=23)
ROAST_TTL = timedelta(days=30)
LOG_TTL = timedelta(days=7)
# The seed kept its last 10 runs forever in KV; we keep run records for 90 days and
# count every run ever in a counter document, so `total_runs` stays true.
RUN_TTL = timedelta(days=90)
HISTORY_LIMIT = 10
RATE_LIMIT_TTL = timedelta(hours=1)
BUDGET_TTL = timedelta(days=40)

DEFAULT_XAI_MODEL = "grok-4-fast-non-reasoning"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    project: str = Field(
        "plotburn-local",
        validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"),
    )

    nightly_topic: str = Field("plotburn-nightly", validation_alias="PLOTBURN_NIGHTLY_TOPIC")
    roast_topic: str = Field("plotburn-roast", validation_alias="PLOTBURN_ROAST_TOPIC")
    dead_letter_topic: str = Field(
        "plotburn-dead-letter", validation_alias="PLOTBURN_DEAD_LETTER_TOPIC"
    )

    admin_token: SecretStr | None = Field(None, validation_alias="PLOTBURN_ADMIN_TOKEN")
    cache_version: str = Field(
        "v1", validation_alias="PLOTBURN_CACHE_VERSION", pattern=r"^[A-Za-z0-9_.-]{1,32}$"
    )

    tmdb_api_base: str = Field("https://api.themoviedb.org/3", validation_alias="TMDB_API_BASE")
    tmdb_api_token: SecretStr | None = Field(None, validation_alias="TMDB_API_TOKEN")
    tmdb_region: str | None = Field(
        None, validation_alias="TMDB_REGION", pattern=r"^[A-Z]{2}$"
    )
    # A safety valve: TMDB's now_playing can report hundreds of pages for some regions.
    tmdb_max_pages: int = Field(50, ge=1, le=500, validation_alias="TMDB_MAX_PAGES")

    perplexity_api_base: str = Field(
        "https://api.perplexity.ai", validation_alias="PERPLEXITY_API_BASE"
    )
    perplexity_api_key: SecretStr | None = Field(None, validation_alias="PERPLEXITY_API_KEY")
    perplexity_model: str = Field("sonar", validation_alias="PERPLEXITY_MODEL")

    xai_api_base: str = Field("https://api.x.ai/v1", validation_alias="XAI_API_BASE")
    xai_api_key: SecretStr | None = Field(None, validation_alias="XAI_API_KEY")
    xai_model: str = Field(DEFAULT_XAI_MODEL, validation_alias="XAI_MODEL")

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

    # Estimated cost: USD per million tokens and per request, for the configured
    # PERPLEXITY_MODEL and XAI_MODEL. Defaults are the public list prices of the
    # default models (sonar; grok-4-fast-non-reasoning) as of 2026; set yours.
    price_research_input_per_mtok: float = Field(1.0, ge=0, validation_alias="PLOTBURN_PRICE_RESEARCH_INPUT_PER_MTOK")
    price_research_output_per_mtok: float = Field(1.0, ge=0, validation_alias="PLOTBURN_PRICE_RESEARCH_OUTPUT_PER_MTOK")
    price_research_per_call: float = Field(0.005, ge=0, validation_alias="PLOTBURN_PRICE_RESEARCH_PER_CALL")
    price_roast_input_per_mtok: float = Field(0.2, ge=0, validation_alias="PLOTBURN_PRICE_ROAST_INPUT_PER_MTOK")
    price_roast_output_per_mtok: float = Field(0.5, ge=0, validation_alias="PLOTBURN_PRICE_ROAST_OUTPUT_PER_MTOK")
    price_roast_per_call: float = Field(0.0, ge=0, validation_alias="PLOTBURN_PRICE_ROAST_PER_CALL")

    def estimated_cost_usd(self, spend: Spend) -> float:
        """Tokens at the per-million prices, plus the per-request fee on every call
        made (retries included: a conservative estimate)."""
        research, roast = spend.research, spend.roast
        cost = (
            research.prompt_tokens * self.price_research_input_per_mtok / 1e6
            + research.completion_tokens * self.price_research_output_per_mtok / 1e6
            + research.calls * self.price_research_per_call
            + roast.prompt_tokens * self.price_roast_input_per_mtok / 1e6
            + roast.completion_tokens * self.price_roast_output_per_mtok / 1e6
            + roast.calls * self.price_roast_per_call
        )
        return round(cost, 6)

    # Who may make us pay. A public cache miss generates only for movies in the
    # now-playing list unless this is on; the admin token may always generate.
    on_demand_any_movie: bool = Field(False, validation_alias="PLOTBURN_ON_DEMAND_ANY_MOVIE")
    # Paid requests (cache misses that would call upstream) per client per minute.
    paid_requests_per_minute: int = Field(
        5, ge=1, le=10_000, validation_alias="PLOTBURN_PAID_REQUESTS_PER_MINUTE"
    )
    # Proxies we run in front of Google's front end, each appending to X-Forwarded-For.
    trusted_proxy_hops: int = Field(0, ge=0, le=5, validation_alias="PLOTBURN_TRUSTED_PROXY_HOPS")
    # Ceilings per UTC day on paid upstream calls (research + roast) and estimated cost.
    daily_call_budget: int = Field(2000, ge=0, validation_alias="PLOTBURN_DAILY_CALL_BUDGET")
    daily_cost_budget_usd: float = Field(
        10.0, ge=0, validation_alias="PLOTBURN_DAILY_COST_BUDGET_USD"
    )

    # Log one line per invocation with its Firestore reads/writes, Pub/Sub publishes
    # and upstream calls (the benchmarks count cost from these).
    log_ops: bool = Field(False, validation_alias="PLOTBURN_LOG_OPS")

    @property
    def client_key_secret(self) -> bytes:
        """The HMAC key of rate-limit client keys: the admin token (a secret every
        instance shares), else the project id (still not an unkeyed hash)."""
        token = self.admin_token.get_secret_value() if self.admin_token else ""
        return (token or f"plotburn-{self.project}").encode()

    @property
    def run_deadline(self) -> timedelta:
        return timedelta(minutes=self.run_deadline_minutes)

    @property
    def generation_lease(self) -> timedelta:
        return timedelta(seconds=self.generation_lease_seconds)


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
