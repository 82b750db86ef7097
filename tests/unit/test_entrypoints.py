"""The `fanout` and `roast` event functions through functions-framework's real
request pipeline (main.py, no server), in both ways Pub/Sub reaches them:

- an Eventarc binary-mode CloudEvent (ce-* headers, the Pub/Sub envelope as body);
- the raw push body of a Pub/Sub push subscription (and of the emulator), with no
  ce-* headers, which functions-framework converts into the same CloudEvent.

What Pub/Sub does next depends only on the status: 2xx acknowledges, anything else
redelivers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask
import functions_framework
import pytest

from functions import bootstrap
from functions.bus import encode
from functions.errors import BadMessage, InfrastructureUnavailable
from functions.models import (
    NightlyMessage,
    Outcome,
    RoastMessage,
    RunStatus,
    Trigger,
    decode_message,
    epoch_ms,
)
from functions.usecases.roast_movie import REASON_DEAD_LETTERED
from tests.fakes import MemoryCaches, MemoryLogs, MemoryRuns
from tests.unit.conftest import World

# Unit defaults, whatever the shell exports (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("clean_settings_env")

MAIN = str(Path(__file__).resolve().parents[2] / "main.py")
PROJECT = "plotburn-local"  # Settings' default project (clean_settings_env)
PUBLISH_TIME = "2026-11-28T16:30:00.123Z"
# 2026-11-28T16:30:00.123Z in epoch milliseconds, worked out independently.
PUBLISH_MS = 1795883400123
SCHEDULED_RUN = f"cron-{PUBLISH_MS}"
DEAD_LETTER_ATTRIBUTES = {
    "CloudPubSubDeadLetterSourceSubscription": "plotburn-roast-push",
    "CloudPubSubDeadLetterSourceSubscriptionProject": "p",
    "CloudPubSubDeadLetterSourceDeliveryCount": "5",
}

Deliver = Callable[..., Any]


# ---------------------------------------------------------------------- helpers


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def pubsub_body(
    data: Any,
    *,
    message_id: str = "1001",
    publish_time: str | None = PUBLISH_TIME,
    attributes: dict[str, str] | None = None,
    subscription: str = "projects/p/subscriptions/s",
) -> dict[str, Any]:
    message: dict[str, Any] = {"data": data, "messageId": message_id}
    if publish_time is not None:
        message["publishTime"] = publish_time
    if attributes is not None:
        message["attributes"] = attributes
    return {"message": message, "subscription": subscription}


def eventarc(
    client: Any, body: dict[str, Any], topic: str = "plotburn-nightly", event_id: str = "evt-1"
) -> Any:
    """Eventarc's binary-mode CloudEvent for a Pub/Sub message."""
    headers = {
        "ce-id": event_id,
        "ce-source": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/{topic}",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "ce-time": PUBLISH_TIME,
    }
    return client.post("/", json=body, headers=headers)


def push(
    client: Any, body: dict[str, Any], topic: str = "plotburn-nightly", event_id: str = ""
) -> Any:
    """A Pub/Sub push subscription's raw POST: no ce- headers, and the topic in the
    path (infra/pubsub.tf), which functions-framework makes the CloudEvent's source."""
    return client.post(f"/projects/{PROJECT}/topics/{topic}", json=body)


DELIVERIES = [pytest.param(eventarc, id="eventarc"), pytest.param(push, id="push")]


def nightly_data(**fields: Any) -> str:
    return b64(encode(NightlyMessage(**fields)))


def roast_data(message: RoastMessage) -> str:
    return b64(encode(message))


def log_lines(captured: Any) -> list[dict[str, Any]]:
    """Every stdout line, each of which must be one structured JSON entry."""
    assert "Traceback" not in captured.out and "Traceback" not in captured.err
    return [json.loads(line) for line in captured.out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def fanout_app() -> flask.Flask:
    return functions_framework.create_app(target="fanout", source=MAIN, signature_type="cloudevent")


@pytest.fixture(scope="module")
def roast_app() -> flask.Flask:
    return functions_framework.create_app(target="roast", source=MAIN, signature_type="cloudevent")


@pytest.fixture
def installed(world: World) -> Iterator[World]:
    bootstrap.install(world.app)
    try:
        yield world
    finally:
        bootstrap.reset()


@pytest.fixture
def fanout(fanout_app: flask.Flask, installed: World) -> Any:
    return fanout_app.test_client()


@pytest.fixture
def roast(roast_app: flask.Flask, installed: World) -> Any:
    return roast_app.test_client()


def start_scheduled_run(world: World) -> list[RoastMessage]:
    publish = datetime(2026, 11, 28, 16, 30, 0, 123000, tzinfo=UTC)
    world.nightly.start_run(NightlyMessage(trigger=Trigger.SCHEDULED), publish)
    messages, world.publisher.roasts = list(world.publisher.roasts), []
    return messages


class FlakyRuns(MemoryRuns):
    """The run store, unreachable while `down` is set."""

    def __init__(self, caches: MemoryCaches, logs: MemoryLogs) -> None:
        super().__init__(caches, logs)
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise InfrastructureUnavailable("firestore: ServiceUnavailable")

    def get_run(self, correlation_id: str) -> Any:
        self._check()
        return super().get_run(correlation_id)

    def stuck_runs(self, started_before: datetime) -> Any:
        self._check()
        return super().stuck_runs(started_before)

    def movie_context(self, correlation_id: str, movie_id: int, now: datetime) -> Any:
        self._check()
        return super().movie_context(correlation_id, movie_id, now)


# ---------------------------------------------------------------------- fanout


def test_publish_ms_matches_epoch_ms() -> None:
    parsed = datetime.fromisoformat(PUBLISH_TIME.replace("Z", "+00:00"))
    assert epoch_ms(parsed) == PUBLISH_MS


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_scheduled_message_starts_a_run_named_by_publish_time(
    fanout: Any, installed: World, deliver: Deliver
) -> None:
    response = deliver(fanout, pubsub_body(nightly_data(trigger="scheduled")))
    assert response.status_code == 200
    assert list(installed.runs.runs) == [SCHEDULED_RUN]
    run = installed.runs.runs[SCHEDULED_RUN]
    assert run.trigger is Trigger.SCHEDULED
    assert run.published is True
    assert run.status is RunStatus.IN_PROGRESS
    assert run.movie_ids == [1000, 1001, 1002, 1003, 1004]
    assert [(m.correlation_id, m.movie_id) for m in installed.publisher.roasts] == [
        (SCHEDULED_RUN, i) for i in (1000, 1001, 1002, 1003, 1004)
    ]


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_redelivered_nightly_event_is_still_one_run(
    fanout: Any, installed: World, deliver: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    body = pubsub_body(nightly_data(trigger="scheduled"))
    assert deliver(fanout, body).status_code == 200
    assert deliver(fanout, body).status_code == 200
    # The same message in the other format (say, after a trigger migration) too.
    other = push if deliver is eventarc else eventarc
    assert other(fanout, body).status_code == 200
    assert list(installed.runs.runs) == [SCHEDULED_RUN]
    assert installed.runs.total_runs() == 1
    assert len(installed.publisher.roasts) == 5
    assert installed.catalog.calls["now_playing"] == 1
    messages = [e["message"] for e in log_lines(capsys.readouterr())]
    assert messages.count("run started") == 1
    assert messages.count("duplicate nightly message ignored") == 2


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_manual_message_uses_its_correlation_id(
    fanout: Any, installed: World, deliver: Deliver
) -> None:
    data = nightly_data(trigger="manual", correlation_id="manual-trigger-1795883399000")
    assert deliver(fanout, pubsub_body(data)).status_code == 200
    assert list(installed.runs.runs) == ["manual-trigger-1795883399000"]
    assert installed.runs.runs["manual-trigger-1795883399000"].trigger is Trigger.MANUAL
    assert {m.correlation_id for m in installed.publisher.roasts} == {
        "manual-trigger-1795883399000"
    }


def test_eventarc_without_publish_time_falls_back_to_the_event_time(
    fanout: Any, installed: World
) -> None:
    body = pubsub_body(nightly_data(trigger="scheduled"), publish_time=None)
    assert eventarc(fanout, body).status_code == 200
    assert list(installed.runs.runs) == [SCHEDULED_RUN]


OVERSIZED = json.dumps({"trigger": "scheduled", "pad": "x" * (64 * 1024)}).encode()
JUNK: dict[str, Any] = {
    "not-base64": "%%% not base64 %%%",
    "not-json": b64(b"\xff\xfe this is not json"),
    "not-utf8-json": b64(b'{"trigger": "\xff"}'),
    "wrong-schema": b64(b'{"trigger": "weekly"}'),
    "missing-field": b64(b'{"correlation_id": "cron-1"}'),
    "bad-correlation-id": b64(b'{"trigger": "manual", "correlation_id": "../../etc/passwd"}'),
    "extra-fields": b64(b'{"trigger": "scheduled", "extra": 1}'),
    "oversized": b64(OVERSIZED),
    "empty": "",
    "json-list": b64(b'[{"trigger": "scheduled"}]'),
    "json-string": b64(b'"scheduled"'),
    "json-null": b64(b"null"),
    "data-not-a-string": 12345,
    "data-null": None,
    # About 60 KB of `[[[…]]]`: deeper than the JSON parser's recursion limit.
    "nested-lists": b64(b"[" * 30_000 + b"]" * 30_000),
}


@pytest.mark.parametrize("deliver", DELIVERIES)
@pytest.mark.parametrize("junk", list(JUNK.values()), ids=list(JUNK))
def test_junk_nightly_data_is_acknowledged_with_one_warning(
    fanout: Any, installed: World, deliver: Deliver, junk: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    response = deliver(fanout, pubsub_body(junk))
    assert response.status_code == 200
    lines = log_lines(capsys.readouterr())
    assert len(lines) == 1
    assert lines[0]["severity"] == "WARNING"
    assert lines[0]["message"].startswith("fanout: message rejected and acknowledged: ")
    assert installed.runs.runs == {}
    assert installed.publisher.roasts == []
    assert installed.catalog.calls["now_playing"] == 0


def test_oversized_message_names_the_limit(fanout: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert push(fanout, pubsub_body(JUNK["oversized"])).status_code == 200
    (line,) = log_lines(capsys.readouterr())
    assert line["message"] == (
        f"fanout: message rejected and acknowledged: message is {len(OVERSIZED)} bytes, "
        "over the 65536 limit"
    )


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_storage_outage_asks_pubsub_to_redeliver(
    fanout: Any, installed: World, deliver: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = FlakyRuns(installed.caches, installed.logs)
    runs.down = True
    installed.use(runs=runs)
    body = pubsub_body(nightly_data(trigger="scheduled"))
    response = deliver(fanout, body)
    assert response.status_code == 503
    (line,) = log_lines(capsys.readouterr())
    assert line["severity"] == "WARNING"
    assert line["message"].startswith("fanout: transient failure, asking for redelivery: ")
    assert runs.runs == {}
    # Pub/Sub redelivers once the store is back: the run starts then.
    runs.down = False
    assert deliver(fanout, body).status_code == 200
    assert list(runs.runs) == [SCHEDULED_RUN]
    assert len(installed.publisher.roasts) == 5


def test_publish_outage_is_retried_and_the_redelivery_publishes(
    fanout: Any, installed: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(messages: list[RoastMessage]) -> None:
        raise InfrastructureUnavailable("pubsub: 5 publishes timed out")

    body = pubsub_body(nightly_data(trigger="scheduled"))
    with monkeypatch.context() as patch:
        patch.setattr(installed.publisher, "publish_roasts", down)
        assert push(fanout, body).status_code == 503
    run = installed.runs.runs[SCHEDULED_RUN]
    assert run.published is False  # created, but its messages never went out
    assert push(fanout, body).status_code == 200
    assert installed.runs.runs[SCHEDULED_RUN].published is True
    assert len(installed.publisher.roasts) == 5
    assert installed.runs.total_runs() == 1


def test_a_bug_is_a_500_so_pubsub_redelivers(fanout: Any, installed: World) -> None:
    def broken() -> Any:
        raise RuntimeError("a bug")

    working = installed.catalog.now_playing
    installed.catalog.now_playing = broken  # type: ignore[method-assign]
    body = pubsub_body(nightly_data(trigger="scheduled"))
    response = push(fanout, body)
    assert response.status_code == 500
    # The run shows as soon as fan-out starts (issue 12), still in progress and not
    # yet listed: nothing was published, so the redelivery does it all.
    run = installed.runs.runs[SCHEDULED_RUN]
    assert (run.status, run.listed, run.published, run.movie_ids) == (
        RunStatus.IN_PROGRESS,
        False,
        False,
        [],
    )
    assert installed.publisher.roasts == []
    installed.catalog.now_playing = working  # type: ignore[method-assign]
    assert push(fanout, body).status_code == 200
    run = installed.runs.runs[SCHEDULED_RUN]
    assert (run.listed, run.published, run.movie_ids) == (
        True,
        True,
        [1000, 1001, 1002, 1003, 1004],
    )
    assert len(installed.publisher.roasts) == 5
    assert installed.runs.total_runs() == 1


def test_dead_lettered_nightly_message_on_fanout_only_alerts(
    fanout: Any, installed: World, capsys: pytest.CaptureFixture[str]
) -> None:
    body = pubsub_body(nightly_data(trigger="scheduled"), attributes=DEAD_LETTER_ATTRIBUTES)
    assert push(fanout, body, topic="plotburn-dead-letter").status_code == 200
    (line,) = log_lines(capsys.readouterr())
    assert line["severity"] == "ALERT"
    assert line["correlation_id"] == SCHEDULED_RUN
    assert installed.runs.runs == {}


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_forged_dead_letter_attributes_on_the_nightly_topic_are_ignored(
    fanout: Any, installed: World, deliver: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any publisher can set the CloudPubSubDeadLetterSource* attributes: on the
    nightly topic they make no dead letter, and the run starts as it would without."""
    body = pubsub_body(nightly_data(trigger="scheduled"), attributes=DEAD_LETTER_ATTRIBUTES)
    assert deliver(fanout, body).status_code == 200
    run = installed.runs.runs[SCHEDULED_RUN]
    assert (run.status, run.published, run.movie_ids) == (
        RunStatus.IN_PROGRESS,
        True,
        [1000, 1001, 1002, 1003, 1004],
    )
    lines = log_lines(capsys.readouterr())
    assert not [e for e in lines if e["severity"] == "ALERT"]
    (ignored,) = [e for e in lines if "dead-letter attributes" in e["message"]]
    assert ignored["severity"] == "WARNING"
    assert ignored["topic"] == f"projects/{PROJECT}/topics/plotburn-nightly"


# ----------------------------------------------------------------------- roast


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_roast_message_records_its_outcome(roast: Any, installed: World, deliver: Deliver) -> None:
    messages = start_scheduled_run(installed)
    first = messages[0]
    response = deliver(roast, pubsub_body(roast_data(first)), topic="plotburn-roast")
    assert response.status_code == 200
    outcome = installed.runs.get_outcome(SCHEDULED_RUN, first.movie_id)
    assert outcome is not None
    assert (outcome.movie_id, outcome.outcome, outcome.reason) == (1000, Outcome.GENERATED, None)
    assert (installed.researcher.total, installed.roaster.total) == (1, 1)
    assert installed.caches.get_roast(1000, installed.clock()) is not None

    for n, message in enumerate(messages[1:], start=2):
        body = pubsub_body(roast_data(message), message_id=str(n))
        assert deliver(roast, body, topic="plotburn-roast").status_code == 200
    run = installed.runs.runs[SCHEDULED_RUN]
    assert run.status is RunStatus.SUCCESS
    assert (run.roasts_generated, run.roasts_cached, run.roasts_failed) == (5, 0, 0)


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_duplicate_roast_delivery_makes_no_second_llm_call(
    roast: Any, installed: World, deliver: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    (first, *_) = start_scheduled_run(installed)
    body = pubsub_body(roast_data(first))
    assert deliver(roast, body, topic="plotburn-roast").status_code == 200
    assert deliver(roast, body, topic="plotburn-roast").status_code == 200
    assert (installed.researcher.total, installed.roaster.total) == (1, 1)
    assert installed.runs.count_outcomes(SCHEDULED_RUN) == 1
    messages = [e["message"] for e in log_lines(capsys.readouterr())]
    assert messages.count("duplicate roast message ignored") == 1


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_transient_store_failure_in_roast_is_503(
    roast: Any, installed: World, deliver: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = FlakyRuns(installed.caches, installed.logs)
    installed.use(runs=runs)
    installed.runs = runs
    (first, *_) = start_scheduled_run(installed)
    capsys.readouterr()
    runs.down = True
    body = pubsub_body(roast_data(first))
    assert deliver(roast, body, topic="plotburn-roast").status_code == 503
    (line,) = log_lines(capsys.readouterr())
    assert line["severity"] == "WARNING"
    assert line["message"].startswith("roast: transient failure, asking for redelivery: ")
    assert installed.roaster.total == 0
    runs.down = False
    assert deliver(roast, body, topic="plotburn-roast").status_code == 200
    outcome = runs.get_outcome(SCHEDULED_RUN, first.movie_id)
    assert outcome is not None and outcome.outcome is Outcome.GENERATED


@pytest.mark.parametrize("deliver", DELIVERIES)
@pytest.mark.parametrize("junk", list(JUNK.values()), ids=list(JUNK))
def test_junk_roast_data_is_acknowledged_with_one_warning(
    roast: Any, installed: World, deliver: Deliver, junk: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    start_scheduled_run(installed)
    capsys.readouterr()
    assert deliver(roast, pubsub_body(junk), topic="plotburn-roast").status_code == 200
    lines = log_lines(capsys.readouterr())
    assert len(lines) == 1
    assert lines[0]["severity"] == "WARNING"
    assert lines[0]["message"].startswith("roast: message rejected and acknowledged: ")
    assert installed.runs.count_outcomes(SCHEDULED_RUN) == 0
    assert installed.roaster.total == 0


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_dead_lettered_roast_message_records_the_movie_failed(
    roast: Any, installed: World, deliver: Deliver
) -> None:
    messages = start_scheduled_run(installed)
    dead = messages[2]
    body = pubsub_body(roast_data(dead), attributes=DEAD_LETTER_ATTRIBUTES)
    assert deliver(roast, body, topic="plotburn-dead-letter").status_code == 200
    outcome = installed.runs.get_outcome(SCHEDULED_RUN, dead.movie_id)
    assert outcome is not None
    # The title is TMDB's (the cached now-playing list), never the message's.
    assert (outcome.outcome, outcome.reason, outcome.title) == (
        Outcome.FAILED,
        REASON_DEAD_LETTERED,
        "Movie 2",
    )
    assert (installed.researcher.total, installed.roaster.total) == (0, 0)
    # Dead letters are delivered at least once too.
    assert deliver(roast, body, topic="plotburn-dead-letter").status_code == 200
    assert installed.runs.count_outcomes(SCHEDULED_RUN) == 1
    # The run closes when the rest land.
    for message in messages[:2] + messages[3:]:
        assert push(roast, pubsub_body(roast_data(message))).status_code == 200
    run = installed.runs.runs[SCHEDULED_RUN]
    assert run.status is RunStatus.PARTIAL
    assert run.failed_movie_ids == [dead.movie_id]
    assert run.failure_reasons == {str(dead.movie_id): REASON_DEAD_LETTERED}


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_dead_lettered_nightly_message_on_roast_alerts_and_acknowledges(
    roast: Any, installed: World, deliver: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    body = pubsub_body(nightly_data(trigger="scheduled"), attributes=DEAD_LETTER_ATTRIBUTES)
    assert deliver(roast, body, topic="plotburn-dead-letter").status_code == 200
    (line,) = log_lines(capsys.readouterr())
    assert line["severity"] == "ALERT"
    assert line["message"] == "nightly message dead-lettered: the night's run never started"
    assert line["correlation_id"] == SCHEDULED_RUN
    assert installed.runs.runs == {}
    assert installed.publisher.roasts == []
    assert (installed.researcher.total, installed.roaster.total) == (0, 0)


def test_dead_lettered_junk_is_acknowledged_with_one_warning(
    roast: Any, installed: World, capsys: pytest.CaptureFixture[str]
) -> None:
    body = pubsub_body(b64(b'{"what": "ever"}'), attributes=DEAD_LETTER_ATTRIBUTES)
    assert push(roast, body, topic="plotburn-dead-letter").status_code == 200
    (line,) = log_lines(capsys.readouterr())
    assert line["severity"] == "WARNING"
    assert line["message"].startswith("roast: message rejected and acknowledged: ")


def test_roast_message_of_an_unknown_run_is_dropped(
    roast: Any, installed: World, capsys: pytest.CaptureFixture[str]
) -> None:
    (first, *_) = start_scheduled_run(installed)
    stray = first.model_copy(update={"correlation_id": "cron-1"})
    capsys.readouterr()
    assert push(roast, pubsub_body(roast_data(stray))).status_code == 200
    (line,) = log_lines(capsys.readouterr())
    assert (line["severity"], line["message"]) == (
        "WARNING",
        "roast message for an unknown run or movie dropped",
    )
    assert installed.roaster.total == 0


# ------------------------------------------------- where a roast message comes from


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_forged_dead_letter_attributes_on_the_roast_topic_change_nothing(
    roast: Any, installed: World, deliver: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack: publish a run's roast message to plotburn-roast with Pub/Sub's
    dead-letter attributes, to have the movie recorded failed. Only the dead-letter
    topic makes a dead letter: the movie is roasted as any roast message would have
    it, and a forged copy after that is a duplicate."""
    (first, *_) = start_scheduled_run(installed)
    forged = pubsub_body(roast_data(first), attributes=DEAD_LETTER_ATTRIBUTES)
    assert deliver(roast, forged, topic="plotburn-roast").status_code == 200
    outcome = installed.runs.get_outcome(SCHEDULED_RUN, first.movie_id)
    assert outcome is not None
    assert (outcome.outcome, outcome.reason, outcome.title) == (
        Outcome.GENERATED,
        None,
        "Movie 0",
    )
    # Once more, now that the movie has its outcome: still nothing changes.
    assert deliver(roast, forged, topic="plotburn-roast", event_id="evt-2").status_code == 200
    outcome = installed.runs.get_outcome(SCHEDULED_RUN, first.movie_id)
    assert outcome is not None and outcome.outcome is Outcome.GENERATED
    assert installed.runs.count_outcomes(SCHEDULED_RUN) == 1
    assert (installed.researcher.total, installed.roaster.total) == (1, 1)
    lines = log_lines(capsys.readouterr())
    assert [e["severity"] for e in lines if "dead-letter attributes" in e["message"]] == [
        "WARNING",
        "WARNING",
    ]


@pytest.mark.parametrize("attributes", [DEAD_LETTER_ATTRIBUTES, {}], ids=["attributes", "none"])
def test_the_dead_letter_topic_alone_makes_a_dead_letter(
    roast: Any, installed: World, attributes: dict[str, str]
) -> None:
    (first, *_) = start_scheduled_run(installed)
    body = pubsub_body(roast_data(first), attributes=attributes)
    assert push(roast, body, topic="plotburn-dead-letter").status_code == 200
    outcome = installed.runs.get_outcome(SCHEDULED_RUN, first.movie_id)
    assert outcome is not None
    assert (outcome.outcome, outcome.reason) == (Outcome.FAILED, REASON_DEAD_LETTERED)


def test_a_dead_letter_topic_of_another_project_is_no_dead_letter(
    roast: Any, installed: World
) -> None:
    (first, *_) = start_scheduled_run(installed)
    body = pubsub_body(roast_data(first), attributes=DEAD_LETTER_ATTRIBUTES)
    response = roast.post("/projects/elsewhere/topics/plotburn-dead-letter", json=body)
    assert response.status_code == 200
    outcome = installed.runs.get_outcome(SCHEDULED_RUN, first.movie_id)
    assert outcome is not None and outcome.outcome is Outcome.GENERATED


FORGED_MOVIE = {"id": 1000, "title": "FORGED TITLE", "overview": "Forged overview"}


@pytest.mark.parametrize("deliver", DELIVERIES)
def test_a_forged_movie_in_a_roast_message_is_never_believed(
    roast: Any, installed: World, deliver: Deliver
) -> None:
    """The attack: a roast message (in the shape published before the roast message
    carried only the id) whose movie says another title. Only its id is read: the
    movie researched, roasted, cached and served is TMDB's."""
    start_scheduled_run(installed)
    forged = json.dumps({"correlation_id": SCHEDULED_RUN, "movie": FORGED_MOVIE}).encode()
    assert deliver(roast, pubsub_body(b64(forged)), topic="plotburn-roast").status_code == 200
    outcome = installed.runs.get_outcome(SCHEDULED_RUN, 1000)
    assert outcome is not None
    assert (outcome.outcome, outcome.title) == (Outcome.GENERATED, "Movie 0")
    record = installed.caches.get_roast(1000, installed.clock())
    assert record is not None
    assert (record.movie.title, record.movie.overview) == ("Movie 0", "Overview 0")
    assert record.details.meta["title"] == "Movie 0"
    assert record.truth.brief == "Facts about Movie 0"
    # What GET /movie/1000 serves.
    served, cached = installed.generation.movie(1000)
    assert cached is True
    assert served.movie.title == served.details.meta["title"] == "Movie 0"


def test_a_forged_movie_that_fails_is_recorded_with_tmdb_s_title(
    roast: Any, installed: World
) -> None:
    start_scheduled_run(installed)
    installed.roaster.failing = {1000}
    forged = json.dumps({"correlation_id": SCHEDULED_RUN, "movie": FORGED_MOVIE}).encode()
    assert push(roast, pubsub_body(b64(forged)), topic="plotburn-roast").status_code == 200
    outcome = installed.runs.get_outcome(SCHEDULED_RUN, 1000)
    assert outcome is not None
    assert (outcome.outcome, outcome.title) == (Outcome.FAILED, "Movie 0")
    assert installed.caches.get_roast(1000, installed.clock()) is None


def test_a_forged_movie_cannot_replace_a_cached_roast(roast: Any, installed: World) -> None:
    messages = start_scheduled_run(installed)
    assert (
        push(roast, pubsub_body(roast_data(messages[0])), topic="plotburn-roast").status_code == 200
    )
    # A later run, and a forged message for it.
    installed.clock.advance(days=1)
    later = start_scheduled_run_at(installed, "2026-11-29T16:30:00.123Z")
    forged = json.dumps({"correlation_id": later, "movie": FORGED_MOVIE}).encode()
    assert push(roast, pubsub_body(b64(forged)), topic="plotburn-roast").status_code == 200
    outcome = installed.runs.get_outcome(later, 1000)
    assert outcome is not None
    assert (outcome.outcome, outcome.title) == (Outcome.CACHED, "Movie 0")
    record = installed.caches.get_roast(1000, installed.clock())
    assert record is not None and record.movie.title == "Movie 0"
    assert installed.roaster.total == 1


def start_scheduled_run_at(world: World, publish_time: str) -> str:
    moment = datetime.fromisoformat(publish_time.replace("Z", "+00:00"))
    run = world.nightly.start_run(NightlyMessage(trigger=Trigger.SCHEDULED), moment)
    world.publisher.roasts = []
    return run.correlation_id


def test_roast_messages_name_the_movie_by_id_only(installed: World) -> None:
    (first, *_) = start_scheduled_run(installed)
    assert json.loads(encode(first)) == {"correlation_id": SCHEDULED_RUN, "movie_id": 1000}


@pytest.mark.parametrize(
    ("payload", "movie_id"),
    [
        ({"correlation_id": "cron-1", "movie_id": 1000}, 1000),
        # In flight across the deploy: the old shape, of which only movie.id is read.
        ({"correlation_id": "cron-1", "movie": {"id": 1000, "title": "x" * 10_000}}, 1000),
        ({"correlation_id": "cron-1", "movie": {"id": 1001, "what": "ever"}}, 1001),
    ],
)
def test_roast_message_shapes(payload: dict[str, Any], movie_id: int) -> None:
    message = decode_message(json.dumps(payload).encode(), RoastMessage)
    assert message == RoastMessage(correlation_id="cron-1", movie_id=movie_id)


@pytest.mark.parametrize(
    "payload",
    [
        {"correlation_id": "cron-1", "movie": {"title": "no id"}},
        {"correlation_id": "cron-1", "movie": 1000},
        {"correlation_id": "cron-1", "movie": {"id": -5}},
        {"correlation_id": "cron-1", "movie_id": 1000, "movie": {"id": 1000}},
        {"correlation_id": "cron-1", "movie_id": 1000, "title": "extra"},
        {"correlation_id": "cron-1"},
    ],
)
def test_malformed_roast_messages_are_bad(payload: dict[str, Any]) -> None:
    with pytest.raises(BadMessage):
        decode_message(json.dumps(payload).encode(), RoastMessage)


# ------------------------------------- bodies functions-framework cannot parse

CE_HEADERS = {
    "ce-id": "evt-1",
    "ce-source": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/plotburn-roast",
    "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
    "ce-specversion": "1.0",
    "ce-time": PUBLISH_TIME,
}
NESTED = "[" * 30_000 + "]" * 30_000
JSON = "application/json"
UNPARSED: dict[str, tuple[str, dict[str, str]]] = {
    "eventarc-nested-lists": (NESTED, {**CE_HEADERS, "Content-Type": JSON}),
    "push-nested-lists": (NESTED, {"Content-Type": JSON}),
    "structured-nested-lists": (NESTED, {"Content-Type": "application/cloudevents+json"}),
    "push-not-json": ("{{", {"Content-Type": JSON}),
    "push-json-list": ("[1]", {"Content-Type": JSON}),
    "push-json-string": ('"x"', {"Content-Type": JSON}),
    "push-json-number": ("5", {"Content-Type": JSON}),
    "push-message-not-an-object": (
        json.dumps({"message": 5, "subscription": "projects/p/subscriptions/s"}),
        {"Content-Type": JSON},
    ),
    "eventarc-not-json": ("{{", {**CE_HEADERS, "Content-Type": JSON}),
}


@pytest.mark.parametrize("function", ["fanout", "roast"])
@pytest.mark.parametrize("body", list(UNPARSED.values()), ids=list(UNPARSED))
def test_a_body_functions_framework_cannot_parse_is_acknowledged_once(
    fanout: Any,
    roast: Any,
    installed: World,
    function: str,
    body: tuple[str, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = fanout if function == "fanout" else roast
    start_scheduled_run(installed)
    capsys.readouterr()
    data, headers = body
    response = client.post(
        "/projects/plotburn-local/topics/plotburn-roast", data=data, headers=headers
    )
    assert response.status_code == 200
    (line,) = log_lines(capsys.readouterr())
    assert line["severity"] == "WARNING"
    assert line["message"].startswith(f"{function}: message rejected and acknowledged: ")
    assert installed.runs.count_outcomes(SCHEDULED_RUN) == 0
    assert list(installed.runs.runs) == [SCHEDULED_RUN]


def test_a_request_that_is_not_a_delivery_keeps_its_http_error(roast: Any) -> None:
    assert roast.get("/").status_code == 405
