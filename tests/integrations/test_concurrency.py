"""Two workers on the same event: the row lock makes the second find it done."""

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from erp.models import InboundEvent
from erp.services import inbound_event_process, inbound_event_record, inbox_handler_register
from erp.services.inbox import inbox_handler_for, inbox_handler_unregister
from tests.factories import ChannelFactory

from .conftest import sample, shopify_headers


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_processors_of_one_event_apply_it_once():
    # Given a committed event and a handler slow enough for the two to overlap
    ChannelFactory(code="shop-us")
    calls = []

    def slow(*, event, message):
        calls.append(event.pk)
        time.sleep(0.5)

    previous = inbox_handler_for(source="shopify", topic="returns/close")
    inbox_handler_register(source="shopify", topic="returns/close", handler=slow)
    event = inbound_event_record(
        source="shopify",
        account="shop-us",
        body=sample("shopify_webhook_returns_close.json"),
        headers={"X-Shopify-Topic": "returns/close", "X-Shopify-Webhook-Id": "once"},
    ).event
    outcomes = []

    def process():
        try:
            outcomes.append(inbound_event_process(event_id=event.pk).status)
        finally:
            connection.close()

    # When two workers process it at the same moment
    try:
        threads = [threading.Thread(target=process) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        if previous is None:
            inbox_handler_unregister(source="shopify", topic="returns/close")
        else:
            inbox_handler_register(source="shopify", topic="returns/close", handler=previous)

    # Then the handler ran once, and both report it processed
    assert calls == [event.pk]
    assert outcomes == ["processed", "processed"]
    assert InboundEvent.objects.get().attempts == 1


@pytest.mark.django_db
def test_webhooks_need_no_csrf_token():
    ChannelFactory(code="shop-us", webhook_secret="hush")
    body = sample("shopify_webhook_returns_close.json")
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(
        reverse("webhook_shopify", kwargs={"account": "shop-us"}),
        data=body,
        content_type="application/json",
        **shopify_headers(body, topic="returns/close", webhook_id="c1"),
    )

    assert response.status_code == 202
