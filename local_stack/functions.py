"""The Cloud Functions, each under functions-framework in a process of its own.

One process per function mirrors production (each function is its own Cloud Run
service) and lets a crash test kill -9 exactly one of them.  ``THREADS`` sets the
gunicorn thread count of each process (functions_framework/_http/gunicorn.py reads it),
which is the local stand-in for Cloud Run's per-instance concurrency.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from local_stack.procs import REPO_ROOT, ManagedProcess


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # the --target, i.e. the Python function's name in main.py
    signature: Literal["http", "cloudevent"]
    # HTTP functions are ready when this path answers 200; event functions when the
    # port answers anything (they only accept CloudEvent POSTs).
    health_path: str | None = None


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("api", "http", "/healthz"),
    FunctionSpec("fanout", "cloudevent"),
    FunctionSpec("roast", "cloudevent"),
)


def functions_framework_argv() -> list[str]:
    """The functions-framework launcher of the venv we run in (or the repo's)."""
    candidates = [
        Path(sys.executable).parent / "functions-framework",
        REPO_ROOT / ".venv/bin/functions-framework",
    ]
    for candidate in candidates:
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("functions-framework")
    if found:
        return [found]
    raise FileNotFoundError(
        "functions-framework not found; install requirements into .venv "
        "(python -m venv .venv && .venv/bin/pip install -r requirements-dev.txt)"
    )


class FunctionProcess:
    """``functions-framework --target=NAME`` bound to 127.0.0.1:<port>."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        source: Path,
        port: int,
        env: Mapping[str, str],
        log_dir: Path,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.spec = spec
        self.source = source
        self.port = port
        argv = [
            *functions_framework_argv(),
            f"--target={spec.name}",
            f"--signature-type={spec.signature}",
            f"--source={source}",
            "--host=127.0.0.1",
            f"--port={port}",
        ]
        self.process = ManagedProcess(
            spec.name, argv, log_path=log_dir / f"{spec.name}.log", env=env, cwd=cwd
        )

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def launch(self) -> None:
        self.process.start()

    def _ready(self) -> bool:
        if self.spec.health_path is not None:
            resp = httpx.get(self.url.rstrip("/") + self.spec.health_path, timeout=2.0)
            return resp.status_code == 200
        httpx.get(self.url, timeout=2.0)  # any HTTP answer means gunicorn is serving
        return True

    def wait_ready(self, timeout: float = 90.0) -> None:
        what = (
            f"GET {self.spec.health_path} answering 200"
            if self.spec.health_path
            else f"answering HTTP on port {self.port}"
        )
        self.process.wait_until(self._ready, timeout=timeout, what=what)

    def stop(self, *, kill: bool = False, grace: float = 3.0) -> None:
        self.process.stop(kill=kill, grace=grace)

    def restart(self, *, kill: bool = True, timeout: float = 90.0) -> None:
        """Stop (kill -9 the whole group when ``kill``) and start again on the same port."""
        self.stop(kill=kill)
        self.launch()
        self.wait_ready(timeout)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.running
