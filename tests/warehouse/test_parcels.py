"""A case that comes back in several parcels, one closed short, one dropped at the door before
any carrier scan; and the read-only preview the bench shows while a parcel is scanned."""

import pytest
from django.core.exceptions import ValidationError

from erp.models import ExceptionCase
from erp.services import exception_resolve
from inventory import services as inventory
from inventory.models import StockMovement, StockState
from returns import services as returns
from returns import workflow
from returns.models import ReturnCase
from returns.services import LineRequest
from tests.factories import BundleComponentFactory
from tests.factories.warehouse import _open_exceptions, case_in_transit, product_in, shipped_order
from warehouse.models import Receipt, ReturnUnit
from warehouse.services import receipt_preview

from .conftest import inspect, on_hand, receive

S = StockState


def open_kinds(case) -> set[str]:
    return set(_open_exceptions(case).values_list("kind", flat=True))


@pytest.fixture
def two_shirts_case(cs_user, operations_user, warehouse, shirt):
    order = shipped_order((shirt, 2, "30.00", ()), warehouse=warehouse)
    return case_in_transit(order, agent=cs_user, manager=operations_user)


def test_a_case_in_two_parcels_is_received_when_the_second_brings_the_rest(
    two_shirts_case, warehouse, warehouse_user, shirt
):
    # when: the first parcel holds one of the two shirts
    first = receive(two_shirts_case, warehouse, warehouse_user, shirt.gtin)
    # then: it is matched and on the books; nothing is reported; the case waits
    two_shirts_case.refresh_from_db()
    assert (first.completes_case, two_shirts_case.state) == (False, ReturnCase.State.IN_TRANSIT)
    assert [u.match for u in first.units.all()] == ["matched"]
    assert open_kinds(two_shirts_case) == set()
    # when: its unit is inspected before the second parcel arrives, then the second comes
    inspect(first.units.get(), warehouse_user)
    second = receive(two_shirts_case, warehouse, warehouse_user, shirt.gtin)
    # then: matched against what was left; the case is received, nothing reported
    two_shirts_case.refresh_from_db()
    assert (second.completes_case, two_shirts_case.state) == (True, ReturnCase.State.RECEIVED)
    assert [u.match for u in second.units.all()] == ["matched"]
    assert on_hand(shirt) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 2}
    assert open_kinds(two_shirts_case) == set()
    # and: a third parcel (another tablet) is refused
    with pytest.raises(ValidationError, match="already received"):
        receive(two_shirts_case, warehouse, warehouse_user, shirt.gtin)


def test_a_unit_beyond_what_earlier_parcels_left_is_an_extra_item(
    two_shirts_case, warehouse, warehouse_user, shirt
):
    receive(two_shirts_case, warehouse, warehouse_user, shirt.gtin)
    second = receive(two_shirts_case, warehouse, warehouse_user, shirt.gtin, shirt.gtin)
    assert [u.mismatch_kinds for u in second.units.all()] == [[], ["extra_item"]]
    assert open_kinds(two_shirts_case) == {"sku_mismatch"}


def test_closing_short_with_nothing_more_reports_what_is_missing(
    two_shirts_case, warehouse, warehouse_user, shirt
):
    # given: one of two shirts came in a first parcel and was inspected
    first = receive(two_shirts_case, warehouse, warehouse_user, shirt.gtin)
    inspect(first.units.get(), warehouse_user)
    # when: the operator closes the case short, nothing scanned
    closing = receive(two_shirts_case, warehouse, warehouse_user, close_short=True)
    # then: a receipt without units records it; the missing unit is reported; the case moves
    # on to received and, every unit in hand being inspected, to inspected
    assert (closing.completes_case, closing.closed_short, closing.units.count()) == (True, True, 0)
    exception = ExceptionCase.objects.get(kind="missing_components")
    line_id = str(two_shirts_case.lines.get().pk)
    assert exception.evidence["missing"] == {line_id: {"units": 1}}
    assert exception.evidence["closed_short"] is True
    two_shirts_case.refresh_from_db()
    assert two_shirts_case.state == ReturnCase.State.INSPECTED
    # and: the first unit stays matched, where it was
    assert on_hand(shirt) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 1}


def test_a_parcel_with_nothing_scanned_is_refused_unless_it_closes_the_case(
    two_shirts_case, warehouse, warehouse_user
):
    with pytest.raises(ValidationError, match="Scan each item"):
        receive(two_shirts_case, warehouse, warehouse_user)
    assert not Receipt.objects.exists()


def test_a_bundle_back_in_two_parcels_as_its_components_matches(
    cs_user, operations_user, warehouse_user, warehouse
):
    kit, body, lens = (product_in("electronics") for _ in range(3))
    BundleComponentFactory(bundle=kit, component=body)
    BundleComponentFactory(bundle=kit, component=lens)
    order = shipped_order((kit, 1, "300.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    first = receive(case, warehouse, warehouse_user, body.gtin)
    assert (first.completes_case, [u.match for u in first.units.all()]) == (False, ["matched"])
    second = receive(case, warehouse, warehouse_user, lens.gtin)
    assert (second.completes_case, [u.match for u in second.units.all()]) == (True, ["matched"])
    assert open_kinds(case) == set()
    case.refresh_from_db()
    assert case.state == ReturnCase.State.RECEIVED


def test_a_parcel_dropped_at_the_door_before_any_carrier_scan_is_received(
    cs_user, operations_user, warehouse_user, warehouse, shirt
):
    # given: an authorized case the carrier never scanned
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = returns.return_case_create(
        order_id=order.pk,
        requests=[
            LineRequest(
                order_line_id=order.lines.get().pk,
                quantity=1,
                reason_code="SIZE_TOO_SMALL",
                claimed_condition="opened_unused",
            )
        ],
        resolution="refund",
        actor=cs_user,
    )
    if case.state == ReturnCase.State.PENDING_REVIEW:
        for exception in _open_exceptions(case):
            exception_resolve(exception_id=exception.pk, actor=operations_user, reason="Fine")
        case = returns.return_case_authorize(case_id=case.pk, actor=operations_user)
    assert case.state == ReturnCase.State.AUTHORIZED
    # when: its parcel is received at the bench
    receive(case, warehouse, warehouse_user, shirt.gtin)
    # then: the case went authorized → in transit → received, each step audited
    steps = list(case.history.order_by("history_date").values_list("state", "history_user"))
    assert steps[-2:] == [
        (ReturnCase.State.IN_TRANSIT, warehouse_user.pk),
        (ReturnCase.State.RECEIVED, warehouse_user.pk),
    ]
    reason = case.history.filter(state=ReturnCase.State.IN_TRANSIT).get().history_change_reason
    assert reason == "Parcel received at the bench without a carrier scan (dropped off)"
    assert on_hand(shirt) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 1}


def test_the_preview_matches_as_the_receipt_will_and_writes_nothing(
    two_shirts_case, other_shirt, warehouse, warehouse_user, shirt, django_assert_num_queries
):
    # given: one shirt already came in an earlier parcel
    receive(two_shirts_case, warehouse, warehouse_user, shirt.gtin)
    parcel = workflow.parcel_case(two_shirts_case)
    movements = StockMovement.objects.count()
    # when: the bench previews a shirt, another one, a wrong SKU and an unreadable code
    codes = [shirt.gtin, shirt.gtin, other_shirt.gtin, "]d20109506000134357"]
    with django_assert_num_queries(1):
        preview = receipt_preview(case=parcel, codes=codes)
    # then: the first shirt is expected, the second is extra, the others flagged; in order
    assert [item.flag for item in preview.items] == [
        "",
        "Extra item: the return expects 2.",
        f"Wrong SKU: {other_shirt.sku} is not on this return.",
        preview.items[3].flag,
    ]
    assert preview.items[3].flag.startswith("Check digit wrong")
    line = preview.lines[0]
    assert (line.received_before, line.scanned, line.complete, preview.missing) == (1, 1, True, 0)
    assert preview.flagged == 3
    # and: nothing was written
    assert StockMovement.objects.count() == movements
    assert ReturnUnit.objects.count() == 1


def test_batched_quantity_posts_are_the_single_services_posts(warehouse, shirt):
    # given: the same three requests, posted one by one and as one batch under other keys
    dock, cage = warehouse.spot["receiving"].pk, warehouse.spot["quarantine"].pk
    steps = [
        (None, None, dock, S.IN_TRANSIT_RETURN, ""),
        (dock, S.IN_TRANSIT_RETURN, dock, S.RECEIVED_PENDING_INSPECTION, ""),
        (dock, S.RECEIVED_PENDING_INSPECTION, cage, S.QUARANTINED, "Wrong SKU"),
    ]
    posts = [
        inventory.QuantityPost(
            idempotency_key=f"batch:{n}",
            product_id=shirt.pk,
            qty=1,
            from_location_id=src,
            from_state=src_state,
            to_location_id=dst,
            to_state=dst_state,
            cause_type="receipt",
            reason=reason,
        )
        for n, (src, src_state, dst, dst_state, reason) in enumerate(steps)
    ]
    batch = inventory.stock_post_quantities(posts=posts)
    # then: each movement carries the hash the single service gives the same request, so a
    # retry through the single service is a replay, not a new movement
    again = inventory.stock_receive(
        product_id=shirt.pk,
        location_id=dock,
        qty=1,
        to_state=S.IN_TRANSIT_RETURN,
        idempotency_key="batch:0",
        cause_type="receipt",
    )
    assert [m.pk for m in again] == [batch[0].pk]
    assert on_hand(shirt) == {("CAGE", S.QUARANTINED): 1}
    # and: the whole batch again posts nothing more
    replay = inventory.stock_post_quantities(posts=posts)
    assert [m.pk for m in replay] == [m.pk for m in batch]
    assert StockMovement.objects.filter(product=shirt).count() == 3
