"""The inbox and the outbox through a real broker (Redis) and a real worker process."""

import json

import pytest
from django.urls import reverse

from erp.models import InboundEvent, OutboundEndpoint, OutboxMessage, SalesOrder
from erp.services import outbox_enqueue
from tests.factories import ChannelFactory, ChannelListingFactory
from tests.worker import running_worker, wait_for

from .conftest import sample, shopify_headers
from .test_outbox_dispatch import channel_server

pytestmark = pytest.mark.worker


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_webhook_is_processed_by_a_worker_once_however_often_it_is_delivered(client, settings):
    # Given a Shopify channel that lists the order's variant
    shop = ChannelFactory(code="shop-us", webhook_secret="hush")
    ChannelListingFactory(channel=shop, channel_sku="IPOD2008PINK", listing_id="808950810")
    body = sample("shopify_webhook_orders_updated.json")
    headers = shopify_headers(body, topic="orders/updated", webhook_id="live-1")
    url = reverse("webhook_shopify", kwargs={"account": "shop-us"})

    with running_worker() as (queue, _hostname):
        settings.ERP_INTEGRATION_QUEUE = queue
        # When Shopify delivers the event three times
        statuses = [
            client.post(url, data=body, content_type="application/json", **headers).status_code
            for _ in range(3)
        ]
        event = InboundEvent.objects.get()
        # Then the worker applies it after the first commit
        wait_for(
            lambda: InboundEvent.objects.get(pk=event.pk).status == "processed",
            what="the worker to process the event",
        )

    assert statuses == [202, 200, 200]
    event.refresh_from_db()
    assert event.attempts == 1
    order = SalesOrder.objects.get()
    assert order.lines.count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_outbox_message_is_dispatched_by_a_worker_after_commit(settings):
    with channel_server() as channel, running_worker() as (queue, _hostname):
        settings.ERP_INTEGRATION_QUEUE = queue
        OutboundEndpoint.objects.create(
            topic="availability.changed", url=channel.url, secret="k", timeout_seconds=5
        )
        # When a message is queued (autocommit: the after-commit trigger fires at once)
        message = outbox_enqueue(
            topic="availability.changed", payload={"sku": "A", "ats": 3}, dedupe_key="ats:A:1"
        )
        wait_for(
            lambda: OutboxMessage.objects.get(pk=message.pk).dispatched_at is not None,
            what="the worker to dispatch the message",
        )

    # Then the channel received it once
    assert [json.loads(r["body"])["payload"] for r in channel.received] == [{"sku": "A", "ats": 3}]
