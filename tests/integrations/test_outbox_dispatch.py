"""Outbox dispatch to a real HTTP server on 127.0.0.1: signed delivery, retries with backoff
through an outage, dead letters, and concurrent dispatchers sending each message once."""

import base64
import hashlib
import hmac
import json
import threading
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.utils import timezone

from erp.models import OutboundEndpoint, OutboxMessage
from erp.services import outbox_dispatch, outbox_dispatch_due, outbox_enqueue, outbox_message_replay
from erp.services.outbox_dispatch import MAX_ATTEMPTS, backoff

TOPIC = "availability.changed"


class Channel:
    """A stand-in for the channel's API: records what it receives, answers `status`."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = 200
        self.delay = 0.0
        self.lock = threading.Lock()


@contextmanager
def channel_server():
    channel = Channel()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if channel.delay:
                threading.Event().wait(channel.delay)
            with channel.lock:
                channel.received.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                status = channel.status
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"channel is down")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        channel.url = f"http://127.0.0.1:{server.server_port}/inventory"
        yield channel
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def channel():
    with channel_server() as running:
        yield running


def endpoint_for(channel, topic=TOPIC):
    return OutboundEndpoint.objects.create(
        topic=topic, url=channel.url, secret="out-secret", timeout_seconds=5
    )


def enqueue(n: int) -> OutboxMessage:
    return outbox_enqueue(
        topic=TOPIC, payload={"sku": f"SKU-{n}", "ats": n}, dedupe_key=f"ats:SKU-{n}:{n}"
    )


@pytest.mark.django_db
def test_a_message_is_posted_signed_and_marked_sent(channel):
    endpoint_for(channel)
    message = enqueue(1)

    result = outbox_dispatch_due()

    assert (result.sent, result.failed) == (1, 0)
    [request] = channel.received
    body = request["body"]
    expected = base64.b64encode(hmac.new(b"out-secret", body, hashlib.sha256).digest()).decode()
    assert request["headers"]["x-erp-hmac-sha256"] == expected
    assert request["headers"]["x-erp-message-id"] == "ats:SKU-1:1"
    assert json.loads(body)["payload"] == {"sku": "SKU-1", "ats": 1}
    message.refresh_from_db()
    assert message.dispatched_at is not None
    assert (message.attempts, message.last_error, message.status) == (1, "", "sent")
    # Sent is sent: a second run sends nothing.
    assert outbox_dispatch_due().sent == 0
    assert len(channel.received) == 1


@pytest.mark.django_db
def test_a_channel_outage_is_retried_with_backoff_then_drains_in_order(channel):
    endpoint_for(channel)
    first, second = enqueue(1), enqueue(2)
    channel.status = 500
    now = timezone.now()

    # When the channel answers 500
    failed = outbox_dispatch_due(now=now)

    # Then each attempt is recorded with the error and a backed-off next attempt
    assert (failed.sent, failed.failed) == (0, 2)
    first.refresh_from_db()
    assert first.attempts == 1
    assert first.last_error.startswith("OutboxSendError: HTTP 500")
    assert "channel is down" in first.last_error
    assert first.next_attempt_at == now + timedelta(seconds=30)
    assert first.status == "retrying"

    # Nothing is due before the backoff has passed
    assert outbox_dispatch_due(now=now + timedelta(seconds=10)).failed == 0

    # A second failure doubles the wait
    outbox_dispatch_due(now=now + timedelta(seconds=31))
    first.refresh_from_db()
    assert first.attempts == 2
    assert first.next_attempt_at == now + timedelta(seconds=31) + timedelta(seconds=60)

    # When the channel is back, both drain, oldest first
    channel.status = 200
    channel.received.clear()
    drained = outbox_dispatch_due(now=now + timedelta(minutes=5))
    assert drained.sent == 2
    assert [json.loads(r["body"])["id"] for r in channel.received] == [
        first.dedupe_key,
        second.dedupe_key,
    ]
    first.refresh_from_db()
    assert (first.attempts, first.status) == (3, "sent")


def test_backoff_is_exponential_and_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30) == timedelta(hours=1)


@pytest.mark.django_db
def test_an_unreachable_channel_ends_as_a_dead_letter_and_can_be_replayed(channel):
    OutboundEndpoint.objects.create(
        topic=TOPIC, url="http://127.0.0.1:9/nowhere", secret="s", timeout_seconds=1
    )
    message = enqueue(1)
    moment = timezone.now()

    for _ in range(MAX_ATTEMPTS):
        moment += timedelta(hours=2)
        outbox_dispatch_due(now=moment)

    message.refresh_from_db()
    assert message.status == "dead"
    assert message.attempts == MAX_ATTEMPTS
    assert "unreachable" in message.last_error
    assert outbox_dispatch_due(now=moment + timedelta(days=1)).failed == 0

    # When the endpoint is fixed and a person replays it
    OutboundEndpoint.objects.filter(topic=TOPIC).update(url=channel.url)
    outbox_message_replay(message_id=message.pk)
    assert outbox_dispatch_due().sent == 1
    message.refresh_from_db()
    assert message.status == "sent"


@pytest.mark.django_db
def test_a_topic_with_no_sender_waits_untouched():
    message = outbox_enqueue(topic="customer.email", payload={}, dedupe_key="mail-1")

    assert outbox_dispatch_due().sent == 0
    message.refresh_from_db()
    assert (message.attempts, message.status) == (0, "pending")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_dispatchers_send_each_message_once(channel):
    # Given 20 committed messages and a channel that answers slowly
    endpoint_for(channel)
    messages = [enqueue(n) for n in range(20)]
    channel.delay = 0.02
    results = []

    def dispatcher():
        try:
            results.append(outbox_dispatch_due())
        finally:
            connection.close()

    # When two dispatchers run at once, each on its own database connection
    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then every message reached the channel exactly once, and both did some of the work
    ids = [json.loads(r["body"])["id"] for r in channel.received]
    assert sorted(ids) == sorted(m.dedupe_key for m in messages)
    assert len(ids) == len(set(ids))
    assert sum(r.sent for r in results) == 20
    assert all(r.sent > 0 for r in results)
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


@pytest.mark.django_db
def test_an_outage_drains_in_order_per_sku(channel):
    # Given three availability updates for SKU A and one for SKU B
    endpoint_for(channel)

    def update(sku, ats):
        return outbox_enqueue(
            topic=TOPIC,
            payload={"sku": sku, "ats": ats},
            dedupe_key=f"ats:{sku}:{ats}",
            ordering_key=f"availability:shop:{sku}",
        )

    a1 = update("A", 1)
    update("A", 2)
    update("B", 7)
    update("A", 3)
    now = timezone.now()

    # When the first send of A fails and the channel recovers at once
    channel.status = 500
    outbox_dispatch_due(now=now, limit=1)
    channel.status = 200
    channel.received.clear()
    outbox_dispatch_due(now=now)

    # Then B went out, but A's later updates waited behind the one being retried
    sent = [json.loads(r["body"])["payload"] for r in channel.received]
    assert sent == [{"sku": "B", "ats": 7}]
    a1.refresh_from_db()
    assert a1.status == "retrying"

    # And once A's first update goes through, the rest follow in order
    channel.received.clear()
    outbox_dispatch_due(now=now + timedelta(minutes=1))
    assert [json.loads(r["body"])["payload"]["ats"] for r in channel.received] == [1, 2, 3]


@pytest.mark.django_db
def test_a_transaction_asks_for_one_dispatch_however_many_messages_it_queues(
    django_capture_on_commit_callbacks, monkeypatch
):
    # Given the broker call is observed
    sent = []
    monkeypatch.setattr(outbox_dispatch, "_send_dispatch", lambda: sent.append(1))

    # When one transaction queues three messages, one of them inside a rolled-back savepoint
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outbox_enqueue(topic="test.topic", payload={}, dedupe_key="one")
        try:
            with transaction.atomic():
                outbox_enqueue(topic="test.topic", payload={}, dedupe_key="two")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        outbox_enqueue(topic="test.topic", payload={}, dedupe_key="three")

    # Then the two kept messages commit and a single dispatch is asked for
    assert len(callbacks) == 1
    assert sent == [1]
    assert sorted(OutboxMessage.objects.values_list("dedupe_key", flat=True)) == ["one", "three"]


@pytest.mark.django_db
def test_a_dispatch_lost_with_a_savepoint_is_asked_for_again(
    django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(outbox_dispatch, "_send_dispatch", lambda: sent.append(1))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                outbox_enqueue(topic="test.topic", payload={}, dedupe_key="lost")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        outbox_enqueue(topic="test.topic", payload={}, dedupe_key="kept")

    assert len(callbacks) == 1
    assert sent == [1]


def test_a_burst_of_commits_publishes_one_request_at_once_and_one_when_it_ends(monkeypatch):
    # Given a process whose clock and broker calls are observed, with no burst under way
    clock = [1000.0]
    published = []

    class Broker:
        def send_task(self, name, *, countdown, queue, retry_policy):
            published.append((name, countdown))

    monkeypatch.setattr(outbox_dispatch, "current_app", Broker())
    monkeypatch.setattr(outbox_dispatch, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setitem(outbox_dispatch._burst, "until", 0.0)
    monkeypatch.setitem(outbox_dispatch._burst, "trailing", False)

    # When five transactions commit 20 ms apart, then one more after the burst has ended
    for _ in range(5):
        outbox_dispatch._send_dispatch()
        clock[0] += 0.02
    clock[0] += outbox_dispatch.DISPATCH_BURST
    outbox_dispatch._send_dispatch()

    # Then the first is published at once, the other four as one request due at the burst's
    # end (after each of their commits), and the late one at once again
    task = outbox_dispatch.DISPATCH_TASK
    assert [name for name, _ in published] == [task] * 3
    assert published[0][1] is None
    assert published[1][1] == pytest.approx(outbox_dispatch.DISPATCH_BURST - 0.02)
    assert published[2][1] is None
