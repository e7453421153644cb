"""Receiving a parcel against its case: matching, stock, quarantine, exceptions, idempotency
and who may do it."""

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from erp.models import ExceptionCase, OutboxMessage, Product
from erp.models.exceptions import ACTIVE_STATES
from inventory.models import InventoryUnit, StockMovement, StockState
from returns import services, workflow
from returns.models import ReturnCase
from tests.factories import BundleComponentFactory
from tests.factories.warehouse import case_in_transit, gs1, product_in, shipped_order
from warehouse.models import QuarantineRecord, Receipt, ReturnUnit

from .conftest import ledger, on_hand, receive

S = StockState


def open_kinds(case) -> set[str]:
    return set(
        ExceptionCase.objects.filter(
            subject_type="return_case", subject_id=str(case.pk), state__in=ACTIVE_STATES
        ).values_list("kind", flat=True)
    )


def snapshot() -> dict:
    """What a refused receipt must leave as it was."""
    return {
        "receipts": Receipt.objects.count(),
        "units": ReturnUnit.objects.count(),
        "movements": StockMovement.objects.count(),
        "exceptions": ExceptionCase.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "case_history": ReturnCase.history.count(),
        "unit_history": ReturnUnit.history.count(),
    }


@pytest.fixture
def shirt_case(cs_user, operations_user, warehouse, shirt):
    order = shipped_order((shirt, 2, "30.00", ()), warehouse=warehouse)
    return case_in_transit(order, agent=cs_user, manager=operations_user)


def test_a_matching_parcel_posts_in_transit_then_pending_inspection_at_the_dock(
    shirt_case, warehouse, warehouse_user, shirt
):
    # when: both shirts are scanned, one by EAN and one by its GS1 label
    receipt = receive(
        shirt_case, warehouse, warehouse_user, "RMA-IGNORED1", shirt.gtin[1:], shirt.gtin
    )

    # then: two matched units pending inspection at the dock; the case is received
    units = list(receipt.units.all())
    assert [(u.match, u.state, u.stock_state) for u in units] == [
        ("matched", "received", S.RECEIVED_PENDING_INSPECTION)
    ] * 2
    assert {u.return_line_id for u in units} == {shirt_case.lines.get().pk}
    assert on_hand(shirt) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 2}
    assert (
        ledger(shirt)
        == [
            (None, None, "DOCK", S.IN_TRANSIT_RETURN, 1),
            ("DOCK", S.IN_TRANSIT_RETURN, "DOCK", S.RECEIVED_PENDING_INSPECTION, 1),
        ]
        * 2
    )
    shirt_case.refresh_from_db()
    assert shirt_case.state == ReturnCase.State.RECEIVED
    assert open_kinds(shirt_case) == set()
    assert not QuarantineRecord.objects.exists()
    # and: history says who received what
    first = units[0].history.earliest()
    assert (first.history_user, first.history_change_reason) == (warehouse_user, "Received")
    assert receipt.history.get().history_user == warehouse_user


def test_a_double_submit_with_the_same_token_posts_once(
    shirt_case, warehouse, warehouse_user, shirt
):
    first = receive(
        shirt_case, warehouse, warehouse_user, shirt.gtin, shirt.gtin, client_token="tap"
    )
    before = snapshot()
    again = receive(
        shirt_case, warehouse, warehouse_user, shirt.gtin, shirt.gtin, client_token="tap"
    )
    assert again.pk == first.pk
    assert snapshot() == before


def test_a_second_tablet_on_the_same_parcel_is_refused_and_changes_nothing(
    shirt_case, warehouse, warehouse_user, make_user, shirt
):
    receive(shirt_case, warehouse, warehouse_user, shirt.gtin, shirt.gtin)
    before = snapshot()
    other = make_user("warehouse", username="tablet2")
    with pytest.raises(ValidationError, match="already received by warehouse"):
        receive(shirt_case, warehouse, other, shirt.gtin, shirt.gtin)
    assert snapshot() == before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_tablets_submitting_at_once_post_once(
    cs_user, operations_user, warehouse_user, make_user, warehouse, shirt
):
    # given: the same parcel on two tablets; one resubmits the same token, one has its own
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    other = make_user("warehouse", username="tablet2")
    barrier = threading.Barrier(3)
    outcomes = []

    def submit(actor, client_token):
        try:
            barrier.wait()
            receipt = receive(case, warehouse, actor, shirt.gtin, client_token=client_token)
            outcomes.append(("ok", receipt.pk))
        except ValidationError as error:
            outcomes.append(("refused", error.messages[0]))
        finally:
            connection.close()

    # when: all three submit at the same moment
    threads = [
        threading.Thread(target=submit, args=(warehouse_user, "bench-1")),
        threading.Thread(target=submit, args=(warehouse_user, "bench-1")),
        threading.Thread(target=submit, args=(other, "bench-2")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then: one receipt, one unit, one pair of movements; the rest saw it or were refused
    assert Receipt.objects.count() == 1
    assert ReturnUnit.objects.count() == 1
    assert on_hand(shirt) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 1}
    assert StockMovement.objects.filter(product=shirt).count() == 2
    receipt_ids = {pk for status, pk in outcomes if status == "ok"}
    assert len(receipt_ids) == 1
    assert len(outcomes) == 3


def test_receiving_needs_the_permission_and_a_refusal_changes_nothing(
    shirt_case, warehouse, cs_user, shirt
):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        receive(shirt_case, warehouse, cs_user, shirt.gtin)
    assert snapshot() == before
    shirt_case.refresh_from_db()
    assert shirt_case.state == ReturnCase.State.IN_TRANSIT


def test_a_bad_check_digit_refuses_the_whole_submit(shirt_case, warehouse, warehouse_user):
    before = snapshot()
    with pytest.raises(ValidationError, match="Check digit wrong"):
        receive(shirt_case, warehouse, warehouse_user, "4006381333932")
    assert snapshot() == before


def test_a_cancelled_case_cannot_be_received(
    cs_user, operations_user, warehouse_user, warehouse, shirt
):
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = services.return_case_create(
        order_id=order.pk,
        requests=[
            services.LineRequest(
                order_line_id=order.lines.get().pk,
                quantity=1,
                reason_code="SIZE_TOO_SMALL",
                claimed_condition="opened_unused",
            )
        ],
        resolution="refund",
        actor=cs_user,
    )
    services.return_case_cancel(case_id=case.pk, actor=cs_user, reason="Customer kept it")
    before = snapshot()
    with pytest.raises(Exception, match="cannot be received"):
        receive(case, warehouse, warehouse_user, shirt.gtin)
    assert snapshot() == before


def test_an_extra_unit_and_an_unknown_item_are_quarantined_and_reported(
    shirt_case, warehouse, warehouse_user, shirt
):
    # when: three shirts come back for two, plus something we do not sell
    receipt = receive(
        shirt_case, warehouse, warehouse_user, shirt.gtin, shirt.gtin, shirt.gtin, "96385074"
    )

    # then: two matched, one extra (quarantined), one unknown (off the books)
    units = list(receipt.units.order_by("id"))
    assert [u.mismatch_kinds for u in units] == [[], [], ["extra_item"], ["unknown_item"]]
    assert on_hand(shirt) == {
        ("DOCK", S.RECEIVED_PENDING_INSPECTION): 2,
        ("CAGE", S.QUARANTINED): 1,
    }
    assert (units[3].product, units[3].stock_state, units[3].location) == (None, "", None)
    assert open_kinds(shirt_case) == {"sku_mismatch"}
    evidence = ExceptionCase.objects.get(kind="sku_mismatch").evidence
    assert [u["mismatches"] for u in evidence["units"]] == [["extra_item"], ["unknown_item"]]


def test_a_parcel_closed_short_opens_an_exception_and_quarantines_the_rest_of_its_line(
    shirt_case, warehouse, warehouse_user, shirt
):
    receipt = receive(shirt_case, warehouse, warehouse_user, shirt.gtin, close_short=True)
    assert (receipt.completes_case, receipt.closed_short) == (True, True)
    unit = receipt.units.get()
    assert unit.mismatch_kinds == ["missing_items"]
    assert on_hand(shirt) == {("CAGE", S.QUARANTINED): 1}
    exception = ExceptionCase.objects.get(kind="missing_components")
    assert exception.evidence["missing"] == {str(unit.return_line_id): {"units": 1}}


def test_a_serial_not_shipped_on_the_order_is_a_serial_mismatch(
    cs_user, operations_user, warehouse_user, warehouse, headphones
):
    order = shipped_order((headphones, 1, "120.00", ["HP-1"]), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)

    # when: the GTIN is scanned, then a serial sticker that is not the one we shipped
    receipt = receive(case, warehouse, warehouse_user, headphones.gtin, "HP-999")

    unit = receipt.units.get()
    assert (unit.serial, unit.mismatch_kinds) == ("HP-999", ["foreign_serial"])
    assert InventoryUnit.objects.get(serial="HP-999").state == S.QUARANTINED
    assert open_kinds(case) == {"serial_mismatch"}


def test_the_shipped_serial_comes_back_as_the_same_inventory_unit(
    cs_user, operations_user, warehouse_user, warehouse, headphones
):
    order = shipped_order((headphones, 1, "120.00", ["HP-1"]), warehouse=warehouse)
    shipped = InventoryUnit.objects.create(product=headphones, serial="HP-1", state="outside")
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    receipt = receive(case, warehouse, warehouse_user, gs1(headphones, serial="HP-1"))
    assert receipt.units.get().match == "matched"
    shipped.refresh_from_db()
    assert (shipped.state, shipped.location.code) == (S.RECEIVED_PENDING_INSPECTION, "DOCK")


def test_a_serial_tracked_item_without_its_serial_is_refused(
    cs_user, operations_user, warehouse_user, warehouse, headphones
):
    order = shipped_order((headphones, 1, "120.00", ["HP-1"]), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    with pytest.raises(ValidationError, match="scan its serial"):
        receive(case, warehouse, warehouse_user, headphones.gtin)
    assert not Receipt.objects.exists()


def test_a_lot_not_shipped_on_the_order_is_reported(
    cs_user, operations_user, warehouse_user, warehouse
):
    serum = product_in("health_beauty", tracking=Product.Tracking.LOT)
    order = shipped_order((serum, 1, "25.00", ["L100"]), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    receipt = receive(case, warehouse, warehouse_user, gs1(serum, lot="L999", expiry="271231"))
    unit = receipt.units.get()
    assert (unit.lot, str(unit.expiry), unit.mismatch_kinds) == (
        "L999",
        "2027-12-31",
        ["lot_mismatch"],
    )
    assert on_hand(serum) == {("CAGE", S.QUARANTINED): 1}


def test_a_bundle_missing_a_component_is_quarantined_with_missing_components(
    cs_user, operations_user, warehouse_user, warehouse
):
    # given: a camera kit (body + lens) returned as its components
    kit, body, lens = (product_in("electronics") for _ in range(3))
    BundleComponentFactory(bundle=kit, component=body)
    BundleComponentFactory(bundle=kit, component=lens)
    order = shipped_order((kit, 1, "300.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)

    # when: only the body is in the parcel, and the operator closes the case short
    receipt = receive(case, warehouse, warehouse_user, body.gtin, close_short=True)

    unit = receipt.units.get()
    assert (unit.product, unit.mismatch_kinds) == (body, ["missing_components"])
    assert on_hand(body) == {("CAGE", S.QUARANTINED): 1}
    exception = ExceptionCase.objects.get(kind="missing_components")
    assert exception.evidence["missing"] == {
        str(unit.return_line_id): {"components": {str(lens.pk): 1}}
    }


def test_a_complete_bundle_returned_as_components_matches(
    cs_user, operations_user, warehouse_user, warehouse
):
    kit, body, lens = (product_in("electronics") for _ in range(3))
    BundleComponentFactory(bundle=kit, component=body)
    BundleComponentFactory(bundle=kit, component=lens)
    order = shipped_order((kit, 1, "300.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    receipt = receive(case, warehouse, warehouse_user, body.gtin, lens.gtin)
    assert [u.match for u in receipt.units.all()] == ["matched", "matched"]
    assert open_kinds(case) == set()


def test_a_site_without_a_receiving_location_is_told_what_to_set_up(
    shirt_case, warehouse, warehouse_user, shirt
):
    warehouse.spot["receiving"].is_active = False
    warehouse.spot["receiving"].save()
    with pytest.raises(ValidationError, match="no active receiving location"):
        receive(shirt_case, warehouse, warehouse_user, shirt.gtin, shirt.gtin)


def test_scans_identify_the_case_by_rma_or_tracking(shirt_case):
    assert workflow.case_find_by_scan(code=shirt_case.rma_number) == [shirt_case]
    assert workflow.case_find_by_scan(code=shirt_case.tracking_number) == [shirt_case]
    assert workflow.case_find_by_scan(code="hello") == []
