"""The playbook's scenarios 1 and 2 (../shared/seed), end to end through the returns workflow."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from erp.models import ExceptionCase
from erp.models.exceptions import ACTIVE_STATES
from erp.services import exception_resolve
from finance.models import Refund
from inventory.models import StockState
from returns import workflow
from returns.models import ReturnCase
from tests.factories.warehouse import case_in_transit, gs1, shipped_order
from warehouse.models import Outcome, QuarantineRecord, ReturnUnit, UnitState
from warehouse.selectors import case_unit_outcomes

from .conftest import ats, inspect, ledger, on_hand, receive, token

S = StockState


def open_kinds(case) -> set[str]:
    return set(
        ExceptionCase.objects.filter(
            subject_type="return_case", subject_id=str(case.pk), state__in=ACTIVE_STATES
        ).values_list("kind", flat=True)
    )


def test_scenario_1_marketplace_apparel_without_packaging_and_a_wrong_sku_label(
    cs_user, warehouse_user, operations_user, warehouse, shirt, other_shirt
):
    # given: a marketplace order of a blue shirt, returned; the parcel holds an item whose
    # label says red shirt, and no original packaging
    order = shipped_order((shirt, 1, "30.00", ()), channel_kind="marketplace", warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    ats_before = (ats(shirt), ats(other_shirt))

    # when: the bench scans the label and receives the parcel
    receipt = receive(case, warehouse, warehouse_user, other_shirt.gtin, packaging_ok=False)

    # then: the unit is received into quarantine, never available
    unit = receipt.units.get()
    assert (unit.product, unit.match, unit.return_line) == (other_shirt, "mismatched", None)
    assert set(unit.mismatch_kinds) == {"wrong_sku", "packaging_missing"}
    assert on_hand(other_shirt) == {("CAGE", S.QUARANTINED): 1}
    assert on_hand(shirt) == {}
    assert ledger(other_shirt) == [
        (None, None, "DOCK", S.IN_TRANSIT_RETURN, 1),
        ("DOCK", S.IN_TRANSIT_RETURN, "DOCK", S.RECEIVED_PENDING_INSPECTION, 1),
        ("DOCK", S.RECEIVED_PENDING_INSPECTION, "CAGE", S.QUARANTINED, 1),
    ]
    # and: sku_mismatch and packaging_missing exceptions hold the case, with the evidence
    assert open_kinds(case) == {"sku_mismatch", "packaging_missing"}
    mismatch = ExceptionCase.objects.get(kind="sku_mismatch", subject_id=str(case.pk))
    assert mismatch.evidence["units"][0]["sku"] == other_shirt.sku
    assert mismatch.evidence["packaging_ok"] is False
    assert mismatch.opened_by == warehouse_user
    # and: ATS is unchanged for both SKUs and no refund was proposed
    assert (ats(shirt), ats(other_shirt)) == ats_before
    assert not Refund.objects.filter(case=case).exists()
    case.refresh_from_db()
    assert case.state == ReturnCase.State.RECEIVED

    # when: it is inspected, the bench cannot restock it: it is in quarantine
    inspect(unit, warehouse_user, grade="A")
    with pytest.raises(ValidationError, match="quarantine"):
        workflow.return_unit_disposition(
            unit_id=unit.pk, client_token=token(), actor=warehouse_user, outcome="restock"
        )
    # and: nor may a manager release it while the exceptions are open
    with pytest.raises(ValidationError, match="open exceptions"):
        workflow.quarantine_release(
            unit_id=unit.pk,
            to_outcome=Outcome.RESTOCK,
            reason="Looks fine",
            client_token=token(),
            actor=operations_user,
        )
    assert on_hand(other_shirt) == {("CAGE", S.QUARANTINED): 1}
    assert (ats(shirt), ats(other_shirt)) == ats_before
    assert not Refund.objects.filter(case=case).exists()


def test_scenario_2_high_value_electronics_wait_in_quarantine_for_serial_and_fraud_review(
    cs_user, warehouse_user, operations_user, make_user, warehouse, laptop
):
    # given: a high-value laptop shipped with serial LT-1001 comes back
    order = shipped_order((laptop, 1, "899.00", ["LT-1001"]), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    receipt = receive(case, warehouse, warehouse_user, gs1(laptop, serial="LT-1001"))
    unit = receipt.units.get()
    assert unit.match == "matched"
    assert on_hand(laptop) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 1}

    # when: it is inspected (serial confirmed) and the manager on the bench accepts the
    # suggestion
    inspect(unit, operations_user, grade="A")
    decision = workflow.return_unit_disposition(
        unit_id=unit.pk, client_token=token(), actor=operations_user
    )

    # then: it is quarantined for serial verification and fraud review, never in ATS
    assert (decision.suggested_outcome, decision.outcome) == ("quarantine", "quarantine")
    assert on_hand(laptop) == {("CAGE", S.QUARANTINED): 1}
    assert set(ats(laptop).values()) <= {0}
    assert "fraud_review" in open_kinds(case)
    record = QuarantineRecord.objects.get(unit=unit)
    assert (record.quarantined_by, record.state) == (operations_user, "held")
    assert record.needs == ["serial_verified", "fraud_review_resolved"]

    # and: the person who quarantined it may not release it (maker-checker)
    with pytest.raises(PermissionDenied, match="someone else"):
        workflow.quarantine_release(
            unit_id=unit.pk,
            to_outcome="restock",
            reason="Checked",
            client_token=token(),
            actor=operations_user,
        )
    # and: nobody may while the fraud review is open
    checker = make_user("operations_manager", username="checker")
    with pytest.raises(ValidationError, match="fraud review"):
        workflow.quarantine_release(
            unit_id=unit.pk,
            to_outcome="restock",
            reason="Checked",
            client_token=token(),
            actor=checker,
        )
    assert on_hand(laptop) == {("CAGE", S.QUARANTINED): 1}
    assert set(ats(laptop).values()) <= {0}

    # when: the fraud review is resolved and a second manager releases it
    review = ExceptionCase.objects.get(kind="fraud_review", subject_id=str(case.pk), state="open")
    exception_resolve(exception_id=review.pk, actor=checker, reason="Serial matches the order")
    workflow.quarantine_release(
        unit_id=unit.pk,
        to_outcome="restock",
        reason="Serial verified, review clear",
        client_token=token(),
        actor=checker,
    )

    # then: it is available and counted in ATS; the release says who and why
    assert on_hand(laptop) == {("A-01", S.AVAILABLE): 1}
    assert set(ats(laptop).values()) == {1}
    record.refresh_from_db()
    assert (record.state, record.released_by, record.release_reason) == (
        "released",
        checker,
        "Serial verified, review clear",
    )
    unit = ReturnUnit.objects.get(pk=unit.pk)
    assert unit.state == UnitState.DISPOSITIONED
    history = unit.history.order_by("history_date").last()
    assert (history.history_user, history.history_change_reason) == (
        checker,
        "Released from quarantine to restock: Serial verified, review clear",
    )
    [outcome] = case_unit_outcomes(case_id=case.pk)
    assert (outcome.disposition, outcome.grade, outcome.expected_recovery) == (
        "restock",
        "A",
        Decimal("899.00"),
    )
