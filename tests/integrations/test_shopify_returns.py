"""Shopify returns webhooks → return cases: every returns sample ingested, each delivered 8
times out of order with one effect, unknown orders / lines parked with a clear error, refunds
and labels recorded on the case."""

import json
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from erp.models import Category, Channel, ExceptionCase, InboundEvent
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.models.inbox import InboundEventStatus
from erp.services import inbound_event_process, inbound_event_record
from returns.models import (
    ChannelReturn,
    ExternalEventKind,
    PolicyRule,
    Resolution,
    ReturnCase,
    ReturnCaseEvent,
    Source,
)
from tests.factories import (
    CategoryFactory,
    ChannelFactory,
    OrderLineFactory,
    ProductFactory,
    SalesOrderFactory,
    WarehouseFactory,
)

from .conftest import sample, sample_json

pytestmark = pytest.mark.django_db

State = ReturnCase.State
DOCS_RETURN = "123134564567890"  # the return id of Shopify's docs samples
DOCS_ORDER = "4783296544821"
LINE_ITEM = "12695210000533"  # the line item of the realistic request sample


@pytest.fixture
def shop():
    return ChannelFactory(
        code="shop-us", platform=Channel.Platform.SHOPIFY, webhook_secret="hush", currency="USD"
    )


def shopify_order(shop, *, number: str, price: str = "30.00", line_item: str = LINE_ITEM):
    """A delivered Shopify order with one apparel line, as orders/updated would import it."""
    delivered = timezone.now() - timedelta(days=4)
    category = CategoryFactory(
        code="cat-apparel", name="Apparel", department=Category.Department.APPAREL
    )
    order = SalesOrderFactory(
        channel=shop,
        number=number,
        ship_from=WarehouseFactory(),
        placed_at=delivered - timedelta(days=3),
        shipped_at=delivered - timedelta(days=2),
        delivered_at=delivered,
    )
    OrderLineFactory(
        order=order,
        line_number=1,
        quantity=2,
        unit_price=Decimal(price),
        product=ProductFactory(category=category),
        channel_line_id=line_item,
    )
    return order


def request_body(*, return_id: str = DOCS_RETURN, order_id: str = DOCS_ORDER) -> bytes:
    """The realistic request sample, about `return_id` on `order_id`."""
    data = sample_json("shopify_webhook_returns_request_realistic.json")
    data.update(id=int(return_id), admin_graphql_api_id=f"gid://shopify/Return/{return_id}")
    data["order"] = {"id": int(order_id), "admin_graphql_api_id": f"gid://shopify/Order/{order_id}"}
    return json.dumps(data).encode()


def deliver(body: bytes, *, topic: str, webhook_id: str, at: str = "") -> InboundEvent:
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id}
    if at:
        headers["X-Shopify-Triggered-At"] = at
    return inbound_event_record(
        source="shopify", account="shop-us", body=body, headers=headers
    ).event


def process_all() -> None:
    """What the workers do: apply every received event, retrying until nothing moves."""
    for _ in range(12):
        pending = list(InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED))
        if not pending:
            return
        for event in pending:
            inbound_event_process(event_id=event.pk, final_attempt=False)


def deliver_eight_times_shuffled(deliveries: list[tuple[bytes, str, str]], seed: int) -> None:
    """Each (body, topic, triggered at) 8 times: 4 under one webhook id (a retry), 4 under
    fresh ids (another subscription / a re-sent event), all shuffled together."""
    copies = []
    for n, (body, topic, at) in enumerate(deliveries):
        for copy in range(8):
            webhook_id = f"wh-{n}" if copy < 4 else f"wh-{n}-{copy}"
            copies.append((body, topic, webhook_id, at))
    random.Random(seed).shuffle(copies)
    for body, topic, webhook_id, at in copies:
        deliver(body, topic=topic, webhook_id=webhook_id, at=at)


def test_a_return_request_opens_a_case_through_the_policy_with_ids_as_text(shop):
    order = shopify_order(shop, number="5196695273621")

    event = deliver(
        sample("shopify_webhook_returns_request_realistic.json"),
        topic="returns/request",
        webhook_id="r1",
    )
    inbound_event_process(event_id=event.pk)

    case = ReturnCase.objects.get(order=order)
    assert case.source == Source.API
    assert case.state == State.AUTHORIZED  # the published policy auto-authorizes
    line = case.lines.get()
    assert (line.order_line.channel_line_id, line.quantity, line.reason.code) == (
        LINE_ITEM,
        1,
        "CHANGED_MIND",
    )
    link = ChannelReturn.objects.get(case=case)
    assert (link.external_id, link.name, link.status) == ("3547267221", "#1106-R2", "REQUESTED")
    first = case.history.order_by("history_date").first()
    assert first.history_user.username == "channel:shop-us"
    assert not first.history_user.has_usable_password()
    assert ReturnCaseEvent.objects.get(case=case).kind == ExternalEventKind.CHANNEL_REQUESTED
    assert InboundEvent.objects.get(pk=event.pk).status == InboundEventStatus.PROCESSED


def test_a_request_the_policy_offers_no_refund_for_opens_with_store_credit(shop):
    # given: the published policy offers store credit and exchange, not a refund
    PolicyRule.objects.filter(rule_set__state="published").update(offers_refund=False)
    order = shopify_order(shop, number="5196695273621")
    event = deliver(
        sample("shopify_webhook_returns_request_realistic.json"),
        topic="returns/request",
        webhook_id="r1",
    )

    # when
    outcome = inbound_event_process(event_id=event.pk)

    # then: the case opens with the first resolution offered, in our order of preference
    assert outcome.status == InboundEventStatus.PROCESSED
    case = ReturnCase.objects.get(order=order)
    assert (case.resolution, case.state) == (Resolution.STORE_CREDIT, State.AUTHORIZED)


@pytest.mark.parametrize(
    ("topics", "final_state", "applied"),
    [
        (
            ["returns/approve", "returns/close", "returns/reopen"],
            State.AUTHORIZED,
            {
                "returns/approve": "Case authorized",
                "returns/close": "Recorded only: our case closes after inspection",
                "returns/reopen": "Recorded only",
            },
        ),
        (["returns/decline"], State.REJECTED, {"returns/decline": "Case rejected"}),
        (["returns/cancel"], State.CANCELLED, {"returns/cancel": "Case cancelled"}),
    ],
)
def test_every_lifecycle_sample_eight_times_out_of_order_has_one_effect(
    shop, topics, final_state, applied
):
    # given: a high-value order, so our policy holds the request for review
    shopify_order(shop, number=DOCS_ORDER, price="1200.00")
    sample_of = {topic: f"shopify_webhook_{topic.replace('/', '_')}.json" for topic in topics}
    deliveries = [(request_body(), "returns/request", "2026-11-20T10:00:00Z")]
    for minute, topic in enumerate(topics, start=1):
        deliveries.append((sample(sample_of[topic]), topic, f"2026-11-20T10:{minute:02d}:00Z"))

    # when: each is delivered 8 times, shuffled (the request may come last)
    deliver_eight_times_shuffled(deliveries, seed=len(topics))
    process_all()

    # then: one case, in the state the channel's decision leads to, each event recorded once
    case = ReturnCase.objects.get()
    assert case.state == final_state
    assert ChannelReturn.objects.get().external_id == DOCS_RETURN
    assert ReturnCaseEvent.objects.count() == 1 + len(topics)
    outcomes = ReturnCaseEvent.objects.exclude(kind=ExternalEventKind.CHANNEL_REQUESTED)
    assert sorted(outcomes.values_list("applied", flat=True)) == sorted(applied.values())
    reasons = list(case.history.values_list("history_change_reason", flat=True))
    assert reasons.count("Requested via channel or portal (api)") == 1
    assert len([r for r in reasons if "on Shopify" in (r or "")]) == 1
    assert not InboundEvent.objects.exclude(status=InboundEventStatus.PROCESSED).exists()


def test_a_channel_close_does_not_close_our_case(shop):
    shopify_order(shop, number=DOCS_ORDER)
    deliver(request_body(), topic="returns/request", webhook_id="r")
    deliver(sample("shopify_webhook_returns_close.json"), topic="returns/close", webhook_id="c")
    process_all()

    case = ReturnCase.objects.get()
    assert case.state == State.AUTHORIZED
    assert ChannelReturn.objects.get().status == "CLOSED"


def test_the_docs_request_without_lines_parks_with_a_clear_error(shop):
    shopify_order(shop, number=DOCS_ORDER)
    event = deliver(
        sample("shopify_webhook_returns_request.json"), topic="returns/request", webhook_id="r"
    )

    inbound_event_process(event_id=event.pk)

    event.refresh_from_db()
    assert event.status == InboundEventStatus.PARKED
    assert "names no return line items" in event.last_error
    assert not ReturnCase.objects.exists()
    exception = ExceptionCase.objects.get(subject_type=SubjectType.INBOUND_EVENT)
    assert exception.kind == ExceptionKind.CHANNEL_DISPUTE


@pytest.mark.parametrize(
    ("order_number", "line_item", "message"),
    [
        ("999", LINE_ITEM, f"Unknown order {DOCS_ORDER} on"),
        (DOCS_ORDER, "555", f"has no line for Shopify line item {LINE_ITEM}"),
    ],
)
def test_an_unknown_order_or_line_parks_and_writes_nothing(shop, order_number, line_item, message):
    shopify_order(shop, number=order_number, line_item=line_item)
    event = deliver(request_body(), topic="returns/request", webhook_id="r")

    inbound_event_process(event_id=event.pk)

    event.refresh_from_db()
    assert event.status == InboundEventStatus.PARKED
    assert message in event.last_error
    assert not ReturnCase.objects.exists()
    assert not ChannelReturn.objects.exists()


def test_a_refund_is_recorded_once_on_the_case_as_channel_issued(shop, cs_user):
    # given: the refund sample's order (its id as the sample spells it) with a return case
    order = shopify_order(shop, number="820982911946154500")
    body = request_body(return_id="77", order_id="820982911946154500")
    deliver(body, topic="returns/request", webhook_id="r")
    process_all()
    case = ReturnCase.objects.get(order=order)
    refund = sample("shopify_webhook_refunds_create.json")

    # when: delivered 8 times, half under fresh webhook ids
    for n in range(8):
        deliver(refund, topic="refunds/create", webhook_id="f" if n < 4 else f"f{n}")
    process_all()

    # then: one timeline entry with the successful refund total, nothing else changed
    report = ReturnCaseEvent.objects.get(case=case, kind=ExternalEventKind.CHANNEL_REFUND)
    assert report.detail == "85.00 USD refunded on Shopify via bogus"
    assert report.data["refund_id"] == "890088186047892319"
    assert report.data["lines"][0]["sku"] == "IPOD2008PINK"
    assert ReturnCase.objects.get(pk=case.pk).state == case.state


def test_a_refund_for_an_unknown_order_parks(shop):
    event = deliver(
        sample("shopify_webhook_refunds_create.json"), topic="refunds/create", webhook_id="f"
    )
    inbound_event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == InboundEventStatus.PARKED
    assert "order 820982911946154500, unknown" in event.last_error


def test_an_attached_label_lets_the_carrier_move_the_case(shop):
    # given: the docs return requested, and Shopify attaches its return label
    shopify_order(shop, number=DOCS_ORDER)
    deliver(request_body(), topic="returns/request", webhook_id="r")
    deliver(
        sample("shopify_webhook_reverse_deliveries_attach_deliverable.json"),
        topic="reverse_deliveries/attach_deliverable",
        webhook_id="l",
    )
    process_all()
    case = ReturnCase.objects.get()
    assert ReturnCaseEvent.objects.get(kind=ExternalEventKind.LABEL).tracking_number == "123345345"

    # when: EasyPost reports that parcel in transit
    tracker = sample_json("easypost_event_tracker_updated.json")
    tracker["result"].update(tracking_code="123345345", carrier="USPS")
    event = inbound_event_record(
        source="easypost", account="main", body=json.dumps(tracker).encode(), headers={}
    ).event
    inbound_event_process(event_id=event.pk)

    # then
    case.refresh_from_db()
    assert (case.state, case.carrier, case.tracking_number) == (
        State.IN_TRANSIT,
        "USPS",
        "123345345",
    )


def test_a_disposal_parks_with_its_dispositions_and_why_it_cannot_be_applied(shop):
    # The dispose payload names only a reverse fulfillment order, which no webhook links to
    # a return: it parks with a channel_dispute exception listing what Shopify reported.
    event = deliver(
        sample("shopify_webhook_reverse_fulfillment_orders_dispose.json"),
        topic="reverse_fulfillment_orders/dispose",
        webhook_id="x",
    )
    inbound_event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == InboundEventStatus.PARKED
    assert "reverse fulfillment order 11111111" in event.last_error
    assert "line item 2222222: 1 × RESTOCKED (SELLABLE)" in event.last_error
    assert "no webhook links a reverse fulfillment order" in event.last_error
    exception = ExceptionCase.objects.get(subject_type="inbound_event", subject_id=str(event.pk))
    assert exception.kind == "channel_dispute"
