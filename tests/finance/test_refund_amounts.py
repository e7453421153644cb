"""The refund arithmetic (finance.amounts): price x units, condition deductions by grade,
restocking fee, return shipping, never below zero; exchanges pay nothing."""

from decimal import Decimal

from finance.amounts import GRADE_DEDUCTION_PERCENT, LineInput, refund_amounts_calculate

D = Decimal


def calc(*lines, fee="0", shipping=False, exchange=False):
    return refund_amounts_calculate(
        lines=lines,
        restocking_fee_percent=D(fee),
        customer_pays_return_shipping=shipping,
        exchange=exchange,
    )


def test_full_refund_of_ungraded_units():
    result = calc(LineInput(1, D("19.99"), ("", "", "")))
    assert (result.gross_amount, result.deductions_amount, result.amount) == (
        D("59.97"),
        D("0.00"),
        D("59.97"),
    )


def test_every_grade_has_a_deduction_and_worse_grades_deduct_more():
    percents = [GRADE_DEDUCTION_PERCENT[grade] for grade in "ABCDEF"]
    assert percents == sorted(percents)
    result = calc(LineInput(1, D("100.00"), ("A", "B", "C", "D", "E", "F")))
    assert result.lines[0].grade_deduction == D("260.00")


def test_no_condition_deduction_when_the_customer_is_not_at_fault():
    result = calc(LineInput(1, D("100.00"), ("F",), customer_at_fault=False))
    assert result.amount == D("100.00")


def test_fee_and_shipping_once_per_refund_across_lines():
    result = calc(
        LineInput(1, D("10.00"), ("A",)),
        LineInput(2, D("50.00"), ("A",)),
        fee="15",
        shipping=True,
    )
    first, second = result.lines
    # 10.00 - 1.50 fee leaves 8.50, all of which goes to shipping (5.95) first
    assert (first.restocking_fee, first.shipping_deduction, first.amount) == (
        D("1.50"),
        D("5.95"),
        D("2.55"),
    )
    assert (second.restocking_fee, second.shipping_deduction, second.amount) == (
        D("7.50"),
        D("0.00"),
        D("42.50"),
    )
    assert result.amount == result.gross_amount - result.deductions_amount


def test_deductions_never_take_a_line_below_zero():
    result = calc(LineInput(1, D("4.00"), ("F",)), fee="50", shipping=True)
    line = result.lines[0]
    assert (line.grade_deduction, line.restocking_fee, line.shipping_deduction) == (
        D("4.00"),
        D("0.00"),
        D("0.00"),
    )
    assert line.amount == D("0.00")


def test_an_exchange_pays_nothing_but_records_the_units():
    result = calc(LineInput(1, D("30.00"), ("A", "A")), fee="10", shipping=True, exchange=True)
    assert result.lines[0].quantity == 2
    assert result.amount == D("0.00")


def test_lines_without_units_are_left_out():
    assert calc(LineInput(1, D("30.00"), ())).lines == ()


def test_rounding_is_half_up_to_the_cent():
    result = calc(LineInput(1, D("9.99"), ("B",)), fee="12.5")
    line = result.lines[0]
    assert line.grade_deduction == D("1.00")  # 0.999
    assert line.restocking_fee == D("1.25")  # 1.24875
    assert line.amount == D("7.74")
