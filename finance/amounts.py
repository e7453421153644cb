"""How much a refund pays back, line by line: pure arithmetic on Decimals, no database.

For each returned line: gross = unit price x refunded units; then, in this order,
- a condition (grade) deduction per unit, GRADE_DEDUCTION_PERCENT of the unit price, only when
  the customer is at fault for the return (size, preference, other…): a defective or wrongly
  shipped item is never charged for its condition;
- the restocking fee, the policy's percentage of the gross;
- the return shipping, the channel's rate (RETURN_SHIPPING_FEE when it has none) once per
  refund when the customer pays for it, taken from the lines in order;
- what a manual partial refund already paid back for the line (finance's goodwill refunds
  come off what the return refunds later).
A deduction never takes a line below zero: what does not fit is waived, never carried over.
An exchange pays nothing back: its lines are recorded with a zero price.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

# The share of the unit price kept for a unit returned in a worse condition than sold.
# A: as new · B: light wear · C: visible wear · D: damaged, repairable · E: major damage ·
# F: unsellable (parts or scrap).
GRADE_DEDUCTION_PERCENT: dict[str, Decimal] = {
    "A": Decimal("0"),
    "B": Decimal("10"),
    "C": Decimal("25"),
    "D": Decimal("50"),
    "E": Decimal("75"),
    "F": Decimal("100"),
}
# The merchant's cost of a return label, charged when the policy says the customer pays the
# return shipping, on a channel with no rate of its own (finance.ReturnShippingRate).
RETURN_SHIPPING_FEE = Decimal("5.95")


def money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineInput:
    """One returned line to refund: its price and one grade per refunded unit ("" when the
    units were not inspected yet)."""

    return_line_id: int
    unit_price: Decimal
    grades: tuple[str, ...]
    customer_at_fault: bool = True
    already_refunded: Decimal = ZERO


@dataclass(frozen=True)
class LineAmount:
    return_line_id: int
    quantity: int
    unit_price: Decimal
    gross_amount: Decimal
    grade_deduction: Decimal
    restocking_fee: Decimal
    shipping_deduction: Decimal
    amount: Decimal
    grades: str
    earlier_refunds: Decimal = ZERO

    @property
    def deductions(self) -> Decimal:
        return (
            self.grade_deduction + self.restocking_fee + self.shipping_deduction
        ) + self.earlier_refunds


@dataclass(frozen=True)
class RefundAmounts:
    lines: tuple[LineAmount, ...]

    @property
    def gross_amount(self) -> Decimal:
        return sum((line.gross_amount for line in self.lines), ZERO)

    @property
    def deductions_amount(self) -> Decimal:
        return sum((line.deductions for line in self.lines), ZERO)

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def manual_refund_amounts(*, lines: Sequence[tuple[int, Decimal]]) -> RefundAmounts:
    """A manual partial refund: per returned line (id, amount), one line of that amount with no
    deductions. It counts no unit as refunded (quantity 1 at the amount), so the refund the
    policy triggers later still covers every unit, less this amount (`already_refunded`)."""
    return RefundAmounts(
        lines=tuple(
            LineAmount(
                return_line_id=line_id,
                quantity=1,
                unit_price=money(amount),
                gross_amount=money(amount),
                grade_deduction=ZERO,
                restocking_fee=ZERO,
                shipping_deduction=ZERO,
                amount=money(amount),
                grades="",
            )
            for line_id, amount in lines
            if money(amount) > 0
        )
    )


def grade_deduction(*, unit_price: Decimal, grade: str) -> Decimal:
    """The condition deduction for one unit; an unknown or empty grade deducts nothing."""
    percent = GRADE_DEDUCTION_PERCENT.get(grade.upper(), Decimal("0")) if grade else Decimal("0")
    return money(unit_price * percent / 100)


def refund_amounts_calculate(
    *,
    lines: Sequence[LineInput],
    restocking_fee_percent: Decimal,
    customer_pays_return_shipping: bool,
    exchange: bool = False,
    shipping_fee: Decimal = RETURN_SHIPPING_FEE,
) -> RefundAmounts:
    """The refund of `lines` under the case's terms (see the module docstring). Lines with no
    refunded unit are left out."""
    shipping_left = money(shipping_fee) if customer_pays_return_shipping and not exchange else ZERO
    fee_percent = Decimal(restocking_fee_percent)
    result = []
    for line in lines:
        quantity = len(line.grades)
        if quantity == 0:
            continue
        price = ZERO if exchange else money(line.unit_price)
        gross = money(price * quantity)
        condition = ZERO
        if line.customer_at_fault:
            condition = sum(
                (grade_deduction(unit_price=price, grade=grade) for grade in line.grades), ZERO
            )
        condition = min(condition, gross)
        fee = min(money(gross * fee_percent / 100), gross - condition)
        shipping = min(shipping_left, gross - condition - fee)
        shipping_left -= shipping
        earlier = min(money(line.already_refunded), gross - condition - fee - shipping)
        result.append(
            LineAmount(
                return_line_id=line.return_line_id,
                quantity=quantity,
                unit_price=price,
                gross_amount=gross,
                grade_deduction=condition,
                restocking_fee=fee,
                shipping_deduction=shipping,
                amount=gross - condition - fee - shipping - earlier,
                grades=",".join(grade for grade in line.grades if grade),
                earlier_refunds=earlier,
            )
        )
    return RefundAmounts(lines=tuple(result))
