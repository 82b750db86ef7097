"""The fleet-wide provider limits' settings: one group of `functions.config.Settings`,
kept in its own module (config.py holds every other group)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from functions.limits import ProviderRate


class ProviderRateSettings(BaseSettings):
    """The fleet-wide limit on requests to each provider, shared by every instance
    (Firestore `provider_limits`): requests a minute, burst, and at most so many under
    way at once. Every attempt counts (each is a request the provider counts). The
    defaults are the providers' documented default tiers (../shared/upstream-apis.md):
    Perplexity tier 0 is 50 requests a minute (1 a second); xAI tier 0 is 30 requests a
    second for grok-4.20-non-reasoning and grok-4.3; TMDB's soft ceiling is about 40 a
    second. None documents a cap on requests in flight: 50 is `roast_concurrency`, the
    roast function's maximum instances. `PER_MINUTE` 0 turns a provider's limit off."""

    rate_research_per_minute: float = Field(
        50.0, ge=0, le=1_000_000, validation_alias="PLOTBURN_RATE_RESEARCH_PER_MINUTE"
    )
    rate_research_burst: int = Field(
        1, ge=1, le=100_000, validation_alias="PLOTBURN_RATE_RESEARCH_BURST"
    )
    rate_research_in_flight: int = Field(
        50, ge=1, le=100_000, validation_alias="PLOTBURN_RATE_RESEARCH_IN_FLIGHT"
    )
    rate_roast_per_minute: float = Field(
        1800.0, ge=0, le=1_000_000, validation_alias="PLOTBURN_RATE_ROAST_PER_MINUTE"
    )
    rate_roast_burst: int = Field(
        30, ge=1, le=100_000, validation_alias="PLOTBURN_RATE_ROAST_BURST"
    )
    rate_roast_in_flight: int = Field(
        50, ge=1, le=100_000, validation_alias="PLOTBURN_RATE_ROAST_IN_FLIGHT"
    )
    rate_tmdb_per_minute: float = Field(
        2400.0, ge=0, le=1_000_000, validation_alias="PLOTBURN_RATE_TMDB_PER_MINUTE"
    )
    rate_tmdb_burst: int = Field(40, ge=1, le=100_000, validation_alias="PLOTBURN_RATE_TMDB_BURST")
    rate_tmdb_in_flight: int = Field(
        50, ge=1, le=100_000, validation_alias="PLOTBURN_RATE_TMDB_IN_FLIGHT"
    )
    # The longest one request waits in a delivery for its provider's capacity (never
    # past its movie's lease); past it the delivery is handed back to Pub/Sub.
    rate_max_wait_seconds: float = Field(
        120.0, ge=0, le=500, validation_alias="PLOTBURN_RATE_MAX_WAIT_SECONDS"
    )

    def provider_rate(self, service: str) -> ProviderRate:
        """research, roast or tmdb."""
        return ProviderRate(
            per_minute=getattr(self, f"rate_{service}_per_minute"),
            burst=getattr(self, f"rate_{service}_burst"),
            in_flight=getattr(self, f"rate_{service}_in_flight"),
        )
