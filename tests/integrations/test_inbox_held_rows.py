"""Rows two workers' batches both need (erp.services.inbox_schedule): a batch locks its
carrier reports' cases as it starts, without waiting; the reports of a case another worker
holds apply last, with every later event that must follow them, and the batch applies its
other events meanwhile instead of waiting for that worker's commit at the first of them."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from erp.models import InboundEvent
from erp.services.inbox_schedule import held_last, inbox_batch_locker_register
from returns.handlers import return_cases_lock_free
from returns.models import ExternalEventKind, ReturnCase, ReturnCaseEvent

from .conftest import easypost_body
from .test_inbox_batch_preparers import (
    both_ways,
    carrier_effects,
    in_one_batch,
    in_transit_reports,
    make_parcels,
    receive,
    tracking,
)

State = ReturnCase.State


def event(pk: int, topic: str) -> InboundEvent:
    return InboundEvent(pk=pk, source="easypost", topic=topic)


def test_events_on_held_rows_and_every_later_event_that_conflicts_with_them_wait():
    # given: reports about cases a (held by another worker), b and c, a request on order 1,
    # and a label (a barrier: no footprint)
    events = [event(n, "t") for n in range(1, 8)]
    keys = {
        1: frozenset({("case", "b")}),
        2: frozenset({("case", "a")}),
        3: frozenset({("case", "c")}),
        4: frozenset({("case", "a"), ("tracking", "x")}),
        5: frozenset({("tracking", "x")}),  # shares a key with a waiting report
        6: None,  # a barrier after a waiting event waits
        7: frozenset({("order", 1)}),  # after a waiting barrier: waits
    }

    # when
    first, last = held_last(events, keys, {("case", "a")})

    # then: each part in arrival order
    assert [e.pk for e in first] == [1, 3]
    assert [e.pk for e in last] == [2, 4, 5, 6, 7]
    # a barrier before any waiting event, and nothing held: nothing waits
    keys[1] = None
    assert [e.pk for e in held_last(events, keys, {("case", "a")})[0]] == [1, 3]
    assert held_last(events, keys, set()) == (events, [])


@contextmanager
def cases_held_elsewhere(case_ids: set[int]):
    """The batch's case locker finds `case_ids` held by another worker for the block."""

    def locker(ids: set[int]) -> set[int]:
        return return_cases_lock_free(ids - case_ids) | (ids & case_ids)

    inbox_batch_locker_register(kind="case", locker=locker)
    try:
        yield
    finally:
        inbox_batch_locker_register(kind="case", locker=return_cases_lock_free)


@pytest.mark.django_db
def test_the_reports_of_a_case_another_worker_holds_apply_last_with_the_effects_of_one_at_a_time(
    cs_user,
):
    # given: parcel 0 in transit, parcel 1 in transit, parcel 0 delivered, parcel 2 in
    # transit, in that order; another worker holds parcel 0's case
    parcels = make_parcels(cs_user, 3)

    def report(k: int, status: str, at: str) -> InboundEvent:
        body = easypost_body(
            event_id=f"evt_{k}_{status}", status=status, at=at, tracking=tracking(k)
        )
        return receive("easypost", body)

    events = [
        report(0, "in_transit", "2026-11-20T10:00:00Z"),
        report(1, "in_transit", "2026-11-20T11:00:00Z"),
        report(0, "delivered", "2026-11-21T10:00:00Z"),
        report(2, "in_transit", "2026-11-20T12:00:00Z"),
    ]

    # when
    with cases_held_elsewhere({parcels[0].pk}):
        alone, batched, _, _ = both_ways(events, lambda: carrier_effects(parcels))

    # then: the same effects as one at a time; parcel 0's reports applied after the others,
    # in their own order
    assert batched == alone
    assert [state for state, *_ in batched[0]] == [
        State.DELIVERED,
        State.IN_TRANSIT,
        State.IN_TRANSIT,
    ]
    applied = ReturnCaseEvent.objects.exclude(kind=ExternalEventKind.LABEL).order_by("pk")
    assert list(applied.values_list("inbound_event_id", flat=True)) == [
        events[1].pk,
        events[3].pk,
        events[0].pk,
        events[2].pk,
    ]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_applies_its_other_reports_before_it_waits_for_a_case_another_worker_holds(
    cs_user,
):
    # given: in-transit reports of two parcels; another worker's transaction holds the first
    # parcel's case
    held, free = make_parcels(cs_user, 2)
    events = in_transit_reports([tracking(0), tracking(1)])
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                list(ReturnCase.objects.select_for_update().filter(pk=held.pk))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=other_worker)
    holder.start()
    assert locked.wait(timeout=10)
    connection.ensure_connection()
    batch_pid = connection.connection.info.backend_pid
    done_at_wait: list[str] = []

    def watch(captured):
        """When the batch waits for a lock: what it had done by then; then the other worker
        commits."""
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [batch_pid]
                    )
                    (waiting,) = cursor.fetchone()
                if waiting == "Lock":
                    done_at_wait.extend(query["sql"] for query in captured.captured_queries)
                    break
                time.sleep(0.02)
        finally:
            release.set()
            connection.close()

    # when: the batch runs while the other worker holds the case (its own connection object,
    # not the per-thread proxy: the watcher reads its statements)
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as captured:
        watcher = threading.Thread(target=watch, args=(captured,))
        watcher.start()
        counts = in_one_batch(events)
    watcher.join(timeout=30)
    holder.join(timeout=30)

    # then: it waited only after writing the free parcel's milestone, and, once the other
    # worker committed, applied both reports once
    assert done_at_wait, "the batch never waited for the held case"
    assert any('INSERT INTO "returns_returncaseevent"' in sql for sql in done_at_wait)
    assert counts == {"processed": 2}
    moved = ReturnCase.objects.filter(pk__in=[held.pk, free.pk])
    assert set(moved.values_list("state", flat=True)) == {State.IN_TRANSIT}
    milestones = ReturnCaseEvent.objects.filter(kind=ExternalEventKind.IN_TRANSIT)
    assert sorted(milestones.values_list("case_id", flat=True)) == sorted([held.pk, free.pk])
