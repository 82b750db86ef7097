"""Pub/Sub clients bound to an emulator, without touching this process's environment.

The client libraries switch to the emulator only through ``PUBSUB_EMULATOR_HOST`` in
``os.environ``.  Setting that in the test runner or the stack's own process would leak
into everything else running there (another stack, another emulator), so these helpers
build clients on an explicit insecure gRPC channel instead.  Child processes (the
functions) still get the environment variable, which is what production code honours.
"""

from __future__ import annotations

import grpc
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport


def publisher_client(host: str) -> pubsub_v1.PublisherClient:
    """A PublisherClient talking plaintext gRPC to the emulator at ``host`` ("h:p")."""
    transport = PublisherGrpcTransport(channel=grpc.insecure_channel(host))
    return pubsub_v1.PublisherClient(transport=transport)


def subscriber_client(host: str) -> pubsub_v1.SubscriberClient:
    """A SubscriberClient talking plaintext gRPC to the emulator at ``host`` ("h:p")."""
    transport = SubscriberGrpcTransport(channel=grpc.insecure_channel(host))
    return pubsub_v1.SubscriberClient(transport=transport)


def close_publisher(client: pubsub_v1.PublisherClient) -> None:
    """Flush pending batches and close the channel (PublisherClient has no close())."""
    try:
        client.stop()
    finally:
        client.transport.close()


def topic_path(project: str, topic: str) -> str:
    return topic if topic.startswith("projects/") else f"projects/{project}/topics/{topic}"


def subscription_path(project: str, subscription: str) -> str:
    if subscription.startswith("projects/"):
        return subscription
    return f"projects/{project}/subscriptions/{subscription}"


def ensure_topic(client: pubsub_v1.PublisherClient, project: str, topic: str) -> str:
    """Create ``topic`` unless it exists; returns its full path."""
    path = topic_path(project, topic)
    try:
        client.create_topic(name=path)
    except gexc.AlreadyExists:
        pass
    return path


def create_pull_subscription(
    client: pubsub_v1.SubscriberClient,
    project: str,
    subscription: str,
    topic: str,
    *,
    ack_deadline_seconds: int = 600,
) -> str:
    """Create a pull subscription; an existing one with that name is an error.

    Why not "reuse if it exists": the emulator (0.8.x) never cleans up a streaming pull
    that the client cancelled (its gRPC server throws NoSuchMethodError on RST_STREAM),
    and that ghost stream keeps leasing the subscription's messages for the full ack
    deadline.  A subscription that has had a relay attached is therefore unusable after
    the relay stops -- even after delete and re-create under the same name.  Fresh names
    are the only safe option on a shared emulator.
    """
    path = subscription_path(project, subscription)
    client.create_subscription(
        request={
            "name": path,
            "topic": topic_path(project, topic),
            "ack_deadline_seconds": ack_deadline_seconds,
        }
    )
    return path


def delete_subscription(client: pubsub_v1.SubscriberClient, project: str, name: str) -> None:
    try:
        client.delete_subscription(subscription=subscription_path(project, name))
    except gexc.NotFound:
        pass
