"""The Pub/Sub messages between functions, and their decoding at the edge."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, model_validator

from functions.errors import BadMessage
from functions.models.base import MAX_MOVIE_ID, Frozen, epoch_ms
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
    """The body of a message on the roast topic: one movie of one run, by id only,
    `{"correlation_id": "cron-…", "movie_id": 1000}`. Whatever else a message might
    say about the movie is never believed: roast reads it from the roast cache or
    TMDB.

    Messages published before this shape carried the whole movie
    (`{"correlation_id": …, "movie": {"id": 1000, "title": …}}`); those still in
    flight across a deploy are accepted, and only their `movie.id` is read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    correlation_id: str = Field(pattern=CORRELATION_ID_PATTERN)
    movie_id: int = Field(gt=0, le=MAX_MOVIE_ID)

    @model_validator(mode="before")
    @classmethod
    def _only_the_id_of_an_old_message(cls, payload: Any) -> Any:
        if isinstance(payload, dict) and "movie" in payload and "movie_id" not in payload:
            movie = payload["movie"]
            rest = {k: v for k, v in payload.items() if k != "movie"}
            if isinstance(movie, dict) and "id" in movie:
                rest["movie_id"] = movie["id"]
            # Otherwise movie_id stays missing, and validation says so.
            return rest
        return payload


def decode_message(raw: bytes, model: type[Frozen]) -> Any:
    """Parse a Pub/Sub body into `model`, turning every kind of junk into BadMessage."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES} limit")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadMessage("message body is not UTF-8 JSON") from None
    except RecursionError:
        # A few kilobytes of `[[[[…` nest deeper than the parser's stack.
        raise BadMessage("message body is JSON nested too deeply") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(
            sorted({".".join(str(p) for p in e["loc"]) or "(body)" for e in exc.errors()})
        )
        raise BadMessage(f"message does not match {model.__name__}: {fields}") from None
