"""The whole PlotBurn flow on one machine, for real.

    Stack
    ├── Firestore emulator             (JVM, own process group)
    ├── Pub/Sub emulator               (JVM, own process group)
    ├── upstream simulator             (python -m upstream_sim; only without API keys)
    ├── functions-framework: api       (HTTP)
    ├── functions-framework: fanout    (CloudEvent)  <- relay <- plotburn-nightly
    ├── functions-framework: roast     (CloudEvent)  <- relay <- plotburn-roast
    │                                                <- relay <- plotburn-dead-letter
    └── relay                          (threads in this process; see relay.py)

Usage::

    with Stack() as stack:
        httpx.post(stack.api_url + "cron/trigger",
                   headers={"Authorization": f"Bearer {stack.admin_token}"})
        ...
        stack.restart_function("roast", kill=True)   # crash one function mid-run
        stack.relay.stats()

``stop()`` (also run by ``__exit__`` and atexit) leaves no process behind: every
child's process group is killed, and the pids seen in those groups are verified gone.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from google.cloud import pubsub_v1

from local_stack import pubsub
from local_stack.emulators import DEFAULT_PROJECT, FirestoreEmulator, PubSubEmulator
from local_stack.functions import FUNCTIONS, FunctionProcess
from local_stack.procs import (
    REPO_ROOT,
    STACK_DIR,
    ManagedProcess,
    StartupError,
    free_port,
    new_run_dir,
    pid_alive,
)
from local_stack.relay import Relay, RelayConfig, Route, concurrency_from_env

log = logging.getLogger(__name__)

DEFAULT_SOURCE = REPO_ROOT / "main.py"
DEFAULT_STATE_FILE = STACK_DIR / "stack.json"
# What the simulated upstreams are given: a TMDB read token, a Perplexity and an xAI key.
API_KEY_VARS = ("TMDB_API_TOKEN", "PERPLEXITY_API_KEY", "XAI_API_KEY")
# TMDB also takes a v3 key: either TMDB credential counts as "TMDB key set".
TMDB_CREDENTIAL_VARS = ("TMDB_API_TOKEN", "TMDB_API_KEY")
SIM_KEY = "sim-key"


def has_real_keys(env: Mapping[str, str | None]) -> bool:
    """All three providers have a credential: talk to the real APIs."""
    return (
        any(env.get(var) for var in TMDB_CREDENTIAL_VARS)
        and bool(env.get("PERPLEXITY_API_KEY"))
        and bool(env.get("XAI_API_KEY"))
    )


TOPIC_VARS = {
    "nightly": ("PLOTBURN_NIGHTLY_TOPIC", "plotburn-nightly"),
    "roast": ("PLOTBURN_ROAST_TOPIC", "plotburn-roast"),
    "dead-letter": ("PLOTBURN_DEAD_LETTER_TOPIC", "plotburn-dead-letter"),
}
STATE_VERSION = 1


class _HttpSimControl:
    """Fallback for ``upstream_sim.client.SimControl`` (same calls, over /_sim/*)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sim/stats", timeout=10).raise_for_status().json())

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sim/reset", timeout=10).raise_for_status()

    def config(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sim/config", timeout=10).raise_for_status().json())

    def configure(self, **partial: Any) -> dict[str, Any]:
        resp = httpx.post(f"{self.url}/_sim/config", json=partial, timeout=10)
        return dict(resp.raise_for_status().json())


def _sim_control(url: str) -> Any:
    try:
        from upstream_sim.client import SimControl
    except ImportError:
        return _HttpSimControl(url)
    return SimControl(url)


def read_state(path: Path = DEFAULT_STATE_FILE) -> dict[str, Any] | None:
    """The state file of a serving stack, or None if there is none / its owner is dead."""
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not isinstance(state, dict) or not pid_alive(int(state.get("owner_pid", 0))):
        return None
    return state


class Stack:
    """Emulators, functions, upstream simulator and relay; see the module docstring.

    Args:
        concurrency: messages in flight per subscription (the roast function's max
            instances); default ``$PLOTBURN_LOCAL_CONCURRENCY`` or 32.
        max_delivery_attempts: attempts before a roast message is dead-lettered.
        deliver_twice: POST every message twice, concurrently (duplicate delivery).
        sim_config: initial upstream simulator config (``--config-json``).
        env: extra environment for the functions (wins over everything else).
        run_dir: where logs go; default a fresh ``.stack/<timestamp>-<pid>/``.
        threads: gunicorn threads per function process (``THREADS``).
        source: the functions' source file (tests point this at a throwaway file).
        simulate_upstreams: None = simulate unless all three API keys are set.
        firestore / pubsub: already-running emulators to use instead of starting our
            own (test suites share one pair); the stack then leaves them running and
            uses uniquely named subscriptions (see pubsub.create_pull_subscription).
        state_file: where to write the JSON that ``python -m local_stack trigger``
            reads; None to write none.
        dead_letter_nightly: dead-letter the nightly subscription too (as
            infra/pubsub.tf does); the dead-letter subscription itself never is.
    """

    def __init__(
        self,
        concurrency: int | None = None,
        max_delivery_attempts: int = 5,
        deliver_twice: bool = False,
        sim_config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        run_dir: Path | str | None = None,
        threads: int = 64,
        *,
        source: Path | str | None = None,
        project: str | None = None,
        min_backoff: float = 0.5,
        max_backoff: float = 5.0,
        request_timeout: float = 600.0,
        simulate_upstreams: bool | None = None,
        firestore: FirestoreEmulator | None = None,
        pubsub: PubSubEmulator | None = None,
        state_file: Path | str | None = DEFAULT_STATE_FILE,
        dead_letter_nightly: bool = True,
        startup_timeout: float = 90.0,
    ) -> None:
        self._extra_env = dict(env or {})
        merged = {**os.environ, **self._extra_env}
        self.project: str = project or merged.get("GOOGLE_CLOUD_PROJECT") or DEFAULT_PROJECT
        self.relay_config = RelayConfig(
            concurrency=concurrency if concurrency is not None else concurrency_from_env(),
            max_delivery_attempts=max_delivery_attempts,
            min_backoff=min_backoff,
            max_backoff=max_backoff,
            deliver_twice=deliver_twice,
            request_timeout=request_timeout,
        )
        self.threads = threads
        self.source = Path(source) if source is not None else DEFAULT_SOURCE
        self.sim_config = dict(sim_config) if sim_config is not None else None
        if simulate_upstreams is None:
            simulate_upstreams = not has_real_keys(merged)
        self.simulate_upstreams = simulate_upstreams
        self.admin_token: str = merged.get("PLOTBURN_ADMIN_TOKEN") or secrets.token_urlsafe(32)
        self.topics: dict[str, str] = {
            key: merged.get(var) or default for key, (var, default) in TOPIC_VARS.items()
        }
        self.dead_letter_nightly = dead_letter_nightly
        self.startup_timeout = startup_timeout
        self.state_file = Path(state_file) if state_file is not None else None
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_id = secrets.token_hex(4)

        self._shared_firestore = firestore
        self._shared_pubsub = pubsub
        self._firestore = firestore
        self._pubsub = pubsub
        # Fresh subscription names on a shared emulator: a subscription that had a relay
        # attached is poisoned once the relay stops (see create_pull_subscription).
        suffix = f"-{self.run_id}" if pubsub is not None else ""
        self.subscriptions: dict[str, str] = {
            # The names infra/pubsub.tf gives the production subscriptions.
            "nightly": f"{self.topics['nightly']}-to-fanout{suffix}",
            "roast": f"{self.topics['roast']}-to-roast{suffix}",
            "dead-letter": f"{self.topics['dead-letter']}-to-roast{suffix}",
        }

        self.functions: dict[str, FunctionProcess] = {}
        self.sim: Any = None  # upstream_sim.client.SimControl when simulated
        self.sim_url: str | None = None
        self._sim_proc: ManagedProcess | None = None
        self.relay: Relay | None = None
        self._publisher: pubsub_v1.PublisherClient | None = None
        self._log_handler: logging.Handler | None = None
        self._state_written = False
        self._started = False
        self._stopped = False
        self._lock = threading.RLock()

    # -- addresses -----------------------------------------------------------------

    @property
    def firestore_host(self) -> str:
        assert self._firestore is not None, "stack not started"
        return self._firestore.host

    @property
    def pubsub_host(self) -> str:
        assert self._pubsub is not None, "stack not started"
        return self._pubsub.host

    @property
    def api_url(self) -> str:
        """The api function's base URL, with a trailing slash."""
        return self.function_url("api")

    def function_url(self, name: str) -> str:
        return self.functions[name].url

    @property
    def upstreams(self) -> str:
        return "simulated" if self.simulate_upstreams else "real"

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        with self._lock:
            if self._started:
                raise RuntimeError("stack already started")
            self._started = True
            atexit.register(self.stop)
            try:
                self._start()
            except BaseException:
                try:
                    self.stop()
                except Exception:
                    log.exception("stopping the half-started stack failed")
                raise
        return self

    def _start(self) -> None:
        self.run_dir = self.run_dir or new_run_dir()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._attach_log_file()
        log.info("starting stack %s in %s", self.run_id, self.run_dir)
        if not self.source.exists():
            raise StartupError(f"function source {self.source} does not exist")

        for shared in (self._shared_firestore, self._shared_pubsub):
            if shared is not None and not shared.running:
                raise StartupError(f"the shared {shared.name} emulator is not running")

        # Launch everything first and wait afterwards: the JVMs and the Python processes
        # boot in parallel, which roughly halves the startup time.
        if self._firestore is None:
            self._firestore = FirestoreEmulator(project=self.project, log_dir=self.run_dir)
            self._firestore.launch()
        if self._pubsub is None:
            self._pubsub = PubSubEmulator(project=self.project, log_dir=self.run_dir)
            self._pubsub.launch()
        if self.simulate_upstreams:
            self._launch_sim()
        env = self.function_env()
        for spec in FUNCTIONS:
            proc = FunctionProcess(
                spec, source=self.source, port=free_port(), env=env, log_dir=self.run_dir
            )
            self.functions[spec.name] = proc
            proc.launch()

        for emulator in self._owned_emulators():
            emulator.wait_ready(self.startup_timeout)
        self._create_topics_and_subscriptions()
        if self._sim_proc is not None:
            assert self.sim_url is not None
            sim_url = self.sim_url
            self._sim_proc.wait_until(
                lambda: httpx.get(f"{sim_url}/_sim/health", timeout=1.0).status_code == 200,
                timeout=self.startup_timeout,
                what=f"GET {sim_url}/_sim/health answering 200",
            )
            self.sim = _sim_control(sim_url)
        for proc in self.functions.values():
            proc.wait_ready(self.startup_timeout)

        self.relay = Relay(
            pubsub_host=self.pubsub_host,
            project=self.project,
            routes=self._routes(),
            config=self.relay_config,
        ).start()
        self._write_state()
        log.info("stack %s up: api %s", self.run_id, self.api_url)

    def _launch_sim(self) -> None:
        assert self.run_dir is not None
        port = free_port()
        self.sim_url = f"http://127.0.0.1:{port}"
        argv = [_python(), "-m", "upstream_sim", "--host", "127.0.0.1", "--port", str(port)]
        if self.sim_config is not None:
            argv += ["--config-json", json.dumps(self.sim_config)]
        self._sim_proc = ManagedProcess(
            "upstream-sim",
            argv,
            log_path=self.run_dir / "upstream-sim.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=REPO_ROOT,
        )
        self._sim_proc.start()

    def function_env(self) -> dict[str, str]:
        """The environment each function process gets."""
        assert self._firestore is not None and self._pubsub is not None
        env = dict(os.environ)
        env.update(
            {
                "GOOGLE_CLOUD_PROJECT": self.project,
                "FIRESTORE_EMULATOR_HOST": self._firestore.host,
                "PUBSUB_EMULATOR_HOST": self._pubsub.host,
                "PLOTBURN_NIGHTLY_TOPIC": self.topics["nightly"],
                "PLOTBURN_ROAST_TOPIC": self.topics["roast"],
                "PLOTBURN_DEAD_LETTER_TOPIC": self.topics["dead-letter"],
                "PLOTBURN_ADMIN_TOKEN": self.admin_token,
                "THREADS": str(self.threads),
                "PYTHONUNBUFFERED": "1",  # JSON log lines reach the log file at once
            }
        )
        if self.simulate_upstreams:
            base = self.sim_url
            env.update(
                {
                    "TMDB_API_BASE": f"{base}/tmdb/3",
                    "PERPLEXITY_API_BASE": f"{base}/perplexity",
                    "XAI_API_BASE": f"{base}/xai/v1",
                    **{var: SIM_KEY for var in API_KEY_VARS},
                }
            )
            env.pop("TMDB_API_KEY", None)  # a real v3 key never goes to the simulator
        env.update(self._extra_env)
        return env

    def _create_topics_and_subscriptions(self) -> None:
        assert self._pubsub is not None
        self._publisher = pubsub.publisher_client(self._pubsub.host)
        for topic in self.topics.values():
            pubsub.ensure_topic(self._publisher, self.project, topic)
        subscriber = pubsub.subscriber_client(self._pubsub.host)
        try:
            for key, subscription in self.subscriptions.items():
                pubsub.create_pull_subscription(
                    subscriber,
                    self.project,
                    subscription,
                    self.topics[key],
                    ack_deadline_seconds=600,
                )
        finally:
            subscriber.close()

    def _routes(self) -> list[Route]:
        dead_letter = self.topics["dead-letter"]
        return [
            Route(
                self.subscriptions["nightly"],
                self.topics["nightly"],
                self.function_url("fanout"),
                dead_letter if self.dead_letter_nightly else None,
            ),
            Route(
                self.subscriptions["roast"],
                self.topics["roast"],
                self.function_url("roast"),
                dead_letter,
            ),
            # Deliveries of dead letters are retried but never dead-lettered again.
            Route(
                self.subscriptions["dead-letter"],
                dead_letter,
                self.function_url("roast"),
                None,
            ),
        ]

    def stop(self) -> None:
        """Stop everything and verify no process is left; idempotent.

        Order matters: stop pulling first (no new deliveries), then kill the functions
        (in-flight POSTs fail at once instead of being waited for), then close the relay,
        then the simulator and the emulators.
        """
        with self._lock:
            if self._stopped or not self._started:
                return
            self._stopped = True
            atexit.unregister(self.stop)
            errors: list[str] = []

            def attempt(what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
                try:
                    fn(*args, **kwargs)
                except Exception as exc:
                    log.exception("stop: %s failed", what)
                    errors.append(f"{what}: {exc}")

            if self.relay is not None:
                attempt("relay cancel", self.relay.cancel)
            for proc in self.functions.values():
                attempt(f"stop {proc.name}", proc.stop, grace=3.0)
            if self.relay is not None:
                attempt("relay stop", self.relay.stop, timeout=10.0)
            if self._publisher is not None:
                attempt("close publisher", pubsub.close_publisher, self._publisher)
            if self._shared_pubsub is not None and self._shared_pubsub.running:
                attempt("delete subscriptions", self._delete_subscriptions)
            if self.sim is not None and hasattr(self.sim, "close"):
                attempt("close simulator client", self.sim.close)
            if self._sim_proc is not None:
                attempt("stop upstream simulator", self._sim_proc.stop, grace=3.0)
            for emulator in self._owned_emulators():
                attempt(f"stop {emulator.name} emulator", emulator.stop)
            attempt("remove state file", self._remove_state)

            leftovers = sorted(pid for pid in self.all_pids() if pid_alive(pid))
            if leftovers:
                errors.append(f"processes still alive after stop: {leftovers}")
            log.info("stack %s stopped%s", self.run_id, f" with errors: {errors}" if errors else "")
            self._detach_log_file()
            if errors:
                raise RuntimeError("stack stop: " + "; ".join(errors))

    def _owned_emulators(self) -> list[FirestoreEmulator | PubSubEmulator]:
        """The emulators this stack started (and therefore stops)."""
        owned: list[FirestoreEmulator | PubSubEmulator] = []
        if self._firestore is not None and self._firestore is not self._shared_firestore:
            owned.append(self._firestore)
        if self._pubsub is not None and self._pubsub is not self._shared_pubsub:
            owned.append(self._pubsub)
        return owned

    def _delete_subscriptions(self) -> None:
        assert self._pubsub is not None
        subscriber = pubsub.subscriber_client(self._pubsub.host)
        try:
            for subscription in self.subscriptions.values():
                pubsub.delete_subscription(subscriber, self.project, subscription)
        finally:
            subscriber.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- operations ----------------------------------------------------------------

    def restart_function(self, name: str, kill: bool = True) -> None:
        """Kill (-9 with ``kill``, else SIGTERM) one function's process group and start
        it again on the same port, waiting until it serves.  The relay keeps running:
        deliveries that hit the dead process fail and are redelivered, as in production.
        """
        proc = self.functions[name]
        log.info("restarting %s (kill=%s)", name, kill)
        proc.restart(kill=kill, timeout=self.startup_timeout)
        self._write_state()

    def configure_function_env(self, name: str, env: Mapping[str, str]) -> None:
        """Restart one function with `env` layered over its stack environment
        (an empty mapping restores the stack's own)."""
        proc = self.functions[name]
        proc.process.env = {**self.function_env(), **dict(env)}
        self.restart_function(name, kill=False)

    def reset_firestore(self) -> None:
        """Delete every document (tests start each case from an empty database)."""
        assert self._firestore is not None, "stack not started"
        self._firestore.reset(self.project)

    def relay_stats(self) -> dict[str, dict[str, int]]:
        assert self.relay is not None, "stack not started"
        return self.relay.stats()

    def wait_quiet(self, settle: float = 0.5, timeout: float = 60) -> None:
        """Until the relay has had nothing in flight on any subscription for `settle`
        seconds: every delivery (retries included) has landed."""
        deadline = time.monotonic() + timeout
        since: float | None = None
        while time.monotonic() < deadline:
            busy = any(s.get("in_flight", 0) for s in self.relay_stats().values())
            now = time.monotonic()
            if busy:
                since = None
            elif since is None:
                since = now
            elif now - since >= settle:
                return
            time.sleep(0.05)
        raise TimeoutError(f"the relay never went quiet within {timeout} s")

    def function_log(self, name: str) -> str:
        """Everything one function process has written (JSON log lines)."""
        assert self.run_dir is not None, "stack not started"
        path = Path(self.run_dir) / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def nightly_topic(self) -> str:
        return self.topics["nightly"]

    @property
    def roast_topic(self) -> str:
        return self.topics["roast"]

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """Publish to ``topic`` (a name, or "nightly"/"roast"/"dead-letter"); the id."""
        if self._publisher is None:
            raise RuntimeError("stack not started")
        name = self.topics.get(topic, topic)
        future = self._publisher.publish(
            pubsub.topic_path(self.project, name), data, **dict(attributes or {})
        )
        return str(future.result(timeout=30))

    # -- introspection -------------------------------------------------------------

    def pids(self) -> dict[str, list[int]]:
        """Every pid each component ever had (JVMs and gunicorn workers included)."""
        result: dict[str, list[int]] = {}
        for emulator in self._owned_emulators():
            result[emulator.name] = sorted(emulator.pids)
        if self._sim_proc is not None:
            result["upstream-sim"] = sorted(self._sim_proc.refresh_pids())
        for name, proc in self.functions.items():
            result[name] = sorted(proc.process.refresh_pids())
        return result

    def all_pids(self) -> set[int]:
        return {pid for pids in self.pids().values() for pid in pids}

    def banner(self) -> list[str]:
        """Human-readable summary lines (never containing the admin token)."""
        cfg = self.relay_config
        if self.simulate_upstreams:
            upstreams = f"SIMULATED (no API keys set) at {self.sim_url}"
            if has_real_keys(os.environ):
                upstreams = f"SIMULATED (forced) at {self.sim_url}"
        else:
            upstreams = "REAL APIs (TMDB, Perplexity and xAI keys set)"
        token_where = (
            f"(set in {_display(self.state_file)})"
            if self._state_written
            else "(Stack.admin_token)"
        )
        t = self.topics
        return [
            f"PlotBurn local stack {self.run_id} (project {self.project})",
            f"  api          {self.api_url}",
            f"  fanout       {self.function_url('fanout')}  <- {t['nightly']}",
            f"  roast        {self.function_url('roast')}  <- {t['roast']}, {t['dead-letter']}",
            f"  firestore    {self.firestore_host} (emulator)",
            f"  pubsub       {self.pubsub_host} (emulator)",
            f"  upstreams: {upstreams}",
            f"  relay        {cfg.concurrency} in flight per subscription, dead letter after "
            f"{cfg.max_delivery_attempts} attempts"
            + (", every message delivered twice" if cfg.deliver_twice else ""),
            f"  admin token  {token_where}",
            f"  logs         {_display(self.run_dir)}",
        ]

    # -- state file and logging ----------------------------------------------------

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        existing = read_state(self.state_file)
        if existing is not None and existing.get("run_id") != self.run_id:
            # Another live stack (e.g. `make serve`) owns the file; leave it alone.
            log.warning(
                "not writing %s: stack %s (pid %s) is serving",
                self.state_file,
                existing.get("run_id"),
                existing.get("owner_pid"),
            )
            return
        pids = self.pids()
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "run_id": self.run_id,
            "owner_pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "project": self.project,
            "run_dir": str(self.run_dir),
            "api_url": self.api_url,
            "function_urls": {name: proc.url for name, proc in self.functions.items()},
            "firestore_host": self.firestore_host,
            "pubsub_host": self.pubsub_host,
            "upstreams": self.upstreams,
            "sim_url": self.sim_url,
            "admin_token": self.admin_token,
            "topics": self.topics,
            "subscriptions": self.subscriptions,
            "pids": pids,
            # For `python -m local_stack cleanup` after the owner was kill -9'ed.
            "process_groups": self._process_groups(),
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(f".{os.getpid()}.tmp")
        # 0600: the file holds the admin token.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=2)
        os.replace(tmp, self.state_file)
        self._state_written = True

    def _process_groups(self) -> dict[str, dict[str, Any]]:
        procs: list[ManagedProcess] = [p.process for p in self.functions.values()]
        if self._sim_proc is not None:
            procs.append(self._sim_proc)
        for emulator in self._owned_emulators():
            if emulator._proc is not None:
                procs.append(emulator._proc)
        return {p.name: {"pgid": p.pid, "argv": p.argv} for p in procs if p.pid is not None}

    def _remove_state(self) -> None:
        if self.state_file is None or not self._state_written:
            return
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return
        if state.get("run_id") == self.run_id:
            self.state_file.unlink(missing_ok=True)

    def _attach_log_file(self) -> None:
        """Send the stack's and relay's log records to <run_dir>/stack.log."""
        assert self.run_dir is not None
        handler = logging.FileHandler(self.run_dir / "stack.log")
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s")
        )
        handler.setLevel(logging.INFO)
        pkg_logger = logging.getLogger("local_stack")
        if pkg_logger.level == logging.NOTSET or pkg_logger.level > logging.INFO:
            pkg_logger.setLevel(logging.INFO)
        pkg_logger.addHandler(handler)
        self._log_handler = handler

    def _detach_log_file(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("local_stack").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None


def _python() -> str:
    """This interpreter, unresolved (so a venv's python keeps its site-packages)."""
    return sys.executable


def _display(path: Path | None) -> str:
    """A path relative to the repo when inside it (shorter banners)."""
    if path is None:
        return "-"
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
