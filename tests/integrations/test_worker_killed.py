"""Real Celery workers and a real broker: a worker SIGKILLed in the middle of a handler leaves
no trace, a second worker applies the event exactly once; two workers on one queue never
apply an event twice."""

import os
import signal

import psycopg
import pytest
from django.utils import timezone

from erp.models import InboundEvent
from erp.models.inbox import InboundEventStatus
from erp.services import inbound_event_record, inbound_events_requeue_stale
from erp.services.inbox import STALE_AFTER, _send_processing
from returns.models import ExternalEventKind, ReturnCase, ReturnCaseEvent
from tests import worker
from tests.returns.conftest import delivered_order, open_case
from tests.worker import blocked_on_a_lock, running_worker, wait_for, worker_pid

from .conftest import easypost_body
from .test_carrier_handlers import label

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

State = ReturnCase.State


def in_transit_event(case: ReturnCase, tracking: str, event_id: str) -> InboundEvent:
    body = easypost_body(
        event_id=event_id, status="in_transit", at="2026-11-20T10:00:00Z", tracking=tracking
    )
    return inbound_event_record(source="easypost", account="main", body=body, headers={}).event


def test_a_worker_killed_mid_handler_leaves_the_event_to_another_worker_once(settings, cs_user):
    # given: an authorized case with a label, and its carrier's "in transit" event
    case = open_case(delivered_order(), cs_user)
    label(case, tracking="1ZKILL")
    # the case row is locked by someone else, so the handler will stop half-way through
    blocker = psycopg.connect(worker.test_database_url())
    blocker.execute("SELECT id FROM returns_returncase WHERE id = %s FOR UPDATE", [case.pk])
    monitor = psycopg.connect(worker.test_database_url(), autocommit=True)
    try:
        with running_worker() as (queue, hostname):
            settings.ERP_INTEGRATION_QUEUE = queue
            event = in_transit_event(case, "1ZKILL", "evt_kill")
            # when: the worker is inside the handler (waiting for the case) ...
            wait_for(lambda: blocked_on_a_lock(monitor), what="the handler to start")
            # ... it is killed outright
            os.kill(worker_pid(hostname), signal.SIGKILL)
        # the dead worker's transaction rolls back once its backend finds the client gone
        blocker.rollback()
        wait_for(lambda: not blocked_on_a_lock(monitor), what="the dead transaction to end")
    finally:
        blocker.close()
        monitor.close()

    # then: nothing of the half-done work is left; the event still waits
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEventStatus.RECEIVED, 0)
    assert ReturnCase.objects.get(pk=case.pk).state == State.AUTHORIZED
    assert not ReturnCaseEvent.objects.filter(kind=ExternalEventKind.IN_TRANSIT).exists()

    # when: the stale sweep hands it to a second worker
    with running_worker() as (queue, _hostname):
        settings.ERP_INTEGRATION_QUEUE = queue
        assert inbound_events_requeue_stale(now=timezone.now() + STALE_AFTER * 2) == 1
        wait_for(
            lambda: InboundEvent.objects.get(pk=event.pk).status == InboundEventStatus.PROCESSED,
            what="the second worker",
        )

    # then: applied exactly once
    event.refresh_from_db()
    assert event.attempts == 1
    case.refresh_from_db()
    assert (case.state, case.tracking_number) == (State.IN_TRANSIT, "1ZKILL")
    reasons = list(case.history.values_list("history_change_reason", flat=True))
    assert reasons.count("Shipped with UPS") == 1
    assert ReturnCaseEvent.objects.filter(kind=ExternalEventKind.IN_TRANSIT).count() == 1


def test_two_workers_on_one_queue_apply_each_event_once(settings, cs_user):
    # given: ten authorized cases, each with its carrier's event
    cases = []
    for n in range(10):
        case = open_case(delivered_order(), cs_user)
        label(case, tracking=f"1ZTWO{n}")
        cases.append(case)
    with running_worker() as (queue, _first), running_worker(queue=queue) as (_, _second):
        settings.ERP_INTEGRATION_QUEUE = queue
        events = [in_transit_event(c, f"1ZTWO{n}", f"evt_two_{n}") for n, c in enumerate(cases)]
        # when: each event's processing is requested three times over, for both to compete
        for _ in range(2):
            for event in events:
                _send_processing(event.pk)
        wait_for(
            lambda: not InboundEvent.objects.exclude(status=InboundEventStatus.PROCESSED).exists(),
            what="both workers to drain the queue",
        )

    # then: every event applied once, every case shipped once
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}
    for case in cases:
        case.refresh_from_db()
        assert case.state == State.IN_TRANSIT
        reasons = list(case.history.values_list("history_change_reason", flat=True))
        assert reasons.count("Shipped with UPS") == 1
    assert ReturnCaseEvent.objects.filter(kind=ExternalEventKind.IN_TRANSIT).count() == 10
