"""The ground every model stands on: time helpers, the frozen base model, id limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

# TMDB ids are positive 32-bit-ish integers; anything else is malformed.
MAX_MOVIE_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


def bad_id(value: str) -> bool:
    return not re.fullmatch(r"[1-9][0-9]{0,9}", value) or int(value) > MAX_MOVIE_ID


LogSeverity = Literal["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT"]
