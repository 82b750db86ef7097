"""Integration tests of the local stack: emulators, function processes, relay, CLI plumbing.

They run real emulators and real functions-framework processes, but not PlotBurn's
main.py: a throwaway source file (below) records every delivery it gets into JSON-lines
files, sleeps and fails on request, so these tests pin down the relay's contract
(Eventarc's CloudEvent shape, concurrency, retries, dead-lettering, duplicates) and the
stack's process hygiene independently of the application.

One pair of emulators serves the whole module; stacks on it use unique subscriptions.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import itertools
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_stack import cli
from local_stack.emulators import FirestoreEmulator, PubSubEmulator
from local_stack.procs import pid_alive
from local_stack.relay import (
    DLQ_DELIVERY_COUNT,
    DLQ_PUBLISH_TIME,
    DLQ_SUBSCRIPTION,
    DLQ_SUBSCRIPTION_PROJECT,
    EVENT_TYPE,
    RelayConfig,
)
from local_stack.stack import Stack

pytestmark = [pytest.mark.timeout(120), pytest.mark.emulators, pytest.mark.stack]

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# The throwaway functions.  Payload (JSON in message.data) knobs:
#   test: str     -- which test the message belongs to (records are filtered by it)
#   sleep: float  -- seconds to sleep before answering
#   fail: int     -- fail the first N attempts of this message id; -1 = always, except
#                    when delivered as a dead letter
#   fanout: int   -- (fanout only) publish that many messages to the roast topic
FUNCTIONS_SOURCE = r"""
import base64, hashlib, json, os, threading, time

import functions_framework

RECORD_DIR = os.environ["RECORD_DIR"]
_lock = threading.Lock()
_attempts = {}


def _record(target, entry):
    with _lock, open(os.path.join(RECORD_DIR, target + ".jsonl"), "a") as fh:
        fh.write(json.dumps(entry) + "\n")


@functions_framework.http
def api(request):
    if request.path == "/healthz":
        return "ok"
    if request.path == "/probe":
        from google.cloud import firestore
        firestore.Client().collection("probe").document("doc").set({"ok": True})
        token = os.environ.get("PLOTBURN_ADMIN_TOKEN", "")
        keys = ("GOOGLE_CLOUD_PROJECT", "THREADS", "PLOTBURN_NIGHTLY_TOPIC",
                "PLOTBURN_ROAST_TOPIC", "PLOTBURN_DEAD_LETTER_TOPIC", "TMDB_API_BASE",
                "PERPLEXITY_API_BASE", "XAI_API_BASE", "TMDB_API_TOKEN", "EXTRA_VAR")
        return {"env": {k: os.environ.get(k) for k in keys},
                "token_sha": hashlib.sha256(token.encode()).hexdigest()}
    return ("not found", 404)


def _handle(target, event):
    start = time.time()
    body = event.data
    message = body["message"]
    payload = json.loads(base64.b64decode(message["data"]))
    with _lock:
        attempt = _attempts.get(message["messageId"], 0) + 1
        _attempts[message["messageId"]] = attempt
    time.sleep(payload.get("sleep", 0))
    fail = payload.get("fail", 0)
    dead_letter = "CloudPubSubDeadLetterSourceDeliveryCount" in message.get("attributes", {})
    ok = not ((fail == -1 and not dead_letter) or attempt <= fail)
    _record(target, {
        "test": payload.get("test"), "payload": payload, "pid": os.getpid(),
        "start": start, "end": time.time(), "attempt": attempt, "ok": ok,
        "ce": {k: event[k] for k in ("id", "source", "type", "specversion", "time")},
        "body": body,
    })
    if not ok:
        raise RuntimeError("planned failure")
    if payload.get("fanout"):
        from google.cloud import pubsub_v1
        publisher = pubsub_v1.PublisherClient()
        topic = publisher.topic_path(os.environ["GOOGLE_CLOUD_PROJECT"],
                                     os.environ["PLOTBURN_ROAST_TOPIC"])
        for i in range(payload["fanout"]):
            data = json.dumps({"test": payload["test"], "i": i}).encode()
            publisher.publish(topic, data).result(timeout=30)


@functions_framework.cloud_event
def fanout(event):
    _handle("fanout", event)


@functions_framework.cloud_event
def roast(event):
    _handle("roast", event)
"""


# -- helpers -----------------------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def records(record_dir: Path, test: str, target: str = "roast") -> list[dict[str, Any]]:
    path = record_dir / f"{target}.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["test"] == test]


def publish_json(stack: Stack, topic: str, payload: dict[str, Any], **attributes: str) -> str:
    return stack.publish(topic, json.dumps(payload).encode(), attributes or None)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted(
        [(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1])
    )
    current = best = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def assert_all_gone(pids: set[int]) -> None:
    """Every pid has vanished: not running, not even a zombie (init reaps orphans)."""

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(
        lambda: all(gone(pid) for pid in pids),
        timeout=10,
        what=f"pids {sorted(pid for pid in pids if not gone(pid))} to vanish",
    )
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulators(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FirestoreEmulator, PubSubEmulator]]:
    log_dir = tmp_path_factory.mktemp("emulators")
    firestore = FirestoreEmulator(log_dir=log_dir)
    pubsub = PubSubEmulator(log_dir=log_dir)
    firestore.launch()
    pubsub.launch()
    try:
        firestore.wait_ready()
        pubsub.wait_ready()
        yield firestore, pubsub
    finally:
        pids = firestore.pids | pubsub.pids
        firestore.stop()
        pubsub.stop()
        assert_all_gone(pids)


@pytest.fixture(scope="module")
def source_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("functions") / "main.py"
    path.write_text(FUNCTIONS_SOURCE)
    return path


def make_stack(
    emulators: tuple[FirestoreEmulator, PubSubEmulator],
    source: Path,
    record_dir: Path,
    run_dir: Path,
    **kwargs: Any,
) -> Stack:
    record_dir.mkdir(parents=True, exist_ok=True)
    firestore, pubsub = emulators
    options: dict[str, Any] = dict(
        concurrency=32,
        max_delivery_attempts=3,
        min_backoff=0.2,
        max_backoff=1.0,
        request_timeout=30.0,
        threads=64,
        simulate_upstreams=False,
        state_file=None,
    )
    options.update(kwargs)
    return Stack(
        source=source,
        firestore=firestore,
        pubsub=pubsub,
        run_dir=run_dir,
        env={"RECORD_DIR": str(record_dir), "EXTRA_VAR": "extra"},
        **options,
    )


@pytest.fixture(scope="module")
def stack_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="module")
def stack(
    emulators: tuple[FirestoreEmulator, PubSubEmulator],
    source_file: Path,
    stack_records: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    s = make_stack(emulators, source_file, stack_records, tmp_path_factory.mktemp("run"))
    with s:
        yield s


# -- pure functions ----------------------------------------------------------------------


def test_backoff_doubles_up_to_the_maximum() -> None:
    cfg = RelayConfig(min_backoff=0.5, max_backoff=5.0)
    assert [cfg.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


# -- relay through real processes --------------------------------------------------------


def test_relay_delivers_concurrently(stack: Stack, stack_records: Path) -> None:
    # Publish from many threads at once so the client batches them and all 40 are
    # ready together; one publish at a time trickles them in on a slow machine.
    # Each delivery holds for a second, far longer than the publishing takes, so
    # the overlap measures the relay, not how fast this test could publish.
    with ThreadPoolExecutor(max_workers=40) as pool:
        ids = set(
            pool.map(
                lambda i: publish_json(
                    stack, "roast", {"test": "concurrency", "i": i, "sleep": 1.0}
                ),
                range(40),
            )
        )
    done = wait_for(
        lambda: (
            (rows := [r for r in records(stack_records, "concurrency") if r["ok"]])
            and len(rows) >= 40
            and rows
        ),
        what="40 deliveries",
    )
    assert {r["ce"]["id"] for r in done} == ids
    assert len(done) == 40  # each exactly once
    overlap = max_overlap([(r["start"], r["end"]) for r in done])
    assert overlap >= 16, f"only {overlap} deliveries overlapped"
    assert stack.relay is not None
    sub_stats = stack.relay.stats()[stack.subscriptions["roast"]]
    assert sub_stats["max_in_flight"] >= 16
    assert sub_stats["max_in_flight"] <= 32  # flow control holds


def test_cloud_event_matches_eventarc(stack: Stack, stack_records: Path) -> None:
    data = {"test": "shape", "text": "ünïcode"}
    raw = json.dumps(data).encode()
    message_id = stack.publish("roast", raw, {"origin": "test", "n": "1"})
    (row,) = wait_for(lambda: records(stack_records, "shape"), what="the delivery")

    topic = stack.topics["roast"]
    assert row["ce"] == {
        "id": message_id,
        "source": f"//pubsub.googleapis.com/projects/{stack.project}/topics/{topic}",
        "type": EVENT_TYPE,
        "specversion": "1.0",
        "time": row["ce"]["time"],
    }
    assert RFC3339.match(row["ce"]["time"])
    body = row["body"]
    assert body["subscription"] == (
        f"projects/{stack.project}/subscriptions/{stack.subscriptions['roast']}"
    )
    message = body["message"]
    assert base64.b64decode(message["data"]) == raw
    assert message["attributes"] == {"origin": "test", "n": "1"}
    assert message["messageId"] == message["message_id"] == message_id
    assert message["publishTime"] == message["publish_time"] == row["ce"]["time"]


def test_failures_are_redelivered_with_backoff(stack: Stack, stack_records: Path) -> None:
    publish_json(stack, "roast", {"test": "retry", "fail": 2})
    rows = wait_for(
        lambda: (rows := records(stack_records, "retry")) and rows[-1]["ok"] and rows,
        what="a successful third attempt",
    )
    assert [(r["attempt"], r["ok"]) for r in rows] == [(1, False), (2, False), (3, True)]
    gaps = [b["start"] - a["end"] for a, b in itertools.pairwise(rows)]
    # min_backoff 0.2 s, doubling: >= 0.2 s, then >= 0.4 s (some slack for clocks).
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38, gaps


def test_always_failing_message_is_dead_lettered(stack: Stack, stack_records: Path) -> None:
    message_id = publish_json(stack, "roast", {"test": "dlq", "fail": -1}, kind="movie")
    rows = wait_for(
        lambda: (rows := records(stack_records, "dlq")) and rows[-1]["ok"] and rows,
        what="the dead letter's delivery",
    )
    failed, (dead,) = rows[:-1], rows[-1:]
    assert [r["attempt"] for r in failed] == [1, 2, 3]  # max_delivery_attempts=3
    assert all(r["ce"]["id"] == message_id and not r["ok"] for r in failed)

    dl_topic = stack.topics["dead-letter"]
    assert dead["ce"]["id"] != message_id
    assert dead["ce"]["source"].endswith(f"/topics/{dl_topic}")
    assert dead["body"]["subscription"].endswith(
        f"/subscriptions/{stack.subscriptions['dead-letter']}"
    )
    attributes = dead["body"]["message"]["attributes"]
    assert attributes == {
        "kind": "movie",
        DLQ_DELIVERY_COUNT: "3",
        DLQ_SUBSCRIPTION: stack.subscriptions["roast"],
        DLQ_SUBSCRIPTION_PROJECT: stack.project,
        DLQ_PUBLISH_TIME: failed[0]["ce"]["time"],
    }
    assert json.loads(base64.b64decode(dead["body"]["message"]["data"])) == {
        "test": "dlq",
        "fail": -1,
    }
    assert stack.relay is not None
    assert stack.relay.stats()[stack.subscriptions["roast"]]["dead_lettered"] >= 1


def test_nightly_fans_out_through_pubsub(stack: Stack, stack_records: Path) -> None:
    publish_json(stack, "nightly", {"test": "chain", "fanout": 5})
    wait_for(lambda: len(records(stack_records, "chain", "roast")) >= 5, what="5 roasts")
    (fanout,) = records(stack_records, "chain", "fanout")
    assert fanout["ce"]["source"].endswith(f"/topics/{stack.topics['nightly']}")
    roasts = records(stack_records, "chain", "roast")
    assert sorted(r["payload"]["i"] for r in roasts) == [0, 1, 2, 3, 4]


def test_function_env_and_firestore_reset(
    stack: Stack, emulators: tuple[FirestoreEmulator, PubSubEmulator]
) -> None:
    firestore, _ = emulators
    probe = httpx.get(stack.api_url + "probe", timeout=30).raise_for_status().json()
    assert probe["env"]["GOOGLE_CLOUD_PROJECT"] == stack.project
    assert probe["env"]["THREADS"] == "64"
    assert probe["env"]["PLOTBURN_ROAST_TOPIC"] == "plotburn-roast"
    assert probe["env"]["EXTRA_VAR"] == "extra"
    assert probe["token_sha"] == hashlib.sha256(stack.admin_token.encode()).hexdigest()

    doc = f"{firestore.url}/v1/projects/{stack.project}/databases/(default)/documents/probe/doc"
    assert httpx.get(doc).status_code == 200
    firestore.reset(stack.project)
    assert httpx.get(doc).status_code == 404


def test_restart_function_after_kill_redelivers(stack: Stack, stack_records: Path) -> None:
    old_pid = stack.functions["roast"].pid
    old_pids = stack.functions["roast"].process.refresh_pids()
    ids = {publish_json(stack, "roast", {"test": "crash", "i": i, "sleep": 1.5}) for i in range(10)}
    assert stack.relay is not None
    relay = stack.relay
    wait_for(
        lambda: relay.stats()[stack.subscriptions["roast"]]["in_flight"] >= 5,
        what="deliveries in flight",
    )
    stack.restart_function("roast", kill=True)
    new_pid = stack.functions["roast"].pid
    assert new_pid != old_pid
    for pid in old_pids:
        assert not pid_alive(pid)

    done = wait_for(
        lambda: (
            {r["ce"]["id"] for r in records(stack_records, "crash") if r["ok"]} >= ids
            and records(stack_records, "crash")
        ),
        timeout=30,
        what="every message to succeed after the restart",
    )
    assert {r["pid"] for r in done if r["ok"]} <= stack.functions["roast"].process.seen_pids


# -- separate stacks ---------------------------------------------------------------------


def test_deliver_twice_and_clean_stop(
    emulators: tuple[FirestoreEmulator, PubSubEmulator],
    source_file: Path,
    tmp_path: Path,
) -> None:
    record_dir = tmp_path / "records"
    twice = make_stack(emulators, source_file, record_dir, tmp_path / "run", deliver_twice=True)
    with twice:
        ids = [
            publish_json(twice, "roast", {"test": "twice", "i": i, "sleep": 0.3}) for i in range(5)
        ]
        rows = wait_for(
            lambda: len(r := records(record_dir, "twice")) >= 10 and r, what="10 deliveries"
        )
        pids = twice.all_pids()
        subscriptions = list(twice.subscriptions.values())
        time.sleep(0.5)  # any third delivery would show up by now
        rows = records(record_dir, "twice")
        for message_id in ids:
            pair = [r for r in rows if r["ce"]["id"] == message_id]
            assert len(pair) == 2 and all(r["ok"] for r in pair)
            # Concurrent, not one after the other.
            assert pair[0]["start"] < pair[1]["end"] and pair[1]["start"] < pair[0]["end"]
        assert twice.relay is not None
        stats = twice.relay.stats()[twice.subscriptions["roast"]]
        assert stats["delivered"] == 10 and stats["acked"] == 5
    assert_all_gone(pids)
    # The shared emulator keeps running, minus this stack's subscriptions.
    _, pubsub = emulators
    subscriber = pubsub.subscriber()
    try:
        listed = list(subscriber.list_subscriptions(project=f"projects/{pubsub.project}"))
    finally:
        subscriber.close()
    assert not any(s.name.endswith(tuple(subscriptions)) for s in listed)


def test_own_stack_state_file_trigger_and_no_leftovers(
    source_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stack with its own emulators (and simulator, if present): the whole lifecycle."""
    simulate = importlib.util.find_spec("upstream_sim.__main__") is not None
    state_file = tmp_path / "stack.json"
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    own = Stack(
        source=source_file,
        run_dir=tmp_path / "run",
        state_file=state_file,
        env={"RECORD_DIR": str(record_dir)},
        simulate_upstreams=simulate,
        threads=8,
    )
    with own:
        state = json.loads(state_file.read_text())
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        assert state["owner_pid"] == os.getpid()
        assert state["api_url"] == own.api_url
        assert state["pubsub_host"] == own.pubsub_host
        assert state["firestore_host"] == own.firestore_host
        assert state["admin_token"] == own.admin_token
        assert own.subscriptions["roast"] == "plotburn-roast-to-roast"  # production names
        banner = "\n".join(own.banner())
        assert own.admin_token not in banner
        assert "SIMULATED (no API keys set)" in banner or not simulate

        probe = httpx.get(own.api_url + "probe", timeout=30).raise_for_status().json()
        assert probe["env"]["THREADS"] == "8"
        if simulate:
            assert own.sim is not None
            assert probe["env"]["TMDB_API_BASE"] == f"{own.sim_url}/tmdb/3"
            assert probe["env"]["TMDB_API_TOKEN"] == "sim-key"
            own.sim.stats()

        # `python -m local_stack trigger` publishes with gcloud against the emulator,
        # finding it through the state file.
        code = cli.main(
            [
                "trigger",
                "--state-file",
                str(state_file),
                "--message",
                '{"test": "gcloud", "fanout": 1}',
            ]
        )
        assert code == 0
        assert "published message" in capsys.readouterr().out
        wait_for(lambda: records(record_dir, "gcloud", "roast"), what="the gcloud message")

        pids = own.all_pids()
        assert len(pids) >= 5  # two emulators (+ JVM), three functions (+ workers)
        ports = [own.firestore_host.rsplit(":", 1)[1], own.pubsub_host.rsplit(":", 1)[1]]
    assert not state_file.exists()
    assert_all_gone(pids)
    for port in ports:
        found = subprocess.run(
            ["pgrep", "-f", "--", f"--port={port}"], capture_output=True, text=True, check=False
        )
        assert found.returncode == 1, f"still running with --port={port}: {found.stdout}"
    # With the stack gone, trigger says so instead of publishing into the void.
    capsys.readouterr()
    assert cli.main(["trigger", "--state-file", str(state_file)]) == 2
    assert "no local stack is serving" in capsys.readouterr().out
