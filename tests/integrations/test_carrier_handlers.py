"""Carrier tracking events → return case milestones: forward-only transitions, one effect per
report however often and in whatever order it arrives, exceptions for parcels in trouble,
and parking for tracking numbers no case knows."""

import json
import random

import pytest

from erp.models import ExceptionCase, InboundEvent
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.models.inbox import InboundEventStatus
from erp.services import inbound_event_process, inbound_event_record, inbound_event_replay
from returns import services
from returns.models import ExternalEventKind, ReturnCase, ReturnCaseEvent
from tests.returns.conftest import delivered_order, open_case

from .conftest import easypost_body, sample_json

pytestmark = pytest.mark.django_db

State = ReturnCase.State
TRACKING = "1Z999AA10123456784"


def label(case: ReturnCase, *, carrier: str = "UPS", tracking: str = TRACKING) -> None:
    """Given: a return label issued for the case (as Shopify's attach_deliverable records)."""
    ReturnCaseEvent.objects.create(
        case=case,
        source="shopify",
        kind=ExternalEventKind.LABEL,
        dedupe_key=f"label:{tracking}",
        occurred_at=case.requested_at,
        carrier=carrier,
        tracking_number=tracking,
    )


def aftership_body(*, event_id: str, tag: str, at: str, ts: int) -> bytes:
    data = sample_json("aftership_webhook_tracking_update.json")
    data.update(event_id=event_id, ts=ts)
    msg = data["msg"]
    msg.update(tracking_number=TRACKING, slug="ups", tag=tag, expected_delivery=None)
    msg["checkpoints"] = [{"checkpoint_time": at, "tag": tag, "slug": "ups", "message": tag}]
    return json.dumps(data).encode()


def shippo_body(*, status: str, at: str, tracking: str = TRACKING) -> bytes:
    data = sample_json("shippo_webhook_track_updated.json")
    data["data"].update(carrier="ups", tracking_number=tracking)
    data["data"]["tracking_status"].update(status=status, status_date=at, substatus=None)
    return json.dumps(data).encode()


def receive(source: str, body: bytes) -> InboundEvent:
    return inbound_event_record(source=source, account="main", body=body, headers={}).event


def process_all() -> None:
    """What the workers do: apply every received event, retrying until nothing moves."""
    for _ in range(10):
        pending = list(
            InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED).order_by("?")
        )
        if not pending:
            return
        for event in pending:
            inbound_event_process(event_id=event.pk, final_attempt=False)


@pytest.fixture
def authorized(cs_user):
    case = open_case(delivered_order(), cs_user)
    assert case.state == State.AUTHORIZED
    label(case)
    return case


def test_in_transit_then_delivered_moves_the_case_and_records_carrier_and_eta(authorized):
    # given: an authorized case with a label; when: EasyPost reports in transit, then delivered
    first = receive(
        "easypost",
        easypost_body(
            event_id="evt_a", status="in_transit", at="2026-11-20T10:00:00Z", eta="2026-11-23"
        ),
    )
    inbound_event_process(event_id=first.pk)
    case = ReturnCase.objects.get(pk=authorized.pk)
    # then: in transit with the carrier and tracking number, and the ETA kept
    assert (case.state, case.carrier, case.tracking_number) == (State.IN_TRANSIT, "UPS", TRACKING)
    milestone = ReturnCaseEvent.objects.get(case=case, kind=ExternalEventKind.IN_TRANSIT)
    assert milestone.eta.date().isoformat() == "2026-11-23"
    assert milestone.occurred_at.isoformat() == "2026-11-20T10:00:00+00:00"
    assert milestone.applied == "Case moved to in transit"

    second = receive(
        "easypost", easypost_body(event_id="evt_b", status="delivered", at="2026-11-22T15:00:00Z")
    )
    inbound_event_process(event_id=second.pk)
    case.refresh_from_db()
    assert case.state == State.DELIVERED
    assert list(case.history.order_by("history_date").values_list("history_change_reason"))[
        -2:
    ] == [("Shipped with UPS",), ("Delivered by carrier",)]
    assert InboundEvent.objects.get(pk=second.pk).status == InboundEventStatus.PROCESSED


def test_delivered_before_in_transit_moves_through_both_and_the_late_report_does_nothing(
    authorized,
):
    # when: "delivered" arrives first
    delivered = receive(
        "easypost", easypost_body(event_id="evt_d", status="delivered", at="2026-11-22T15:00:00Z")
    )
    inbound_event_process(event_id=delivered.pk)
    case = ReturnCase.objects.get(pk=authorized.pk)
    assert case.state == State.DELIVERED
    assert case.shipped_at is not None
    assert case.delivered_at is not None
    history = case.history.count()

    # and: the older "in transit" arrives afterwards
    late = receive(
        "easypost", easypost_body(event_id="evt_t", status="in_transit", at="2026-11-20T10:00:00Z")
    )
    inbound_event_process(event_id=late.pk)

    # then: nothing moved back, no history written
    case.refresh_from_db()
    assert case.state == State.DELIVERED
    assert case.history.count() == history
    assert InboundEvent.objects.get(pk=late.pk).status == InboundEventStatus.PROCESSED


def test_each_report_eight_times_out_of_order_has_one_effect(authorized):
    # given: AfterShip in-transit and delivered reports, each delivered 8 times (4 under the
    # same event id, 4 under fresh ids as a re-sending aggregator does), shuffled
    bodies = []
    for n in range(8):
        event_id = "e-transit" if n < 4 else f"e-transit-{n}"
        bodies.append(
            aftership_body(event_id=event_id, tag="InTransit", at="2026-11-20T10:00:00", ts=100)
        )
        event_id = "e-delivered" if n < 4 else f"e-delivered-{n}"
        bodies.append(
            aftership_body(event_id=event_id, tag="Delivered", at="2026-11-22T15:00:00", ts=200)
        )
    random.Random(7).shuffle(bodies)

    # when
    for body in bodies:
        receive("aftership", body)
    process_all()

    # then: one delivered milestone (an in-transit report processed after it is superseded by
    # the inbox, or recorded once before it), one ship and one delivery in the history
    case = ReturnCase.objects.get(pk=authorized.pk)
    assert case.state == State.DELIVERED
    milestones = ReturnCaseEvent.objects.filter(case=case)
    assert milestones.filter(kind=ExternalEventKind.DELIVERED).count() == 1
    assert milestones.filter(kind=ExternalEventKind.IN_TRANSIT).count() <= 1
    reasons = list(case.history.values_list("history_change_reason", flat=True))
    assert reasons.count("Shipped with UPS") == 1
    assert reasons.count("Delivered by carrier") == 1
    assert not InboundEvent.objects.exclude(status=InboundEventStatus.PROCESSED).exists()


def test_returned_to_sender_opens_one_damaged_in_transit_exception_with_evidence(
    cs_user, authorized
):
    # given: the parcel is on its way
    services.return_case_ship(
        case_id=authorized.pk, actor=cs_user, carrier="UPS", tracking_number=TRACKING
    )
    # when: Shippo reports it returning to the sender, twice
    for _ in range(2):
        event = receive("shippo", shippo_body(status="RETURNED", at="2026-11-21T09:00:00Z"))
        inbound_event_process(event_id=event.pk)

    # then: one exception on the case, with the report as evidence; the case did not move
    exception = ExceptionCase.objects.get(
        subject_type=SubjectType.RETURN_CASE, subject_id=str(authorized.pk)
    )
    assert exception.kind == ExceptionKind.DAMAGED_IN_TRANSIT
    assert exception.evidence["provider_status"] == "RETURNED"
    assert exception.evidence["tracking_number"] == TRACKING
    assert ReturnCase.objects.get(pk=authorized.pk).state == State.IN_TRANSIT
    assert ReturnCaseEvent.objects.filter(kind=ExternalEventKind.RETURNED_TO_SENDER).count() == 1


def test_a_failure_after_the_warehouse_received_the_parcel_opens_nothing(
    cs_user, warehouse_user, authorized
):
    services.return_case_ship(
        case_id=authorized.pk, actor=cs_user, carrier="UPS", tracking_number=TRACKING
    )
    services.return_case_receive(case_id=authorized.pk, actor=warehouse_user)

    event = receive("shippo", shippo_body(status="FAILURE", at="2026-11-23T09:00:00Z"))
    inbound_event_process(event_id=event.pk)

    assert not ExceptionCase.objects.filter(subject_type=SubjectType.RETURN_CASE).exists()
    report = ReturnCaseEvent.objects.get(kind=ExternalEventKind.FAILURE)
    assert report.applied == "No exception: the case is received"


def test_an_unknown_tracking_number_parks_with_a_clear_error_and_replays_once_known(
    cs_user, operations_user
):
    # given: a case the carrier's number is not yet recorded on
    case = open_case(delivered_order(), cs_user)
    event = receive(
        "easypost",
        easypost_body(event_id="evt_u", status="in_transit", at="2026-11-20T10:00:00Z"),
    )

    # when
    inbound_event_process(event_id=event.pk)

    # then: parked, saying which number, with an exception about the event; the case is as it was
    event.refresh_from_db()
    assert event.status == InboundEventStatus.PARKED
    assert f"No return case has tracking number {TRACKING} (UPS)" in event.last_error
    assert ExceptionCase.objects.filter(
        subject_type=SubjectType.INBOUND_EVENT, subject_id=str(event.pk)
    ).exists()
    assert ReturnCase.objects.get(pk=case.pk).state == State.AUTHORIZED

    # when: the label is recorded and the event replayed
    label(case)
    inbound_event_replay(event_id=event.pk, actor=operations_user)
    inbound_event_process(event_id=event.pk)
    assert ReturnCase.objects.get(pk=case.pk).state == State.IN_TRANSIT


def test_a_reused_tracking_number_goes_to_the_case_of_that_carrier(cs_user):
    # given: two cases whose labels share a number with different carriers
    ups = open_case(delivered_order(), cs_user)
    label(ups, carrier="UPS")
    fedex = open_case(delivered_order(), cs_user)
    label(fedex, carrier="FedEx")

    event = receive(
        "easypost",
        easypost_body(event_id="evt_r", status="in_transit", at="2026-11-20T10:00:00Z"),
    )
    inbound_event_process(event_id=event.pk)

    assert ReturnCase.objects.get(pk=ups.pk).state == State.IN_TRANSIT
    assert ReturnCase.objects.get(pk=fedex.pk).state == State.AUTHORIZED
