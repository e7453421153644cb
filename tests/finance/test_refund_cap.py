"""No refund exceeds what was paid for the returned lines — held by the database itself, so
code that goes around the services is refused too."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from finance.amounts import LineAmount, RefundAmounts
from finance.models import Refund, RefundCap, RefundLine, RefundState
from finance.services import refund_propose, refund_reject
from tests.finance.refund_cases import open_case, refund_of

pytestmark = pytest.mark.django_db


def amounts(line_id: int, quantity: int, price: str, deduction: str = "0") -> RefundAmounts:
    price, deduction = Decimal(price), Decimal(deduction)
    gross = price * quantity
    return RefundAmounts(
        lines=(
            LineAmount(
                return_line_id=line_id,
                quantity=quantity,
                unit_price=price,
                gross_amount=gross,
                grade_deduction=deduction,
                restocking_fee=Decimal("0"),
                shipping_deduction=Decimal("0"),
                amount=gross - deduction,
                grades="",
            ),
        )
    )


def propose(case, key: str, result: RefundAmounts) -> Refund:
    return refund_propose(
        case_id=case.pk,
        channel_id=case.channel_id,
        customer_id=case.customer_id,
        stage="manual",
        method="original_payment",
        currency="USD",
        amounts=result,
        dedupe_key=key,
    )


@pytest.fixture
def case(cs_user):
    # a case of 2 x 30.00 whose policy refund (60.00) is already proposed
    return open_case(cs_user, quantity=2, price="30.00", trigger="on_authorization")


def test_a_second_refund_of_paid_lines_is_refused_and_writes_nothing(case):
    line = case.lines.get()
    refunds = Refund.objects.count()

    # when finance proposes one more unit of the same line
    with pytest.raises(ValidationError, match="exceed what was paid"):
        propose(case, "again", amounts(line.pk, 1, "30.00"))

    # then nothing was written and the cap still holds 60.00 of 60.00
    assert Refund.objects.count() == refunds
    cap = RefundCap.objects.get(return_line=line)
    assert (cap.paid_amount, cap.committed_amount) == (Decimal("60.00"), Decimal("60.00"))


def test_partial_refunds_add_up_to_at_most_what_was_paid(case, finance_user):
    # given the policy's refund rejected, freeing the line
    line = case.lines.get()
    refund_reject(refund_id=refund_of(case).pk, actor=finance_user, reason="Split it")

    # when two partial refunds are proposed: 30.00 less 5.00, then the other unit
    first = propose(case, "part-1", amounts(line.pk, 1, "30.00", deduction="5.00"))
    second = propose(case, "part-2", amounts(line.pk, 1, "30.00"))

    # then both stand and 55.00 of 60.00 is committed
    assert (first.amount, second.amount) == (Decimal("25.00"), Decimal("30.00"))
    assert RefundCap.objects.get(return_line=line).committed_amount == Decimal("55.00")
    # and one cent more than the 5.00 left is refused, while exactly 5.00 is not
    with pytest.raises(ValidationError):
        propose(case, "part-3", amounts(line.pk, 1, "5.01"))
    propose(case, "part-4", amounts(line.pk, 1, "5.00"))
    assert RefundCap.objects.get(return_line=line).committed_amount == Decimal("60.00")


def test_the_database_refuses_a_refund_line_written_around_the_service(case):
    # given the line fully committed to the policy's refund
    refund = refund_of(case)
    line = case.lines.get()

    # when code writes another refund of it directly in SQL
    other = Refund.objects.create(
        case=case,
        channel=case.channel,
        customer=case.customer,
        stage="manual",
        method="original_payment",
        currency="USD",
        gross_amount=Decimal("1.00"),
        amount=Decimal("1.00"),
        dedupe_key="around-the-service",
        idempotency_key="around-the-service",
    )
    with pytest.raises(IntegrityError, match="refund_never_exceeds_paid"), transaction.atomic():
        _raw_line(other.pk, line.pk, "1.00")

    # or raises an existing line's amount
    with pytest.raises(IntegrityError, match="refund_never_exceeds_paid"), transaction.atomic():
        RefundLine.objects.filter(refund=refund).update(
            unit_price=Decimal("31.00"), gross_amount=Decimal("62.00"), amount=Decimal("62.00")
        )

    # or edits the cap itself
    with pytest.raises(IntegrityError, match="refund_never_exceeds_paid"), transaction.atomic():
        RefundCap.objects.filter(return_line=line).update(committed_amount=Decimal("60.01"))

    # then the refund is as it was
    assert RefundCap.objects.get(return_line=line).committed_amount == Decimal("60.00")
    assert refund.lines.get().amount == Decimal("60.00")
    assert refund.state == RefundState.PENDING_APPROVAL


def _raw_line(refund_id: int, return_line_id: int, amount: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO finance_refundline (refund_id, return_line_id, quantity, unit_price, "
            "gross_amount, grade_deduction, restocking_fee, shipping_deduction, amount, grades, "
            "released) VALUES (%s, %s, 1, %s, %s, 0, 0, 0, %s, '', false)",
            [refund_id, return_line_id, amount, amount, amount],
        )


def test_a_negative_or_inconsistent_line_is_refused(case):
    refund = refund_of(case)
    line = case.lines.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundLine.objects.filter(refund=refund).update(amount=Decimal("59.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundLine.objects.filter(refund=refund).update(grade_deduction=Decimal("-1.00"))
    assert RefundCap.objects.get(return_line=line).committed_amount == Decimal("60.00")
