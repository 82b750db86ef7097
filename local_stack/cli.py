"""``python -m local_stack``: run one nightly batch, serve the stack, or trigger it.

    run      start the stack, POST /cron/trigger, follow /cron/status until the run ends,
             print its summary, stop.  Exit 0 = success, 1 = partial/failed, 2 = timeout
             or the stack did not start.
    serve    start the stack and keep it up until Ctrl-C / SIGTERM.
    trigger  publish {"trigger":"scheduled"} to the serving stack's nightly topic with
             gcloud, like Cloud Scheduler does.
    cleanup  kill what a stack left behind when its owner was kill -9'ed.

The terminal gets only the banner and progress; every log (emulators, functions, the
relay, client libraries) goes to files in the run directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import httpx

from local_stack.procs import REPO_ROOT, STACK_DIR, StartupError, cmdline, kill_group, new_run_dir
from local_stack.stack import DEFAULT_STATE_FILE, Stack, read_state
from plotburn_cli.follow import FollowTimeout, follow_run

EXIT_OK, EXIT_RUN_FAILED, EXIT_ERROR = 0, 1, 2
RUN_FIELDS = (
    "correlation_id",
    "status",
    "trigger",
    "timestamp",
    "started_at",
    "finished_at",
    "movies_fetched",
    "roasts_processed",
    "roasts_cached",
    "roasts_generated",
    "roasts_failed",
    "failed_movie_ids",
    "duration_ms",
)


def _say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def _rel(path: Path | str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# -- signals and logging -----------------------------------------------------------------


def _raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally: stack.stop()`` runs."""

    def handler(signum: int, frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def _ignore_signals() -> None:
    """While stopping, a second Ctrl-C must not abandon half-killed children."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _log_to_file(run_dir: Path) -> None:
    """Everything logged in this process -> <run_dir>/cli.log, nothing to the terminal."""
    handler = logging.FileHandler(run_dir / "cli.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


# -- stack options -----------------------------------------------------------------------


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="messages in flight per subscription (default $PLOTBURN_LOCAL_CONCURRENCY or 32)",
    )
    parser.add_argument("--max-delivery-attempts", type=int, default=5)
    parser.add_argument(
        "--deliver-twice",
        action="store_true",
        help="deliver every Pub/Sub message twice (duplicate delivery)",
    )
    parser.add_argument(
        "--threads", type=int, default=64, help="gunicorn threads per function process"
    )
    parser.add_argument(
        "--sim-config",
        default=None,
        metavar="JSON",
        help="initial upstream simulator config (JSON object)",
    )
    parser.add_argument(
        "--source", type=Path, default=None, help="functions source file (default main.py)"
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="log directory (default .stack/<timestamp>-<pid>/)",
    )


def _make_stack(args: argparse.Namespace) -> Stack:
    sim_config = json.loads(args.sim_config) if args.sim_config else None
    run_dir = args.run_dir or new_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(run_dir)
    return Stack(
        concurrency=args.concurrency,
        max_delivery_attempts=args.max_delivery_attempts,
        deliver_twice=args.deliver_twice,
        sim_config=sim_config,
        run_dir=run_dir,
        threads=args.threads,
        source=args.source,
        state_file=DEFAULT_STATE_FILE,
    )


def _start(stack: Stack) -> bool:
    """Start, printing the banner; False (with the reason printed) on failure."""
    _say("starting emulators, functions and relay ...")
    t0 = time.monotonic()
    try:
        stack.start()
    except StartupError as exc:
        _say(f"error: the stack did not start: {exc}")
        return False
    except Exception as exc:
        logging.getLogger(__name__).exception("stack start failed")
        _say(f"error: the stack did not start: {type(exc).__name__}: {exc}")
        return False
    _say(*stack.banner(), f"  up in {time.monotonic() - t0:.1f}s")
    return True


def _stop(stack: Stack) -> None:
    _ignore_signals()
    try:
        stack.stop()
    except Exception as exc:
        _say(f"warning: {exc}")


# -- run ---------------------------------------------------------------------------------


def _progress(run: dict[str, Any]) -> str:
    return (
        f"processed {run.get('roasts_processed', 0)}/{run.get('movies_fetched', '?')} "
        f"(cached {run.get('roasts_cached', 0)}, generated {run.get('roasts_generated', 0)}, "
        f"failed {run.get('roasts_failed', 0)})"
    )


def _table(run: dict[str, Any]) -> list[str]:
    keys = [k for k in RUN_FIELDS if k in run] + sorted(k for k in run if k not in RUN_FIELDS)
    width = max(len(k) for k in keys)
    lines = []
    for key in keys:
        value = run[key]
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "-"
        elif isinstance(value, dict):
            text = json.dumps(value, sort_keys=True)
        else:
            text = "-" if value is None else str(value)
        lines.append(f"  {key.ljust(width)}  {text}")
    return lines


def _follow_run(stack: Stack, timeout: float) -> int:
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    with httpx.Client(base_url=stack.api_url, timeout=30.0) as client:
        resp = client.post("cron/trigger", headers=headers)
        if resp.status_code != 202:
            _say(f"error: POST /cron/trigger answered {resp.status_code}: {resp.text[:500]}")
            return EXIT_ERROR
        correlation_id = str(resp.json().get("correlation_id"))
        _say(f"triggered run {correlation_id}")

        last_line = ""

        def report(run: dict[str, Any] | None, elapsed: float, note: str) -> None:
            nonlocal last_line
            line = note or (_progress(run) if run else "waiting for the run record ...")
            if line != last_line:
                _say(line)
                last_line = line

        try:
            run = follow_run(
                lambda: client.get("cron/status", headers=headers).raise_for_status().json(),
                correlation_id,
                timeout=timeout,
                interval=0.5,
                on_poll=report,
                transient=(httpx.HTTPError, ValueError),
            )
        except FollowTimeout as exc:
            _say(f"error: {exc}")
            return EXIT_ERROR

    _say("", "run summary:", *_table(run))
    return EXIT_OK if run.get("status") == "success" else EXIT_RUN_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    _raise_on_sigterm()
    stack = _make_stack(args)
    code = EXIT_ERROR
    try:
        if not _start(stack):
            return EXIT_ERROR
        code = _follow_run(stack, args.timeout)
        return code
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_ERROR
    finally:
        _say(
            "",
            "where to look:",
            f"  logs        {_rel(stack.run_dir or STACK_DIR)}/ (api.log, fanout.log, "
            "roast.log: one JSON line per log record; stack.log: relay deliveries)",
            "  poke at it  `make serve` keeps the stack up for curl; `make trigger` fires "
            "the nightly batch through Pub/Sub",
        )
        _stop(stack)


# -- serve -------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    _raise_on_sigterm()
    existing = read_state(DEFAULT_STATE_FILE)
    if existing is not None:
        _say(
            f"error: a stack is already serving (pid {existing.get('owner_pid')}, "
            f"api {existing.get('api_url')}); stop it first"
        )
        return EXIT_ERROR
    stack = _make_stack(args)
    try:
        if not _start(stack):
            return EXIT_ERROR
        state = _rel(DEFAULT_STATE_FILE)
        _say(
            "",
            "try:",
            f"  curl -s {stack.api_url}healthz",
            f"  curl -s {stack.api_url}cron/status | python3 -m json.tool",
            f'  curl -s -X POST -H "Authorization: Bearer $(jq -r .admin_token {state})" '
            f"{stack.api_url}cron/trigger",
            "  make trigger      # publish to plotburn-nightly like Cloud Scheduler",
            "",
            "serving; Ctrl-C to stop",
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _say("stopping ...")
        return EXIT_OK
    finally:
        _stop(stack)


# -- trigger -----------------------------------------------------------------------------


def gcloud_emulator_env(pubsub_host: str, project: str) -> dict[str, str]:
    """Environment that points gcloud's Pub/Sub commands at the emulator, no login."""
    return {
        **os.environ,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{pubsub_host}/",
        "CLOUDSDK_CORE_PROJECT": project,
        # The emulator ignores credentials; without this gcloud demands a login.
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }


def cmd_trigger(args: argparse.Namespace) -> int:
    state = read_state(args.state_file)
    if state is None:
        _say(
            f"error: no local stack is serving ({_rel(args.state_file)} missing or stale); "
            "start one with `make serve`"
        )
        return EXIT_ERROR
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        _say("error: gcloud is not on PATH")
        return EXIT_ERROR
    project, topic = state["project"], state["topics"]["nightly"]
    argv = [
        gcloud,
        "pubsub",
        "topics",
        "publish",
        topic,
        f"--message={args.message}",
        f"--project={project}",
        "--format=value(messageIds)",
    ]
    result = subprocess.run(
        argv,
        env=gcloud_emulator_env(state["pubsub_host"], project),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        _say(f"error: gcloud failed ({result.returncode}): {result.stderr.strip()}")
        return EXIT_ERROR
    message_id = result.stdout.strip()
    _say(
        f"published message {message_id} to {topic} (Pub/Sub emulator {state['pubsub_host']})",
        f"watch: curl -s {state['api_url']}cron/status | python3 -m json.tool",
    )
    return EXIT_OK


# -- cleanup -----------------------------------------------------------------------------


def cmd_cleanup(args: argparse.Namespace) -> int:
    path: Path = args.state_file
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        _say(f"nothing to clean up ({_rel(path)} not found)")
        return EXIT_OK
    if read_state(path) is not None:
        _say(
            f"stack {state.get('run_id')} is still served by pid {state.get('owner_pid')}; "
            "stop that process (Ctrl-C) instead"
        )
        return EXIT_ERROR
    for name, group in (state.get("process_groups") or {}).items():
        pgid, argv = int(group["pgid"]), [str(a) for a in group["argv"]]
        # Guard against pid reuse: only kill a group whose leader still runs our command.
        # Compare the arguments, not argv[0]: a script shows up as its interpreter
        # ("python3 .../functions-framework ...") and the Pub/Sub launcher execs java.
        leader = cmdline(pgid)
        if leader and set(argv[1:]) <= set(leader):
            kill_group(pgid, grace=3.0)
            _say(f"killed {name} (process group {pgid})")
    path.unlink(missing_ok=True)
    _say("cleaned up")
    return EXIT_OK


# -- main --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one nightly batch end to end and report")
    _add_stack_options(run)
    run.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the run to finish (default 600)",
    )
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="start the stack and keep it up")
    _add_stack_options(serve)
    serve.set_defaults(func=cmd_serve)

    trigger = sub.add_parser("trigger", help="publish the nightly message with gcloud")
    trigger.add_argument("--message", default='{"trigger":"scheduled"}')
    trigger.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    trigger.set_defaults(func=cmd_trigger)

    cleanup = sub.add_parser("cleanup", help="kill leftovers of a stack whose owner died")
    cleanup.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    cleanup.set_defaults(func=cmd_cleanup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
