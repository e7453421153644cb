"""A batch applies its events grouped by (source, topic) (erp.services.inbox_schedule), and
still has exactly the effects of applying them one at a time in arrival order: events that
touch the same case, order, return, customer or snapshot source keep their order, and a topic
without a footprint lets nothing move across it."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from erp.models import InboundEvent
from erp.services import inbound_event_record
from erp.services.inbox_schedule import runs_in_order
from inventory.models import ExternalSnapshot, ExternalSnapshotHead
from returns.models import ChannelReturn, ExternalEventKind, ReturnCase

from .conftest import easypost_body, sample, sample_json
from .test_inbox_batch_preparers import (
    both_ways,
    in_one_batch,
    make_parcels,
    receive,
    shipbob_pull,
    shippo_body,
    threepl,  # noqa: F401 (fixture)
    tracking,
)
from .test_shopify_returns import DOCS_RETURN, request_body, shop, shopify_order  # noqa: F401

State = ReturnCase.State


def event(pk: int, source: str, topic: str) -> InboundEvent:
    return InboundEvent(pk=pk, source=source, topic=topic)


def topics_of(runs) -> list[tuple[str, list[int]]]:
    return [(run[0].topic, [e.pk for e in run]) for run in runs]


def test_events_that_share_no_key_group_by_topic_and_those_that_do_keep_their_order():
    # given: carrier reports about parcels a and b, requests and refunds on orders 1 and 2;
    # the refund on order 1 arrives after its request, the one on order 2 before it
    events = [
        event(1, "easypost", "carrier"),
        event(2, "shopify", "request"),
        event(3, "shopify", "refund"),
        event(4, "easypost", "carrier"),
        event(5, "shopify", "refund"),
        event(6, "shopify", "request"),
    ]
    keys = {
        1: {("case", "a")},
        2: {("order", 1)},
        3: {("order", 1)},
        4: {("case", "b")},
        5: {("order", 2)},
        6: {("order", 2)},
    }

    # when
    runs = runs_in_order(events, {pk: frozenset(k) for pk, k in keys.items()})

    # then: both carrier reports in one run; each refund after the request it follows and
    # each request after the refund it follows; unrelated ones share a run
    assert topics_of(runs) == [
        ("carrier", [1, 4]),
        ("refund", [5]),
        ("request", [2]),
        ("refund", [3]),
        ("request", [6]),
    ]


def test_a_topic_without_a_footprint_is_a_barrier_and_same_topic_reports_stay_in_order():
    # given: two reports about one case, a label (no footprint) between reports, then more
    events = [
        event(1, "easypost", "carrier"),
        event(2, "shippo", "carrier"),
        event(3, "easypost", "carrier"),
        event(4, "shopify", "label"),
        event(5, "shopify", "label"),
        event(6, "easypost", "carrier"),
        event(7, "shippo", "carrier"),
    ]
    keys = {1: {("case", 1)}, 2: {("case", 2)}, 3: {("case", 1)}, 4: None, 5: None}
    keys |= {6: {("case", 3)}, 7: {("case", 2)}}

    # when
    runs = runs_in_order(events, {pk: k and frozenset(k) for pk, k in keys.items()})

    # then: nothing crosses the labels; consecutive labels share a run
    assert topics_of(runs) == [
        ("carrier", [1, 3]),
        ("carrier", [2]),
        ("label", [4, 5]),
        ("carrier", [6]),
        ("carrier", [7]),
    ]
    sources = ["easypost", "shippo", "shopify", "easypost", "shippo"]
    assert [run[0].source for run in runs] == sources


def refund(order_number: str, refund_id: str) -> InboundEvent:
    data = sample_json("shopify_webhook_refunds_create.json")
    data.update(id=int(refund_id), order_id=int(order_number))
    return inbound_event_record(
        source="shopify",
        account="shop-us",
        body=json.dumps(data).encode(),
        headers={"X-Shopify-Topic": "refunds/create", "X-Shopify-Webhook-Id": f"f{refund_id}"},
    ).event


def shopify(body: bytes, topic: str, webhook_id: str) -> InboundEvent:
    return inbound_event_record(
        source="shopify",
        account="shop-us",
        body=body,
        headers={"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id},
    ).event


def mixed_effects() -> list:
    """Every case (by order): state, carrier, tracking number, its timeline (ids and RMA
    numbers left out: they differ between the two passes), history, link; and the snapshots
    with their heads."""
    cases = []
    for case in ReturnCase.objects.order_by("order__number"):
        timeline = [
            (kind, key, re.sub(r"#\d+|RMA-\w+", "_", applied), event_id)
            for kind, key, applied, event_id in case.external_events.order_by(
                "occurred_at", "kind", "dedupe_key"
            ).values_list("kind", "dedupe_key", "applied", "inbound_event_id")
        ]
        history = list(case.history.order_by("history_id").values_list("state", "carrier"))
        link = list(ChannelReturn.objects.filter(case=case).values_list("external_id", "status"))
        number = case.order.number
        cases.append(
            (number, case.state, case.carrier, case.tracking_number, timeline, history, link)
        )
    snapshots = list(
        ExternalSnapshot.objects.order_by("external_ref").values_list(
            "source", "external_ref", "line_count"
        )
    )
    heads = list(ExternalSnapshotHead.objects.values_list("source", "snapshot__external_ref"))
    return [cases, snapshots, heads]


@pytest.mark.django_db
def test_an_interleaved_batch_has_exactly_the_effects_of_one_at_a_time(
    shop,  # noqa: F811
    threepl,  # noqa: F811
    cs_user,
):
    # given: two labelled parcels; orders 7001 and 7002 with no case; events of five topics
    # interleaved as an inbox holds them: a refund after the request that opens its case, one
    # before it (it finds no case), a label Shopify attaches to the new case and then a
    # carrier report about that label's parcel, and two ShipBob pulls
    parcels = make_parcels(cs_user, 2)
    for number in ("7001", "7002"):
        shopify_order(shop, number=number)
    at = "2026-11-20T10:00:00Z"
    later = "2026-11-21T10:00:00Z"
    events = [
        receive(
            "easypost",
            easypost_body(event_id="e0", status="in_transit", at=at, tracking=tracking(0)),
        ),
        shopify(request_body(return_id=DOCS_RETURN, order_id="7001"), "returns/request", "r1"),
        shipbob_pull({"PREP-0": 3, "PREP-1": 4}, "2026-11-20"),
        refund("7001", "501"),
        receive("shippo", shippo_body(tracking=tracking(1), status="TRANSIT", at=at)),
        refund("7002", "502"),
        shopify(request_body(return_id="9002", order_id="7002"), "returns/request", "r2"),
        receive(
            "easypost",
            easypost_body(event_id="e1", status="delivered", at=later, tracking=tracking(0)),
        ),
        shopify(
            sample("shopify_webhook_reverse_deliveries_attach_deliverable.json"),
            "reverse_deliveries/attach_deliverable",
            "l1",
        ),
        receive(
            "easypost",
            easypost_body(event_id="e2", status="in_transit", at=later, tracking="123345345"),
        ),
        shipbob_pull({"PREP-0": 2}, "2026-11-21"),
    ]

    # when: applied one at a time in arrival order, and (from the same start) in one batch
    alone, batched, alone_queries, batch_queries = both_ways(events, mixed_effects)

    # then: the same effects and outcomes, every event processed
    assert batched == alone
    cases, snapshots, heads = batched[0]
    by_order = {number: rest for number, *rest in cases}
    assert by_order[parcels[0].order.number][0] == State.DELIVERED
    assert by_order[parcels[1].order.number][0] == State.IN_TRANSIT
    # the refund after the request is on the new case; the one before it found no case
    refunds = {
        number: [t[0] for t in rest[3] if t[0] == ExternalEventKind.CHANNEL_REFUND]
        for number, *rest in cases
    }
    assert refunds["7001"] == [ExternalEventKind.CHANNEL_REFUND]
    assert refunds["7002"] == []
    # the report after the label moved the request's new case
    assert by_order["7001"][:3] == [State.IN_TRANSIT, "USPS", "123345345"]
    assert heads == [("shipbob", "main:2026-11-21")]
    assert len(snapshots) == 2
    assert {status for status, _, _ in batched[1]} == {"processed"}
    assert batch_queries < alone_queries


@pytest.mark.django_db
def test_a_batch_moves_the_snapshot_heads_it_shares_with_other_batches_last(
    threepl,  # noqa: F811
    cs_user,
):
    # given: a ShipBob pull (a full report: it moves the head of ShipBob's warehouse), then
    # carrier reports, then an older pull of the same warehouse
    parcels = make_parcels(cs_user, 2)
    at = "2026-11-20T10:00:00Z"
    events = [
        shipbob_pull({"PREP-0": 3}, "2026-11-21"),
        *(
            receive(
                "easypost",
                easypost_body(event_id=f"e{k}", status="in_transit", at=at, tracking=tracking(k)),
            )
            for k in range(2)
        ),
        shipbob_pull({"PREP-0": 2}, "2026-11-20"),
    ]

    # when: one batch applies them
    with CaptureQueriesContext(connection) as captured:
        in_one_batch(events)

    # then: the head is locked and moved once, after every event's writes, just before the
    # events' statuses are written; it points at the newer pull, and both pulls are recorded
    sql = [query["sql"] for query in captured.captured_queries]
    head_table = ExternalSnapshotHead._meta.db_table
    touching_heads = [n for n, text in enumerate(sql) if head_table in text]
    last_write = max(n for n, text in enumerate(sql) if text.startswith("INSERT INTO"))
    assert len(touching_heads) == 2  # the locked read, the insert of the missing head
    assert "FOR UPDATE" in sql[touching_heads[0]]
    assert touching_heads[-1] == last_write
    assert sql[last_write + 1].startswith(f'UPDATE "{InboundEvent._meta.db_table}"')
    assert list(ExternalSnapshotHead.objects.values_list("snapshot__external_ref", flat=True)) == [
        "main:2026-11-21"
    ]
    assert ExternalSnapshot.objects.count() == 2
    assert (
        ReturnCase.objects.filter(pk__in=[p.pk for p in parcels], state=State.IN_TRANSIT).count()
        == 2
    )
