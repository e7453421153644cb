"""Shopify returns/update (a delta) → units taken off the linked case through the returns
service while the case allows it; recorded once however often it is delivered; the
reverse_fulfillment_orders/dispose sample parsed into its dispositions."""

import json

import pytest

from erp.adapters.shopify import ShopifyDisposal, ShopifyReturnUpdate, parse
from erp.models.inbox import InboundEventStatus
from returns import services
from returns.models import ExternalEventKind, ReturnCase, ReturnCaseEvent

from .conftest import sample, sample_json
from .test_shopify_returns import (
    DOCS_ORDER,
    DOCS_RETURN,
    deliver,
    deliver_eight_times_shuffled,
    process_all,
    request_body,
    shop,  # noqa: F401 (fixture)
    shopify_order,
)

pytestmark = pytest.mark.django_db

RETURN_LINE_ITEM = "6200524949"  # the return line item of the realistic request sample
AT = "2026-11-20T10:00:00Z"


def two_unit_request() -> bytes:
    data = json.loads(request_body())
    data["return_line_items"][0]["quantity"] = 2
    return json.dumps(data).encode()


def update_body(*, delta: int, line: str = RETURN_LINE_ITEM) -> bytes:
    """The update sample, about the docs return, removing `delta` units of `line`."""
    data = sample_json("shopify_webhook_returns_update.json")
    data["admin_graphql_api_id"] = f"gid://shopify/Return/{DOCS_RETURN}"
    data["return_line_items"]["removals"] = [
        {"admin_graphql_api_id": f"gid://shopify/ReturnLineItem/{line}", "delta": delta}
    ]
    return json.dumps(data).encode()


def test_the_samples_parse():
    update = parse("returns/update", sample("shopify_webhook_returns_update.json"))
    disposal = parse(
        "reverse_fulfillment_orders/dispose",
        sample("shopify_webhook_reverse_fulfillment_orders_dispose.json"),
    )

    assert update == ShopifyReturnUpdate(return_id=DOCS_RETURN, removals=(("987654321", 2),))
    assert isinstance(disposal, ShopifyDisposal)
    assert disposal.reverse_fulfillment_order_id == "11111111"
    assert [(d.rfo_line_item_id, d.type, d.quantity) for d in disposal.dispositions] == [
        ("2222222", "RESTOCKED", 1),
        ("2222223", "RESTOCKED", 1),
    ]


def test_a_removal_takes_units_off_the_case_once_however_often_it_arrives(shop):  # noqa: F811
    # given: an authorized case for two units, opened from Shopify
    shopify_order(shop, number=DOCS_ORDER)

    # when: the request and an update removing one unit each arrive 8 times, shuffled
    deliver_eight_times_shuffled(
        [(two_unit_request(), "returns/request", ""), (update_body(delta=1), "returns/update", AT)],
        seed=11,
    )
    process_all()

    # then: one unit left on the line, the update recorded once with what it did
    case = ReturnCase.objects.get()
    assert case.state == ReturnCase.State.AUTHORIZED
    assert case.lines.get().quantity == 1
    update = ReturnCaseEvent.objects.get(case=case, kind=ExternalEventKind.CHANNEL_UPDATED)
    assert update.applied == "1 unit(s) taken off the case"
    line_history = case.lines.get().history.order_by("history_date").last()
    assert line_history.history_change_reason == "Updated on Shopify: 1 unit(s) removed"


def test_removing_every_unit_cancels_the_case(shop):  # noqa: F811
    shopify_order(shop, number=DOCS_ORDER)
    deliver(request_body(), topic="returns/request", webhook_id="r1")
    deliver(update_body(delta=1), topic="returns/update", webhook_id="u1", at=AT)

    process_all()

    case = ReturnCase.objects.get()
    assert case.state == ReturnCase.State.CANCELLED
    update = ReturnCaseEvent.objects.get(case=case, kind=ExternalEventKind.CHANNEL_UPDATED)
    assert update.applied == "Case cancelled: every unit was removed on Shopify"


def test_a_removal_after_the_parcel_left_is_recorded_but_not_applied(shop, cs_user):  # noqa: F811
    shopify_order(shop, number=DOCS_ORDER)
    deliver(two_unit_request(), topic="returns/request", webhook_id="r1")
    process_all()
    case = ReturnCase.objects.get()
    services.return_case_ship(case_id=case.pk, actor=cs_user, carrier="UPS", tracking_number="1Z9")

    event = deliver(update_body(delta=1), topic="returns/update", webhook_id="u1", at=AT)
    process_all()

    event.refresh_from_db()
    assert event.status == InboundEventStatus.PROCESSED
    assert case.lines.get().quantity == 2
    update = ReturnCaseEvent.objects.get(case=case, kind=ExternalEventKind.CHANNEL_UPDATED)
    assert update.applied == "Not applied: The case is in transit: its lines can no longer change."


def test_a_removal_of_a_line_item_the_case_never_had_changes_nothing(shop):  # noqa: F811
    shopify_order(shop, number=DOCS_ORDER)
    deliver(two_unit_request(), topic="returns/request", webhook_id="r1")
    deliver(update_body(delta=1, line="987654321"), topic="returns/update", webhook_id="u1", at=AT)

    process_all()

    case = ReturnCase.objects.get()
    assert case.lines.get().quantity == 2
    update = ReturnCaseEvent.objects.get(case=case, kind=ExternalEventKind.CHANNEL_UPDATED)
    assert update.applied == "Not applied: return line item(s) 987654321 unknown on this case"


def test_an_update_before_its_request_waits_for_it(shop):  # noqa: F811
    shopify_order(shop, number=DOCS_ORDER)
    early = deliver(update_body(delta=1), topic="returns/update", webhook_id="u1", at=AT)
    process_all()
    early.refresh_from_db()
    assert early.status == InboundEventStatus.RECEIVED  # retried, not parked

    deliver(two_unit_request(), topic="returns/request", webhook_id="r1")
    process_all()

    early.refresh_from_db()
    assert early.status == InboundEventStatus.PROCESSED
    assert ReturnCase.objects.get().lines.get().quantity == 1
