"""Availability pushes to real HTTP servers on 127.0.0.1: a Shopify-style inventory set call
and a signed generic REST PUT, chosen per channel; an outage is retried with backoff and
drains in order per SKU; the acknowledged version lands on ChannelAvailability."""

import base64
import hashlib
import hmac
import json
import threading
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from erp.models import Channel, ChannelListing, OutboundEndpoint, OutboxMessage
from erp.services import availability_push as push
from erp.services import outbox_dispatch_due
from erp.services.outbox_dispatch import backoff
from inventory import services as stock
from inventory.availability_sync import channel_availability_acknowledge
from inventory.models import ChannelAvailability
from tests.factories import ChannelListingFactory
from tests.inventory.conftest import make_world

pytestmark = pytest.mark.django_db

TOKEN = "shpat_test_token"
REST_SECRET = "rest-secret"
LOCATION = "905684977"
# Variant id → inventory item id, as the fake Shopify knows them (beyond float precision).
ITEMS = {"44810235412345678": "46915237789012345", "44810235412345679": "46915237789012346"}


class FakeChannels:
    """Shopify's Admin API and a generic REST channel in one server: records every request,
    answers 503 while `down`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.down = False
        self.lock = threading.Lock()


@contextmanager
def channels_server():
    fake = FakeChannels()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with fake.lock:
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "status": 503 if fake.down else 200,
                    }
                )
                down = fake.down
            if down:
                self.send_response(503)
                self.end_headers()
                self.wfile.write(b"maintenance")
                return
            answer = b"{}"
            if self.command == "GET" and self.path.startswith("/admin/api/2024-07/variants/"):
                variant = self.path.rsplit("/", 1)[-1].removesuffix(".json")
                answer = (
                    f'{{"variant": {{"id": {variant}, "inventory_item_id": {ITEMS[variant]}}}}}'
                )
                answer = answer.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fake.base = f"http://127.0.0.1:{server.server_port}"
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake():
    push._inventory_items.clear()
    with channels_server() as running:
        yield running
    push._inventory_items.clear()


@pytest.fixture
def world(fake):
    world = make_world()
    Channel.objects.filter(pk=world.storefront.pk).update(platform=Channel.Platform.SHOPIFY)
    Channel.objects.filter(pk=world.outlet.pk).update(platform=Channel.Platform.OTHER)
    for product, variant in zip((world.plain, world.lotted), ITEMS, strict=True):
        ChannelListingFactory(
            channel=world.storefront, product=product, channel_sku=product.sku, listing_id=variant
        )
    ChannelListingFactory(channel=world.outlet, product=world.plain, channel_sku="OUT/PLAIN")
    ChannelListingFactory(channel=world.outlet, product=world.lotted, channel_sku="OUT-LOTTED")
    OutboundEndpoint.objects.create(
        topic="availability.changed:store", url=f"{fake.base}/?location_id={LOCATION}", secret=TOKEN
    )
    OutboundEndpoint.objects.create(
        topic="availability.changed:outlet", url=f"{fake.base}/stock/{{sku}}", secret=REST_SECRET
    )
    return world


def receive(world, product, qty: int, key: str) -> None:
    stock.stock_receive(
        product_id=product.pk,
        location_id=world.shelf_a.pk,
        qty=qty,
        idempotency_key=key,
        lot="L1" if product == world.lotted else "",
    )


def drain(start) -> list:
    """Dispatch as the beat would, stepping the clock past each backoff, until all are sent."""
    moment = start
    results = []
    for _ in range(20):
        results.append(outbox_dispatch_due(now=moment))
        if not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists():
            break
        moment += backoff(8)
    return results


def shopify_sets(fake) -> list[dict]:
    return [
        json.loads(r["body"])
        for r in fake.requests
        if r["method"] == "POST" and r["path"] == "/admin/api/2024-07/inventory_levels/set.json"
    ]


def test_an_outage_is_retried_with_backoff_then_drains_in_order_per_sku(world, fake):
    # given: three ATS changes of PLAIN and one of LOTTED, while every channel is down
    for n, qty in enumerate((5, 3, 4), start=1):
        receive(world, world.plain, qty, f"plain-{n}")
    receive(world, world.lotted, 7, "lotted-1")
    fake.down = True
    now = timezone.now()

    # when: the dispatcher runs during the outage
    first = outbox_dispatch_due(now=now)

    # then: only the head of each (channel, SKU) queue was tried; each waits for its backoff
    assert (first.sent, first.failed) == (0, 4)
    tried = OutboxMessage.objects.filter(attempts=1)
    assert {m.ordering_key for m in tried} == {
        f"availability:{world.storefront.pk}:{world.plain.pk}",
        f"availability:{world.storefront.pk}:{world.lotted.pk}",
        f"availability:{world.outlet.pk}:{world.plain.pk}",
        f"availability:{world.outlet.pk}:{world.lotted.pk}",
    }
    assert all(m.next_attempt_at == now + backoff(1) for m in tried)
    assert "HTTP 503" in tried.first().last_error
    assert not ChannelAvailability.objects.filter(last_pushed_version__gt=0).exists()
    # and nothing is due again before its backoff, even once the channel is back
    fake.down = False
    assert outbox_dispatch_due(now=now + timedelta(seconds=5)).sent == 0

    # when: time passes and the dispatcher runs again
    drain(now + backoff(1))

    # then: Shopify saw PLAIN's levels in ATS order, with ids intact, once each version
    sets = shopify_sets(fake)
    plain_item = int(ITEMS["44810235412345678"])
    assert [s["available"] for s in sets if s["inventory_item_id"] == plain_item] == [5, 8, 12]
    assert {s["location_id"] for s in sets} == {int(LOCATION)}
    assert all(
        r["headers"]["x-shopify-access-token"] == TOKEN
        for r in fake.requests
        if r["path"].startswith("/admin/")
    )
    # the variant → inventory item look-up happened once per variant, not per push
    lookups = [r for r in fake.requests if r["method"] == "GET" and r["status"] == 200]
    assert sorted(r["path"] for r in lookups) == sorted(
        f"/admin/api/2024-07/variants/{v}.json" for v in ITEMS
    )
    # and the REST channel got signed PUTs in version order
    puts = [r for r in fake.requests if r["method"] == "PUT"]
    delivered = [json.loads(r["body"]) for r in puts if r["headers"].get("content-length")]
    assert [(d["sku"], d["version"], d["available"]) for d in delivered if d["available"] != 7][
        -3:
    ] == [
        ("OUT/PLAIN", 1, 5),
        ("OUT/PLAIN", 2, 8),
        ("OUT/PLAIN", 3, 12),
    ]
    assert {r["path"] for r in puts} == {"/stock/OUT%2FPLAIN", "/stock/OUT-LOTTED"}
    for request in puts:
        expected = base64.b64encode(
            hmac.new(REST_SECRET.encode(), request["body"], hashlib.sha256).digest()
        ).decode()
        assert request["headers"]["x-erp-hmac-sha256"] == expected
    # and every channel's acknowledged version is its current version
    for row in ChannelAvailability.objects.all():
        assert row.last_pushed_version == row.version, row
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


def test_a_channel_without_an_endpoint_is_not_pushed_and_not_acknowledged(world, fake):
    OutboundEndpoint.objects.filter(topic="availability.changed:outlet").delete()
    receive(world, world.plain, 2, "plain-1")

    drain(timezone.now())

    outlet = ChannelAvailability.objects.get(channel=world.outlet, product=world.plain)
    assert (outlet.version, outlet.last_pushed_version) == (1, 0)
    assert not [r for r in fake.requests if r["method"] == "PUT"]
    store = ChannelAvailability.objects.get(channel=world.storefront, product=world.plain)
    assert store.last_pushed_version == 1


def test_a_listing_missing_on_the_channel_is_retried_with_a_clear_error(world, fake):
    receive(world, world.lotted, 1, "lotted-1")
    ChannelListing.objects.filter(channel=world.storefront, product=world.lotted).update(
        is_active=False
    )

    outbox_dispatch_due(now=timezone.now())

    message = OutboxMessage.objects.get(payload__channel_id=world.storefront.pk)
    assert message.dispatched_at is None
    assert "store lists no active SKU" in message.last_error


def test_an_acknowledgement_never_lowers_the_pushed_version(world):
    receive(world, world.plain, 2, "plain-1")
    receive(world, world.plain, 2, "plain-2")
    channel_availability_acknowledge(
        channel_id=world.outlet.pk, product_id=world.plain.pk, version=2
    )

    updated = channel_availability_acknowledge(
        channel_id=world.outlet.pk, product_id=world.plain.pk, version=1
    )

    assert updated == 1
    row = ChannelAvailability.objects.get(channel=world.outlet, product=world.plain)
    assert row.last_pushed_version == 2
