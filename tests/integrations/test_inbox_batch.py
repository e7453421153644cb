"""Draining a backlog in batches (erp.tasks.inbox_process_batch): each event has the outcome
the per-event path gives it, once, and a batch run twice or alongside another changes
nothing more."""

import json

import pytest

from erp.models import ExceptionCase, InboundEvent
from erp.models.inbox import InboundEventStatus
from erp.services import inbound_event_record, inbox_handler_register
from erp.services.inbox import inbox_handler_for, inbox_handler_unregister
from erp.tasks import inbox_process_batch

from .conftest import sample_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_orders_handler():
    """orders/updated fails for the test's duration (the real handler comes back after)."""
    real = inbox_handler_for(source="shopify", topic="orders/updated")

    def fail(*, event, message):
        raise RuntimeError("the channel's API timed out")

    inbox_handler_register(source="shopify", topic="orders/updated", handler=fail)
    yield
    inbox_handler_unregister(source="shopify", topic="orders/updated")
    if real is not None:
        inbox_handler_register(source="shopify", topic="orders/updated", handler=real)


def deliver(topic: str, body: dict, webhook_id: str) -> InboundEvent:
    return inbound_event_record(
        source="shopify",
        account="shop-us",
        body=json.dumps(body).encode(),
        headers={"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id},
    ).event


def test_a_batch_gives_each_event_its_outcome_once(failing_orders_handler):
    # given: an event nobody handles, one whose handler fails, one for an unknown channel
    unhandled = deliver("returns/teleport", {"id": 1}, "w1")
    failing = deliver("orders/updated", sample_json("shopify_webhook_orders_updated.json"), "w2")
    unknown = deliver("refunds/create", sample_json("shopify_webhook_refunds_create.json"), "w3")
    ids = [unhandled.pk, failing.pk, unknown.pk]

    # when: the batch runs, then runs again
    first = inbox_process_batch(ids)
    second = inbox_process_batch(ids)

    # then: parked with the reason (and an exception where master data is missing); the
    # failure stays received with its error for the per-event retries; nothing twice
    assert first == {"parked": 2, "received": 1}
    assert second == {"received": 1}
    events = {e.pk: e for e in InboundEvent.objects.filter(pk__in=ids)}
    assert events[unhandled.pk].status == InboundEventStatus.PARKED
    assert "No handler" in events[unhandled.pk].last_error
    assert events[unknown.pk].status == InboundEventStatus.PARKED
    assert "shop-us" in events[unknown.pk].last_error
    assert events[failing.pk].status == InboundEventStatus.RECEIVED
    assert events[failing.pk].last_error == "RuntimeError: the channel's API timed out"
    assert (events[unhandled.pk].attempts, events[failing.pk].attempts) == (1, 2)
    assert ExceptionCase.objects.filter(subject_id=str(unknown.pk)).count() == 1
