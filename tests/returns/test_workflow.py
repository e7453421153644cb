"""The returns workflow at the warehouse: the case follows its units (received → inspected),
and the refund is evaluated once every unit is decided."""

import pytest
from django.core.exceptions import ValidationError

from finance.models import Refund
from returns import workflow
from returns.models import ReturnCase
from tests.factories.warehouse import case_in_transit, product_in, returns_warehouse, shipped_order
from tests.warehouse.conftest import inspect, receive, token

State = ReturnCase.State


@pytest.fixture
def warehouse(db):
    return returns_warehouse()


@pytest.fixture
def case(cs_user, operations_user, warehouse):
    shirt = product_in("apparel", list_price="30.00", unit_cost="12.00")
    order = shipped_order((shirt, 2, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    case.shirt = shirt
    return case


def test_the_case_is_received_inspected_then_refunded_as_its_units_go(
    case, warehouse, warehouse_user
):
    # when: the parcel is received
    receipt = receive(case, warehouse, warehouse_user, case.shirt.gtin, case.shirt.gtin)
    case.refresh_from_db()
    assert case.state == State.RECEIVED
    assert case.history.latest().history_user == warehouse_user
    assert list(case.messages.values_list("template", flat=True))[-1] == "return_received"

    # when: one of two units is inspected, the case waits for the other
    first, second = receipt.units.order_by("id")
    inspect(first, warehouse_user, grade="A")
    case.refresh_from_db()
    assert case.state == State.RECEIVED
    inspect(second, warehouse_user, grade="A")
    case.refresh_from_db()
    assert case.state == State.INSPECTED
    assert case.history.latest().history_change_reason == "Every unit inspected"

    # when: the units are decided, the refund (trigger: on inspection) is proposed once the
    # last one is
    workflow.return_unit_disposition(unit_id=first.pk, client_token=token(), actor=warehouse_user)
    assert not Refund.objects.filter(case=case).exists()
    last = {"unit_id": second.pk, "client_token": token(), "actor": warehouse_user}
    workflow.return_unit_disposition(**last)
    assert Refund.objects.filter(case=case).count() == 1

    # and: a resubmitted decision does not propose it again
    workflow.return_unit_disposition(**last)
    assert Refund.objects.filter(case=case).count() == 1


def test_a_case_on_inspection_trigger_is_not_refunded_on_receipt(case, warehouse, warehouse_user):
    assert case.refund_trigger == "on_inspection"
    receive(case, warehouse, warehouse_user, case.shirt.gtin, case.shirt.gtin)
    assert not Refund.objects.filter(case=case).exists()


def test_a_refused_step_rolls_back_the_whole_workflow(case, warehouse, warehouse_user):
    # given: a parcel scanned with an item that is serial-tracked but has no serial
    laptop = product_in("electronics", tracking="serial")
    with pytest.raises(ValidationError):
        receive(case, warehouse, warehouse_user, case.shirt.gtin, laptop.gtin)
    case.refresh_from_db()
    assert case.state == State.IN_TRANSIT
    assert not case.receipts.exists()
