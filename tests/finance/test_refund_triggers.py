"""Each refund trigger of the policy, through the real returns and warehouse workflow:
on authorization, on receipt, on inspection; the amounts, holds and resolutions."""

from decimal import Decimal

import pytest

from erp.models import ExceptionCase, OutboxMessage
from erp.models.exceptions import ACTIVE_STATES
from erp.services import exception_dismiss, exception_open, exception_resolve
from finance.models import Refund, RefundCap, RefundLine, RefundMethod, RefundState
from finance.services import REFUND_TOPIC, refund_holds_release_cleared
from returns.refunds import case_refund_evaluate
from tests.finance.refund_cases import (
    inspect_all,
    open_case,
    receive,
    refund_of,
    ship,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(cs_user):
    return cs_user


@pytest.fixture
def receiver(make_user):
    from erp.roles import Role

    return make_user(Role.WAREHOUSE, username="receiver")


@pytest.fixture
def inspector(make_user):
    from erp.roles import Role

    return make_user(Role.WAREHOUSE, username="inspector")


def execution_messages(refund: Refund) -> list[dict]:
    return list(
        OutboxMessage.objects.filter(topic=REFUND_TOPIC, payload__refund_id=refund.pk)
        .order_by("pk")
        .values_list("payload", flat=True)
    )


def test_on_authorization_proposes_the_claimed_units_and_approves_a_small_low_risk_refund(
    agent,
):
    # given a policy that trusts its cases and refunds on authorization
    # when a low-value case is opened and authorized by that policy
    case = open_case(agent, quantity=1, price="30.00", trigger="on_authorization")

    # then one refund of the claimed unit is proposed and, small and low-risk, approved by
    # the policy, its execution queued in the outbox
    refund = refund_of(case)
    assert refund.stage == "on_authorization"
    assert refund.method == RefundMethod.ORIGINAL_PAYMENT
    assert (refund.gross_amount, refund.amount) == (Decimal("30.00"), Decimal("30.00"))
    assert refund.state == RefundState.APPROVED
    assert refund.auto_approved
    assert refund.approved_by is None
    assert refund.requested_by == agent
    assert execution_messages(refund) == [{"refund_id": refund.pk, "round": 1}]
    reasons = list(
        refund.history.order_by("history_id").values_list("history_change_reason", flat=True)
    )
    assert reasons[0] == "Proposed on authorization"
    assert reasons[-1].startswith("Approved automatically: low risk")
    # and the cap of the returned line holds what it committed
    cap = RefundCap.objects.get(return_line=case.lines.get())
    assert (cap.paid_amount, cap.committed_amount) == (Decimal("30.00"), Decimal("30.00"))


def test_a_refund_over_the_auto_approval_threshold_waits_for_a_person(agent):
    # given a case worth 2 x 30.00 (over the 50.00 threshold)
    case = open_case(agent, quantity=2, price="30.00", trigger="on_authorization")

    # then its refund waits for approval and nothing is queued yet
    refund = refund_of(case)
    assert refund.state == RefundState.PENDING_APPROVAL
    assert refund.amount == Decimal("60.00")
    assert execution_messages(refund) == []


def test_other_stages_do_nothing_and_a_second_call_proposes_nothing_new(agent):
    # given a case refunding on authorization, already proposed
    case = open_case(agent, quantity=1, trigger="on_authorization")
    first = refund_of(case)

    # when the workflow evaluates it at other stages, and at its own stage again
    assert case_refund_evaluate(case_id=case.pk, stage="on_receipt", actor=agent) is None
    assert case_refund_evaluate(case_id=case.pk, stage="on_inspection", actor=agent) is None
    again = case_refund_evaluate(case_id=case.pk, stage="on_authorization", actor=agent)

    # then the one refund is all there is
    assert again == first
    assert Refund.objects.filter(case=case).count() == 1
    assert RefundLine.objects.filter(refund__case=case).count() == 1


def test_on_receipt_refunds_matched_units_only(agent, receiver):
    # given a case of 2 units refunding on receipt, shipped back
    case = ship(open_case(agent, quantity=2, price="30.00", trigger="on_receipt"), agent)
    assert refund_of(case) is None

    # when the parcel holds one of the units and an item of another SKU
    other = open_case(agent, quantity=1, price="10.00", trigger="on_receipt")
    stranger = other.lines.get().order_line.product.gtin
    receive(case, receiver, units=1, extra_scans=[stranger])

    # then only the matched unit is refunded (the mismatched item gets nothing)
    refund = refund_of(case)
    assert refund.stage == "on_receipt"
    assert list(refund.lines.values_list("quantity", "amount")) == [(1, Decimal("30.00"))]
    assert refund.inspector_ids == [receiver.pk]


def test_on_inspection_deducts_by_grade_restocking_fee_and_return_shipping(
    agent, receiver, inspector
):
    # given a case of 2 units at 40.00 with a 10 % restocking fee and the customer paying the
    # return label, refunding on inspection
    case = open_case(
        agent, quantity=2, price="40.00", trigger="on_inspection", fee="10", shipping="customer"
    )
    ship(case, agent)
    receive(case, receiver)
    assert refund_of(case) is None  # not before inspection

    # when one unit is graded A and the other C, and both are dispositioned
    inspect_all(case, inspector, grades=("A", "C"))

    # then gross 80.00 - condition 25 % of one unit (10.00) - fee 8.00 - shipping 5.95
    refund = refund_of(case)
    line = refund.lines.get()
    assert line.grades == "A,C"
    assert (line.gross_amount, line.grade_deduction, line.restocking_fee) == (
        Decimal("80.00"),
        Decimal("10.00"),
        Decimal("8.00"),
    )
    assert line.shipping_deduction == Decimal("5.95")
    assert refund.amount == Decimal("56.05")
    assert refund.state == RefundState.PENDING_APPROVAL
    # and whoever received or inspected the units may not approve it
    assert set(refund.inspector_ids) == {receiver.pk, inspector.pk}
    assert {unit["grade"] for unit in refund.evidence["units"]} == {"A", "C"}


def test_a_defect_is_not_charged_for_its_condition(agent, receiver, inspector):
    # given a case returned as defective, refunding on inspection
    case = open_case(agent, quantity=1, price="40.00", reason="DEFECTIVE_OR_DAMAGED")
    ship(case, agent)
    receive(case, receiver)

    # when the unit is graded D
    inspect_all(case, inspector, grades=("D",))

    # then the refund is the whole price
    assert refund_of(case).amount == Decimal("40.00")


def test_store_credit_and_exchange_resolutions(agent):
    # given a case resolved as store credit and one as an exchange, both on authorization
    credit = open_case(agent, quantity=1, trigger="on_authorization", resolution="store_credit")
    exchange = open_case(agent, quantity=1, trigger="on_authorization", resolution="exchange")

    # then the credit refund will pay store credit; the exchange is recorded with no money
    assert refund_of(credit).method == RefundMethod.STORE_CREDIT
    swap = refund_of(exchange)
    assert swap.method == RefundMethod.EXCHANGE
    assert swap.amount == Decimal("0.00")
    assert swap.state == RefundState.ISSUED
    assert execution_messages(swap) == []


def test_an_open_exception_holds_the_refund_and_resolving_it_releases_it(agent, operations_user):
    # given a case refunding on authorization whose refund waits for approval
    case = open_case(agent, quantity=2, trigger="on_authorization")
    refund = refund_of(case)
    assert refund.state == RefundState.PENDING_APPROVAL

    # when an exception is opened on the case
    exception = exception_open(
        kind="channel_dispute",
        subject_type="return_case",
        subject_id=case.pk,
        summary="Customer disputes with the marketplace",
    )

    # then the refund is on hold, saying why
    refund.refresh_from_db()
    assert refund.state == RefundState.ON_HOLD
    assert "Channel dispute" in refund.hold_reason

    # when the exception is resolved
    exception_resolve(exception_id=exception.pk, actor=operations_user, reason="Settled")

    # then the hold is released and the refund waits for approval again
    refund.refresh_from_db()
    assert refund.state == RefundState.PENDING_APPROVAL
    assert refund.hold_reason == ""


def test_a_refund_proposed_while_an_exception_is_open_starts_on_hold(
    agent, receiver, operations_user
):
    # given a case refunding on receipt with an open exception on it
    case = ship(open_case(agent, quantity=1, trigger="on_receipt"), agent)
    exception = exception_open(
        kind="fraud_review", subject_type="return_case", subject_id=case.pk, summary="Check"
    )

    # when the parcel is received
    receive(case, receiver)

    # then the refund is proposed on hold; a dismissal is swept by the beat task
    refund = refund_of(case)
    assert refund.state == RefundState.ON_HOLD
    exception_dismiss(exception_id=exception.pk, actor=operations_user, reason="False alarm")
    assert not ExceptionCase.objects.filter(
        subject_id=str(case.pk), state__in=ACTIVE_STATES
    ).exists()
    assert refund_holds_release_cleared() == 1
    refund.refresh_from_db()
    # small and low-risk: approved by the policy as soon as it is released
    assert refund.state == RefundState.APPROVED
