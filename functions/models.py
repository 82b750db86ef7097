"""PlotBurn's data: movies, research, roasts, runs and the messages between functions.

Everything that crosses a boundary (a Pub/Sub message, an upstream body, a Firestore
document) is validated here, at the edge, so the pipeline only sees well-formed values.
"""

from __future__ import annotations

import enum
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from functions.errors import BadMessage
from functions.metering import SERVICES, Spend, total

# Largest Pub/Sub message body we accept; ours are a few hundred bytes.
MAX_MESSAGE_BYTES = 64 * 1024
# TMDB ids are positive 32-bit-ish integers; anything else is malformed.
MAX_MOVIE_ID = 2**31 - 1
CORRELATION_ID_PATTERN = r"^(cron|manual-trigger)-[0-9]{1,16}$"


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


class Movie(Frozen):
    """A movie as TMDB's lists show it (now_playing)."""

    id: int = Field(gt=0, le=MAX_MOVIE_ID)
    title: str = Field(max_length=500)
    overview: str = Field("", max_length=10_000)
    release_date: str | None = Field(None, max_length=32)
    poster_path: str | None = Field(None, max_length=500)
    original_language: str | None = Field(None, max_length=16)
    vote_average: float | None = None
    vote_count: int | None = None
    popularity: float | None = None
    genre_ids: list[int] = Field(default_factory=list, max_length=50)

    @field_validator("genre_ids", mode="before")
    @classmethod
    def _none_is_no_genres(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("overview", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("release_date", "poster_path", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class NowPlaying(Frozen):
    """TMDB's now-playing list (every page, de-duplicated) and its date window."""

    movies: list[Movie]
    # TMDB's {"maximum", "minimum"} from page 1.
    dates: dict[str, str] | None = None


# The 26 fields of TMDB's GET /movie/{id} that the Worker served as `movie`.
MOVIE_META_FIELDS = (
    "adult", "backdrop_path", "belongs_to_collection", "budget", "genres", "homepage", "id",
    "imdb_id", "origin_country", "original_language", "original_title", "overview",
    "popularity", "poster_path", "production_companies", "production_countries",
    "release_date", "revenue", "runtime", "spoken_languages", "status", "tagline", "title",
    "video", "vote_average", "vote_count",
)  # fmt: skip


class MovieDetails(Frozen):
    """TMDB's details of one movie (fetched once, when it is first roasted): the 26
    MovieMeta fields as TMDB sent them, and the director from its credits."""

    meta: dict[str, Any]
    director: str | None = None

    @field_validator("meta")
    @classmethod
    def _the_26_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("id"), int) or not isinstance(value.get("title"), str):
            raise ValueError("details need an integer id and a title")
        return {name: value.get(name) for name in MOVIE_META_FIELDS}

    @property
    def movie(self) -> Movie:
        """The list-shaped movie of these details."""
        genres = self.meta.get("genres") or []
        return Movie.model_validate(
            {**self.meta, "genre_ids": [g.get("id") for g in genres if isinstance(g, dict)]}
        )

    @property
    def genre_names(self) -> list[str]:
        return [
            str(g["name"])
            for g in self.meta.get("genres") or []
            if isinstance(g, dict) and g.get("name")
        ]

    @property
    def language_name(self) -> str | None:
        """The original language's English name (from spoken_languages), else its code."""
        code = self.meta.get("original_language")
        for language in self.meta.get("spoken_languages") or []:
            if isinstance(language, dict) and language.get("iso_639_1") == code:
                return str(language.get("english_name") or code)
        return str(code) if code else None


class Usage(Frozen):
    """What one generation used: tokens in and out (Perplexity's input/output tokens,
    xAI's prompt/completion tokens) and its cost in USD, as the provider reported it
    where the answer carried one, else estimated from the list price."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_reported: bool = False

    def plus(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            cost_reported=self.cost_reported and other.cost_reported,
        )


class SearchResult(Frozen):
    """One web source Perplexity's search found (its ``search_results`` output item)."""

    title: str = Field("", max_length=1000)
    url: str = Field(max_length=2000)
    date: str | None = Field(None, max_length=40)
    snippet: str = Field("", max_length=5000)

    @field_validator("title", "snippet", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class Truth(Frozen):
    """The research brief on a movie (Perplexity), with the sources it was built on.
    ``citations`` are the sources' URLs, in the order the brief numbers them."""

    # The Worker's truth_source ("perplexity:sonar").
    source: str = "perplexity:sonar"
    movie_id: int
    brief: str
    citations: list[str] = Field(default_factory=list)
    search_results: list[SearchResult] = Field(default_factory=list)
    model: str
    created_at: datetime
    usage: Usage = Usage()


# The roast card's hard limits (the Worker's prompt rules). The JSON schema sent to
# Grok and the validation of its answer are both built from these numbers.
CARD_HEADLINE_MAX_WORDS = 12
CARD_CONTENT_PARAGRAPHS = 3
CARD_CONTENT_MAX_WORDS = 150
CARD_CHIPS_ITEMS = (2, 3)
CARD_CHIP_WORDS = (2, 4)
CARD_VIBE_ITEMS = 6
CARD_VIBE_MAX_WORDS = 12
CARD_OPINION_MAX_WORDS = 65
CARD_SIMILAR_ITEMS = 4
CARD_SIMILAR_CONTEXT_MAX_WORDS = 8
CARD_SIMILAR_MAX_WORDS = 20  # title and context together
# Between a similar movie's title and its context: "Title - context" (a spaced
# hyphen, en or em dash; titles have colons and unspaced hyphens of their own).
_SIMILAR_SEPARATOR = re.compile(r"\s[-\u2013\u2014]\s")


def word_count(text: str) -> int:
    return len(text.split())


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def similar_context(item: str) -> str:
    """The context part of "Title - context" or "Title (context)"; "" for a bare title."""
    parts = _SIMILAR_SEPARATOR.split(item)
    if len(parts) > 1:
        return parts[-1]
    text = item.strip()
    if text.endswith(")") and "(" in text:
        return text[text.rindex("(") + 1 : -1]
    return ""


class RoastCard(Frozen):
    """The roast as the Worker's front end shows it. Every limit is hard: a card that
    breaks one is repaired once, then the movie fails (``invalid_roast``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    headline: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=3000)
    chips: list[str] = Field(min_length=CARD_CHIPS_ITEMS[0], max_length=CARD_CHIPS_ITEMS[1])
    internet_vibe: list[str] = Field(min_length=CARD_VIBE_ITEMS, max_length=CARD_VIBE_ITEMS)
    your_opinion: str = Field(min_length=1, max_length=1000)
    similar_movies: list[str] = Field(min_length=CARD_SIMILAR_ITEMS, max_length=CARD_SIMILAR_ITEMS)

    @field_validator("headline")
    @classmethod
    def _headline(cls, value: str) -> str:
        if word_count(value) > CARD_HEADLINE_MAX_WORDS:
            raise ValueError(f"at most {CARD_HEADLINE_MAX_WORDS} words")
        return value.strip()

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        found = len(paragraphs(value))
        if found != CARD_CONTENT_PARAGRAPHS:
            raise ValueError(
                f"{CARD_CONTENT_PARAGRAPHS} paragraphs separated by blank lines, not {found}"
            )
        if word_count(value) > CARD_CONTENT_MAX_WORDS:
            raise ValueError(f"at most {CARD_CONTENT_MAX_WORDS} words in all")
        return "\n\n".join(paragraphs(value))

    @field_validator("chips")
    @classmethod
    def _chips(cls, value: list[str]) -> list[str]:
        low, high = CARD_CHIP_WORDS
        for chip in value:
            if not low <= word_count(chip) <= high:
                raise ValueError(f"each chip has {low} to {high} words")
        return [c.strip() for c in value]

    @field_validator("internet_vibe")
    @classmethod
    def _vibe(cls, value: list[str]) -> list[str]:
        if any(not v.strip() or word_count(v) > CARD_VIBE_MAX_WORDS for v in value):
            raise ValueError(f"each item has 1 to {CARD_VIBE_MAX_WORDS} words")
        return [v.strip() for v in value]

    @field_validator("your_opinion")
    @classmethod
    def _opinion(cls, value: str) -> str:
        if word_count(value) > CARD_OPINION_MAX_WORDS:
            raise ValueError(f"at most {CARD_OPINION_MAX_WORDS} words")
        return value.strip()

    @field_validator("similar_movies")
    @classmethod
    def _similar(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip():
                raise ValueError("each item names a movie")
            if (
                word_count(similar_context(item)) > CARD_SIMILAR_CONTEXT_MAX_WORDS
                or word_count(item) > CARD_SIMILAR_MAX_WORDS
            ):
                raise ValueError(
                    f"each item is a title with at most {CARD_SIMILAR_CONTEXT_MAX_WORDS} "
                    "words of context"
                )
        return [v.strip() for v in value]

    def as_text(self) -> str:
        """Headline and body as plain text (logs, the CLI)."""
        return f"{self.headline}\n\n{self.content}"


class Roast(Frozen):
    """The roast of a movie (Grok), written from its truth."""

    movie_id: int
    card: RoastCard
    model: str
    created_at: datetime
    # The run that paid for this roast, so a redelivery after a crash between "roast
    # stored" and "outcome recorded" still counts the movie as generated, not cached.
    correlation_id: str | None = None
    usage: Usage = Usage()
    # What generating it cost: calls (retries included) and tokens.
    spend: Spend = Spend()


class RoastRecord(Frozen):
    """What the roast cache holds: everything `GET /movie/{id}` serves, in one document,
    so a warm read costs one Firestore get."""

    movie: Movie
    details: MovieDetails
    truth: Truth
    roast: Roast


class Trigger(str, enum.Enum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"


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


class Outcome(str, enum.Enum):
    CACHED = "cached"
    GENERATED = "generated"
    FAILED = "failed"


class MovieOutcome(Frozen):
    """How one movie of one run ended. Exactly one exists per (run, movie)."""

    movie_id: int
    outcome: Outcome
    reason: str | None = None
    title: str | None = None
    recorded_at: datetime
    # What deciding this movie spent upstream (retries included).
    spend: Spend = Spend()


class RunStatus(str, enum.Enum):
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


class Run(Frozen):
    """A nightly (or manual) run. Counters derive from its movies' outcomes."""

    correlation_id: str
    trigger: Trigger
    started_at: datetime
    movie_ids: list[int] = Field(default_factory=list)
    status: RunStatus = RunStatus.IN_PROGRESS
    # False from the moment the run is asked for until fan-out has listed its movies
    # (so /cron/status shows a run at once); True for every run listed since.
    listed: bool = True
    # True once every roast message was published; a redelivered nightly message
    # republishes only while this is False.
    published: bool = False
    finished_at: datetime | None = None
    roasts_cached: int = 0
    roasts_generated: int = 0
    roasts_failed: int = 0
    failed_movie_ids: list[int] = Field(default_factory=list)
    failure_reasons: dict[str, str] = Field(default_factory=dict)
    # When /cron/retry last reopened the run: its deadline counts from here then.
    reopened_at: datetime | None = None
    # Set when the run could not start at all (e.g. TMDB's list never came back).
    error: str | None = None
    # Spent by the run itself (the now-playing list), and in all (plus its movies).
    own_spend: Spend = Spend()
    total_spend: Spend = Spend()

    @property
    def movies_fetched(self) -> int:
        return len(self.movie_ids)

    def open_since_before(self, cutoff: datetime) -> bool:
        """Still in progress and started before `cutoff`: what the stuck-run query
        selects (a retry's later reopening is the sweep's to judge)."""
        return self.status is RunStatus.IN_PROGRESS and self.started_at < cutoff

    def with_outcomes(self, outcomes: list[MovieOutcome]) -> Run:
        """This run's counters recomputed from its outcomes (only ones for its movies)."""
        wanted = set(self.movie_ids)
        mine = [o for o in outcomes if o.movie_id in wanted]
        failed = sorted(o.movie_id for o in mine if o.outcome is Outcome.FAILED)
        return self.model_copy(
            update={
                "roasts_cached": sum(o.outcome is Outcome.CACHED for o in mine),
                "roasts_generated": sum(o.outcome is Outcome.GENERATED for o in mine),
                "roasts_failed": len(failed),
                "failed_movie_ids": failed,
                "failure_reasons": {
                    str(o.movie_id): o.reason or "unknown"
                    for o in mine
                    if o.outcome is Outcome.FAILED
                },
                "total_spend": total([self.own_spend, *(o.spend for o in mine)]),
            }
        )

    def finalized(self, outcomes: list[MovieOutcome], now: datetime) -> Run:
        counted = self.with_outcomes(outcomes)
        if not counted.listed and not counted.error:
            counted = counted.model_copy(update={"error": "fan-out never listed the movies"})
        if counted.error:
            status = RunStatus.FAILED
        elif counted.movies_fetched == 0 or counted.roasts_failed == 0:
            status = RunStatus.SUCCESS
        elif counted.roasts_failed == counted.movies_fetched:
            status = RunStatus.FAILED
        else:
            status = RunStatus.PARTIAL
        return counted.model_copy(update={"status": status, "finished_at": now})

    def to_status_json(self) -> dict[str, Any]:
        """The seed Worker's CronResult shape, plus added fields (never renamed)."""
        spend = self.total_spend
        processed = self.roasts_cached + self.roasts_generated + self.roasts_failed
        end = self.finished_at
        return {
            "timestamp": iso(self.started_at),
            "trigger": self.trigger.value,
            "correlation_id": self.correlation_id,
            "movies_fetched": self.movies_fetched,
            "roasts_processed": processed,
            "roasts_cached": self.roasts_cached,
            "roasts_generated": self.roasts_generated,
            "roasts_failed": self.roasts_failed,
            "failed_movie_ids": list(self.failed_movie_ids),
            "failure_reasons": dict(self.failure_reasons),
            "duration_ms": (int((end - self.started_at).total_seconds() * 1000) if end else None),
            "status": self.status.value,
            "finished_at": iso(end),
            "error": self.error,
            "upstream_calls": {s: getattr(spend, s).calls for s in SERVICES},
            "tokens": {
                s: {
                    "prompt": getattr(spend, s).prompt_tokens,
                    "completion": getattr(spend, s).completion_tokens,
                }
                for s in ("research", "roast")
            },
            # What the providers reported for their answers (our list-price estimate
            # only for answers that carried no cost).
            "estimated_cost_usd": spend.cost_usd,
        }


def bad_id(value: str) -> bool:
    return not re.fullmatch(r"[1-9][0-9]{0,9}", value) or int(value) > MAX_MOVIE_ID


LogSeverity = Literal["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT"]
