"""Importing main.py builds no client, looks up no credential and makes no network call.

functions-framework imports main.py before the instance listens, so anything done at
import delays every cold start, and a credential lookup or a connection there would
fail (or hang) wherever there are none. The import runs in a fresh interpreter in
which every way out is a tripwire: sockets, DNS, google.auth, and the constructors of
the clients the App builds (Firestore, Pub/Sub, gRPC channels, httpx).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent(
    """
    import socket
    import sys

    tripped = []

    def tripwire(what):
        def trip(*args, **kwargs):
            tripped.append(what)
            raise RuntimeError(f"{what} at import time")
        return trip

    socket.socket.connect = tripwire("socket.connect")
    socket.socket.connect_ex = tripwire("socket.connect_ex")
    socket.getaddrinfo = tripwire("socket.getaddrinfo")
    socket.create_connection = tripwire("socket.create_connection")

    import google.auth
    import grpc
    import httpx
    from google.cloud import firestore
    from google.cloud.pubsub_v1 import PublisherClient

    google.auth.default = tripwire("google.auth.default")
    grpc.insecure_channel = tripwire("grpc.insecure_channel")
    grpc.secure_channel = tripwire("grpc.secure_channel")
    firestore.Client.__init__ = tripwire("firestore.Client()")
    PublisherClient.__init__ = tripwire("PublisherClient()")
    httpx.Client.__init__ = tripwire("httpx.Client()")

    import main
    from functions import bootstrap

    assert bootstrap._app is None, "the App was built at import"
    # What the first event needs is imported already (see functions/bootstrap.py).
    for module in ("google.cloud.firestore", "google.cloud.pubsub_v1", "httpcore",
                   "functions.store.runs", "functions.bus"):
        assert module in sys.modules, f"{module} is left for the first event to import"
    import gc
    assert gc.get_freeze_count() > 0, "main.py leaves its imports to the garbage collector"
    print("tripped:", tripped)
    """
)


def test_importing_main_builds_nothing_and_touches_no_network() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("tripped: []"), done.stdout + done.stderr


def test_the_tripwires_would_catch_a_client_built_at_import(tmp_path: Path) -> None:
    """The same script fails when a module builds a client at import."""
    bad = tmp_path / "main.py"
    bad.write_text("from google.cloud import firestore\ndb = firestore.Client(project='p')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path}:{REPO_ROOT}"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "firestore.Client() at import time" in done.stderr
