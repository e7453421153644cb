"""Drain a backlog of inbound events in batches: one transaction and one status write per
batch instead of per event, with each handler still isolated in its own savepoint.

Same outcomes as `inbox.inbound_event_process` for each event (processed, superseded, parked
with its exception); a handler that fails leaves its event `received` with the error, for the
per-event task and its retries (the stale sweep resends it).
"""

from django.db import transaction
from django.utils import timezone

from erp.adapters import adapter_for
from erp.models import InboundEvent
from erp.models.inbox import InboundEventStatus

from .inbox import _apply, _park, _superseded_by, inbox_handler_for


@transaction.atomic
def inbound_events_process_batch(*, event_ids: list[int]) -> dict[str, int]:
    """Apply the still-`received` events among `event_ids`, oldest id first.

    Effects: locks them, skipping rows another worker holds (that worker applies them); per
    event as `inbound_event_process` with a non-final attempt; then writes every event's
    status, attempts, error and processing time in one statement. Returns counts by status.
    """
    events = list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(pk__in=event_ids, status=InboundEventStatus.RECEIVED)
        .order_by("pk")
    )
    counts: dict[str, int] = {}
    for event in events:
        event.attempts += 1
        adapter = adapter_for(event.source)
        handler = inbox_handler_for(source=event.source, topic=event.topic)
        newer = _superseded_by(event, adapter.snapshot_topics)
        if handler is None:
            _park(event, f"No handler is registered for {event.topic!r}; replay it once one is.")
        elif newer is not None:
            event.status = InboundEventStatus.PROCESSED
            event.processed_at = timezone.now()
            event.last_error = f"Superseded by the newer event #{newer.pk}; not applied."
        else:
            _apply(event, adapter, handler, final_attempt=False)
        counts[str(event.status)] = counts.get(str(event.status), 0) + 1
    InboundEvent.objects.bulk_update(
        events, ["status", "attempts", "last_error", "processed_at"], batch_size=500
    )
    return counts
