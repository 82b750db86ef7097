"""The Firestore and Pub/Sub emulators, started through their launchers.

Never through ``gcloud emulators ... start``: gcloud forks the JVM in a way that a
timeout or Ctrl-C leaves orphaned Java processes holding the port.  We start the
launcher script directly in a process group of its own and kill the group.

Usage::

    with FirestoreEmulator() as fs, PubSubEmulator() as ps:
        env = {**fs.env(), **ps.env()}   # FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST
        ...
        fs.reset()                        # wipe all documents between tests
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
from google.cloud import pubsub_v1

from local_stack import pubsub
from local_stack.procs import ManagedProcess, StartupError, free_port, new_run_dir

DEFAULT_PROJECT = "plotburn-local"
DEFAULT_SDK_ROOT = Path("/usr/lib/google-cloud-sdk")


@functools.cache
def sdk_root() -> Path:
    """The Cloud SDK installation root (``gcloud info`` is slow, so ask it once).

    ``CLOUDSDK_ROOT_DIR`` overrides; without gcloud on PATH we fall back to the Debian
    package location.
    """
    override = os.environ.get("CLOUDSDK_ROOT_DIR")
    if override:
        return Path(override)
    gcloud = shutil.which("gcloud")
    if gcloud:
        try:
            out = subprocess.run(
                [gcloud, "info", "--format=value(installation.sdk_root)"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.strip()
            if out:
                return Path(out)
        except (subprocess.SubprocessError, OSError):
            pass
    return DEFAULT_SDK_ROOT


def _get_ok(url: str) -> bool:
    """Both emulators answer ``GET /`` with the body "Ok" once they serve requests."""
    resp = httpx.get(url, timeout=1.0)
    return resp.status_code == 200 and resp.text.strip() == "Ok"


class _Emulator:
    """Shared lifecycle for both emulators."""

    name: str = "emulator"
    env_var: str = ""

    def __init__(
        self,
        *,
        port: int | None = None,
        project: str | None = None,
        log_dir: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.bind_host = "127.0.0.1"
        self.port = port or free_port(self.bind_host)
        self.project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or DEFAULT_PROJECT
        self._log_dir = log_dir
        self.startup_timeout = startup_timeout
        self._proc: ManagedProcess | None = None
        self._lock = threading.Lock()

    # -- addresses -----------------------------------------------------------------

    @property
    def host(self) -> str:
        """ "127.0.0.1:P" -- the value for the ``*_EMULATOR_HOST`` variable."""
        return f"{self.bind_host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def env(self) -> dict[str, str]:
        """Environment that points the client libraries of a child process here."""
        return {self.env_var: self.host, "GOOGLE_CLOUD_PROJECT": self.project}

    # -- lifecycle -----------------------------------------------------------------

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _log_path(self) -> Path:
        """<log_dir>/<name>.log; without a log_dir, a fresh run directory under .stack/."""
        if self._log_dir is None:
            self._log_dir = new_run_dir()
        return self._log_dir / f"{self.name}.log"

    def launch(self) -> None:
        """Start the process without waiting for it (so several can boot in parallel)."""
        with self._lock:
            if self._proc is not None and self._proc.running:
                return
            launcher = Path(self._argv()[0])
            if not launcher.exists():
                raise StartupError(
                    f"{self.name}: launcher {launcher} not found (is the gcloud component "
                    "installed? `gcloud components install ...` or the "
                    "google-cloud-cli-*-emulator apt package)"
                )
            self._proc = ManagedProcess(self.name, self._argv(), log_path=self._log_path())
            self._proc.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was not launched")
        self._proc.wait_until(
            lambda: _get_ok(self.url + "/"),
            timeout=timeout if timeout is not None else self.startup_timeout,
            what=f"answering on {self.url}",
        )

    def start(self) -> Self:
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the launcher's process group (JVM included); idempotent."""
        with self._lock:
            if self._proc is not None:
                self._proc.stop(grace=5.0)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running

    @property
    def pids(self) -> set[int]:
        """All pids this emulator ever had (launcher and JVM), for leak checks."""
        return self._proc.refresh_pids() if self._proc is not None else set()

    @property
    def pid(self) -> int | None:
        """The launcher's pid, which is also the process group id."""
        return self._proc.pid if self._proc is not None else None

    def log_tail(self, lines: int = 40) -> str:
        return self._proc.log_tail(lines) if self._proc is not None else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r}, running={self.running})"


class FirestoreEmulator(_Emulator):
    """``cloud_firestore_emulator start`` on 127.0.0.1:<port>."""

    name = "firestore"
    env_var = "FIRESTORE_EMULATOR_HOST"

    def _argv(self) -> list[str]:
        launcher = sdk_root() / "platform/cloud-firestore-emulator/cloud_firestore_emulator"
        return [str(launcher), "start", f"--host={self.bind_host}", f"--port={self.port}"]

    def reset(self, project: str | None = None) -> None:
        """Delete every document of ``project``'s default database (fast, ~ms)."""
        project = project or self.project
        resp = httpx.delete(
            f"{self.url}/emulator/v1/projects/{project}/databases/(default)/documents",
            timeout=10.0,
        )
        resp.raise_for_status()


class PubSubEmulator(_Emulator):
    """``cloud-pubsub-emulator`` on 127.0.0.1:<port>."""

    name = "pubsub"
    env_var = "PUBSUB_EMULATOR_HOST"

    def _argv(self) -> list[str]:
        launcher = sdk_root() / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
        return [str(launcher), f"--host={self.bind_host}", f"--port={self.port}"]

    def publisher(self) -> pubsub_v1.PublisherClient:
        """A PublisherClient bound to this emulator (no environment variable needed)."""
        return pubsub.publisher_client(self.host)

    def subscriber(self) -> pubsub_v1.SubscriberClient:
        """A SubscriberClient bound to this emulator (no environment variable needed)."""
        return pubsub.subscriber_client(self.host)

    def ensure_topic(self, topic: str, project: str | None = None) -> str:
        client = self.publisher()
        try:
            return pubsub.ensure_topic(client, project or self.project, topic)
        finally:
            pubsub.close_publisher(client)
