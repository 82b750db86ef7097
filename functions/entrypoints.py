"""Thin adapters between functions-framework and the use cases.

Event functions: decode the Pub/Sub message inside the CloudEvent, call a use case,
and map errors to what Pub/Sub should do next:

- return normally  -> 2xx -> acknowledged (done, or a permanent error logged once);
- RetryableError   -> 503 (no traceback: it is expected) -> redelivered with backoff;
- anything else    -> 500 with a traceback: a bug; redelivery until dead-lettered.

A message is believed only as far as where it came from: it is a dead letter only if
it arrived through the dead-letter topic (the CloudEvent's source, which Pub/Sub's
push path or Eventarc sets, never the publisher), whatever attributes it carries.
A body functions-framework cannot even turn into a CloudEvent is acknowledged too
(`reject_unparsed_event`): redelivering it cannot help.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import flask
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from functions import bootstrap, http_api, http_requests, metering
from functions.config import Settings
from functions.errors import BadMessage, RetryableError
from functions.models import NightlyMessage, RoastMessage, decode_message, utcnow
from functions.observability import emit, log_scope

# Pub/Sub adds these to a message it forwards to a dead-letter topic, but any
# publisher can set them too: they never make a message a dead letter by themselves.
DEAD_LETTER_ATTRIBUTE = "CloudPubSubDeadLetterSourceSubscription"
# The functions whose events are Pub/Sub messages (main.py's targets).
EVENT_FUNCTIONS = ("fanout", "roast")
# A CloudEvent's source for a Pub/Sub message: Eventarc's ce-source, or what
# functions-framework makes of a push endpoint's path (infra/pubsub.tf).
_TOPIC_SOURCE = re.compile(r"//pubsub\.googleapis\.com/(projects/[^/]+/topics/[^/]+)")
# Set on the request once an event function has its CloudEvent (reject_unparsed_event).
_REACHED = "plotburn_event_reached"


class _Envelope:
    """The Pub/Sub message inside a CloudEvent, in either delivery format."""

    def __init__(self, event: CloudEvent) -> None:
        source = _TOPIC_SOURCE.fullmatch(str(event.get("source") or ""))
        # projects/P/topics/T, or None when the push endpoint did not name it.
        self.topic: str | None = source.group(1) if source else None
        data = event.get_data()
        if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
            raise BadMessage("CloudEvent carries no Pub/Sub message")
        message: dict[str, Any] = data["message"]
        self.message_id = str(message.get("messageId") or message.get("message_id") or "")
        attributes = message.get("attributes") or {}
        self.attributes: dict[str, str] = attributes if isinstance(attributes, dict) else {}
        encoded = message.get("data")
        if not isinstance(encoded, str):
            raise BadMessage("Pub/Sub message has no data")
        try:
            self.data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadMessage("Pub/Sub message data is not base64") from None
        self.publish_time = _parse_time(
            message.get("publishTime") or message.get("publish_time") or event.get("time")
        )

    def dead_lettered(self, settings: Settings) -> bool:
        """Delivered through our dead-letter topic. A message from anywhere else that
        carries the dead-letter attributes is an ordinary message (and logged)."""
        if self.topic == f"projects/{settings.project}/topics/{settings.dead_letter_topic}":
            return True
        if DEAD_LETTER_ATTRIBUTE in self.attributes:
            emit(
                "WARNING",
                "dead-letter attributes on a message not from the dead-letter topic: ignored",
                topic=self.topic,
                message_id=self.message_id,
            )
        return False


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    # Without a publish time a redelivery cannot be matched to its run; the message
    # id still dedupes nothing here, so log it: this only happens with junk events.
    emit("WARNING", "event without a usable publish time; using now")
    return utcnow()


def _handle_event(function: str, event: CloudEvent, handler: Any) -> None:
    if flask.has_request_context():
        setattr(flask.g, _REACHED, True)
    event_id = str(event.get("id") or "")
    try:
        envelope = _Envelope(event)
        with _metered(function), log_scope(f"pubsub:{function}", "EVENT"):
            handler(envelope)
    except BadMessage as exc:
        emit("WARNING", f"{function}: message rejected and acknowledged: {exc}", event_id=event_id)
    except RetryableError as exc:
        emit(
            "WARNING",
            f"{function}: transient failure, asking for redelivery: {exc}",
            event_id=event_id,
        )
        raise ServiceUnavailable(description="transient failure; retry") from None


def handle_nightly(event: CloudEvent) -> None:
    def run(envelope: _Envelope) -> None:
        app = bootstrap.get_app()
        message: NightlyMessage = decode_message(envelope.data, NightlyMessage)
        if envelope.dead_lettered(app.settings):
            emit(
                "ALERT",
                "nightly message dead-lettered: the night's run never started",
                message.resolve_correlation_id(envelope.publish_time),
            )
            return
        app.nightly.start_run(message, envelope.publish_time)

    _handle_event("fanout", event, run)


def handle_roast(event: CloudEvent) -> None:
    def run(envelope: _Envelope) -> None:
        app = bootstrap.get_app()
        roasting = app.roasting
        if envelope.dead_lettered(app.settings):
            try:
                dead: RoastMessage = decode_message(envelope.data, RoastMessage)
            except BadMessage:
                # A dead-lettered nightly message shares the dead-letter topic.
                nightly: NightlyMessage = decode_message(envelope.data, NightlyMessage)
                emit(
                    "ALERT",
                    "nightly message dead-lettered: the night's run never started",
                    nightly.resolve_correlation_id(envelope.publish_time),
                )
                return
            roasting.record_dead_letter(dead)
            return
        message: RoastMessage = decode_message(envelope.data, RoastMessage)
        roasting.process_movie(message)

    _handle_event("roast", event, run)


def reject_unparsed_event(exc: Exception) -> Any:
    """main.py's error handler: what functions-framework raised before an event
    function had its CloudEvent is a body it could not parse (not JSON, JSON nested
    too deeply for the parser, not a CloudEvent nor a Pub/Sub push): acknowledged with
    one warning, as BadMessage is. Everything else is left as it was: an HTTP error
    stays itself, and anything an event function (or the api) raised propagates."""
    function = flask.current_app.name
    reached = getattr(flask.g, _REACHED, False)
    if function in EVENT_FUNCTIONS and not reached and flask.request.method == "POST":
        emit(
            "WARNING",
            f"{function}: message rejected and acknowledged: "
            f"the request is no CloudEvent or Pub/Sub push ({type(exc).__name__})",
        )
        return "OK", 200
    if isinstance(exc, HTTPException):
        return exc
    raise exc


def configure_serving_app(app: flask.Flask) -> None:
    """The Flask app functions-framework serves `api` from: its own 404s
    (/robots.txt, /favicon.ico) are the Worker's JSON error, like every other."""

    def not_found(exc: Exception) -> flask.Response:
        return http_requests.error(404, f"no route {flask.request.path}", title="Not found")

    app.register_error_handler(404, not_found)


def handle_http(request: flask.Request) -> flask.Response:
    with _metered("api", path=request.path):
        return http_api.handle(request, bootstrap.get_app())


@contextlib.contextmanager
def _metered(function: str, **fields: Any) -> Iterator[None]:
    """With PLOTBURN_LOG_OPS on, one DEBUG line per invocation: what it cost."""
    with metering.ledger() as book:
        try:
            yield
        finally:
            if bootstrap.get_app().settings.log_ops:
                spend = book.spend()
                emit(
                    "DEBUG",
                    "invocation ops",
                    function=function,
                    ops=book.ops(),
                    upstream_calls={s: getattr(spend, s).calls for s in metering.SERVICES},
                    **fields,
                )
