"""Processing: the handler registry, order import, parking with an exception, replay, retries,
and out-of-order or repeated delivery having one effect."""

import json
import random
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from erp.models import ExceptionCase, InboundEvent, OrderLine, SalesOrder
from erp.roles import Role
from erp.services import (
    inbound_event_process,
    inbound_event_record,
    inbound_event_replay,
    inbox_handler_register,
    inbox_handler_unregister,
)
from erp.services.inbox import inbox_handler_for
from tests.factories import ChannelFactory, ChannelListingFactory

from .conftest import sample, sample_json, shopify_headers

pytestmark = pytest.mark.django_db

ORDER_ID = "820982911946154508"


@pytest.fixture
def shop():
    return ChannelFactory(code="shop-us", webhook_secret="hush")


@pytest.fixture
def listed(shop):
    return ChannelListingFactory(channel=shop, channel_sku="IPOD2008PINK", listing_id="808950810")


@pytest.fixture
def temporary_handler():
    """Register a handler for one test and put back whatever was there."""
    saved = []

    def register(source, topic, handler):
        saved.append((source, topic, inbox_handler_for(source=source, topic=topic)))
        inbox_handler_register(source=source, topic=topic, handler=handler)

    yield register
    for source, topic, previous in reversed(saved):
        if previous is None:
            inbox_handler_unregister(source=source, topic=topic)
        else:
            inbox_handler_register(source=source, topic=topic, handler=previous)


def deliver(body: bytes, *, topic: str, webhook_id: str, account: str = "shop-us") -> InboundEvent:
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
    }
    return inbound_event_record(source="shopify", account=account, body=body, headers=headers).event


def order_body(*, updated_at: str, quantity: int = 1, price: str = "199.00") -> bytes:
    data = sample_json("shopify_webhook_orders_updated.json")
    data["updated_at"] = updated_at
    for item in data["line_items"]:
        item["quantity"] = quantity
        item["price"] = price
    return json.dumps(data).encode()


def test_orders_updated_imports_the_order_through_the_channel_listing(shop, listed):
    event = deliver(
        sample("shopify_webhook_orders_updated.json"), topic="orders/updated", webhook_id="o1"
    )

    outcome = inbound_event_process(event_id=event.pk)

    event.refresh_from_db()
    assert (outcome.status, event.status, event.attempts) == ("processed", "processed", 1)
    assert event.processed_at is not None
    order = SalesOrder.objects.get()
    assert (order.channel, order.number, order.currency) == (shop, ORDER_ID, "USD")
    assert order.customer.email == "john@example.com"
    assert order.customer.channel_accounts.get().external_id == "115310627314723954"
    lines = list(order.lines.values_list("line_number", "channel_line_id", "product", "quantity"))
    assert lines == [
        (1, "866550311766439020", listed.product_id, 1),
        (2, "141249953214522974", listed.product_id, 1),
    ]
    assert order.history.count() == 1


def test_an_unknown_sku_parks_the_event_with_an_exception_and_replay_applies_it(shop, make_user):
    # Given an order whose variant the channel does not list
    event = deliver(
        sample("shopify_webhook_orders_updated.json"), topic="orders/updated", webhook_id="o1"
    )

    # When it is processed
    inbound_event_process(event_id=event.pk)

    # Then it parks with a reason a person can act on, and nothing was imported
    event.refresh_from_db()
    assert event.status == "parked"
    assert "Unknown SKU IPOD2008PINK (variant 808950810)" in event.last_error
    assert not SalesOrder.objects.exists()
    exception = ExceptionCase.objects.get()
    assert (exception.kind, exception.subject_type, exception.subject_id) == (
        "investigate_sku",
        "inbound_event",
        str(event.pk),
    )
    assert exception.evidence["external_id"] == "o1"

    # When the listing is added and an operations manager replays it
    ChannelListingFactory(channel=shop, channel_sku="IPOD2008PINK", listing_id="808950810")
    inbound_event_replay(event_id=event.pk, actor=make_user(Role.OPERATIONS_MANAGER))
    event.refresh_from_db()
    assert event.status == "received"
    inbound_event_process(event_id=event.pk)

    # Then it applies
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    assert SalesOrder.objects.get().lines.count() == 2


def test_replay_needs_the_permission_and_a_parked_or_failed_event(shop, listed, make_user):
    event = deliver(
        sample("shopify_webhook_orders_updated.json"), topic="orders/updated", webhook_id="o1"
    )
    inbound_event_process(event_id=event.pk)

    with pytest.raises(ValidationError, match="Only parked or failed"):
        inbound_event_replay(event_id=event.pk, actor=make_user(Role.OPERATIONS_MANAGER))
    with pytest.raises(PermissionDenied):
        inbound_event_replay(event_id=event.pk, actor=make_user(Role.CUSTOMER_SERVICE))
    event.refresh_from_db()
    assert event.status == "processed"


def test_a_topic_without_a_handler_parks_with_a_clear_error_and_no_exception(shop, monkeypatch):
    from erp.services import inbox

    monkeypatch.delitem(inbox._handlers, ("shopify", "reverse_fulfillment_orders/dispose"))
    event = deliver(
        sample("shopify_webhook_reverse_fulfillment_orders_dispose.json"),
        topic="reverse_fulfillment_orders/dispose",
        webhook_id="r1",
    )

    inbound_event_process(event_id=event.pk)

    event.refresh_from_db()
    assert event.status == "parked"
    assert event.last_error == (
        "No handler is registered for Shopify 'reverse_fulfillment_orders/dispose'; "
        "replay the event once one is."
    )
    assert not ExceptionCase.objects.exists()


def test_a_registered_handler_gets_the_parsed_message(shop, temporary_handler):
    seen = []
    temporary_handler("shopify", "returns/request", lambda *, event, message: seen.append(message))
    event = deliver(
        sample("shopify_webhook_returns_request_realistic.json"),
        topic="returns/request",
        webhook_id="r1",
    )

    inbound_event_process(event_id=event.pk)

    [message] = seen
    assert message.lines[0].line_item_id == "12695210000533"
    assert message.lines[0].reason_code == "UNWANTED"


def test_a_failing_handler_rolls_back_its_writes_retries_then_fails(shop, temporary_handler):
    calls = []

    def flaky(*, event, message):
        calls.append(1)
        ChannelFactory(code=f"written-{len(calls)}")
        raise RuntimeError("channel API down")

    temporary_handler("shopify", "returns/close", flaky)
    event = deliver(
        sample("shopify_webhook_returns_close.json"), topic="returns/close", webhook_id="r1"
    )

    first = inbound_event_process(event_id=event.pk, final_attempt=False)
    event.refresh_from_db()
    assert (first.retry, event.status, event.attempts) == (True, "received", 1)
    assert event.last_error == "RuntimeError: channel API down"

    last = inbound_event_process(event_id=event.pk, final_attempt=True)
    event.refresh_from_db()
    assert (last.retry, event.status, event.attempts) == (False, "failed", 2)
    # What the handler wrote before failing rolled back with it.
    assert not ChannelFactory._meta.model.objects.filter(code__startswith="written-").exists()


def test_processing_twice_has_one_effect(shop, listed):
    event = deliver(
        sample("shopify_webhook_orders_updated.json"), topic="orders/updated", webhook_id="o1"
    )

    outcomes = [inbound_event_process(event_id=event.pk).status for _ in range(3)]

    assert outcomes == ["processed"] * 3
    event.refresh_from_db()
    assert event.attempts == 1
    assert OrderLine.objects.count() == 2
    assert SalesOrder.objects.get().history.count() == 1


def test_eight_out_of_order_deliveries_leave_the_newest_state(shop, listed):
    # Given eight versions of the order, quantity n at time n, each delivered twice, shuffled
    base = "2026-01-01T10:00:{:02d}+00:00"
    versions = [(n, order_body(updated_at=base.format(n), quantity=n)) for n in range(1, 9)]
    deliveries = [(n, body) for n, body in versions for _ in range(2)]
    random.Random(7).shuffle(deliveries)

    # When each delivery is recorded and processed as it arrives
    for n, body in deliveries:
        event = deliver(body, topic="orders/updated", webhook_id=f"v{n}")
        inbound_event_process(event_id=event.pk)

    # Then there is one event per version, and the order shows the newest one
    assert InboundEvent.objects.count() == 8
    assert set(OrderLine.objects.values_list("quantity", flat=True)) == {8}
    assert SalesOrder.objects.count() == 1
    superseded = InboundEvent.objects.filter(last_error__startswith="Superseded")
    assert all(e.status == "processed" for e in superseded)


def test_an_older_snapshot_after_a_newer_one_changes_nothing(shop, listed):
    newer = deliver(
        order_body(updated_at="2026-01-02T00:00:00Z", quantity=3),
        topic="orders/updated",
        webhook_id="new",
    )
    older = deliver(
        order_body(updated_at="2026-01-01T00:00:00Z", quantity=1),
        topic="orders/updated",
        webhook_id="old",
    )

    inbound_event_process(event_id=newer.pk)
    inbound_event_process(event_id=older.pk)

    older.refresh_from_db()
    assert older.status == "processed"
    assert older.last_error == f"Superseded by the newer event #{newer.pk}; not applied."
    assert set(OrderLine.objects.values_list("quantity", flat=True)) == {3}


def test_a_webhook_through_processing_end_to_end(
    client, shop, listed, django_capture_on_commit_callbacks, monkeypatch
):
    # The after-commit hook queues the event for a batch task; here it is run in-process
    # instead of by a broker.
    sent = []
    monkeypatch.setattr("erp.services.inbox_dispatch.processing_queue", sent.append)
    body = sample("shopify_webhook_orders_updated.json")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("webhook_shopify", kwargs={"account": "shop-us"}),
            data=body,
            content_type="application/json",
            **shopify_headers(body, topic="orders/updated", webhook_id="e2e"),
        )

    event = InboundEvent.objects.get()
    assert (response.status_code, sent) == (202, [event.pk])
    inbound_event_process(event_id=sent[0])
    assert SalesOrder.objects.get().number == ORDER_ID


def test_stale_received_events_are_sent_again(shop, monkeypatch):
    from erp.services import inbound_events_requeue_stale

    sent = []
    monkeypatch.setattr("erp.services.inbox._send_processing", sent.append)
    stale = deliver(
        sample("shopify_webhook_returns_close.json"), topic="returns/close", webhook_id="s"
    )
    fresh = deliver(
        sample("shopify_webhook_returns_cancel.json"), topic="returns/cancel", webhook_id="f"
    )
    InboundEvent.objects.filter(pk=stale.pk).update(
        received_at=stale.received_at - timedelta(minutes=5)
    )

    assert inbound_events_requeue_stale() == 1
    assert sent == [stale.pk]
    assert fresh.pk not in sent


def test_the_task_retries_a_failing_handler_then_fails_the_event(shop, temporary_handler):
    from erp.tasks import inbox_process

    def broken(*, event, message):
        raise RuntimeError("still down")

    temporary_handler("shopify", "returns/close", broken)
    event = deliver(
        sample("shopify_webhook_returns_close.json"), topic="returns/close", webhook_id="t1"
    )

    # When the task runs (eagerly, each retry at once instead of after its backoff)
    result = inbox_process.apply(args=[event.pk])

    # Then it tried once plus every retry, and the last attempt marked the event failed
    event.refresh_from_db()
    assert result.result == {"event": event.pk, "status": "failed"}
    assert event.attempts == inbox_process.max_retries + 1
    assert (event.status, event.last_error) == ("failed", "RuntimeError: still down")
