"""The daily budget's settings: one group of `functions.config.Settings`, kept in its
own module with the list prices it needs (config.py holds the other groups)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from functions.metering import Price


class BudgetSettings(BaseSettings):
    """The daily ceilings, and the list prices of answers that report no cost."""

    # Ceilings per UTC day on paid upstream calls (research + roast) and estimated cost.
    daily_call_budget: int = Field(2000, ge=0, validation_alias="PLOTBURN_DAILY_CALL_BUDGET")
    daily_cost_budget_usd: float = Field(
        10.0, ge=0, validation_alias="PLOTBURN_DAILY_COST_BUDGET_USD"
    )
    # The part of both ceilings that public on-demand generation may spend; the
    # nightly runs and admin requests keep the rest, so anonymous cache misses can
    # never starve the night.
    public_budget_share: float = Field(
        0.2, ge=0, le=1, validation_alias="PLOTBURN_PUBLIC_BUDGET_SHARE"
    )

    # List prices, used only for answers that do not report their own cost (both
    # providers now do: Perplexity's usage.cost, xAI's cost_in_usd_ticks). USD per
    # million tokens and per answered request, for the configured PERPLEXITY_MODEL and
    # XAI_MODEL; defaults are perplexity/sonar (search fee included) and
    # grok-4.20-non-reasoning as of 2026-11.
    price_research_input_per_mtok: float = Field(
        0.25, ge=0, validation_alias="PLOTBURN_PRICE_RESEARCH_INPUT_PER_MTOK"
    )
    price_research_output_per_mtok: float = Field(
        2.5, ge=0, validation_alias="PLOTBURN_PRICE_RESEARCH_OUTPUT_PER_MTOK"
    )
    price_research_per_call: float = Field(
        0.0025, ge=0, validation_alias="PLOTBURN_PRICE_RESEARCH_PER_CALL"
    )
    price_roast_input_per_mtok: float = Field(
        1.25, ge=0, validation_alias="PLOTBURN_PRICE_ROAST_INPUT_PER_MTOK"
    )
    price_roast_output_per_mtok: float = Field(
        2.5, ge=0, validation_alias="PLOTBURN_PRICE_ROAST_OUTPUT_PER_MTOK"
    )
    price_roast_per_call: float = Field(0.0, ge=0, validation_alias="PLOTBURN_PRICE_ROAST_PER_CALL")

    @property
    def research_price(self) -> Price:
        return Price(
            self.price_research_input_per_mtok,
            self.price_research_output_per_mtok,
            self.price_research_per_call,
        )

    @property
    def roast_price(self) -> Price:
        return Price(
            self.price_roast_input_per_mtok,
            self.price_roast_output_per_mtok,
            self.price_roast_per_call,
        )
