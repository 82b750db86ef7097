"""PlotBurn's local stack: emulators, functions, upstream simulator and a Pub/Sub relay.

See ``local_stack.stack`` for the overview and ``python -m local_stack --help`` for the
CLI (``run``, ``serve``, ``trigger``, ``cleanup``).
"""

from __future__ import annotations

from local_stack.emulators import FirestoreEmulator, PubSubEmulator, sdk_root
from local_stack.procs import StartupError
from local_stack.relay import Relay, RelayConfig, Route
from local_stack.stack import Stack, read_state

__all__ = [
    "FirestoreEmulator",
    "PubSubEmulator",
    "Relay",
    "RelayConfig",
    "Route",
    "Stack",
    "StartupError",
    "read_state",
    "sdk_root",
]
