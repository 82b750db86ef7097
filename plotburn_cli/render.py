"""Human output: tables, a run's summary, and the live progress bar.

All text from the API (titles, reasons, log messages) is upstream data: control
characters are escaped before it reaches the terminal, so a movie title cannot
carry an escape sequence into the operator's shell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO


def clean(value: Any, limit: int | None = None) -> str:
    """A value as one terminal-safe line."""
    if value is None:
        return "-"
    text = str(value)
    out = []
    for ch in text:
        if ch in "\n\r\t":
            out.append(" ")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    line = "".join(out)
    if limit is not None and len(line) > limit:
        line = line[: max(1, limit - 1)] + "…"
    return line


def _object(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else clean(value)


def usd(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    if value >= 1 or value == 0:
        return f"${value:,.2f}"
    digits = f"{value:.6f}".rstrip("0")
    return "$" + (digits if len(digits.split(".")[1]) >= 2 else f"{value:.2f}")


def duration(ms: Any) -> str:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return "-"
    if ms < 1000:
        return f"{int(ms)} ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {round(seconds % 60)} s"


def when(iso: Any) -> str:
    if not isinstance(iso, str):
        return "-"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return clean(iso)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """A plain-text table; `right` names the right-aligned (numeric) columns."""
    cells = [[clean(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(r) for r in cells)])


def key_values(pairs: Sequence[tuple[str, Any]], indent: str = "  ") -> str:
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{indent}{k.ljust(width)}  {clean(v)}" for k, v in pairs)


def calls(run: dict[str, Any]) -> str:
    made = run.get("upstream_calls") or {}
    return " · ".join(f"{s} {count(made.get(s, 0))}" for s in ("tmdb", "research", "roast"))


def tokens(run: dict[str, Any]) -> str:
    used = run.get("tokens") or {}
    parts = []
    for service in ("research", "roast"):
        t = used.get(service) or {}
        parts.append(
            f"{service} {count(t.get('prompt', 0))} in / {count(t.get('completion', 0))} out"
        )
    return " · ".join(parts)


def progress(run: dict[str, Any]) -> str:
    """done/total movies (the status's `progress`, else its counters)."""
    shown = _object(run.get("progress"))
    done = shown.get("done", run.get("roasts_processed"))
    total = shown.get("total", run.get("movies_fetched"))
    return f"{count(done)}/{count(total)}"


def finish_eta(run: dict[str, Any]) -> str:
    """An open run's estimated finish, as a time and how far off it is."""
    eta = run.get("estimated_finish")
    if not isinstance(eta, str):
        return "-"
    try:
        moment = datetime.fromisoformat(eta.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    seconds = max(0, round((moment - datetime.now(UTC)).total_seconds()))
    return f"{when(eta)} (in {seconds} s)"


def run_summary(run: dict[str, Any], titles: dict[int, str] | None = None) -> str:
    """A run, the way `trigger --wait`, `status` and `debug` show it."""
    pairs: list[tuple[str, Any]] = [
        ("status", run.get("status")),
        ("trigger", run.get("trigger")),
        ("started", when(run.get("timestamp"))),
        ("finished", when(run.get("finished_at")) if run.get("finished_at") else "-"),
        ("duration", duration(run.get("duration_ms"))),
        ("movies fetched", count(run.get("movies_fetched"))),
        ("processed", count(run.get("roasts_processed"))),
        ("cached", count(run.get("roasts_cached"))),
        ("generated", count(run.get("roasts_generated"))),
        ("failed", count(run.get("roasts_failed"))),
        ("upstream calls", calls(run)),
        ("tokens", tokens(run)),
        ("estimated cost", usd(run.get("estimated_cost_usd"))),
    ]
    if run.get("status") == "in_progress":
        pairs += [("progress", progress(run)), ("estimated finish", finish_eta(run))]
    if run.get("error"):
        pairs.append(("error", run["error"]))
    out = [f"Run {clean(run.get('correlation_id'))}", key_values(pairs)]
    failed = run.get("failed_movie_ids") or []
    if failed:
        reasons = run.get("failure_reasons") or {}
        rows = [
            [
                movie_id,
                clean((titles or {}).get(movie_id), 40),
                clean(reasons.get(str(movie_id), "unknown"), 100),
            ]
            for movie_id in failed
        ]
        if not titles:
            rows = [[r[0], r[2]] for r in rows]
            headers: list[str] = ["FAILED MOVIE", "REASON"]
        else:
            headers = ["FAILED MOVIE", "TITLE", "REASON"]
        out += ["", table(headers, rows, right=(0,))]
    return "\n".join(out)


def history_table(history: Sequence[dict[str, Any]]) -> str:
    rows = [
        [
            r.get("correlation_id"),
            r.get("status"),
            when(r.get("timestamp")),
            count(r.get("movies_fetched")),
            count(r.get("roasts_cached")),
            count(r.get("roasts_generated")),
            count(r.get("roasts_failed")),
            duration(r.get("duration_ms")),
            usd(r.get("estimated_cost_usd")),
        ]
        for r in history
    ]
    return table(
        [
            "RUN",
            "STATUS",
            "STARTED",
            "FETCHED",
            "CACHED",
            "GENERATED",
            "FAILED",
            "DURATION",
            "COST",
        ],
        rows,
        right=(3, 4, 5, 6, 7, 8),
    )


def budget_block(budget: dict[str, Any]) -> str:
    state = (
        "EXHAUSTED: no new roasts until 00:00 UTC" if budget.get("exhausted") else "within budget"
    )
    return key_values(
        [
            ("day (UTC)", budget.get("day")),
            ("paid calls", f"{count(budget.get('calls'))} of {count(budget.get('call_ceiling'))}"),
            (
                "estimated cost",
                f"{usd(budget.get('estimated_cost_usd'))} of {usd(budget.get('cost_ceiling_usd'))}",
            ),
            ("state", state),
        ]
    )


# A log entry's fields (the Worker's shape, from /logs and /debug) the table shows in
# their own columns.
LOG_COLUMNS = {
    "timestamp",
    "level",
    "severity",
    "correlationId",
    "message",
    "endpoint",
    "method",
    "responseStatus",
    "duration",
    "metadata",
}


def _request_of(entry: dict[str, Any]) -> str:
    """ "GET /movie/1 -> 200 (12 ms)" for a request's entry; "" for a pipeline event."""
    method, endpoint = entry.get("method"), entry.get("endpoint")
    if not method or method == "EVENT":
        return ""
    text = f"{method} {endpoint}"
    if entry.get("responseStatus") is not None:
        text += f" -> {entry['responseStatus']}"
    if entry.get("duration") is not None:
        text += f" ({duration(entry['duration'])})"
    return text


def logs_table(entries: Sequence[dict[str, Any]]) -> str:
    """Log entries in the Worker's shape: level, correlation id, message, and the rest
    (the request, the movie, the error, the event's metadata) as details."""
    rows = []
    for e in entries:
        metadata = _object(e.get("metadata"))
        fields = {k: v for k, v in e.items() if k not in LOG_COLUMNS}
        details = [_request_of(e)] + [
            f"{key}={clean(value, 60)}"
            for key, value in {**fields, **metadata}.items()
            if value is not None
        ]
        rows.append(
            [
                when(e.get("timestamp")),
                e.get("level"),
                e.get("correlationId") or "-",
                clean(e.get("message"), 70),
                clean(" ".join(d for d in details if d), 100),
            ]
        )
    return table(["TIME", "LEVEL", "CORRELATION ID", "MESSAGE", "DETAILS"], rows)


def generations_table(entries: Sequence[dict[str, Any]]) -> str:
    """Debug entries: what each generation made (the movie, its research, its card)."""
    rows = []
    for entry in entries:
        data = _object(entry.get("data"))
        movie = _object(data.get("movie"))
        roast = _object(data.get("roast"))
        rows.append(
            [
                movie.get("id"),
                clean(movie.get("title"), 40),
                data.get("result"),
                when(data.get("timestamp")),
                data.get("correlationId"),
                clean(roast.get("headline"), 70),
            ]
        )
    return table(
        ["MOVIE", "TITLE", "RESULT", "WHEN", "CORRELATION ID", "HEADLINE"], rows, right=(0,)
    )


class Progress:
    """Movies processed of fetched, on stderr: redrawn in place on a terminal, one line
    per change otherwise (CI logs, pipes)."""

    WIDTH = 28

    def __init__(self, stream: TextIO, correlation_id: str) -> None:
        self.stream = stream
        self.correlation_id = correlation_id
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        encoding = (getattr(stream, "encoding", None) or "").lower()
        self.fill, self.empty = ("█", "░") if encoding.startswith("utf") else ("#", "-")
        self._last_key: tuple[Any, ...] | None = None
        self._last_len = 0
        self._drawn = False

    def line(self, run: dict[str, Any] | None, elapsed: float, note: str = "") -> str:
        if run is None:
            text = f"{self.correlation_id}  waiting for the run to start… {elapsed:4.0f} s"
        else:
            fetched = run.get("movies_fetched") or 0
            processed = run.get("roasts_processed") or 0
            share = (
                processed / fetched
                if fetched
                else (1.0 if run.get("status") != "in_progress" else 0.0)
            )
            filled = min(self.WIDTH, math.floor(share * self.WIDTH))
            bar = self.fill * filled + self.empty * (self.WIDTH - filled)
            text = (
                f"{run.get('status')}  [{bar}] {processed}/{fetched} movies  "
                f"{run.get('roasts_cached', 0)} cached · "
                f"{run.get('roasts_generated', 0)} generated · "
                f"{run.get('roasts_failed', 0)} failed  {elapsed:4.0f} s"
            )
            if run.get("status") == "in_progress" and run.get("estimated_finish"):
                text += f"  eta {finish_eta(run)}"
        return text + (f"  ({note})" if note else "")

    def update(self, run: dict[str, Any] | None, elapsed: float, note: str = "") -> None:
        text = self.line(run, elapsed, note)
        if self.tty:
            padding = " " * max(0, self._last_len - len(text))
            self.stream.write("\r" + text + padding)
            self._last_len = len(text)
            self._drawn = True
        else:
            key = (
                None
                if run is None
                else (run.get("status"), run.get("roasts_processed"), run.get("movies_fetched")),
                note,
            )
            if key == self._last_key:
                return
            self._last_key = key
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
