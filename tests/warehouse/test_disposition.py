"""Disposition: every outcome's movements, balances and ATS; overrides, holds, put-away,
idempotency and denials."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from erp.models import ExceptionCase
from erp.services import exception_resolve
from inventory.models import StockMovement, StockState
from returns import workflow
from tests.factories.warehouse import case_in_transit, shipped_order
from warehouse.models import Disposition, PutawayTask, QuarantineRecord, ReturnUnit
from warehouse.services import putaway_task_complete

from .conftest import ats, inspect, ledger, on_hand, receive, token

S = StockState


@pytest.fixture
def received_shirt(cs_user, operations_user, warehouse_user, warehouse, shirt):
    """A matched shirt from a storefront return, pending inspection at the dock."""
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    return receive(case, warehouse, warehouse_user, shirt.gtin).units.get()


def decide(unit, actor, outcome=None, reason="", client_token=None):
    return workflow.return_unit_disposition(
        unit_id=unit.pk,
        outcome=outcome,
        override_reason=reason,
        client_token=client_token or token("disposition"),
        actor=actor,
    )


# grade → (suggested outcome, destination code, stock state, recovery, basis)
APPAREL_OUTCOMES = [
    ("A", "restock", "A-01", S.AVAILABLE, Decimal("30.00"), "resale_price"),
    ("B", "restock", "A-01", S.AVAILABLE, Decimal("30.00"), "resale_price"),
    ("C", "liquidation", "LIQ", S.LIQUIDATION, Decimal("2.40"), "liquidation_price"),
    ("F", "dispose", "SCRAP", S.DAMAGED, Decimal("0.00"), "none"),
]


@pytest.mark.parametrize(
    ("grade", "outcome", "code", "state", "recovery", "basis"), APPAREL_OUTCOMES
)
def test_accepting_the_suggestion_moves_the_stock_and_leaves_a_putaway_task(
    received_shirt, warehouse_user, shirt, grade, outcome, code, state, recovery, basis
):
    # given: an inspected shirt
    inspect(received_shirt, warehouse_user, grade=grade)

    # when: the bench accepts the suggestion
    decision = decide(received_shirt, warehouse_user)

    # then: the decision, the movement, the balance, ATS and the put-away task
    assert (decision.suggested_outcome, decision.outcome, decision.overridden) == (
        outcome,
        outcome,
        False,
    )
    assert (decision.expected_recovery, decision.recovery_basis, decision.currency) == (
        recovery,
        basis,
        "USD",
    )
    assert ledger(shirt)[-1] == ("DOCK", S.RECEIVED_PENDING_INSPECTION, code, state, 1)
    assert on_hand(shirt) == {(code, state): 1}
    assert set(ats(shirt).values()) == {1 if state == S.AVAILABLE else 0}
    task = PutawayTask.objects.get()
    assert (task.unit, task.to_location.code, task.state) == (received_shirt, code, "open")
    unit = ReturnUnit.objects.get(pk=received_shirt.pk)
    assert (unit.state, unit.stock_state, unit.location.code) == ("dispositioned", state, code)
    last = unit.history.latest()
    assert (last.history_user, last.history_change_reason) == (
        warehouse_user,
        f"Dispositioned: {decision.get_outcome_display()}",
    )


@pytest.mark.parametrize(
    ("outcome", "code", "state"),
    [
        ("refurbish", "REFURB", S.REFURBISH),
        ("vendor_return", "RTV", S.AWAITING_VENDOR_RETURN),
        ("liquidation", "LIQ", S.LIQUIDATION),
        ("dispose", "SCRAP", S.DAMAGED),
        ("quarantine", "CAGE", S.QUARANTINED),
    ],
)
def test_a_manager_may_override_with_a_reason_and_it_is_audited(
    received_shirt, warehouse_user, operations_user, shirt, outcome, code, state
):
    inspect(received_shirt, warehouse_user, grade="A")
    decision = decide(received_shirt, operations_user, outcome, reason="Customer said it leaks")
    assert (decision.suggested_outcome, decision.outcome, decision.overridden) == (
        "restock",
        outcome,
        True,
    )
    assert decision.override_reason == "Customer said it leaks"
    assert on_hand(shirt) == {(code, state): 1}
    assert set(ats(shirt).values()) == {0}
    assert "override: Customer said it leaks" in (
        ReturnUnit.objects.get(pk=received_shirt.pk).history.latest().history_change_reason
    )
    if outcome == "quarantine":
        assert QuarantineRecord.objects.get().quarantined_by == operations_user


def test_an_override_without_the_permission_or_a_reason_is_refused_and_changes_nothing(
    received_shirt, warehouse_user, operations_user
):
    inspect(received_shirt, warehouse_user, grade="A")
    movements = StockMovement.objects.count()
    with pytest.raises(PermissionDenied):
        decide(received_shirt, warehouse_user, "liquidation", reason="I think so")
    with pytest.raises(ValidationError, match="Say why"):
        decide(received_shirt, operations_user, "liquidation")
    assert not Disposition.objects.exists()
    assert StockMovement.objects.count() == movements
    assert ReturnUnit.objects.get(pk=received_shirt.pk).state == "inspecting"


def test_hold_decides_later_in_two_phases(received_shirt, warehouse_user, shirt):
    inspect(received_shirt, warehouse_user, grade="A")

    # when: the bench holds it
    held = decide(received_shirt, warehouse_user, "hold")

    # then: nothing moves yet; the unit stays pending inspection at the dock
    assert (held.outcome, held.overridden, held.expected_recovery) == ("hold", False, None)
    assert on_hand(shirt) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 1}
    assert not PutawayTask.objects.exists()

    # when: it is decided later
    final = decide(received_shirt, warehouse_user)
    assert final.outcome == "restock"
    assert on_hand(shirt) == {("A-01", S.AVAILABLE): 1}

    # and: a decided unit is not decided again
    with pytest.raises(ValidationError, match="already dispositioned"):
        decide(received_shirt, warehouse_user, "hold")


def test_a_double_submit_posts_once(received_shirt, warehouse_user, shirt):
    inspect(received_shirt, warehouse_user, grade="A")
    first = decide(received_shirt, warehouse_user, client_token="same")
    movements = StockMovement.objects.count()
    again = decide(received_shirt, warehouse_user, client_token="same")
    assert again.pk == first.pk
    assert StockMovement.objects.count() == movements
    assert on_hand(shirt) == {("A-01", S.AVAILABLE): 1}


def test_a_unit_must_be_inspected_before_its_disposition(received_shirt, warehouse_user):
    with pytest.raises(ValidationError, match="Inspect the unit"):
        decide(received_shirt, warehouse_user)
    assert not Disposition.objects.exists()


def test_deciding_needs_the_permission(received_shirt, warehouse_user, cs_user):
    inspect(received_shirt, warehouse_user, grade="A")
    with pytest.raises(PermissionDenied):
        decide(received_shirt, cs_user)
    assert not Disposition.objects.exists()


def test_completing_a_disposal_putaway_posts_the_unit_out_as_disposed(
    received_shirt, warehouse_user, shirt
):
    inspect(received_shirt, warehouse_user, grade="F")
    decide(received_shirt, warehouse_user)
    task = PutawayTask.objects.get()

    done = putaway_task_complete(task_id=task.pk, actor=warehouse_user)
    again = putaway_task_complete(task_id=task.pk, actor=warehouse_user)

    assert (done.state, done.completed_by, again.pk) == ("done", warehouse_user, task.pk)
    assert ledger(shirt)[-1] == ("SCRAP", S.DAMAGED, "SCRAP", S.DISPOSED, 1)
    assert on_hand(shirt) == {("SCRAP", S.DISPOSED): 1}
    assert StockMovement.objects.filter(product=shirt, to_state=S.DISPOSED).count() == 1


def test_completing_a_putaway_needs_the_permission(received_shirt, warehouse_user, cs_user):
    inspect(received_shirt, warehouse_user, grade="A")
    decide(received_shirt, warehouse_user)
    task = PutawayTask.objects.get()
    with pytest.raises(PermissionDenied):
        putaway_task_complete(task_id=task.pk, actor=cs_user)
    task.refresh_from_db()
    assert task.state == "open"


def test_defective_electronics_go_back_to_the_vendor(
    cs_user, operations_user, warehouse_user, warehouse, headphones
):
    order = shipped_order((headphones, 1, "120.00", ["HP-7"]), warehouse=warehouse)
    case = case_in_transit(
        order, agent=cs_user, manager=operations_user, reason="DEFECTIVE_OR_DAMAGED"
    )
    unit = receive(case, warehouse, warehouse_user, headphones.gtin, "HP-7").units.get()
    inspect(unit, warehouse_user, grade="E")
    decision = decide(unit, warehouse_user)
    assert (decision.outcome, decision.expected_recovery, decision.recovery_basis) == (
        "vendor_return",
        Decimal("55.00"),
        "vendor_credit",
    )
    assert on_hand(headphones) == {("RTV", S.AWAITING_VENDOR_RETURN): 1}


def test_a_high_value_unit_cannot_be_overridden_out_of_quarantine(
    cs_user, operations_user, warehouse_user, warehouse, laptop
):
    order = shipped_order((laptop, 1, "899.00", ["LT-9"]), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    unit = receive(case, warehouse, warehouse_user, laptop.gtin, "LT-9").units.get()
    inspect(unit, warehouse_user, grade="A")
    with pytest.raises(ValidationError, match="goes to quarantine"):
        decide(unit, operations_user, "restock", reason="Looks fine")
    assert on_hand(laptop) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 1}


def test_a_release_must_wait_for_the_serial_to_be_verified(
    cs_user, operations_user, warehouse_user, make_user, warehouse, laptop
):
    order = shipped_order((laptop, 1, "899.00", ["LT-9"]), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    unit = receive(case, warehouse, warehouse_user, laptop.gtin, "LT-9").units.get()
    answers = {
        "powers_on": True,
        "serial_matches": False,
        "accessories_present": True,
        "factory_reset": True,
        "screen_or_casing_damage": False,
    }
    inspect(unit, warehouse_user, grade="A", answers=answers)
    decide(unit, warehouse_user)
    for review in ExceptionCase.objects.filter(kind="fraud_review", state="open"):
        exception_resolve(exception_id=review.pk, actor=operations_user, reason="Fine")
    with pytest.raises(ValidationError, match="serial is not verified"):
        workflow.quarantine_release(
            unit_id=unit.pk,
            to_outcome="restock",
            reason="ok",
            client_token=token(),
            actor=operations_user,
        )
    assert on_hand(laptop) == {("CAGE", S.QUARANTINED): 1}
    assert QuarantineRecord.objects.get().state == "held"


def test_releasing_needs_the_permission_and_a_reason(
    received_shirt, warehouse_user, operations_user, make_user
):
    inspect(received_shirt, warehouse_user, grade="A")
    decide(received_shirt, operations_user, "quarantine", reason="Smells of smoke")
    with pytest.raises(PermissionDenied):
        workflow.quarantine_release(
            unit_id=received_shirt.pk,
            to_outcome="restock",
            reason="ok",
            client_token=token(),
            actor=warehouse_user,
        )
    checker = make_user("operations_manager", username="checker")
    with pytest.raises(ValidationError, match="Say why"):
        workflow.quarantine_release(
            unit_id=received_shirt.pk,
            to_outcome="restock",
            reason=" ",
            client_token=token(),
            actor=checker,
        )
    assert QuarantineRecord.objects.get().state == "held"
    release = workflow.quarantine_release(
        unit_id=received_shirt.pk,
        to_outcome="liquidation",
        reason="Aired out, still faint",
        client_token="release-1",
        actor=checker,
    )
    again = workflow.quarantine_release(
        unit_id=received_shirt.pk,
        to_outcome="liquidation",
        reason="Aired out, still faint",
        client_token="release-1",
        actor=checker,
    )
    assert again.pk == release.pk
    assert (release.outcome, release.suggested_outcome, release.overridden) == (
        "liquidation",
        "restock",
        True,
    )
    assert on_hand(received_shirt.product) == {("LIQ", S.LIQUIDATION): 1}


def test_a_long_override_reason_is_kept_whole_on_the_decision_and_shortened_in_history(
    received_shirt, warehouse_user, operations_user
):
    inspect(received_shirt, warehouse_user, grade="A")
    reason = "The customer wrote that it was worn to a wedding; " * 4
    decision = decide(received_shirt, operations_user, "liquidation", reason=reason)
    assert decision.override_reason == reason.strip()
    change = ReturnUnit.objects.get(pk=received_shirt.pk).history.latest()
    assert (change.history_user, len(change.history_change_reason)) == (operations_user, 100)
    record = decision.history.get()
    assert (record.history_user, record.history_change_reason[:30]) == (
        operations_user,
        "Dispositioned: Liquidate (sugg",
    )
