"""The Pub/Sub messages between functions, and their decoding at the edge."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from functions.errors import BadMessage
from functions.models.base import Frozen, epoch_ms
from functions.models.movies import Movie
from functions.models.runs import Trigger

# Largest Pub/Sub message body we accept; ours are a few hundred bytes.
MAX_MESSAGE_BYTES = 64 * 1024
CORRELATION_ID_PATTERN = r"^(cron|manual-trigger)-[0-9]{1,16}$"


class NightlyMessage(Frozen):
    """The body of a message on the nightly topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger: Trigger
    correlation_id: str | None = Field(None, pattern=CORRELATION_ID_PATTERN)

    def resolve_correlation_id(self, publish_time: datetime) -> str:
        """A scheduled run's id comes from its publish time, so redelivery maps to one run."""
        if self.correlation_id:
            return self.correlation_id
        prefix = "cron" if self.trigger is Trigger.SCHEDULED else "manual-trigger"
        return f"{prefix}-{epoch_ms(publish_time)}"


class RoastMessage(Frozen):
    """The body of a message on the roast topic: one movie of one run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    correlation_id: str = Field(pattern=CORRELATION_ID_PATTERN)
    movie: Movie


def decode_message(raw: bytes, model: type[Frozen]) -> Any:
    """Parse a Pub/Sub body into `model`, turning every kind of junk into BadMessage."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES} limit")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadMessage("message body is not UTF-8 JSON") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(
            sorted({".".join(str(p) for p in e["loc"]) or "(body)" for e in exc.errors()})
        )
        raise BadMessage(f"message does not match {model.__name__}: {fields}") from None
