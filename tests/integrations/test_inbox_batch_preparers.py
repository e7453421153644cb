"""Batch preparers (erp.services.inbox_batch): a batch of carrier reports, 3PL stock feeds or
Shopify return requests reads what its handlers look up once, and still gives each event the
effect it has when processed alone, once; a bad event parks and the rest of the batch goes on."""

import json
import re
from contextlib import contextmanager

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from erp.adapters.threepl import PULL_ID_HEADER, PULLED_AT_HEADER
from erp.models import Channel, ExceptionCase, InboundEvent, OutboxMessage, Warehouse
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.models.inbox import InboundEventStatus
from erp.services import inbound_event_process, inbound_event_record
from erp.services.inbox_batch import inbox_batch_preparer_register
from erp.tasks import inbox_process_batch
from inventory.models import ExternalLocation, ExternalSnapshot, ExternalSnapshotHead
from returns.handlers import carrier_tracking_prepare
from returns.models import ChannelReturn, ExternalEventKind, ReturnCase, ReturnCaseEvent
from tests.factories import ChannelFactory, ProductFactory, WarehouseFactory
from tests.returns.conftest import delivered_order, open_case

from .conftest import easypost_body, sample_json
from .test_shopify_returns import request_body, shopify_order

pytestmark = pytest.mark.django_db

State = ReturnCase.State


def receive(source: str, body: bytes, headers: dict | None = None) -> InboundEvent:
    return inbound_event_record(
        source=source, account="main", body=body, headers=headers or {}
    ).event


def one_at_a_time(events: list[InboundEvent]) -> None:
    for event in events:
        inbound_event_process(event_id=event.pk)


def in_one_batch(events: list[InboundEvent]) -> dict:
    return inbox_process_batch([event.pk for event in events])


def outcome_of(events: list[InboundEvent]) -> list[tuple]:
    return list(
        InboundEvent.objects.filter(pk__in=[e.pk for e in events])
        .order_by("pk")
        .values_list("status", "attempts", "last_error")
    )


def both_ways(events, effects):
    """The effects (and the events' outcomes) of applying `events` one at a time, then, from
    the same start, in one batch; and the SQL statements each way ran."""
    with transaction.atomic():
        with CaptureQueriesContext(connection) as alone_queries:
            one_at_a_time(events)
        alone = (effects(), outcome_of(events))
        transaction.set_rollback(True)
    with CaptureQueriesContext(connection) as batch_queries:
        in_one_batch(events)
    batched = (effects(), outcome_of(events))
    return alone, batched, len(alone_queries), len(batch_queries)


# ---- carrier tracking reports ----------------------------------------------------------------


def shippo_body(*, tracking: str, status: str, at: str) -> bytes:
    data = sample_json("shippo_webhook_track_updated.json")
    data["data"].update(carrier="ups", tracking_number=tracking, eta=None)
    data["data"]["tracking_status"].update(status=status, status_date=at, substatus=None)
    return json.dumps(data).encode()


def make_parcels(actor, n: int) -> list[ReturnCase]:
    """`n` authorized cases, each labelled with its own UPS tracking number."""
    cases = []
    for k in range(n):
        case = open_case(delivered_order(), actor)
        assert case.state == State.AUTHORIZED
        ReturnCaseEvent.objects.create(
            case=case,
            source="shopify",
            kind=ExternalEventKind.LABEL,
            dedupe_key=f"label:{k}",
            occurred_at=case.requested_at,
            carrier="UPS",
            tracking_number=tracking(k),
        )
        cases.append(case)
    return cases


@pytest.fixture
def parcels(cs_user):
    return make_parcels(cs_user, 3)


def tracking(n: int) -> str:
    return f"1ZPREP{n:010d}"


def carrier_effects(cases) -> list[tuple]:
    """Per case: state, carrier, tracking number, the timeline the carriers wrote, the history
    rows and the exceptions opened about it."""
    rows = []
    for case in ReturnCase.objects.filter(pk__in=[c.pk for c in cases]).order_by("pk"):
        timeline = [
            # An exception's number differs between the two passes (ids are not rolled back).
            (kind, key, eta, re.sub(r"#\d+", "#n", applied), event_id)
            for kind, key, eta, applied, event_id in ReturnCaseEvent.objects.filter(case=case)
            .exclude(kind=ExternalEventKind.LABEL)
            .order_by("occurred_at", "kind")
            .values_list("kind", "dedupe_key", "eta", "applied", "inbound_event_id")
        ]
        exceptions = list(
            ExceptionCase.objects.filter(
                subject_type=SubjectType.RETURN_CASE, subject_id=str(case.pk)
            ).values_list("kind", "summary")
        )
        history = list(case.history.order_by("history_id").values_list("state", "carrier"))
        rows.append((case.state, case.carrier, case.tracking_number, timeline, history, exceptions))
    return rows


def test_a_batch_of_carrier_reports_has_the_effects_of_one_at_a_time(
    parcels,
):
    # given: parcel 0 in transit (with an ETA) then delivered; parcel 1 delivered, then its
    # in-transit reports arriving late from EasyPost (the same tracker: superseded) and from
    # Shippo (recorded, not applied); parcel 2 returned to sender
    events = [
        receive(
            "easypost",
            easypost_body(
                event_id="evt_0a",
                status="in_transit",
                at="2026-11-20T10:00:00Z",
                eta="2026-11-23",
                tracking=tracking(0),
            ),
        ),
        receive(
            "easypost",
            easypost_body(
                event_id="evt_1b",
                status="delivered",
                at="2026-11-22T09:00:00Z",
                tracking=tracking(1),
            ),
        ),
        receive("shippo", shippo_body(tracking=tracking(2), status="RETURNED", at="2026-11-21")),
        receive(
            "easypost",
            easypost_body(
                event_id="evt_0b",
                status="delivered",
                at="2026-11-22T15:00:00Z",
                tracking=tracking(0),
            ),
        ),
        receive(
            "easypost",
            easypost_body(
                event_id="evt_1a",
                status="in_transit",
                at="2026-11-20T08:00:00Z",
                tracking=tracking(1),
            ),
        ),
        receive("shippo", shippo_body(tracking=tracking(1), status="TRANSIT", at="2026-11-21")),
    ]

    # when: they are applied one at a time, and (from the same start) in one batch
    alone, batched, alone_queries, batch_queries = both_ways(
        events, lambda: carrier_effects(parcels)
    )

    # then: the same cases moved, the same timelines, history and exceptions, every event
    # processed once; the batch read what the reports share once
    assert batched == alone
    states = [row[0] for row in batched[0]]
    assert states == [State.DELIVERED, State.DELIVERED, State.AUTHORIZED]
    assert batched[0][0][3][0][2] is not None  # parcel 0's in-transit ETA
    late_tracker, late_shippo = batched[1][4], batched[0][1][3][0]
    assert late_tracker[2].startswith(f"Superseded by the newer event #{events[1].pk}")
    assert late_shippo[3] == "Older than the carrier: delivered report: not applied"
    assert batched[0][2][5][0][0] == ExceptionKind.DAMAGED_IN_TRANSIT
    assert {status for status, _, _ in batched[1]} == {InboundEventStatus.PROCESSED}
    assert batch_queries < alone_queries


def in_transit_reports(numbers) -> list[InboundEvent]:
    return [
        receive(
            "easypost",
            easypost_body(
                event_id=f"evt_{n}", status="in_transit", at="2026-11-20T10:00:00Z", tracking=n
            ),
        )
        for n in numbers
    ]


def test_each_further_carrier_report_in_a_batch_costs_only_its_own_writes(cs_user):
    # given: in-transit reports for two parcels, and for six others
    make_parcels(cs_user, 8)
    two = in_transit_reports([tracking(k) for k in range(2)])
    six = in_transit_reports([tracking(k) for k in range(2, 8)])

    # when: each set is applied in a batch
    with CaptureQueriesContext(connection) as for_two:
        in_one_batch(two)
    with CaptureQueriesContext(connection) as for_six:
        in_one_batch(six)

    # then: the four more reports cost only the case's move (UPDATE with its history row in
    # one statement: the case is locked and read for the batch, and the batch undoes a failed
    # report without the service's savepoint), not the 16 statements of a report looked up
    # on its own; their milestones go in with the run's others, one INSERT for the run
    assert ReturnCase.objects.filter(state=State.IN_TRANSIT).count() == 8
    assert (len(for_six) - len(for_two)) / 4 == 1
    inserts = [q for q in for_six.captured_queries if q["sql"].startswith("INSERT")]
    assert [q["sql"].split('"')[1] for q in inserts] == ["returns_returncaseevent"]
    assert ReturnCaseEvent.objects.filter(kind=ExternalEventKind.IN_TRANSIT).count() == 8


@contextmanager
def easypost_preparer(preparer):
    """EasyPost reports read through `preparer` for the block, then as registered again."""
    inbox_batch_preparer_register(source="easypost", topic="tracker.updated", preparer=preparer)
    try:
        yield
    finally:
        inbox_batch_preparer_register(
            source="easypost", topic="tracker.updated", preparer=carrier_tracking_prepare
        )


def test_a_batch_whose_preparer_fails_applies_each_report_reading_for_itself(parcels):
    # given: the carriers' preparer fails (as when its locks deadlock with another worker)
    @contextmanager
    def failing(pairs):
        raise OperationalError("deadlock detected")
        yield

    events = in_transit_reports([tracking(0), tracking(1)])

    # when
    with easypost_preparer(failing):
        counts = in_one_batch(events)

    # then: both reports applied, once, by the handler's own lookups
    assert counts == {"processed": 2}
    moved = ReturnCase.objects.filter(pk__in=[parcels[0].pk, parcels[1].pk])
    assert set(moved.values_list("state", flat=True)) == {State.IN_TRANSIT}
    assert ReturnCaseEvent.objects.filter(kind=ExternalEventKind.IN_TRANSIT).count() == 2


def test_a_batch_that_loses_a_deadlock_runs_again_whole(parcels, caplog):
    # given: the carriers' preparer loses a deadlock with another worker once, as PostgreSQL
    # reports it (SQLSTATE 40P01), then finds its rows free
    attempts = []

    @contextmanager
    def loses_once(pairs):
        attempts.append(len(pairs))
        if len(attempts) == 1:
            raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected()
        with carrier_tracking_prepare(pairs):
            yield

    events = in_transit_reports([tracking(0), tracking(1)])

    # when
    with easypost_preparer(loses_once):
        counts = in_one_batch(events)

    # then: the batch ran again with its preparer (not one report at a time), and each
    # report was applied once
    assert attempts == [2, 2]
    assert "Batch preparer failed" not in caplog.text
    assert counts == {"processed": 2}
    assert ReturnCaseEvent.objects.filter(kind=ExternalEventKind.IN_TRANSIT).count() == 2


def test_a_run_whose_milestones_fail_to_insert_runs_again_isolated(parcels, monkeypatch):
    # given: the multi-row INSERT of a run's milestones fails once (as a lost deadlock or a
    # dropped connection would)
    from django.db.models.query import QuerySet

    inserts = []
    bulk_create = QuerySet.bulk_create

    def fails_once(self, objs, *args, **kwargs):
        inserts.append(len(objs))
        if len(inserts) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return bulk_create(self, objs, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "bulk_create", fails_once)
    events = in_transit_reports([tracking(0), tracking(1)])

    # when
    counts = in_one_batch(events)

    # then: the batch ran again isolated (the task did not fail), and each report was
    # applied once, with its milestone
    assert inserts == [2, 2]
    assert counts == {"processed": 2}
    moved = ReturnCase.objects.filter(pk__in=[parcels[0].pk, parcels[1].pk])
    assert set(moved.values_list("state", flat=True)) == {State.IN_TRANSIT}
    milestones = ReturnCaseEvent.objects.filter(kind=ExternalEventKind.IN_TRANSIT)
    assert sorted(milestones.values_list("inbound_event_id", flat=True)) == [e.pk for e in events]
    assert all(m.applied == "Case moved to in transit" for m in milestones)


def test_a_repeated_carrier_report_in_a_batch_or_a_later_one_has_no_second_effect(parcels):
    # given: one in-transit report, sent again under two other event ids, one of them in the
    # same batch
    def report(event_id: str) -> InboundEvent:
        body = easypost_body(
            event_id=event_id, status="in_transit", at="2026-11-20T10:00:00Z", tracking=tracking(0)
        )
        return receive("easypost", body)

    first, again = report("evt_1"), report("evt_2")

    # when: the batch runs, then a later batch with the third copy
    in_one_batch([first, again])
    later = report("evt_3")
    in_one_batch([later])

    # then: one milestone and one move; all three processed
    case = ReturnCase.objects.get(pk=parcels[0].pk)
    assert case.state == State.IN_TRANSIT
    milestones = ReturnCaseEvent.objects.filter(case=case, kind=ExternalEventKind.IN_TRANSIT)
    assert list(milestones.values_list("inbound_event_id", flat=True)) == [first.pk]
    assert case.history.filter(state=State.IN_TRANSIT).count() == 1
    assert {
        e.status for e in InboundEvent.objects.filter(pk__in=[first.pk, again.pk, later.pk])
    } == {InboundEventStatus.PROCESSED}


def test_a_report_no_case_knows_parks_and_the_rest_of_the_batch_is_applied(parcels):
    # given: reports on parcels 0 and 1 around one whose tracking number no case has
    known_first = receive(
        "easypost",
        easypost_body(
            event_id="evt_a", status="in_transit", at="2026-11-20T10:00:00Z", tracking=tracking(0)
        ),
    )
    unknown = receive(
        "easypost",
        easypost_body(
            event_id="evt_b", status="in_transit", at="2026-11-20T10:00:00Z", tracking="1ZNOBODY"
        ),
    )
    known_last = receive(
        "easypost",
        easypost_body(
            event_id="evt_c", status="delivered", at="2026-11-22T10:00:00Z", tracking=tracking(1)
        ),
    )

    # when
    counts = in_one_batch([known_first, unknown, known_last])

    # then: the unknown number parks with an exception naming it; both parcels moved
    assert counts == {"processed": 2, "parked": 1}
    parked = InboundEvent.objects.get(pk=unknown.pk)
    assert parked.status == InboundEventStatus.PARKED
    assert "1ZNOBODY" in parked.last_error
    exception = ExceptionCase.objects.get(
        subject_type=SubjectType.INBOUND_EVENT, subject_id=str(unknown.pk)
    )
    assert exception.kind == ExceptionKind.INVESTIGATE_SKU
    states = ReturnCase.objects.filter(pk__in=[parcels[0].pk, parcels[1].pk]).order_by("pk")
    assert list(states.values_list("state", flat=True)) == [State.IN_TRANSIT, State.DELIVERED]


# ---- 3PL stock feeds -------------------------------------------------------------------------


@pytest.fixture
def threepl():
    """ShipHero's warehouse 12345 and ShipBob's fulfillment center 211, mapped; five SKUs."""
    for source, code in (("shiphero", "12345"), ("shipbob", "211")):
        warehouse = WarehouseFactory(operator=Warehouse.Operator.THIRD_PARTY, provider=source)
        ExternalLocation.objects.create(source=source, external_code=code, warehouse=warehouse)
    return [ProductFactory(sku=f"PREP-{n}").sku for n in range(5)]


def shiphero_update(stock: dict[str, int], at: str) -> bytes:
    data = sample_json("shiphero_webhook_inventory_update.json")
    item = data["inventory"][0]
    data["timestamp"] = at
    data["inventory"] = [
        dict(
            item,
            sku=sku,
            updated_warehouse=dict(
                item["updated_warehouse"], warehouse_id=12345, on_hand=str(n), inventory=str(n)
            ),
        )
        for sku, n in stock.items()
    ]
    return json.dumps(data).encode()


def shipbob_pull(stock: dict[str, int], slot: str) -> InboundEvent:
    item = sample_json("shipbob_inventory_v1_item.json")
    center = item["fulfillable_quantity_by_fulfillment_center"][0]
    items = [
        dict(
            item,
            sku=sku,
            fulfillable_quantity_by_fulfillment_center=[
                dict(center, id=211, onhand_quantity=n, fulfillable_quantity=n)
            ],
        )
        for sku, n in stock.items()
    ]
    headers = {PULL_ID_HEADER: f"main:{slot}", PULLED_AT_HEADER: f"{slot}T06:00:00+00:00"}
    return receive("shipbob", json.dumps({"items": items}).encode(), headers)


def snapshot_effects() -> list[tuple]:
    snapshots = []
    for snapshot in ExternalSnapshot.objects.order_by("source", "external_ref"):
        lines = sorted(
            snapshot.lines.values_list("product__sku", "warehouse__code", "on_hand", "sellable")
        )
        snapshots.append(
            (snapshot.source, snapshot.external_ref, snapshot.scope, snapshot.taken_at, lines)
        )
    heads = sorted(
        ExternalSnapshotHead.objects.values_list(
            "source", "warehouse__code", "snapshot__external_ref", "taken_at"
        )
    )
    return [snapshots, heads]


def test_a_batch_of_3pl_feeds_has_the_effects_of_one_at_a_time_with_fewer_statements(
    threepl, django_capture_on_commit_callbacks
):
    # given: three ShipHero updates, then two ShipBob pulls (the later one current)
    a, b, c, d, e = threepl
    events = [
        receive("shiphero", shiphero_update({a: 5, b: 7}, "2026-11-20T10:00:00Z")),
        receive("shiphero", shiphero_update({e: 1}, "2026-11-20T11:00:00Z")),
        receive("shiphero", shiphero_update({b: 6, c: 1}, "2026-11-20T12:00:00Z")),
        shipbob_pull({a: 10, c: 3, d: 0}, "2026-11-20"),
        shipbob_pull({a: 9, c: 3, d: 2}, "2026-11-21"),
    ]

    # when: applied one at a time, and (from the same start) in one batch
    with django_capture_on_commit_callbacks() as queued:
        alone, batched, alone_queries, batch_queries = both_ways(events, snapshot_effects)

    # then: the same snapshots, lines and current heads; every event processed once; fewer
    # statements; one incremental reconciliation per run of a source's events instead of one
    # per snapshot (the rolled-back pass's are dropped with it)
    assert batched == alone
    snapshots, heads = batched[0]
    assert len(snapshots) == 5
    assert [head[2] for head in heads] == ["main:2026-11-21"]
    assert {status for status, _, _ in batched[1]} == {InboundEventStatus.PROCESSED}
    assert batch_queries < alone_queries / 2
    assert len(queued) == 2


def test_a_3pl_report_already_recorded_is_not_recorded_again(threepl):
    # given: a pull whose snapshot is already recorded (an earlier delivery of the report)
    a, b, *_ = threepl
    first = shipbob_pull({a: 1}, "2026-11-20")
    one_at_a_time([first])
    InboundEvent.objects.filter(pk=first.pk).update(status=InboundEventStatus.RECEIVED)
    update = receive("shiphero", shiphero_update({b: 4}, "2026-11-20T10:00:00Z"))

    # when: a batch applies it with a new report, twice
    in_one_batch([first, update])
    in_one_batch([first, update])

    # then: one snapshot per report, the first unchanged
    assert ExternalSnapshot.objects.filter(external_ref="main:2026-11-20").count() == 1
    assert ExternalSnapshot.objects.count() == 2
    assert InboundEvent.objects.get(pk=first.pk).status == InboundEventStatus.PROCESSED


def test_a_3pl_feed_naming_an_unknown_sku_parks_and_the_rest_of_the_batch_is_recorded(threepl):
    # given: a ShipHero update naming a SKU we do not know, between two good ones
    a, b, *_ = threepl
    good_first = receive("shiphero", shiphero_update({a: 5}, "2026-11-20T10:00:00Z"))
    bad = receive("shiphero", shiphero_update({b: 1, "NOT-OURS": 2}, "2026-11-20T10:05:00Z"))
    good_last = receive("shiphero", shiphero_update({b: 3}, "2026-11-20T10:10:00Z"))

    # when
    counts = in_one_batch([good_first, bad, good_last])

    # then: the bad one parks with an exception naming the SKU, nothing recorded for it; the
    # others are recorded
    assert counts == {"processed": 2, "parked": 1}
    parked = InboundEvent.objects.get(pk=bad.pk)
    assert "NOT-OURS" in parked.last_error
    assert (
        ExceptionCase.objects.get(
            subject_type=SubjectType.INBOUND_EVENT, subject_id=str(bad.pk)
        ).kind
        == ExceptionKind.INVESTIGATE_SKU
    )
    refs = set(ExternalSnapshot.objects.values_list("external_ref", flat=True))
    assert refs == {good_first.external_id, good_last.external_id}


# ---- Shopify return requests -----------------------------------------------------------------


@pytest.fixture
def shop():
    return ChannelFactory(
        code="shop-us", platform=Channel.Platform.SHOPIFY, webhook_secret="hush", currency="USD"
    )


def return_request(return_id: str, order_number: str, webhook_id: str) -> InboundEvent:
    return inbound_event_record(
        source="shopify",
        account="shop-us",
        body=request_body(return_id=return_id, order_id=order_number),
        headers={"X-Shopify-Topic": "returns/request", "X-Shopify-Webhook-Id": webhook_id},
    ).event


def request_effects() -> list[tuple]:
    """Per case: its order, state, resolution, lines, link to the Shopify return, timeline,
    history rows and outbox messages (the RMA number, drawn at random, left out)."""
    rows = []
    for case in ReturnCase.objects.order_by("order__number"):
        lines = list(
            case.lines.values_list("order_line__channel_line_id", "quantity", "reason__code")
        )
        link = ChannelReturn.objects.filter(case=case).values_list("external_id", "status").get()
        timeline = [
            (kind, key, applied.replace(case.rma_number, "RMA"), event_id)
            for kind, key, applied, event_id in case.external_events.order_by("pk").values_list(
                "kind", "dedupe_key", "applied", "inbound_event_id"
            )
        ]
        history = list(case.history.order_by("history_id").values_list("state", flat=True))
        rows.append(
            (case.order.number, case.state, case.resolution, lines, link, timeline, history)
        )
    return [rows, OutboxMessage.objects.count()]


def test_a_batch_of_return_requests_has_the_effects_of_one_at_a_time(shop):
    # given: requests for returns on three orders, one of them sent again under another id
    for number in ("7001", "7002", "7003"):
        shopify_order(shop, number=number)
    events = [
        return_request("9001", "7001", "w1"),
        return_request("9002", "7002", "w2"),
        return_request("9001", "7001", "w1-again"),
        return_request("9003", "7003", "w3"),
    ]

    # when: applied one at a time, and (from the same start) in one batch
    alone, batched, alone_queries, batch_queries = both_ways(events, request_effects)

    # then: the same three cases, links, timelines, history and messages; the repeat opened
    # nothing; every event processed once, reading less
    assert batched == alone
    cases, messages = batched[0]
    assert [(number, state) for number, state, *_ in cases] == [
        ("7001", State.AUTHORIZED),
        ("7002", State.AUTHORIZED),
        ("7003", State.AUTHORIZED),
    ]
    assert messages == 3
    assert {status for status, _, _ in batched[1]} == {InboundEventStatus.PROCESSED}
    assert batch_queries < alone_queries


def test_a_return_request_for_an_unknown_order_parks_and_the_rest_of_the_batch_opens(shop):
    # given: a request about an order we never imported, between two good ones
    for number in ("7001", "7003"):
        shopify_order(shop, number=number)
    good_first = return_request("9001", "7001", "w1")
    unknown = return_request("9002", "7999", "w2")
    good_last = return_request("9003", "7003", "w3")

    # when
    counts = in_one_batch([good_first, unknown, good_last])

    # then
    assert counts == {"processed": 2, "parked": 1}
    assert "Unknown order 7999" in InboundEvent.objects.get(pk=unknown.pk).last_error
    assert (
        ExceptionCase.objects.get(
            subject_type=SubjectType.INBOUND_EVENT, subject_id=str(unknown.pk)
        ).kind
        == ExceptionKind.CHANNEL_DISPUTE
    )
    assert sorted(ReturnCase.objects.values_list("order__number", flat=True)) == ["7001", "7003"]


def screened_effects() -> list[tuple]:
    """`request_effects`, with each case's risk screening."""
    rows, messages = request_effects()
    screening = list(
        ReturnCase.objects.order_by("order__number", "pk").values_list(
            "risk_score", "risk_level", "risk_signals"
        )
    )
    return [rows, messages, screening]


def test_a_batch_of_requests_on_one_order_sees_its_own_cases_as_one_at_a_time_does(shop):
    # given: three requests for one unit each of an order line of two units
    shopify_order(shop, number="7001")
    events = [
        return_request("9001", "7001", "w1"),
        return_request("9002", "7001", "w2"),
        return_request("9003", "7001", "w3"),
    ]

    # when: applied one at a time, and (from the same start) in one batch
    alone, batched, _, _ = both_ways(events, screened_effects)

    # then: the same two cases, the second screened with the first as an earlier claim on the
    # order; the third refused by the policy (both units claimed by cases of the same batch)
    assert batched == alone
    cases, _, (first_risk, second_risk) = batched[0]
    assert [row[0] for row in cases] == ["7001", "7001"]
    assert "repeated_claim" not in {s["code"] for s in first_risk[2]}
    assert "repeated_claim" in {s["code"] for s in second_risk[2]}
    statuses = [status for status, _, _ in batched[1]]
    assert statuses == [
        InboundEventStatus.PROCESSED,
        InboundEventStatus.PROCESSED,
        InboundEventStatus.PARKED,
    ]
    assert "cannot be opened under our policy" in batched[1][2][2]


def test_a_request_failing_in_a_batch_gives_back_what_it_claimed_to_the_rest(shop, monkeypatch):
    # given: three requests for one unit each of an order line of two units; the second fails
    # after opening its case (its timeline record cannot be written)
    from returns import channel_events

    shopify_order(shop, number="7001")
    events = [
        return_request("9001", "7001", "w1"),
        return_request("9002", "7001", "w2"),
        return_request("9003", "7001", "w3"),
    ]
    record = channel_events._record

    def failing_record(case, **kwargs):
        if kwargs["dedupe_key"].startswith("shopify:return:9002:"):
            raise RuntimeError("the timeline is unavailable")
        return record(case, **kwargs)

    monkeypatch.setattr(channel_events, "_record", failing_record)

    # when
    counts = in_one_batch(events)

    # then: the failed request left no case and no claim: the third request got its unit
    assert counts == {"processed": 2, "received": 1}
    failed = InboundEvent.objects.get(pk=events[1].pk)
    assert "the timeline is unavailable" in failed.last_error
    linked = ChannelReturn.objects.order_by("external_id").values_list("external_id", flat=True)
    assert list(linked) == ["9001", "9003"]
    assert ReturnCase.objects.count() == 2
    assert OutboxMessage.objects.count() == 2


def test_a_carrier_report_failing_in_a_batch_leaves_its_case_as_it_was_for_the_next(
    parcels, monkeypatch
):
    # given: parcel 0 reported delivered (which moves it in transit, then fails to mark it
    # delivered), then reported in transit: two reports of one run, read for it at once
    from returns import services

    def failing(**kwargs):
        raise RuntimeError("delivery cannot be recorded")

    monkeypatch.setattr(services, "return_case_mark_delivered", failing)
    delivered = receive(
        "easypost",
        easypost_body(
            event_id="evt_0b", status="delivered", at="2026-11-22T15:00:00Z", tracking=tracking(0)
        ),
    )
    moving = receive(
        "easypost",
        easypost_body(
            event_id="evt_0a", status="in_transit", at="2026-11-20T10:00:00Z", tracking=tracking(0)
        ),
    )

    # when
    counts = in_one_batch([delivered, moving])

    # then: the failed report's move was undone, in the database and in the batch's view of
    # the case: the next report moved it in transit itself
    assert counts == {"received": 1, "processed": 1}
    case = ReturnCase.objects.get(pk=parcels[0].pk)
    assert case.state == State.IN_TRANSIT
    record = ReturnCaseEvent.objects.get(case=case, kind=ExternalEventKind.IN_TRANSIT)
    assert record.inbound_event_id == moving.pk
    assert record.applied == "Case moved to in transit"
    assert list(case.history.order_by("history_id").values_list("state", flat=True))[-1] == (
        State.IN_TRANSIT
    )
    assert case.history.filter(state=State.IN_TRANSIT).count() == 1


def refund(order_number: str, refund_id: int, webhook_id: str) -> InboundEvent:
    data = sample_json("shopify_webhook_refunds_create.json")
    data.update(
        id=refund_id,
        order_id=int(order_number),
        admin_graphql_api_id=f"gid://shopify/Refund/{refund_id}",
    )
    return inbound_event_record(
        source="shopify",
        account="shop-us",
        body=json.dumps(data).encode(),
        headers={"X-Shopify-Topic": "refunds/create", "X-Shopify-Webhook-Id": webhook_id},
    ).event


def test_a_batch_inserts_each_runs_timeline_records_at_once_with_the_effects_of_one_at_a_time(
    shop,
):
    # given: requests opening cases on three orders, then a refund on each order (one of them
    # sent again under another id): a run of requests, then a run of refunds
    for number in ("7001", "7002", "7003"):
        shopify_order(shop, number=number)
    events = [return_request(f"900{k}", f"700{k}", f"w{k}") for k in (1, 2, 3)]
    events += [refund(f"700{k}", 5000 + k, f"f{k}") for k in (1, 2, 3)]
    events.append(refund("7002", 5002, "f2-again"))

    # when: applied one at a time, and (from the same start) in one batch
    with CaptureQueriesContext(connection) as captured:
        alone, batched, _, _ = both_ways(events, request_effects)

    # then: the same cases, timelines (in the same order), history and messages; the repeat
    # recorded nothing; the batch inserted each run's timeline records in one statement
    assert batched == alone
    cases, _ = batched[0]
    timelines = [[kind for kind, *_ in timeline] for *_, timeline, _ in cases]
    kinds = [ExternalEventKind.CHANNEL_REQUESTED, ExternalEventKind.CHANNEL_REFUND]
    assert timelines == [kinds] * 3
    assert {status for status, _, _ in batched[1]} == {InboundEventStatus.PROCESSED}
    timeline_inserts = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('INSERT INTO "returns_returncaseevent"')
    ]
    # one at a time: one per event, the repeat's refused by the unique key (7); the batch:
    # one per run (2)
    assert len(timeline_inserts) == 7 + 2


def test_a_batch_links_its_run_of_return_requests_in_one_insert_as_one_at_a_time_does(shop):
    # given: requests on three orders, one of them sent again under another id
    for number in ("7001", "7002", "7003"):
        shopify_order(shop, number=number)
    events = [return_request(f"900{k}", f"700{k}", f"w{k}") for k in (1, 2, 3)]
    events.append(return_request("9002", "7002", "w2-again"))

    # when: applied one at a time, and (from the same start) in one batch
    with CaptureQueriesContext(connection) as captured:
        alone, batched, _, _ = both_ways(events, request_effects)

    # then: the same cases, each linked once to its Shopify return; the batch inserted the
    # run's links in one statement
    assert batched == alone
    cases, _ = batched[0]
    links = [link for *_, link, _, _ in cases]
    assert links == [("9001", "REQUESTED"), ("9002", "REQUESTED"), ("9003", "REQUESTED")]
    assert {status for status, _, _ in batched[1]} == {InboundEventStatus.PROCESSED}
    link_inserts = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('INSERT INTO "returns_channelreturn"')
    ]
    # one at a time: one per case opened (3; the repeat finds its return linked); the batch: 1
    assert len(link_inserts) == 3 + 1


def test_a_run_whose_return_links_fail_to_insert_runs_again_isolated(shop, monkeypatch):
    # given: the multi-row INSERT of a run's links fails once (as a link a concurrent worker
    # inserted first, or a dropped connection, would)
    from django.db.models.query import QuerySet

    for number in ("7001", "7002"):
        shopify_order(shop, number=number)
    events = [return_request(f"900{k}", f"700{k}", f"w{k}") for k in (1, 2)]
    inserts = []
    bulk_create = QuerySet.bulk_create

    def fails_once(self, objs, *args, **kwargs):
        if self.model is ChannelReturn:
            inserts.append(len(objs))
            if len(inserts) == 1:
                raise OperationalError("server closed the connection unexpectedly")
        return bulk_create(self, objs, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "bulk_create", fails_once)

    # when
    counts = in_one_batch(events)

    # then: the batch ran again isolated (the task did not fail); each request opened one
    # case, linked once, with one timeline record and one message
    assert inserts == [2, 2]
    assert counts == {"processed": 2}
    links = ChannelReturn.objects.order_by("external_id")
    assert list(links.values_list("external_id", "case__order__number")) == [
        ("9001", "7001"),
        ("9002", "7002"),
    ]
    assert ReturnCase.objects.count() == 2
    assert ReturnCaseEvent.objects.filter(kind=ExternalEventKind.CHANNEL_REQUESTED).count() == 2
    assert OutboxMessage.objects.count() == 2


def message_effects() -> list[tuple]:
    """Per case (by order): its customer messages as queued (topic, template, recipient,
    ordering key, and whether payload and key name the case) and the notes on its timeline,
    each noting its message."""
    rows = []
    for case in ReturnCase.objects.order_by("order__number"):
        notes = list(case.messages.order_by("pk").values_list("template", "outbox_message_id"))
        messages = OutboxMessage.objects.in_bulk([message_id for _, message_id in notes])
        rows.append(
            (
                case.order.number,
                [
                    (
                        template,
                        messages[message_id].topic,
                        messages[message_id].payload["template"],
                        messages[message_id].payload["to"],
                        messages[message_id].payload["case_id"] == case.pk,
                        messages[message_id].payload["rma_number"] == case.rma_number,
                        messages[message_id].dedupe_key == f"return_case:{case.pk}:{template}",
                        messages[message_id].ordering_key == f"return_case:{case.pk}",
                        messages[message_id].status,
                    )
                    for template, message_id in notes
                ],
            )
        )
    return [rows, OutboxMessage.objects.count()]


def outbox_inserts(captured) -> list[str]:
    """The statements that inserted outbox messages (alone, or with the row noting them)."""
    return [q["sql"] for q in captured.captured_queries if 'INTO "erp_outboxmessage"' in q["sql"]]


def test_a_run_of_return_requests_queues_its_messages_at_its_end_as_one_at_a_time_does(
    shop, django_capture_on_commit_callbacks
):
    # given: requests on three orders, one of them sent again under another id
    for number in ("7001", "7002", "7003"):
        shopify_order(shop, number=number)
    events = [return_request(f"900{k}", f"700{k}", f"w{k}") for k in (1, 2, 3)]
    events.append(return_request("9002", "7002", "w2-again"))

    # when: applied one at a time, and (from the same start) in one batch
    with (
        CaptureQueriesContext(connection) as captured,
        django_capture_on_commit_callbacks() as callbacks,
    ):
        alone, batched, _, _ = both_ways(events, message_effects)

    # then: the same messages, one per case opened (the repeat queues none), each noted on
    # its case's timeline and naming it, pending dispatch
    assert batched == alone
    cases, messages = batched[0]
    assert messages == 3
    for _, notes in cases:
        ((template, topic, payload_template, to, *names_case, status),) = notes
        assert (template, topic, payload_template, status) == (
            "return_authorized",
            "customer.message",
            "return_authorized",
            "pending",
        )
        assert to
        assert all(names_case)
    # one at a time: one statement per case (3); the batch: one for the run
    assert len(outbox_inserts(captured)) == 3 + 1
    # and the batch asked for one dispatch after its commit
    assert [callback.__name__ for callback in callbacks] == ["_send_dispatch"]


def test_a_key_queued_before_a_run_is_noted_against_its_first_message_and_not_queued_again(
    shop,
):
    # given: the message the second request's case will queue, queued before (as a replayed
    # batch whose case keeps its id would find it)
    from erp.services import outbox_enqueue

    for number in ("7001", "7002"):
        shopify_order(shop, number=number)
    events = [return_request(f"900{k}", f"700{k}", f"w{k}") for k in (1, 2)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('returns_returncase', 'id'))")
        (last,) = cursor.fetchone()
    earlier = outbox_enqueue(
        topic="customer.message",
        payload={"template": "earlier"},
        dedupe_key=f"return_case:{last + 2}:return_authorized",
    )

    # when
    counts = in_one_batch(events)

    # then: both cases opened; the second's note names the earlier message, queued once
    assert counts == {"processed": 2}
    first, second = ReturnCase.objects.order_by("pk")
    assert second.pk == last + 2
    assert list(second.messages.values_list("outbox_message_id", flat=True)) == [earlier.pk]
    (note,) = first.messages.all()
    assert OutboxMessage.objects.get(pk=note.outbox_message_id).payload["case_id"] == first.pk
    assert OutboxMessage.objects.count() == 2
    assert OutboxMessage.objects.get(pk=earlier.pk).payload == {"template": "earlier"}


def test_a_run_whose_messages_fail_to_queue_runs_again_isolated(shop, monkeypatch):
    # given: the statement queueing a run's messages fails once (a dropped connection)
    from erp.services import outbox

    for number in ("7001", "7002"):
        shopify_order(shop, number=number)
    events = [return_request(f"900{k}", f"700{k}", f"w{k}") for k in (1, 2)]
    calls = []
    queue = outbox.outbox_enqueue_noted_many

    def fails_once(queued, **kwargs):
        calls.append(len(queued))
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return queue(queued, **kwargs)

    monkeypatch.setattr("returns.services.outbox_enqueue_noted_many", fails_once)

    # when
    counts = in_one_batch(events)

    # then: the batch ran again isolated; each case has exactly one message, noted once
    assert calls == [2, 2]
    assert counts == {"processed": 2}
    assert ReturnCase.objects.count() == 2
    assert OutboxMessage.objects.count() == 2
    for case in ReturnCase.objects.all():
        (note,) = case.messages.all()
        message = OutboxMessage.objects.get(pk=note.outbox_message_id)
        assert message.payload["case_id"] == case.pk


def test_each_further_return_request_in_a_batch_costs_only_its_cases_three_writes(shop):
    # given: requests on two orders, and on six others; the channel's service account exists
    # (the first request ever creates it)
    from returns.channel_events import channel_actor

    channel_actor(shop)
    for k in range(8):
        shopify_order(shop, number=f"70{k:02d}")
    two = [return_request(f"90{k:02d}", f"70{k:02d}", f"w{k}") for k in range(2)]
    six = [return_request(f"90{k:02d}", f"70{k:02d}", f"w{k}") for k in range(2, 8)]

    # when: each set is applied in a batch
    with CaptureQueriesContext(connection) as for_two:
        in_one_batch(two)
    with CaptureQueriesContext(connection) as for_six:
        in_one_batch(six)

    # then: the four more requests cost their case, its line and its authorization (each with
    # its history row in one statement); their messages, links and timeline records go in with
    # the run's others, one INSERT each for the run
    assert ReturnCase.objects.filter(state=State.AUTHORIZED).count() == 8
    assert (len(for_six) - len(for_two)) / 4 == 3
    assert OutboxMessage.objects.count() == 8
    assert ReturnCaseEvent.objects.filter(kind=ExternalEventKind.CHANNEL_REQUESTED).count() == 8
