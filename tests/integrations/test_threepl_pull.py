"""ShipBob and Extensiv pull clients against real HTTP servers on 127.0.0.1 speaking the sample
shapes: pagination, bearer auth, one inbound event per pull with the inbox's idempotency, and
the scheduled task."""

import copy
import json
import threading
import urllib.parse
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings

from erp.adapters.threepl_pull import (
    ThreePLPullError,
    extensiv_stock_summaries_pull,
    shipbob_inventory_pull,
)
from erp.models import InboundEvent
from erp.models.inbox import InboundEventStatus
from erp.services import inbound_event_process, inbox_handler_register
from erp.services.inbox import inbox_handler_for, inbox_handler_unregister
from erp.services.threepl_pull import threepl_stock_pull, threepl_stock_pull_all

from .conftest import sample_json

TOKEN = "pat-3pl"
AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def shipbob_items(n: int) -> list[dict]:
    base = sample_json("shipbob_inventory_v1_item.json")
    items = []
    for i in range(n):
        item = copy.deepcopy(base)
        item.update(id=1000 + i, sku=f"SB-{i}", name=f"Item {i}")
        item["fulfillable_quantity_by_fulfillment_center"][0]["onhand_quantity"] = str(10 + i)
        items.append(item)
    return items


def extensiv_rows(n: int) -> list[dict]:
    """Summaries in PascalCase, as some SecureWMS clients see them."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "FacilityId": 1,
                "ItemIdentifier": {"Sku": f"EX-{i}", "Id": 100 + i},
                "OnHand": str(20 + i),
                "Allocated": 1,
                "OnHold": 0,
                "Available": 19 + i,
            }
        )
    return rows


class Fake3PL:
    def __init__(self, *, shipbob: list[dict], extensiv: list[dict]):
        self.shipbob = shipbob
        self.extensiv = extensiv
        self.requests: list[tuple[str, str]] = []
        self.down = False


@contextmanager
def threepl_server(fake: Fake3PL):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            fake.requests.append((self.path, self.headers.get("Authorization", "")))
            if fake.down or self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(503 if fake.down else 401)
                self.end_headers()
                self.wfile.write(b'{"error": "no"}')
                return
            if parts.path == "/shipbob/inventory":
                page, limit = int(query["Page"]), int(query["Limit"])
                answer = fake.shipbob[(page - 1) * limit : page * limit]
            elif parts.path == "/extensiv/inventory/stocksummaries":
                page, size = int(query["pgnum"]), int(query["pgsiz"])
                answer = {
                    "TotalResults": len(fake.extensiv),
                    "Summaries": fake.extensiv[(page - 1) * size : page * size],
                }
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def temporary_handler():
    """Stand in for reconciliation's handler during one test, then put it back."""
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


@pytest.fixture
def fake():
    return Fake3PL(shipbob=shipbob_items(5), extensiv=extensiv_rows(5))


@pytest.fixture
def base(fake, settings):
    with threepl_server(fake) as url:
        settings.ERP_THREEPL_BASE_URLS = {
            "shipbob": f"{url}/shipbob",
            "extensiv": f"{url}/extensiv",
        }
        yield url


def test_shipbob_client_follows_pages_until_a_short_one(fake, base):
    body = shipbob_inventory_pull(base_url=f"{base}/shipbob", token=TOKEN, page_size=2)

    items = json.loads(body)["items"]
    assert [item["sku"] for item in items] == [f"SB-{i}" for i in range(5)]
    assert [path for path, _ in fake.requests] == [
        "/shipbob/inventory?Page=1&Limit=2",
        "/shipbob/inventory?Page=2&Limit=2",
        "/shipbob/inventory?Page=3&Limit=2",
    ]
    assert {auth for _, auth in fake.requests} == {f"Bearer {TOKEN}"}


def test_extensiv_client_reads_every_page_up_to_total_results_whatever_the_casing(fake, base):
    body = extensiv_stock_summaries_pull(base_url=f"{base}/extensiv", token=TOKEN, page_size=2)

    data = json.loads(body)
    assert data["totalResults"] == 5
    assert [row["itemidentifier"]["sku"] for row in data["summaries"]] == [
        f"EX-{i}" for i in range(5)
    ]
    assert len(fake.requests) == 3


def test_a_refusal_or_outage_is_an_error_naming_the_url(fake, base):
    fake.down = True
    with pytest.raises(ThreePLPullError, match=r"HTTP 503 from .*/shipbob/inventory"):
        shipbob_inventory_pull(base_url=f"{base}/shipbob", token=TOKEN)
    fake.down = False
    with pytest.raises(ThreePLPullError, match="HTTP 401"):
        extensiv_stock_summaries_pull(base_url=f"{base}/extensiv", token="wrong")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "topic", "skus"),
    [
        ("shipbob", "inventory", [f"SB-{i}" for i in range(5)]),
        ("extensiv", "stocksummaries", [f"EX-{i}" for i in range(5)]),
    ],
)
def test_a_pull_is_one_inbound_event_parsed_into_a_snapshot_once(
    fake, base, credential, temporary_handler, source, topic, skus
):
    # given: an account, and a handler standing in for reconciliation's
    credential(source, account="acme", secret=TOKEN)
    seen = []
    temporary_handler(source, topic, lambda *, event, message: seen.append(message))

    # when: the same scheduled pull runs twice (a retried task), then is processed
    first = threepl_stock_pull(source=source, account="acme", pull_id="slot-1", now=AT)
    again = threepl_stock_pull(source=source, account="acme", pull_id="slot-1", now=AT)
    inbound_event_process(event_id=first.event.pk)

    # then: one event, at the pull's time, whose snapshot lists every SKU of every page
    assert first.created
    assert not again.created
    event = InboundEvent.objects.get()
    assert (event.source, event.topic, event.occurred_at) == (source, topic, AT)
    assert event.status == InboundEventStatus.PROCESSED
    [snapshot] = seen
    assert [line.sku for line in snapshot.lines] == skus
    assert snapshot.lines[0].on_hand in (10, 20)  # string numbers read as numbers
    assert not snapshot.is_delta


@pytest.mark.django_db
def test_a_later_slot_is_a_new_snapshot(fake, base, credential):
    credential("shipbob", account="acme", secret=TOKEN)
    threepl_stock_pull(source="shipbob", account="acme", pull_id="slot-1", now=AT)
    threepl_stock_pull(source="shipbob", account="acme", pull_id="slot-2", now=AT)
    assert InboundEvent.objects.count() == 2


@pytest.mark.django_db
def test_the_scheduled_pull_covers_every_account_and_reports_failures(fake, base, credential):
    # given: a ShipBob and an Extensiv account, and a ShipBob account with a revoked token
    credential("shipbob", account="acme", secret=TOKEN)
    credential("extensiv", account="acme", secret=TOKEN)
    credential("shipbob", account="revoked", secret="old-token")

    outcomes = threepl_stock_pull_all(slot="42", now=AT)

    by_account = {(o.source, o.account): o for o in outcomes}
    assert by_account["shipbob", "acme"].created
    assert by_account["extensiv", "acme"].created
    assert "HTTP 401" in by_account["shipbob", "revoked"].error
    assert set(InboundEvent.objects.values_list("source", "external_id")) == {
        ("shipbob", "acme:42"),
        ("extensiv", "acme:42"),
    }


def test_beat_runs_the_pull():
    entry = django_settings.CELERY_BEAT_SCHEDULE["threepl-stock-pull"]
    assert entry["task"] == "erp.tasks.threepl_stock_pull"
