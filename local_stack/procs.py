"""Child processes that are started in their own process group and stopped for sure.

Everything the local stack runs (emulator launchers and their JVMs, functions-framework
and its gunicorn worker, the upstream simulator) is started with
``start_new_session=True``.  That gives each child its own process group, which buys two
things: a Ctrl-C in the terminal reaches only our process (we then stop the children in
order instead of racing them), and a single ``killpg`` reaches grandchildren too -- the
Firestore launcher is a bash script whose JVM would otherwise be orphaned and keep its
port.  ``stop()`` only returns once no live member of the group is left.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = REPO_ROOT / ".stack"


class StartupError(RuntimeError):
    """A stack component did not come up; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def new_run_dir(base: Path = STACK_DIR) -> Path:
    """Create a fresh, uniquely named directory for one run's log files.

    The name starts with a timestamp so ``ls .stack`` sorts runs chronologically; the pid
    and a counter keep concurrent stacks (e.g. parallel test sessions) apart.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        candidate = base / (f"{stamp}-{os.getpid()}" + (f"-{n}" if n else ""))
        try:
            candidate.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"could not create a run directory under {base}")


def _read_stat(pid: int) -> tuple[int, str] | None:
    """(process group id, state letter) of ``pid`` from /proc, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces and parentheses; everything after the last ')'
    # is well-formed: " state ppid pgrp ...".
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[2]), fields[0]


def _really_dead(pid: int, state: str) -> bool:
    """A "Z" process is dead only if none of its threads is still running.

    /proc/<pid>/stat shows the thread-group leader's state.  A JVM's main thread exits
    first and shows as a zombie while the other threads are still running the shutdown
    (and holding the ports), so "Z" alone does not mean gone.
    """
    if state != "Z":
        return False
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return True
    for tid in tasks:
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if raw[raw.rfind(")") + 2 :].split()[0] not in ("Z", "X"):
            return False
    return True


def group_members(pgid: int) -> dict[int, str]:
    """Pids (-> state letter) of every process currently in process group ``pgid``."""
    members: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _read_stat(int(entry.name))
        if stat is not None and stat[0] == pgid:
            members[int(entry.name)] = stat[1]
    return members


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a (fully exited) zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but not ours
        return True
    stat = _read_stat(pid)
    return stat is not None and not _really_dead(pid, stat[1])


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` (empty if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def kill_group(
    pgid: int, *, grace: float = 5.0, kill: bool = False, reap: Callable[[], object] | None = None
) -> None:
    """Stop every process in group ``pgid``: SIGTERM, wait ``grace`` s, then SIGKILL.

    ``kill=True`` skips straight to SIGKILL (crash simulation).  ``reap`` is called while
    waiting so that our own direct child does not linger as a zombie (``Popen.poll``).
    Returns once the group has no live member; raises if even SIGKILL did not help.
    """

    def live() -> list[int]:
        if reap is not None:
            reap()
        return [pid for pid, state in group_members(pgid).items() if not _really_dead(pid, state)]

    def send(sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass

    if not live():
        return
    if not kill:
        send(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not live():
                return
            time.sleep(0.05)
    send(signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if not live():
            return
        time.sleep(0.05)
    raise RuntimeError(f"process group {pgid} survived SIGKILL: {live()}")


class ManagedProcess:
    """One child process (and its descendants) in a process group of its own.

    Output goes to ``log_path`` (appended, so a restart keeps the crash's log above the
    restart marker), never to the terminal.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        # Every pid ever seen in our groups, so callers can verify that all are gone.
        self._seen_pids: set[int] = set()

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file.write(
            f"--- {datetime.now().isoformat(timespec='seconds')} starting {self.name}: "
            f"{' '.join(self.argv)}\n".encode()
        )
        self._log_file.flush()
        self._popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # own process group: see the module docstring
        )
        self._seen_pids.add(self._popen.pid)
        log.info("started %s (pid %d), log %s", self.name, self._popen.pid, self.log_path)

    def stop(self, *, kill: bool = False, grace: float = 5.0) -> None:
        """Stop the whole process group; idempotent."""
        popen = self._popen
        if popen is not None:
            self.refresh_pids()
            kill_group(popen.pid, grace=grace, kill=kill, reap=popen.poll)
            try:
                popen.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - group is gone already
                log.warning("%s: leader %d not reaped", self.name, popen.pid)
            log.info("stopped %s (pid %d, exit %s)", self.name, popen.pid, popen.returncode)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- introspection -------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def refresh_pids(self) -> set[int]:
        """Record the current members of our group (e.g. the JVM behind a launcher)."""
        if self._popen is not None and self._popen.poll() is None:
            self._seen_pids.update(group_members(self._popen.pid))
        return set(self._seen_pids)

    @property
    def seen_pids(self) -> set[int]:
        return set(self._seen_pids)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, probe: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll ``probe`` until it is true; fail fast if the process exits, or at timeout.

        Either failure raises ``StartupError`` with the tail of the process's log, since
        that is nearly always where the reason is.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise StartupError(
                    f"{self.name} exited with code {self.returncode} before {what}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if probe():
                    self.refresh_pids()
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{self.name} did not become ready ({what}) within {timeout:.0f}s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)
