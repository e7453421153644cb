"""The inbox's write path: record a verified delivery once, process it once in effect, park
what cannot be applied yet, and replay it when a person has fixed the cause.

Higher apps act on inbound events by registering a handler from their `AppConfig.ready()`
(DESIGN.md: a lower layer never calls up):

    inbox_handler_register(source="shopify", topic="returns/request", handler=...)

A handler is called as `handler(event=InboundEvent, message=<adapter dataclass>)` inside the
processing transaction, with the event row locked. It returns to mark the event processed,
raises `InboundEventParked` when master data is missing (the event parks and an exception
opens), and raises anything else for a retry with backoff.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, router, transaction
from django.utils import timezone

from erp.adapters import MalformedPayload, Unsupported, adapter_for
from erp.adapters.base import body_digest, header
from erp.models import InboundEvent
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.models.inbox import InboundEventStatus

from . import inbox_dispatch
from .exceptions import exception_open

logger = logging.getLogger(__name__)

Handler = Callable[..., None]
_handlers: dict[tuple[str, str], Handler] = {}

PROCESS_TASK = "erp.tasks.inbox_process"
REPLAY_PERMISSION = "erp.replay_inboundevent"
# Header names that carry a signature or a credential: never stored with the event.
SECRET_HEADER_MARKERS = ("hmac", "signature", "authorization", "cookie", "token", "secret")
# Events still `received` this long after arrival lost their task (broker down at commit):
# the sweep sends them again.
STALE_AFTER = timedelta(minutes=2)
STALE_BATCH = 1000
# One quick reconnect, then give up: a webhook is answered at once even when the broker is
# down, and a connection that broke while it was down is replaced when it is back.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


class InboundEventParked(Exception):
    """Raised by a handler when the event cannot be applied until master data is fixed."""

    def __init__(
        self,
        reason: str,
        *,
        kind: ExceptionKind = ExceptionKind.INVESTIGATE_SKU,
        subject_label: str = "",
    ):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.subject_label = subject_label


@dataclass(frozen=True)
class Recorded:
    event: InboundEvent
    created: bool
    rejected_reason: str = ""


@dataclass(frozen=True)
class Processed:
    status: str
    retry: bool = False
    error: str = ""


def inbox_handler_register(*, source: str, topic: str, handler: Handler) -> None:
    """Effects: none on the database; `handler` applies every (`source`, `topic`) event from
    now on. One handler per topic: registering another replaces it, loudly."""
    key = (source, topic)
    if key in _handlers and _handlers[key] is not handler:
        logger.warning("Inbox handler for %s %s replaced", source, topic)
    _handlers[key] = handler


def inbox_handler_unregister(*, source: str, topic: str) -> None:
    """Effects: events of (`source`, `topic`) park again until a handler is registered."""
    _handlers.pop((source, topic), None)


def inbox_handler_for(*, source: str, topic: str) -> Handler | None:
    return _handlers.get((source, topic))


def headers_without_secrets(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in headers.items()
        if not any(marker in name.lower() for marker in SECRET_HEADER_MARKERS)
    }


def _send_processing(event_id: int) -> None:
    """Hand the event to a worker; a broker outage only delays it (the sweep resends)."""
    try:
        current_app.send_task(
            PROCESS_TASK,
            args=[event_id],
            queue=getattr(settings, "ERP_INTEGRATION_QUEUE", None),
            retry_policy=PUBLISH_RETRY,
        )
    except Exception:
        logger.warning("Could not queue inbound event %s; the sweep will", event_id, exc_info=True)


def inbound_event_record(
    *, source: str, account: str, body: bytes, headers: Mapping[str, str]
) -> Recorded:
    """Store a delivery whose signature the caller has verified.

    Effects: inserts one InboundEvent keyed by (source, external id) with the raw body and
    the headers minus secrets, in one statement (no transaction of its own: it is atomic by
    itself, and joins the caller's when there is one), and queues its processing after
    commit, batched with the other arrivals of the moment (`inbox_dispatch`). A redelivery
    inserts nothing and returns the first row (`created` False). A body that cannot be read
    is stored as `rejected` with the reason, and never processed.
    """
    adapter = adapter_for(source)
    clean_headers = headers_without_secrets(headers)
    try:
        envelope = adapter.envelope(body, headers)
    except MalformedPayload as error:
        reason = str(error)
        external_id = (
            header(headers, "X-Shopify-Webhook-Id") or header(headers, "X-Shopify-Event-Id")
        ) or body_digest(body)
        fields = {
            "account": account,
            "topic": header(headers, "X-Shopify-Topic")[:80],
            "body": body,
            "headers": clean_headers,
            "status": InboundEventStatus.REJECTED,
            "last_error": reason,
        }
        event, created = _insert(source=source, external_id=external_id[:200], fields=fields)
        return Recorded(event, created, rejected_reason=event.last_error or reason)
    fields = {
        "account": account,
        "topic": envelope.topic[:80],
        "subject_ref": envelope.subject_ref[:120],
        "occurred_at": envelope.occurred_at,
        "body": body,
        "headers": clean_headers,
    }
    event, created = _insert(source=source, external_id=envelope.external_id[:200], fields=fields)
    if created:
        transaction.on_commit(lambda: inbox_dispatch.processing_queue(event.pk))
    return Recorded(event, created, rejected_reason=event.last_error if event.is_rejected else "")


# The columns a delivery is stored with; the id comes back from the insert.
_INSERTED = (
    "source",
    "account",
    "external_id",
    "topic",
    "subject_ref",
    "occurred_at",
    "body",
    "headers",
    "received_at",
    "status",
    "attempts",
    "last_error",
    "processed_at",
)


def _insert(*, source: str, external_id: str, fields: dict) -> tuple[InboundEvent, bool]:
    """One INSERT … ON CONFLICT DO NOTHING RETURNING id: the unique (source, external id)
    index decides between concurrent deliveries of the same event, with no read before and
    no savepoint. Only a redelivery pays a second query, to return the first row."""
    event = InboundEvent(source=source, external_id=external_id, **fields)
    meta = InboundEvent._meta
    connection = connections[router.db_for_write(InboundEvent)]
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in _INSERTED]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({quote('source')}, {quote('external_id')}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        # A redelivery, or a concurrent delivery of the same event won the unique index.
        return InboundEvent.objects.get(source=source, external_id=external_id), False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = connection.alias
    return event, True


def _superseded_by(event: InboundEvent, snapshot_topics: frozenset[str]) -> InboundEvent | None:
    """A processed, newer full-state event about the same subject makes this one stale."""
    if event.topic not in snapshot_topics or not event.subject_ref or not event.occurred_at:
        return None
    return (
        InboundEvent.objects.filter(
            source=event.source,
            topic=event.topic,
            subject_ref=event.subject_ref,
            status=InboundEventStatus.PROCESSED,
            occurred_at__gt=event.occurred_at,
        )
        .exclude(pk=event.pk)
        .order_by("-occurred_at")
        .first()
    )


def _park(event: InboundEvent, reason: str) -> None:
    event.status = InboundEventStatus.PARKED
    event.last_error = reason


@transaction.atomic
def inbound_event_process(*, event_id: int, final_attempt: bool = True) -> Processed:
    """Apply one received event through the handler registered for its topic.

    Effects: locks the event (a second worker waits, then finds it done); does nothing unless
    it is `received`; counts the attempt; then
    - no handler registered, or a payload the adapter cannot parse → `parked` with the reason;
    - an older full-state event than one already applied → `processed`, noted as superseded;
    - the handler raises InboundEventParked → `parked`, and an exception of the kind it names
      is opened about the event, so a person fixes master data and replays it;
    - the handler raises anything else → its writes roll back, the error is recorded, and
      the caller retries (`retry` True), or on the final attempt the event is `failed`;
    - otherwise → `processed`, stamped.
    """
    event = InboundEvent.objects.select_for_update().get(pk=event_id)
    if event.status != InboundEventStatus.RECEIVED:
        return Processed(event.status)
    event.attempts += 1
    adapter = adapter_for(event.source)
    handler = inbox_handler_for(source=event.source, topic=event.topic)
    outcome = Processed(InboundEventStatus.PROCESSED)
    newer = _superseded_by(event, adapter.snapshot_topics)
    if handler is None:
        _park(
            event,
            f"No handler is registered for {event.get_source_display()} {event.topic!r}; "
            "replay the event once one is.",
        )
    elif newer is not None:
        event.status = InboundEventStatus.PROCESSED
        event.processed_at = timezone.now()
        event.last_error = f"Superseded by the newer event #{newer.pk}; not applied."
    else:
        outcome = _apply(event, adapter, handler, final_attempt=final_attempt)
    event.save()
    return Processed(event.status, retry=outcome.retry, error=event.last_error)


def _apply(event: InboundEvent, adapter, handler: Handler, *, final_attempt: bool) -> Processed:
    try:
        message = adapter.parse(event.topic, bytes(event.body))
    except (MalformedPayload, Unsupported) as error:
        _park(event, f"The payload cannot be read: {error}")
        return Processed(event.status)
    try:
        with transaction.atomic():
            handler(event=event, message=message)
    except InboundEventParked as parked:
        _park(event, parked.reason)
        exception_open(
            kind=parked.kind,
            subject_type=SubjectType.INBOUND_EVENT,
            subject_id=event.pk,
            subject_label=parked.subject_label or f"{event.get_source_display()} {event.topic}",
            summary=parked.reason[:200],
            details="Fix the master data, then replay the event from the integrations screen.",
            evidence={
                "source": event.source,
                "topic": event.topic,
                "external_id": event.external_id,
            },
        )
        return Processed(event.status)
    except Exception as error:
        event.last_error = f"{type(error).__name__}: {error}"
        if final_attempt:
            event.status = InboundEventStatus.FAILED
            return Processed(event.status)
        return Processed(event.status, retry=True)
    event.status = InboundEventStatus.PROCESSED
    event.processed_at = timezone.now()
    event.last_error = ""
    return Processed(event.status)


@transaction.atomic
def inbound_event_replay(*, event_id: int, actor: AbstractBaseUser | None) -> InboundEvent:
    """Send a parked or failed event through processing again, e.g. after master data is fixed.

    Effects: refuses without `replay_inboundevent` (PermissionDenied; `actor` None is the
    system) or for an event in any other state (ValidationError); sets it back to `received`
    and queues its processing after commit. Its attempts and history of errors stay counted.
    """
    if actor is not None and not actor.has_perm(REPLAY_PERMISSION):
        raise PermissionDenied("You may not replay inbound events.")
    event = InboundEvent.objects.select_for_update().get(pk=event_id)
    if event.status not in (InboundEventStatus.PARKED, InboundEventStatus.FAILED):
        state = event.get_status_display().lower()
        raise ValidationError(f"Only parked or failed events can be replayed; this one is {state}.")
    event.status = InboundEventStatus.RECEIVED
    event.save(update_fields=["status"])
    transaction.on_commit(lambda: _send_processing(event.pk))
    return event


def inbound_events_requeue_stale(*, now: datetime | None = None) -> int:
    """Queue again the events still `received` well after arrival; the beat runs this.

    Effects: none on the database; sends up to STALE_BATCH processing tasks. Processing is
    idempotent, so an event whose task was only slow is not applied twice.
    """
    cutoff = (now or timezone.now()) - STALE_AFTER
    stale = list(
        InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:STALE_BATCH]
    )
    for event_id in stale:
        _send_processing(event_id)
    return len(stale)
