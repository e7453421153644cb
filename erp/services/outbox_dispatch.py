"""The outbox's send side: deliver due messages through the sender registered for their topic,
retry failures with exponential backoff, and dead-letter what keeps failing.

Apps that own an outbound integration register a sender from their `AppConfig.ready()`:

    outbox_sender_register(topic="availability.changed", sender=...)

`sender(message)` delivers or raises. A topic with no registered sender but an active
`OutboundEndpoint` goes through the generic signed-webhook sender; a topic with neither waits
untouched (nothing is lost) and shows as backlog on the integrations screen.
"""

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from erp.adapters.base import hmac_sha256
from erp.models import OutboundEndpoint, OutboxMessage

from .inbox import PUBLISH_RETRY

logger = logging.getLogger(__name__)

Sender = Callable[[OutboxMessage], None]
_senders: dict[str, Sender] = {}

DISPATCH_TASK = "erp.tasks.outbox_dispatch"
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 8
SIGNATURE_HEADER = "X-ERP-Hmac-SHA256"


class OutboxSendError(Exception):
    """The receiver refused or could not be reached; the message is retried."""


@dataclass(frozen=True)
class DispatchResult:
    sent: int = 0
    failed: int = 0
    dead: int = 0


def outbox_sender_register(*, topic: str, sender: Sender) -> None:
    """Effects: none on the database; messages of `topic` go through `sender` from now on."""
    _senders[topic] = sender


def outbox_sender_unregister(*, topic: str) -> None:
    _senders.pop(topic, None)


def _sender_for(topic: str, endpoint_topics: set[str]) -> Sender | None:
    if topic in _senders:
        return _senders[topic]
    if topic in endpoint_topics:
        return signed_webhook_send
    return None


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at an hour, after the `attempts`-th failure."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def signed_webhook_body(message: OutboxMessage) -> bytes:
    return json.dumps(
        {
            "id": message.dedupe_key,
            "topic": message.topic,
            "created_at": message.created_at.isoformat(),
            "payload": message.payload,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode("utf-8")


def signed_webhook_send(message: OutboxMessage) -> None:
    """POST the message as JSON to its topic's endpoint, signed like Shopify signs ours.

    The receiver verifies `X-ERP-Hmac-SHA256` (base64 HMAC-SHA256 of the raw body) and
    de-duplicates on `X-ERP-Message-Id`: a retry after a lost answer repeats the same id.
    """
    endpoint = OutboundEndpoint.objects.get(topic=message.topic, is_active=True)
    body = signed_webhook_body(message)
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-ERP-Topic": message.topic,
            "X-ERP-Message-Id": message.dedupe_key,
            SIGNATURE_HEADER: base64.b64encode(hmac_sha256(endpoint.secret, body)).decode(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=endpoint.timeout_seconds) as response:
            response.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode("utf-8", errors="replace")
        raise OutboxSendError(f"HTTP {error.code} from {endpoint.url}: {detail}") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise OutboxSendError(f"{endpoint.url} unreachable: {error}") from error


def _due(now: datetime, topics: set[str]):
    """Unsent, live, past their backoff, and not behind an older unsent message of the same
    ordering key (one waiting for a retry, or one another dispatcher is sending right now)."""
    older_unsent = OutboxMessage.objects.filter(
        ordering_key=OuterRef("ordering_key"),
        id__lt=OuterRef("id"),
        dispatched_at__isnull=True,
        dead_lettered_at__isnull=True,
    )
    return OutboxMessage.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        Q(ordering_key="") | ~Exists(older_unsent),
        dispatched_at__isnull=True,
        dead_lettered_at__isnull=True,
        topic__in=topics,
    ).order_by("id")


def outbox_dispatch_due(*, limit: int = 200, now: datetime | None = None) -> DispatchResult:
    """Send up to `limit` due messages, oldest first, one transaction each.

    Effects: locks one due message at a time with SKIP LOCKED, so concurrent dispatchers
    never send the same message, and holds the lock while sending. A message waits while an
    older one with its ordering key is unsent, so a channel sees each SKU's updates in order
    (a dead letter no longer holds its key back). On success stamps `dispatched_at`; on
    failure counts the attempt, records the error and sets `next_attempt_at` by exponential
    backoff, or after MAX_ATTEMPTS dead-letters it.
    """
    sent = failed = dead = 0
    endpoint_topics = set(
        OutboundEndpoint.objects.filter(is_active=True).values_list("topic", flat=True)
    )
    topics = set(_senders) | endpoint_topics
    for _ in range(limit):
        moment = now or timezone.now()
        with transaction.atomic():
            message = _due(moment, topics).select_for_update(skip_locked=True).first()
            if message is None:
                break
            message.attempts += 1
            try:
                _sender_for(message.topic, endpoint_topics)(message)
            except Exception as error:
                message.last_error = f"{type(error).__name__}: {error}"[:2000]
                if message.attempts >= MAX_ATTEMPTS:
                    message.dead_lettered_at = moment
                    dead += 1
                else:
                    message.next_attempt_at = moment + backoff(message.attempts)
                    failed += 1
            else:
                message.dispatched_at = timezone.now()
                message.next_attempt_at = None
                sent += 1
            message.save(
                update_fields=[
                    "attempts",
                    "last_error",
                    "dispatched_at",
                    "next_attempt_at",
                    "dead_lettered_at",
                ]
            )
    return DispatchResult(sent=sent, failed=failed, dead=dead)


@transaction.atomic
def outbox_message_replay(*, message_id: int) -> OutboxMessage:
    """Effects: a dead-lettered or waiting message becomes due now; a sent one is refused
    (ValueError), since its receiver already has it."""
    message = OutboxMessage.objects.select_for_update().get(pk=message_id)
    if message.dispatched_at:
        raise ValueError("This message was already sent.")
    message.dead_lettered_at = None
    message.next_attempt_at = None
    message.save(update_fields=["dead_lettered_at", "next_attempt_at"])
    outbox_dispatch_after_commit()
    return message


# A burst of commits in one process (a put-away wave, stock moved line by line) would publish
# one dispatch request each, and publishing costs more CPU than the post itself (~1.7 ms against
# ~1 ms for a move). So within DISPATCH_BURST of a request, the next ones fold into a single
# request due when the burst ends: it runs after every commit of the burst and sends what they
# queued. At most two requests per burst per process; the first is never delayed. (A worker
# whose clock runs ahead by more than the burst could run that request early; the beat sweep
# then sends the rest.)
DISPATCH_BURST = 0.1  # seconds
_burst_lock = threading.Lock()
_burst = {"until": 0.0, "trailing": False}  # this process's current burst


def _send_dispatch() -> None:
    now = time.monotonic()
    with _burst_lock:
        if now >= _burst["until"]:
            _burst.update(until=now + DISPATCH_BURST, trailing=False)
            countdown = None
        elif not _burst["trailing"]:
            _burst["trailing"] = True
            countdown = _burst["until"] - now
        else:
            return  # the burst's closing request, already published, covers this commit
    try:
        current_app.send_task(
            DISPATCH_TASK,
            countdown=countdown,
            queue=getattr(settings, "ERP_INTEGRATION_QUEUE", None),
            retry_policy=PUBLISH_RETRY,
        )
    except Exception:
        logger.warning("Could not queue outbox dispatch; the beat sweep will", exc_info=True)


def outbox_dispatch_after_commit() -> None:
    """Effects: once the current transaction commits, asks a worker to dispatch the outbox.

    One request per transaction, however many messages it queued: one dispatch sends them
    all. A broker outage is logged, not raised: the beat sweep (every 30 s) dispatches anyway.
    """
    connection = transaction.get_connection()
    # Django drops the callbacks of a rolled-back (savepoint) block from this list, so a
    # request lost with a rollback is registered again by the next message.
    if any(callback is _send_dispatch for _sids, callback, _robust in connection.run_on_commit):
        return
    transaction.on_commit(_send_dispatch)
