"""plotburn: operate a PlotBurn API from the command line.

    plotburn trigger [--wait] [--timeout S]   start a run (and follow it to its end)
    plotburn status                           the last run, recent runs, today's budget
    plotburn logs [--limit N] [--level L] [--correlation-id ID]
                                              recent log entries (admin)
    plotburn prune-logs [--older-than-days N] delete log entries older than N days (admin)
    plotburn debug ID | --movie MOVIE_ID      what a correlation id (a run's or a
                                              request's) or a movie's generations made;
                                              for a run, its outcomes per movie and logs (admin)
    plotburn retry ID [--wait]                republish a run's failed movies (admin)
    plotburn clear {now-playing,roast,truth,debug,all}
                                              empty a cache, or all of them (admin)
    plotburn budget                           today's upstream spend (admin)

Where: --url, else PLOTBURN_API_URL, else the local stack's .stack/stack.json in the
current directory (`make serve` writes it), else http://127.0.0.1:8080.
Admin token: --token, else PLOTBURN_ADMIN_TOKEN (else the stack file's, with its URL);
sent as the Worker's `x-api-key` header.

Exit status: 0 done (for a run: success), 1 the run ended partial, 2 the run failed,
3 an error (API unreachable, HTTP error, timeout, bad usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from plotburn_cli import __version__
from plotburn_cli.client import Api, ClientFactory, CliError, default_client_factory, resolve_target
from plotburn_cli.follow import FollowTimeout, follow_run
from plotburn_cli.render import (
    Progress,
    budget_block,
    clean,
    generations_table,
    history_table,
    logs_table,
    run_summary,
    table,
)

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED, EXIT_ERROR = 0, 1, 2, 3
RUN_EXIT = {"success": EXIT_OK, "partial": EXIT_PARTIAL, "failed": EXIT_FAILED}
CACHE_KINDS = ("now-playing", "roast", "truth", "debug", "all")
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
LOGS_MAX_LIMIT = 1000


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors are errors: exit 3, not 2 ("failed")
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    # The connection and output flags work before or after the command. Only a parent
    # (never parsed itself), but of the subparsers' class, as add_parser's parents are.
    common = _Parser(add_help=False)
    common.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help="API base URL (default: $PLOTBURN_API_URL, .stack/stack.json, http://127.0.0.1:8080)",
    )
    common.add_argument(
        "--token",
        default=argparse.SUPPRESS,
        help="admin token (default: $PLOTBURN_ADMIN_TOKEN); prefer the variable: flags show in ps",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the API's JSON instead of tables",
    )
    common.add_argument(
        "--http-timeout",
        type=float,
        default=argparse.SUPPRESS,
        metavar="S",
        help="per-request timeout in seconds (default 30)",
    )

    parser = _Parser(
        prog="plotburn",
        description=(
            "Operate a PlotBurn API: start and follow runs, read status, logs and budget, "
            "clear caches."
        ),
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"plotburn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    trigger = commands.add_parser("trigger", parents=[common], help="start a manual run (admin)")
    _wait_flags(trigger)
    commands.add_parser(
        "status", parents=[common], help="the last run, recent runs and today's budget"
    )
    logs = commands.add_parser(
        "logs", parents=[common], help="recent log entries, newest first (admin)"
    )
    logs.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help=f"how many (1-{LOGS_MAX_LIMIT}; the API's default is 100)",
    )
    logs.add_argument(
        "--level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=None,
        help="only entries of this level",
    )
    logs.add_argument(
        "--correlation-id", default=None, metavar="ID", help="only this run's or request's entries"
    )
    prune = commands.add_parser(
        "prune-logs", parents=[common], help="delete old log entries (admin)"
    )
    prune.add_argument(
        "--older-than-days",
        type=int,
        default=None,
        metavar="N",
        help="older than N days (the API's default is 30)",
    )
    debug = commands.add_parser(
        "debug",
        parents=[common],
        help=(
            "what a correlation id or a movie's generations made; "
            "a run with its per-movie outcomes and logs (admin)"
        ),
    )
    target = debug.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "correlation_id",
        metavar="ID",
        nargs="?",
        default=None,
        help="a run's id (e.g. manual-trigger-1732811400000) or a request's x-correlation-id",
    )
    target.add_argument(
        "--movie", type=int, default=None, metavar="MOVIE_ID", help="a TMDB movie id instead"
    )
    retry = commands.add_parser(
        "retry", parents=[common], help="republish a run's failed movies into the same run (admin)"
    )
    retry.add_argument("correlation_id", metavar="ID")
    _wait_flags(retry)
    clear = commands.add_parser(
        "clear", parents=[common], help="empty one cache, or all of them (admin)"
    )
    clear.add_argument("kind", choices=CACHE_KINDS)
    commands.add_parser(
        "budget", parents=[common], help="today's upstream spend against its ceilings (admin)"
    )
    return parser


def _wait_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait", action="store_true", help="follow the run with a progress bar until it ends"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="give up waiting after S seconds (default 600; exit 3)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="S",
        help="poll /cron/status every S seconds (default 1)",
    )


# ---------------------------------------------------------------------- commands


class Cli:
    def __init__(
        self,
        api: Api,
        args: argparse.Namespace,
        out: TextIO,
        err: TextIO,
        sleep: Callable[[float], None],
    ) -> None:
        self.api = api
        self.args = args
        self.out = out
        self.err = err
        self.sleep = sleep
        self.as_json = bool(getattr(args, "json", False))

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def dump(self, value: Any) -> None:
        self.out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def _titles(self, movies: list[dict[str, Any]] | None = None) -> dict[int, str]:
        return {m["movie_id"]: m["title"] for m in movies or [] if m.get("title")}

    # -- trigger / retry: start, then maybe follow

    def trigger(self) -> int:
        started = self.api.trigger()
        correlation_id = str(started["correlation_id"])
        if not self.args.wait:
            if self.as_json:
                self.dump(started)
            else:
                self.print(
                    f"Run {correlation_id} started. "
                    "Follow it with: plotburn status (or trigger --wait next time)"
                )
            return EXIT_OK
        self.err.write(
            f"Run {correlation_id} started; following it (Ctrl-C stops following, not the run).\n"
        )
        return self.follow(correlation_id)

    def retry(self) -> int:
        result = self.api.retry(self.args.correlation_id)
        retried = result.get("retried_movie_ids") or []
        if not retried or not self.args.wait:
            if self.as_json:
                self.dump(result)
            elif retried:
                self.print(
                    f"Republished {len(retried)} failed movie(s) of run "
                    f"{result['correlation_id']}: {', '.join(map(str, retried))}"
                )
            else:
                self.print(
                    f"Run {result['correlation_id']} has no failed movies to retry "
                    f"(status: {result['status']})."
                )
            return EXIT_OK
        self.err.write(
            f"Republished {len(retried)} failed movie(s) of run {result['correlation_id']}; "
            "following it.\n"
        )
        return self.follow(str(result["correlation_id"]))

    def follow(self, correlation_id: str) -> int:
        progress = Progress(self.err, correlation_id)
        try:
            run = follow_run(
                self.api.status,
                correlation_id,
                timeout=self.args.timeout,
                interval=self.args.interval,
                on_poll=progress.update,
                transient=(CliError,),
                sleep=self.sleep,
            )
        except FollowTimeout as exc:
            progress.finish()
            self.err.write(
                f"plotburn: error: {exc}; it goes on without us: `plotburn status` shows it.\n"
            )
            return EXIT_ERROR
        finally:
            progress.finish()
        if self.as_json:
            self.dump(run)
        else:
            self.print(run_summary(run))
        return RUN_EXIT.get(str(run.get("status")), EXIT_ERROR)

    # -- reads

    def status(self) -> int:
        status = self.api.status()
        if self.as_json:
            self.dump(status)
            return EXIT_OK
        last = status.get("last_run")
        if last is None:
            self.print("No runs yet. Start one with: plotburn trigger --wait")
        else:
            self.print(run_summary(last))
            history = status.get("history") or []
            self.print()
            self.print(
                f"Recent runs ({len(history)} shown, {status.get('total_runs', 0)} in total)"
            )
            self.print(history_table(history))
        if status.get("budget"):
            self.print()
            self.print("Today's budget")
            self.print(budget_block(status["budget"]))
        return EXIT_OK

    def logs(self) -> int:
        limit = self.args.limit
        if limit is not None and not 1 <= limit <= LOGS_MAX_LIMIT:
            raise CliError(f"--limit must be from 1 to {LOGS_MAX_LIMIT}")
        entries = self.api.logs(limit, self.args.level, self.args.correlation_id)
        if self.as_json:
            self.dump(entries)
        elif not entries.get("logs"):
            self.print("No log entries.")
        else:
            self.print(logs_table(entries["logs"]))
        return EXIT_OK

    def prune_logs(self) -> int:
        days = self.args.older_than_days
        if days is not None and days < 0:
            raise CliError("--older-than-days must be 0 or more")
        result = self.api.delete_logs(days)
        if self.as_json:
            self.dump(result)
        else:
            self.print(f"{result.get('message') or 'Done'}.")
        return EXIT_OK

    def debug(self) -> int:
        if self.args.movie is not None:
            found = self.api.movie_debug(self.args.movie)
            name = f"Movie {found.get('movieId', self.args.movie)}"
        else:
            found = self.api.debug(self.args.correlation_id)
            name = f"Correlation id {clean(found.get('correlationId', self.args.correlation_id))}"
        if self.as_json:
            self.dump(found)
            return EXIT_OK
        if found.get("run") is not None:
            self.run_debug(found)
        entries = found.get("entries") or []
        if entries:
            if found.get("run") is not None:
                self.print()
            self.print(f"{name}: {len(entries)} generation(s), newest first")
            self.print(generations_table(entries))
        elif found.get("run") is None:
            self.print(f"{name}: no generations recorded.")
        return EXIT_OK

    def run_debug(self, found: dict[str, Any]) -> None:
        movies = found.get("movies") or []
        self.print(run_summary(found["run"], self._titles(movies)))
        self.print()
        if movies:
            rows = []
            for m in movies:
                spend = m.get("spend") or {}
                made = " ".join(
                    f"{s}={(spend.get(s) or {}).get('calls', 0)}"
                    for s in ("research", "roast")
                    if (spend.get(s) or {}).get("calls")
                )
                rows.append(
                    [
                        m.get("movie_id"),
                        m.get("outcome"),
                        m.get("title") or "-",
                        made or "-",
                        m.get("reason") or "-",
                    ]
                )
            self.print(table(["MOVIE", "OUTCOME", "TITLE", "CALLS", "REASON"], rows, right=(0,)))
        else:
            self.print("No movie outcomes recorded yet.")
        pending = found.get("pending_movie_ids") or []
        if pending:
            self.print(f"\nPending ({len(pending)}): {', '.join(map(str, pending))}")
        logs = found.get("logs") or []
        if logs:
            self.print(f"\nLog entries ({len(logs)}, newest first)")
            self.print(logs_table(logs))

    def clear(self) -> int:
        result = self.api.clear(self.args.kind)
        if self.as_json:
            self.dump(result)
        else:
            deleted = result.get("deleted_count", result.get("removed"))
            what = "every cache" if self.args.kind == "all" else f"the {self.args.kind} cache"
            self.print(f"Cleared {what}: {deleted} entr{'y' if deleted == 1 else 'ies'} deleted.")
        return EXIT_OK

    def budget(self) -> int:
        budget = self.api.budget()
        if self.as_json:
            self.dump(budget)
        else:
            self.print(budget_block(budget))
        return EXIT_OK


def main(
    argv: Sequence[str] | None = None,
    client_factory: ClientFactory | None = None,
    *,
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run the CLI; returns the exit status. Tests inject `client_factory` (e.g. an
    httpx.Client on WSGITransport) and the streams."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    target = resolve_target(
        getattr(args, "url", None),
        getattr(args, "token", None),
        os.environ if environ is None else environ,
        cwd or Path.cwd(),
    )
    factory = client_factory or default_client_factory
    try:
        with factory(target.url, getattr(args, "http_timeout", 30.0)) as http:
            cli = Cli(Api(target, http), args, out, err, sleep)
            return int(getattr(cli, args.command.replace("-", "_"))())
    except CliError as exc:
        out.flush()
        err.write(f"plotburn: error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.write("\nplotburn: interrupted (a started run goes on; `plotburn status` shows it)\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
