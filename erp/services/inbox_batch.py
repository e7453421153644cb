"""Drain a backlog of inbound events in batches: one transaction per batch, statuses written
with one UPDATE per outcome instead of one per event, and the lookups a topic's handlers
repeat made once per batch by the topic's registered preparer (and the check for newer
full-state events once for the whole batch, then kept up to date as its events apply). The
events apply as runs of one topic, in the order `inbox_schedule` gives: an event moves ahead
of earlier ones of other topics only when their footprints share nothing.

Same outcomes as `inbox.inbound_event_process` for each event (processed, superseded, parked
with its exception); a handler that fails leaves its event `received` with the error, for the
per-event task and its retries (`inbound_events_retry`, and the stale sweep).

Handlers first run without a savepoint each, which costs two round trips per event: when one
raises (it failed, or parked its event), the whole batch rolls back and runs again with each
handler isolated in its own savepoint, so a failure never takes the others' writes with it.
A batch that PostgreSQL failed to break a deadlock with another worker's batch runs again
first: the other batch goes on, so the rerun usually finds its rows free.
"""

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from erp.adapters import MalformedPayload, Unsupported, adapter_for
from erp.models import InboundEvent
from erp.models.inbox import InboundEventStatus

from .inbox import _apply, _park, _send_processing, inbox_handler_for
from .inbox_schedule import footprints_read, held_elsewhere, held_last, runs_in_order

logger = logging.getLogger(__name__)

# preparer([(event, message), …]) → a context manager inside which the topic's handler finds,
# for these events, what it would otherwise look up one event at a time.
Preparer = Callable[[list[tuple[InboundEvent, object]]], AbstractContextManager]
_preparers: dict[tuple[str, str], Preparer] = {}


def inbox_batch_preparer_register(*, source: str, topic: str, preparer: Preparer) -> None:
    """Effects: none on the database; batches of (`source`, `topic`) events run their
    handlers inside `preparer([(event, message), …])`."""
    _preparers[(source, topic)] = preparer


# Work a preparer leaves for the end of the batch being applied (`inbox_batch_at_end`).
_at_end: ContextVar[list[Callable[[], None]] | None] = ContextVar("inbox_at_end", default=None)


def inbox_batch_at_end(work: Callable[[], None]) -> None:
    """Effects: `work()` runs at the end of the batch being applied, inside its transaction,
    after all its events (at once outside a batch). For writes to rows many batches share (a
    3PL's snapshot heads): taken last, their locks are held only until the commit, instead
    of while the rest of the batch applies, and every batch takes them in the same order."""
    pending = _at_end.get()
    if pending is None:
        work()
    else:
        pending.append(work)


class _Isolate(Exception):
    """A handler raised in the fast pass: run the batch again with savepoints."""


def inbound_events_process_batch(*, event_ids: list[int]) -> dict[str, int]:
    """Apply the still-`received` events among `event_ids`, oldest id first.

    Effects: locks them, skipping rows another worker holds (that worker applies them); per
    event as `inbound_event_process` with a non-final attempt; then writes every event's
    status, attempts, error and processing time, one UPDATE per distinct outcome. Returns
    counts by status.
    """
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            return _batch(event_ids, isolated=False)
        except _Isolate as error:
            if attempt == DEADLOCK_RETRIES or not _lost_a_deadlock(error):
                break
            # Two batches touching the same cases (or snapshot heads) in different orders:
            # each holds its locks until its commit. Without the rerun, the isolated pass
            # would meet the same locks, and its events would wait for the per-event retries.
            time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
    return _batch(event_ids, isolated=True)


DEADLOCK_RETRIES = 3


def _lost_a_deadlock(error: BaseException) -> bool:
    """Whether `error` comes from PostgreSQL's deadlock detector (SQLSTATE 40P01)."""
    while error is not None:
        if getattr(error, "sqlstate", None) == "40P01":
            return True
        error = error.__cause__
    return False


@transaction.atomic
def _batch(event_ids: list[int], *, isolated: bool) -> dict[str, int]:
    events = list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(pk__in=event_ids, status=InboundEventStatus.RECEIVED)
        .order_by("pk")
    )
    now = timezone.now()
    parsed = _parse(events)
    newest = _newest_applied(events)
    at_end: list[Callable[[], None]] = []
    token = _at_end.set(at_end)
    try:
        # Runs of one topic, in an order with the effects of arrival order (inbox_schedule);
        # the events whose rows another worker holds, and those that must follow them, last.
        keys, held = _footprints(events, parsed, isolated=isolated)
        first, last = held_last(events, keys, held)
        for run in [*runs_in_order(first, keys), *runs_in_order(last, keys)]:
            preparer = _preparers.get((run[0].source, run[0].topic))
            pairs = [(event, parsed[event.pk]) for event in run if event.pk in parsed]
            with _run_end(isolated=isolated), ExitStack() as prepared:
                if preparer and pairs:
                    _prepare(prepared, preparer, pairs, isolated=isolated)
                for event in run:
                    newer = _newer_than(event, newest)
                    _one(event, parsed.get(event.pk), newer, now=now, isolated=isolated)
                    _applied(event, newest)
    finally:
        _at_end.reset(token)
    for work in at_end:
        # It completes the events' effects: when it fails, the isolated pass runs it again,
        # and a failure there leaves the whole batch to the per-event retries.
        if isolated:
            work()
            continue
        try:
            work()
        except Exception as error:
            raise _Isolate from error
    return _write(events)


@contextmanager
def _run_end(*, isolated: bool):
    """A preparer may write its run's rows as the run ends (the carriers' milestones, in one
    INSERT): in the fast pass a failure there starts the batch over isolated, as a handler's
    does; in the isolated pass it leaves the whole batch to the per-event retries, as a
    failure of the batch's end work does."""
    try:
        yield
    except _Isolate:
        raise
    except Exception as error:
        if isolated:
            raise
        raise _Isolate from error


def _footprints(events: list[InboundEvent], parsed: dict, *, isolated: bool) -> tuple:
    """The events' footprints, and the keys whose rows another worker holds (the others'
    rows locked now); their reads can fail as a preparer's can: the fast pass then starts
    over isolated, and the isolated pass applies every event in arrival order."""

    def read() -> tuple:
        keys = footprints_read(events, parsed)
        return keys, held_elsewhere(keys)

    if not isolated:
        try:
            return read()
        except Exception as error:
            raise _Isolate from error
    savepoint = transaction.savepoint()
    try:
        keys_held = read()
    except Exception:
        logger.warning("Batch footprints failed; its events apply in arrival order", exc_info=True)
        transaction.savepoint_rollback(savepoint)
        return {}, set()
    transaction.savepoint_commit(savepoint)
    return keys_held


def _prepare(stack: ExitStack, preparer: Preparer, pairs: list, *, isolated: bool) -> None:
    """Enter the run's preparer. Its reads (and the locks it takes) can fail as a handler can,
    e.g. a deadlock with another worker: the fast pass then starts over isolated, and the
    isolated pass goes on without it, each handler reading for itself."""
    if not isolated:
        try:
            stack.enter_context(preparer(pairs))
        except Exception as error:
            raise _Isolate from error
        return
    savepoint = transaction.savepoint()
    try:
        stack.enter_context(preparer(pairs))
    except Exception:
        logger.warning("Batch preparer failed; its events read one at a time", exc_info=True)
        transaction.savepoint_rollback(savepoint)
    else:
        transaction.savepoint_commit(savepoint)


def _parse(events: list[InboundEvent]) -> dict[int, object]:
    """{event id: parsed message}; an event whose payload cannot be read parks now."""
    parsed = {}
    for event in events:
        if inbox_handler_for(source=event.source, topic=event.topic) is None:
            continue
        try:
            parsed[event.pk] = adapter_for(event.source).parse(event.topic, bytes(event.body))
        except (MalformedPayload, Unsupported) as error:
            _park(event, f"The payload cannot be read: {error}")
    return parsed


Subject = tuple[str, str, str]


def _subject(event: InboundEvent) -> Subject | None:
    """What a full-state event is the whole state of; None for any other event."""
    if (
        not event.subject_ref
        or not event.occurred_at
        or event.topic not in adapter_for(event.source).snapshot_topics
    ):
        return None
    return (event.source, event.topic, event.subject_ref)


def _newest_applied(events: list[InboundEvent]) -> dict[Subject, tuple]:
    """{subject: (occurred at, id) of its newest processed event} for the batch's full-state
    events, in one query: what `_superseded_by` asks one event at a time."""
    subjects = {subject for subject in map(_subject, events) if subject}
    if not subjects:
        return {}
    newest: dict[Subject, tuple] = {}
    for pk, source, topic, subject_ref, occurred_at in (
        InboundEvent.objects.filter(
            source__in={s[0] for s in subjects},
            topic__in={s[1] for s in subjects},
            subject_ref__in={s[2] for s in subjects},
            status=InboundEventStatus.PROCESSED,
            occurred_at__isnull=False,
        )
        .order_by("occurred_at")
        .values_list("pk", "source", "topic", "subject_ref", "occurred_at")
    ):
        newest[(source, topic, subject_ref)] = (occurred_at, pk)
    return newest


def _newer_than(event: InboundEvent, newest: dict[Subject, tuple]) -> int | None:
    """The id of a processed newer event about the same subject, counting the batch's own
    processed so far (as one at a time would find them); None when there is none."""
    subject = _subject(event)
    seen = newest.get(subject) if subject else None
    return seen[1] if seen and seen[0] > event.occurred_at else None


def _applied(event: InboundEvent, newest: dict[Subject, tuple]) -> None:
    subject = _subject(event)
    if subject and event.status == InboundEventStatus.PROCESSED:
        seen = newest.get(subject)
        if seen is None or event.occurred_at > seen[0]:
            newest[subject] = (event.occurred_at, event.pk)


def _one(event: InboundEvent, message, newer: int | None, *, now, isolated: bool) -> None:
    event.attempts += 1
    if event.status != InboundEventStatus.RECEIVED:
        return  # parked above: its payload cannot be read
    adapter = adapter_for(event.source)
    handler = inbox_handler_for(source=event.source, topic=event.topic)
    if handler is None:
        _park(event, f"No handler is registered for {event.topic!r}; replay it once one is.")
    elif newer is not None:
        event.status = InboundEventStatus.PROCESSED
        event.processed_at = now
        event.last_error = f"Superseded by the newer event #{newer}; not applied."
    elif isolated:
        _apply(event, adapter, handler, final_attempt=False)
    else:
        try:
            handler(event=event, message=message)
        except Exception as error:
            raise _Isolate from error
        event.status = InboundEventStatus.PROCESSED
        event.processed_at = now
        event.last_error = ""


def _write(events: list[InboundEvent]) -> dict[str, int]:
    """One UPDATE per distinct (status, error, processing time); attempts count up in SQL."""
    outcomes: dict[tuple, list[int]] = defaultdict(list)
    counts: dict[str, int] = {}
    for event in events:
        outcomes[(event.status, event.last_error, event.processed_at)].append(event.pk)
        counts[str(event.status)] = counts.get(str(event.status), 0) + 1
    for (status, error, processed_at), ids in outcomes.items():
        InboundEvent.objects.filter(pk__in=ids).update(
            status=status,
            last_error=error,
            processed_at=processed_at,
            attempts=F("attempts") + 1,
        )
    return counts


def inbound_events_retry(*, event_ids: list[int]) -> int:
    """Hand the events among `event_ids` still `received` after a batch (their handler failed,
    or another worker held them) to the per-event task, which retries with backoff and marks
    an event `failed` at its last attempt. Effects: none on the database."""
    pending = InboundEvent.objects.filter(pk__in=event_ids, status=InboundEventStatus.RECEIVED)
    ids = list(pending.values_list("pk", flat=True))
    for event_id in ids:
        _send_processing(event_id)
    return len(ids)
