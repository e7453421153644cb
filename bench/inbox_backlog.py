"""A backlog of inbound events that change things, as an operator's inbox holds after an outage,
for `webhook_ingest_bench.py`'s drain: its master data, its events, and the check of what the
drain wrote.

Out of every 100 events (the shapes of the samples in tests/fixtures/samples, copied from
shared/samples):
- 50 carrier tracking updates, EasyPost / AfterShip / Shippo in turn: each parcel reports in
  transit (with an ETA) and, a day or two later, delivered; each moves an authorized case
  (seeded with its tracking number) to in transit, then delivered. One EasyPost report in 25 is
  sent again under another event id (carriers do that): recorded once, moves nothing twice.
- 15 Shopify returns/request, each on a delivered order with no case: opens a case through the
  policy (`return_case_create`) and links it to the Shopify return.
- 15 Shopify refunds/create, each on an order that has a live case: recorded on the case.
- 16 ShipHero Inventory Update webhooks (5 SKUs each: ShipHero sends one per stock change,
  so partial snapshots), 2 ShipBob and 2 Extensiv pulled stock summaries (50 SKUs each, full
  snapshots; pulls are scheduled, so rarer): each records a snapshot.

Events are stored in arrival order (by the time they happened), so sources interleave as they
do in a real inbox. Every (source, external id) is unique, as the inbox keeps it.
"""

import json
import random
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
SKUS = 400
SHIPHERO_LINES = 5
SUMMARY_LINES = 50
RESEND_EVERY = 25  # one EasyPost report in RESEND_EVERY comes again under another id
# Per 100 events; carriers two per parcel.
SHARES = {
    "carrier": 50,
    "returns/request": 15,
    "refunds/create": 15,
    "shiphero": 16,
    "shipbob": 2,
    "extensiv": 2,
}
CARRIERS = ("easypost", "aftership", "shippo")
LOCATIONS = {"shiphero": "12345", "shipbob": "211", "extensiv": "1"}


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_bytes())


@dataclass
class Backlog:
    """What was queued, to check the drain's effects against."""

    channel: str
    event_ids: list[int] = field(default_factory=list)
    topics: Counter = field(default_factory=Counter)  # "source topic" → events
    parcels: list[int] = field(default_factory=list)  # case ids the carriers move
    refund_cases: list[int] = field(default_factory=list)
    request_orders: list[int] = field(default_factory=list)
    resends: int = 0


@dataclass(frozen=True)
class _Arrival:
    at: object  # datetime
    source: str
    account: str
    body: bytes
    headers: dict


def _seeded() -> tuple:
    from erp.models import Customer, InboundEvent, OrderLine, SalesOrder
    from returns.models import ReturnCase, ReturnLine

    return (InboundEvent, Customer, SalesOrder, OrderLine, ReturnCase, ReturnLine)


def master_data_seed(channel_code: str, secret: str) -> None:
    """The channel, category, products, 3PL warehouses and their mapped locations."""
    from erp.models import Category, Channel, Product, Warehouse
    from inventory.models import ExternalLocation

    Channel.objects.create(
        code=channel_code,
        name="Bench shop",
        kind=Channel.Kind.STOREFRONT,
        platform=Channel.Platform.SHOPIFY,
        region="US",
        currency="USD",
        webhook_secret=secret,
    )
    category = Category.objects.create(
        code="bench-apparel", name="Apparel", department=Category.Department.APPAREL
    )
    Product.objects.bulk_create(
        Product(
            sku=f"BENCH-{n:05d}",
            name=f"Bench product {n}",
            category=category,
            unit_cost=Decimal("10"),
            list_price=Decimal("30"),
        )
        for n in range(SKUS)
    )
    for source, code in LOCATIONS.items():
        warehouse = Warehouse.objects.create(
            code=f"bench-{source}",
            name=f"Bench {source}",
            operator=Warehouse.Operator.THIRD_PARTY,
            provider=source,
            country="US",
        )
        ExternalLocation.objects.create(source=source, external_code=code, warehouse=warehouse)


def _counts(total: int) -> dict[str, int]:
    counts = {kind: total * share // 100 for kind, share in SHARES.items()}
    counts["carrier"] -= counts["carrier"] % 2
    counts["carrier"] += total - sum(counts.values())  # rounding goes to the carriers
    return counts


def _orders_seed(
    channel_code: str, tag: str, n: int, *, with_case: str, tracking: bool
) -> tuple[list, list]:
    """`n` delivered orders (one line each, a Shopify line item id); with a case in state
    `with_case` unless it is empty. Returns (order ids, case ids), in order."""
    from django.db import transaction
    from django.utils import timezone

    from bench.copy_rows import copy_rows, identity_reset, next_id
    from erp.models import Channel, Customer, OrderLine, Product, ReasonCode, SalesOrder
    from returns.models import PolicyRuleSet, ReturnCase, ReturnLine

    if not n:
        return [], []
    now = timezone.now()
    channel = Channel.objects.get(code=channel_code)
    products = list(Product.objects.filter(sku__startswith="BENCH-").values_list("pk", flat=True))
    rule_set = PolicyRuleSet.objects.get(state="published")
    rule = rule_set.rules.order_by("priority").first()
    reason = ReasonCode.objects.get(code="SIZE_TOO_SMALL")
    ids = {m: next_id(m) for m in (Customer, SalesOrder, OrderLine, ReturnCase, ReturnLine)}
    delivered = now - timedelta(days=4)
    with transaction.atomic():
        copy_rows(
            Customer,
            (
                {
                    "id": ids[Customer] + k,
                    "email": f"{tag}{k}@bench.test",
                    "name": f"Customer {tag}{k}",
                    "created_at": now,
                    "updated_at": now,
                }
                for k in range(n)
            ),
        )
        copy_rows(
            SalesOrder,
            (
                {
                    "id": ids[SalesOrder] + k,
                    "channel_id": channel.pk,
                    "number": _order_number(tag, k),
                    "customer_id": ids[Customer] + k,
                    "currency": "USD",
                    "placed_at": delivered - timedelta(days=3),
                    "shipped_at": delivered - timedelta(days=2),
                    "delivered_at": delivered,
                    "created_at": now,
                    "updated_at": now,
                }
                for k in range(n)
            ),
        )
        copy_rows(
            OrderLine,
            (
                {
                    "id": ids[OrderLine] + k,
                    "order_id": ids[SalesOrder] + k,
                    "line_number": 1,
                    "product_id": products[k % len(products)],
                    "quantity": 2,
                    "unit_price": Decimal("30"),
                    "channel_line_id": _line_item(tag, k),
                }
                for k in range(n)
            ),
        )
        if with_case:
            copy_rows(
                ReturnCase,
                (
                    {
                        "id": ids[ReturnCase] + k,
                        "rma_number": f"RMA-{tag.upper()}{k:08d}",
                        "channel_id": channel.pk,
                        "order_id": ids[SalesOrder] + k,
                        "customer_id": ids[Customer] + k,
                        "source": "api",
                        "state": with_case,
                        "resolution": "refund",
                        "rule_set_id": rule_set.pk,
                        "deciding_rule_id": rule.pk,
                        "decision": {"summary": "Authorized automatically", "lines": []},
                        "refund_trigger": "on_inspection",
                        "restocking_fee_percent": Decimal("0"),
                        "return_shipping_paid_by": "merchant",
                        "carrier": "UPS" if tracking else "",
                        "tracking_number": _tracking(tag, k) if tracking else "",
                        "requested_at": now - timedelta(days=2),
                        "authorized_at": now - timedelta(days=2),
                    }
                    for k in range(n)
                ),
            )
            copy_rows(
                ReturnLine,
                (
                    {
                        "id": ids[ReturnLine] + k,
                        "case_id": ids[ReturnCase] + k,
                        "order_line_id": ids[OrderLine] + k,
                        "quantity": 1,
                        "reason_id": reason.pk,
                        "claimed_condition": "unopened",
                        "unit_price": Decimal("30"),
                        "rule_id": rule.pk,
                    }
                    for k in range(n)
                ),
            )
        identity_reset(Customer, SalesOrder, OrderLine, ReturnCase, ReturnLine)
    cases = [ids[ReturnCase] + k for k in range(n)] if with_case else []
    return [ids[SalesOrder] + k for k in range(n)], cases


def _tag_number(tag: str) -> int:
    """A number per backlog tag (below 100,000), to keep each backlog's ids apart."""
    return zlib.crc32(tag.encode()) % 100_000


def _order_number(tag: str, k: int) -> str:
    # Shopify ids are numbers; the tag keeps each backlog's apart.
    return str(5_000_000_000_000 + _tag_number(tag) * 10_000_000 + k)


def _line_item(tag: str, k: int) -> str:
    return str(12_000_000_000_000 + _tag_number(tag) * 10_000_000 + k)


def _tracking(tag: str, k: int) -> str:
    return f"1Z{tag.upper()}{k:010d}"


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _carrier_body(provider: str, tracking: str, status: str, at, eta, event_id: str) -> bytes:
    """One provider's sample, rewritten to one status of one parcel (an ETA on in-transit)."""
    if provider == "easypost":
        data = _sample("easypost_event_tracker_updated.json")
        data["id"] = event_id
        data["result"].update(
            id=f"trk_{tracking}",
            tracking_code=tracking,
            carrier="UPS",
            status=status,
            updated_at=_iso(at),
            est_delivery_date=_iso(eta) if eta else None,
            carrier_detail={},
            tracking_details=[{"datetime": _iso(at), "status": status, "message": status}],
        )
    elif provider == "aftership":
        data = _sample("aftership_webhook_tracking_update.json")
        tag = {"in_transit": "InTransit", "delivered": "Delivered"}[status]
        data.update(event_id=event_id, ts=int(at.timestamp()))
        data["msg"].update(
            tracking_number=tracking,
            slug="ups",
            tag=tag,
            subtag="",
            expected_delivery=_iso(eta) if eta else None,
            checkpoints=[{"checkpoint_time": _iso(at), "tag": tag, "slug": "ups", "message": tag}],
        )
    else:
        data = _sample("shippo_webhook_track_updated.json")
        data["data"].update(carrier="ups", tracking_number=tracking, eta=_iso(eta) if eta else None)
        data["data"]["tracking_status"].update(
            status={"in_transit": "TRANSIT", "delivered": "DELIVERED"}[status],
            status_date=_iso(at),
            substatus=None,
        )
    return json.dumps(data).encode()


def _request_body(tag: str, k: int) -> bytes:
    data = _sample("shopify_webhook_returns_request_realistic.json")
    return_id = 3_000_000_000 + _tag_number(tag) * 1_000_000 + k
    order = int(_order_number(tag, k))
    data.update(id=return_id, admin_graphql_api_id=f"gid://shopify/Return/{return_id}")
    data["name"] = f"#{k}-R1"
    data["order"] = {"id": order, "admin_graphql_api_id": f"gid://shopify/Order/{order}"}
    item = data["return_line_items"][0]
    item.update(id=return_id + 1)
    item["fulfillment_line_item"]["line_item"] = {"id": int(_line_item(tag, k))}
    return json.dumps(data).encode()


def _refund_body(tag: str, k: int) -> bytes:
    data = _sample("shopify_webhook_refunds_create.json")
    refund_id = 20_000_000 + _tag_number(tag) * 100_000 + k
    data.update(
        id=refund_id,
        order_id=int(_order_number(tag, k)),
        admin_graphql_api_id=f"gid://shopify/Refund/{refund_id}",
    )
    return json.dumps(data).encode()


def _shiphero_body(rng: random.Random, at) -> bytes:
    data = _sample("shiphero_webhook_inventory_update.json")
    item = data["inventory"][0]
    inventory = []
    for sku in rng.sample(range(SKUS), SHIPHERO_LINES):
        on_hand = rng.randrange(0, 200)
        warehouse = dict(item["updated_warehouse"], warehouse_id=int(LOCATIONS["shiphero"]))
        warehouse.update(on_hand=str(on_hand), inventory=str(on_hand), reserve=0, non_sellable=0)
        inventory.append(dict(item, sku=f"BENCH-{sku:05d}", updated_warehouse=warehouse))
    data.update(inventory=inventory, timestamp=_iso(at))
    return json.dumps(data).encode()


def _shipbob_body(rng: random.Random) -> bytes:
    item = _sample("shipbob_inventory_v1_item.json")
    center = item["fulfillable_quantity_by_fulfillment_center"][0]
    items = []
    for n, sku in enumerate(sorted(rng.sample(range(SKUS), SUMMARY_LINES))):
        quantity = rng.randrange(0, 200)
        row = dict(center, id=int(LOCATIONS["shipbob"]))
        row.update(fulfillable_quantity=quantity, onhand_quantity=quantity, committed_quantity=0)
        items.append(
            dict(
                item, id=n, sku=f"BENCH-{sku:05d}", fulfillable_quantity_by_fulfillment_center=[row]
            )
        )
    return json.dumps({"items": items}).encode()


def _extensiv_body(rng: random.Random) -> bytes:
    data = _sample("extensiv_stocksummaries_SYNTHETIC.json")
    row = data["summaries"][0]
    summaries = []
    for sku in sorted(rng.sample(range(SKUS), SUMMARY_LINES)):
        quantity = rng.randrange(0, 200)
        summaries.append(
            dict(
                row,
                facilityId=int(LOCATIONS["extensiv"]),
                itemIdentifier={"sku": f"BENCH-{sku:05d}", "id": sku},
                onHand=quantity,
                available=quantity,
                allocated=0,
                onHold=0,
            )
        )
    data.update(totalResults=len(summaries), summaries=summaries)
    return json.dumps(data).encode()


def backlog_build(*, total: int, tag: str, channel: str, seed: int = 7) -> Backlog:
    """Seed the orders and cases that `total` events concern, and store the events as
    `received`, in arrival order. `tag` keeps this backlog's numbers apart from another's."""
    from django.utils import timezone

    from erp.adapters import adapter_for
    from erp.adapters.threepl import PULL_ID_HEADER, PULLED_AT_HEADER
    from erp.demo.bulk import analyze
    from erp.models import InboundEvent

    rng = random.Random(seed)
    counts = _counts(total)
    backlog = Backlog(channel=channel)
    resends = counts["carrier"] // (2 * RESEND_EVERY + 1)
    parcels = (counts["carrier"] - resends) // 2
    resends = counts["carrier"] - 2 * parcels
    _, backlog.parcels = _orders_seed(
        channel, f"{tag}p", parcels, with_case="authorized", tracking=True
    )
    _, backlog.refund_cases = _orders_seed(
        channel, f"{tag}f", counts["refunds/create"], with_case="authorized", tracking=False
    )
    backlog.request_orders, _ = _orders_seed(
        channel, f"{tag}q", counts["returns/request"], with_case="", tracking=False
    )
    start = timezone.now() - timedelta(days=3)
    window = 2 * 24 * 3600
    arrivals: list[_Arrival] = []

    def at() -> object:
        return start + timedelta(seconds=rng.randrange(window))

    resent = 0
    for k in range(parcels):
        provider = CARRIERS[k % len(CARRIERS)]
        tracking = _tracking(f"{tag}p", k)
        moving = at()
        eta = moving + timedelta(days=2)
        delivered = moving + timedelta(hours=rng.randrange(20, 48))
        for status, when in (("in_transit", moving), ("delivered", delivered)):
            body = _carrier_body(provider, tracking, status, when, eta, f"evt_{tag}_{k}_{status}")
            arrivals.append(_Arrival(when, provider, "main", body, {}))
        if provider == "easypost" and resent < resends:
            body = _carrier_body(provider, tracking, "in_transit", moving, eta, f"evt_{tag}_{k}_r")
            arrivals.append(_Arrival(moving + timedelta(minutes=5), provider, "main", body, {}))
            resent += 1
    backlog.resends = resent
    for k in range(counts["returns/request"]):
        headers = {"X-Shopify-Topic": "returns/request", "X-Shopify-Webhook-Id": f"{tag}q{k}"}
        arrivals.append(_Arrival(at(), "shopify", channel, _request_body(f"{tag}q", k), headers))
    for k in range(counts["refunds/create"]):
        headers = {"X-Shopify-Topic": "refunds/create", "X-Shopify-Webhook-Id": f"{tag}f{k}"}
        arrivals.append(_Arrival(at(), "shopify", channel, _refund_body(f"{tag}f", k), headers))
    for _ in range(counts["shiphero"]):
        when = at()
        arrivals.append(_Arrival(when, "shiphero", "main", _shiphero_body(rng, when), {}))
    for source, make in (("shipbob", _shipbob_body), ("extensiv", _extensiv_body)):
        for k in range(counts[source]):
            when = at()
            headers = {PULL_ID_HEADER: f"main:{tag}{k}", PULLED_AT_HEADER: when.isoformat()}
            arrivals.append(_Arrival(when, source, "main", make(rng), headers))
    arrivals.sort(key=lambda a: a.at)
    rows = []
    for arrival in arrivals:
        envelope = adapter_for(arrival.source).envelope(arrival.body, arrival.headers)
        rows.append(
            InboundEvent(
                source=arrival.source,
                account=arrival.account,
                external_id=envelope.external_id,
                topic=envelope.topic,
                subject_ref=envelope.subject_ref,
                occurred_at=envelope.occurred_at,
                body=arrival.body,
                headers=arrival.headers,
                received_at=arrival.at,
            )
        )
        backlog.topics[f"{arrival.source} {envelope.topic}"] += 1
    for i in range(0, len(rows), 5000):
        created = InboundEvent.objects.bulk_create(rows[i : i + 5000])
        backlog.event_ids += [event.pk for event in created]
    # What autovacuum's ANALYZE does after a bulk load, as seed_demo does (erp.demo.bulk): the
    # drain's plans then know the seeded rows whether or not the server runs autovacuum.
    analyze(*_seeded())
    return backlog


def statistics_state() -> str:
    """The server's autovacuum setting, and how many rows of the seeded tables changed since
    their statistics were last gathered (0: fresh)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        (autovacuum,) = cursor.fetchone()
        cursor.execute(
            "SELECT coalesce(sum(n_mod_since_analyze), 0), count(*) FILTER (WHERE "
            "coalesce(last_analyze, last_autoanalyze) IS NULL) FROM pg_stat_user_tables "
            "WHERE relname = ANY(%s)",
            [[model._meta.db_table for model in _seeded()]],
        )
        changed, never = cursor.fetchone()
    fresh = "fresh" if not changed and not never else "stale"
    return (
        f"autovacuum {autovacuum}; statistics of the seeded tables {fresh} "
        f"({changed:,} rows changed since ANALYZE, {never} tables never analyzed)"
    )


def effects_check(backlog: Backlog) -> tuple[list[str], bool]:
    """Count what the drain wrote and compare it with what the backlog asked for. Returns the
    report lines and whether every count is as expected."""
    from django.db.models import Count

    from erp.models import InboundEvent
    from inventory.models import ExternalSnapshot
    from returns.models import ChannelReturn, ExternalEventKind, ReturnCase, ReturnCaseEvent

    ids = backlog.event_ids
    span = {"pk__gte": min(ids), "pk__lte": max(ids)}
    events = InboundEvent.objects.filter(**span)
    statuses = dict(events.values_list("status").annotate(n=Count("id")).order_by())
    retried = events.filter(attempts__gt=1).count()
    effects = ReturnCaseEvent.objects.filter(inbound_event_id__gte=span["pk__gte"]).filter(
        inbound_event_id__lte=span["pk__lte"]
    )
    twice = (
        effects.values("inbound_event_id").annotate(n=Count("id")).filter(n__gt=1).order_by()
    ).count()
    moved = Counter(
        ReturnCase.objects.filter(pk__in=backlog.parcels).values_list("state", flat=True)
    )
    # An older report processed after a newer one of the same parcel is superseded (the
    # inbox's full-state rule: processed, not recorded); a resend finds its report recorded.
    carrier = events.filter(source__in=CARRIERS)
    superseded = carrier.filter(last_error__startswith="Superseded").count()
    milestones = effects.filter(
        case_id__in=backlog.parcels,
        kind__in=[ExternalEventKind.IN_TRANSIT, ExternalEventKind.DELIVERED],
    )
    recorded_twice = (
        milestones.values("case_id", "kind").annotate(n=Count("id")).filter(n__gt=1).order_by()
    ).count()
    no_effect = (
        carrier.exclude(last_error__startswith="Superseded")
        .exclude(pk__in=effects.values("inbound_event_id"))
        .count()
    )
    with_eta = milestones.exclude(eta=None).values("case_id").distinct().count()
    refunds = effects.filter(
        case_id__in=backlog.refund_cases, kind=ExternalEventKind.CHANNEL_REFUND
    ).count()
    opened = ReturnCase.objects.filter(order_id__in=backlog.request_orders).count()
    linked = ChannelReturn.objects.filter(case__order_id__in=backlog.request_orders).count()
    external = list(events.filter(source__in=LOCATIONS).values_list("source", "external_id"))
    snapshots = ExternalSnapshot.objects.filter(
        external_ref__in=[ref for _, ref in external]
    ).count()
    requests = sum(n for key, n in backlog.topics.items() if key.endswith("returns/request"))
    # label: (counted, expected, whether fewer than expected is right too)
    expected = {
        "all processed": (statuses.get("processed", 0), len(ids), False),
        "cases moved to delivered": (moved.get("delivered", 0), len(backlog.parcels), False),
        "parcels with an ETA": (with_eta, len(backlog.parcels), False),
        "milestones recorded twice": (recorded_twice, 0, False),
        "carrier reports neither recorded nor superseded (resends)": (
            no_effect,
            backlog.resends,
            True,
        ),
        "refunds recorded on cases": (refunds, len(backlog.refund_cases), False),
        "cases opened by returns/request": (opened, requests, False),
        "Shopify returns linked": (linked, requests, False),
        "snapshots recorded": (snapshots, len(external), False),
        "events with two timeline records": (twice, 0, False),
    }
    lines = [
        f"  statuses {statuses}; retried after a failed attempt: {retried}; milestones "
        f"recorded {milestones.count():,}; carrier reports superseded by a newer one: "
        f"{superseded:,}"
    ]
    ok = True
    for label, (got, want, at_most) in expected.items():
        right = got <= want if at_most else got == want
        bound = "at most " if at_most else ""
        lines.append(f"  {label}: {got:,} (expected {bound}{want:,}){'' if right else '  ≠'}")
        ok = ok and right
    return lines, ok


def statements_per_topic(backlog: Backlog, batch: int) -> list[str]:
    """Apply the first `batch` events in arrival order (topics interleaved, as a worker's batch
    of the backlog holds them), then up to `batch` of each (source, topic), in-process, one
    batch each, and count the SQL statements: a figure load does not change, unlike a timing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from erp.models import InboundEvent
    from erp.services.inbox_batch import inbound_events_process_batch

    ordered = list(
        InboundEvent.objects.filter(pk__in=backlog.event_ids)
        .order_by("pk")
        .values_list("pk", "source", "topic")
    )
    # First one batch as the inbox holds them, topics interleaved; then the rest by topic.
    mixed = [pk for pk, *_ in ordered[:batch]]
    by_topic: dict[str, list[int]] = {f"mixed, in arrival order ({batch} first)": mixed}
    for pk, source, topic in ordered[batch:]:
        by_topic.setdefault(f"{source} {topic}", []).append(pk)
    lines = []
    for label, ids in sorted(by_topic.items(), key=lambda item: not item[0].startswith("mixed")):
        ids = ids[:batch]
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured:
            outcome = inbound_events_process_batch(event_ids=ids)
        n = len(captured.captured_queries)
        lines.append(
            f"  {label}: {n:,} statements for {len(ids)} events ({n / len(ids):.1f} per event), "
            f"{outcome}"
        )
    return lines
