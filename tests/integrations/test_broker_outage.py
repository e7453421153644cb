"""Redis stopped during a burst of webhooks: every delivery is accepted and stored, and all
are processed once the broker is back (the beat's sweep resends what was never queued)."""

import shutil
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from erp.models import InboundEvent, SalesOrder
from erp.services import inbound_events_requeue_stale
from tests.brokers import app_broker, free_port, redis_server
from tests.factories import ChannelFactory, ChannelListingFactory
from tests.worker import running_worker

from .conftest import sample, shopify_headers

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_webhooks_during_a_broker_outage_are_processed_when_it_returns(client, settings):
    # (The worker is another process: it applies orders/updated, which erp handles itself.)
    shop = ChannelFactory(code="shop-us", webhook_secret="hush")
    ChannelListingFactory(channel=shop, channel_sku="IPOD2008PINK", listing_id="808950810")
    body = sample("shopify_webhook_orders_updated.json")
    url = reverse("webhook_shopify", kwargs={"account": "shop-us"})
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    with app_broker(broker):
        # Given the broker is down (nothing listens on its port)
        # When a burst of 20 webhooks arrives
        started = time.monotonic()
        statuses = [
            client.post(
                url,
                data=body,
                content_type="application/json",
                **shopify_headers(body, topic="orders/updated", webhook_id=f"burst-{n}"),
            ).status_code
            for n in range(20)
        ]
        elapsed = time.monotonic() - started
        # Then every one is accepted and stored, waiting for a worker
        assert statuses == [202] * 20
        assert InboundEvent.objects.filter(status="received").count() == 20
        assert elapsed < 20, "webhooks must not wait for the broker"

        # When the broker is back, a worker runs, and the sweep comes round
        with (
            redis_server(port),
            running_worker(env={"CELERY_BROKER_URL": broker}) as (
                queue,
                _hostname,
            ),
        ):
            settings.ERP_INTEGRATION_QUEUE = queue
            assert inbound_events_requeue_stale(now=timezone.now() + timedelta(minutes=5)) == 20
            deadline = time.monotonic() + 40
            while InboundEvent.objects.exclude(status="processed").exists():
                assert time.monotonic() < deadline, "the backlog was not processed"
                time.sleep(0.2)

    # Then all 20 were processed, each once, into one order
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}
    assert SalesOrder.objects.get().lines.count() == 2
