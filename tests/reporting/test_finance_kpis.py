"""Refund latency, refund accuracy, the inspection-to-refund stage and recovery by disposition,
on refunds, inspections and dispositions whose right answer is worked out here."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from finance.models import RealizedRecovery
from finance.services import journal_entry_reverse
from reporting.kpis import KpiFilters
from reporting.kpis.recovery import recovery_by_disposition
from reporting.kpis.refunds import inspection_to_refund, refund_accuracy, refund_latency
from reporting.parts import (
    RECOVERY,
    cycle_parts,
    hist_metric,
    hist_summary,
    recovery_from_parts,
    window_parts,
)
from reporting.snapshots import kpi_snapshot_build
from tests.factories import ProductFactory, UserFactory, WarehouseFactory
from tests.factories.finance import FiscalPeriodFactory, posted_entry
from tests.reporting.builders import dispose, next_key, refund, return_case, shipped_line, units_of

MARCH = KpiFilters(start=date(2026, 3, 1), end=date(2026, 3, 31))
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def refunds(db):
    """Customer-fault returns (size) at 100.00 a unit, inspected at T0:
    A: 2 units graded B and A; refund proposed T0+1 h, issued T0+5 h, deducting 10.00
       (B = 10 % of 100, A = 0): accurate. Latency 4 h, inspection to refund 5 h.
    B: 1 unit graded C; proposed T0+2 h, issued T0+12 h, deducting 0 where C calls for 25.00:
       mismatched, 25.00 over-refunded. Latency 10 h, inspection to refund 12 h.
    C: refunded on authorization, proposed T0-100 h, issued T0-90 h, nothing received yet:
       unverified. Latency 10 h; no inspection, so no inspection-to-refund stage.
    D: 1 unit graded A; proposed T0+18 h, issued T0+20 h, deducting 0 (right), but its journal
       entry was reversed: reversed. Latency 2 h, inspection to refund 20 h.
    Not counted: a rejected refund (never issued) and one issued in April.
    """
    FiscalPeriodFactory(start_date=date(2026, 3, 1))
    warehouse, user = WarehouseFactory(), UserFactory()
    product = ProductFactory()

    def case(qty=1, **stamps):
        line = shipped_line(product=product, qty=qty, shipped_at=T0 - 10 * 24 * H, price="100")
        return return_case(line=line, qty=qty, reason="SIZE_TOO_SMALL", **stamps)

    a, b, d = (case(2, inspected_at=T0), case(inspected_at=T0), case(inspected_at=T0))
    c = case(state="authorized", authorized_at=T0 - 100 * H)
    units_of(a, grades=["B", "A"], warehouse=warehouse, user=user)
    units_of(b, grades=["C"], warehouse=warehouse, user=user)
    units_of(d, grades=["A"], warehouse=warehouse, user=user)
    refund(a, proposed=T0 + H, issued=T0 + 5 * H, deduction="10.00", qty=2)
    refund(b, proposed=T0 + 2 * H, issued=T0 + 12 * H)
    refund(c, proposed=T0 - 100 * H, issued=T0 - 90 * H, stage="on_authorization")
    entry = posted_entry(amount="100.00", occurred_at=T0 + 20 * H)
    refund(d, proposed=T0 + 18 * H, issued=T0 + 20 * H, journal_entry=entry)
    journal_entry_reverse(
        entry_id=entry.pk, reason="Paid twice", actor=None, occurred_at=T0 + 30 * H
    )
    refund(b, proposed=T0, issued=None, state="rejected")
    refund(case(inspected_at=T0), proposed=T0, issued=datetime(2026, 4, 2, tzinfo=UTC))
    return {"a": a, "b": b, "c": c, "d": d}


def test_refund_latency_is_proposed_to_issued_of_refunds_issued_in_the_window(refunds):
    # Given latencies 4, 10, 10 and 2 h (worked out in the fixture)
    # When
    summary = refund_latency(filters=MARCH)
    # Then sorted 2, 4, 10, 10: median (4 + 10) / 2 = 7 h; p90 at 0.9 x 3 = 2.7 → 10 h
    assert summary.count == 4
    assert summary.median_hours == pytest.approx(7)
    assert summary.p90_hours == pytest.approx(10)


def test_inspection_to_refund_counts_refunds_issued_after_their_case_was_inspected(refunds):
    # Given A 5 h, B 12 h, D 20 h (C was refunded before any inspection)
    # When
    summary = inspection_to_refund(filters=MARCH)
    # Then median 12 h; p90 at 0.9 x 2 = 1.8 → 12 + 0.8 x (20 - 12) = 18.4 h
    assert summary.count == 3
    assert summary.median_hours == pytest.approx(12)
    assert summary.p90_hours == pytest.approx(18.4)
    # And the snapshot's hour histogram gives the same to within half an hour
    hist = cycle_parts(MARCH)[hist_metric("inspection_to_refund")]
    assert hist == {"5": 1, "12": 1, "20": 1}
    assert hist_summary(hist).median.total_seconds() / 3600 == pytest.approx(12.5)


def test_refund_accuracy_checks_deductions_against_inspection_and_reversals(refunds):
    # When
    accuracy = refund_accuracy(filters=MARCH)
    # Then A accurate, B mismatched (25.00 over), C unverified, D reversed
    assert (accuracy.issued, accuracy.accurate, accuracy.mismatched) == (4, 1, 1)
    assert (accuracy.unverified, accuracy.reversed) == (1, 1)
    assert accuracy.rate == pytest.approx(1 / 3)
    assert accuracy.over_refunded == Decimal("25.00")
    assert accuracy.under_refunded == Decimal("0")


def test_a_defective_return_is_never_charged_for_its_condition(refunds):
    # Given B's reason becomes a defect: its grade C calls for no deduction
    from erp.models import ReasonCode

    refunds["b"].lines.update(reason=ReasonCode.objects.get(code="DEFECTIVE_OR_DAMAGED"))
    # When
    accuracy = refund_accuracy(filters=MARCH)
    # Then B's zero deduction is right
    assert (accuracy.accurate, accuracy.mismatched) == (2, 0)


@pytest.fixture
def dispositions(db):
    """Units returned at 100.00 (1, 2, 4) and 40.00 (3):
    1 restock, expected 100 (Reno); 2 held first, then returned to vendor, expected 60,
    vendor credit 50 realized (Reno); 3 liquidated, expected 10, sale of 12 realized (Newark);
    4 restocked in April (not in the window)."""
    FiscalPeriodFactory(start_date=date(2026, 3, 1))
    reno, newark, user = WarehouseFactory(), WarehouseFactory(), UserFactory()

    def unit(price, warehouse):
        line = shipped_line(
            product=ProductFactory(), qty=1, shipped_at=T0 - 10 * 24 * H, price=price
        )
        case = return_case(line=line, reason="SIZE_TOO_SMALL")
        return units_of(case, grades=["A"], warehouse=warehouse, user=user)[0]

    one, two, three, four = (
        unit("100", reno),
        unit("100", reno),
        unit("40", newark),
        unit("100", reno),
    )
    dispose(one, "restock", expected="100", at=T0, user=user)
    dispose(two, "hold", expected=None, at=T0, user=user)
    vendor = dispose(two, "vendor_return", expected="60", at=T0 + H, user=user)
    sale = dispose(three, "liquidation", expected="10", at=T0, user=user)
    dispose(four, "restock", expected="100", at=datetime(2026, 4, 3, tzinfo=UTC), user=user)
    for disposition, amount, kind in (
        (vendor, "50", "vendor_credit"),
        (sale, "12", "liquidation_sale"),
    ):
        RealizedRecovery.objects.create(
            disposition=disposition,
            kind=kind,
            amount=Decimal(amount),
            currency="USD",
            reference=f"ref-{next_key()}",
            occurred_on=date(2026, 3, 20),
            journal_entry=posted_entry(amount=amount, occurred_at=T0 + 2 * H),
            recorded_by=user,
            client_token=f"rec-{next_key()}",
        )
    return {"newark": newark}


def test_recovery_value_and_rate_by_current_disposition(dispositions):
    # When
    rows = {row.outcome: row for row in recovery_by_disposition(filters=MARCH)}
    # Then the hold was superseded; each outcome's value, expected and realized recovery
    assert set(rows) == {"restock", "vendor_return", "liquidation"}
    restock, vendor, sale = rows["restock"], rows["vendor_return"], rows["liquidation"]
    assert (restock.units, restock.returned_value, restock.expected) == (1, 100, 100)
    assert restock.expected_rate == 1.0
    assert restock.realized_rate == 0
    assert (vendor.expected, vendor.realized) == (Decimal("60"), Decimal("50"))
    assert (vendor.expected_rate, vendor.realized_rate) == (0.6, 0.5)
    assert (sale.returned_value, sale.expected, sale.realized) == (40, 10, 12)
    assert (sale.expected_rate, sale.realized_rate) == (0.25, 0.3)


def test_recovery_by_the_warehouse_that_received_the_units(dispositions):
    # When filtered to Newark
    filters = KpiFilters(start=MARCH.start, end=MARCH.end, warehouse_id=dispositions["newark"].pk)
    rows = recovery_by_disposition(filters=filters)
    # Then only its liquidated unit
    assert [(row.outcome, row.units) for row in rows] == [("liquidation", 1)]


def test_recovery_from_the_daily_snapshots_is_the_windows(dispositions):
    # Given the snapshot of 10 March, the day of the restock, the hold, the vendor return and
    # the liquidation
    kpi_snapshot_build(day=T0.date())
    window = KpiFilters(start=date(2026, 3, 9), end=date(2026, 3, 12))
    # When the window's recovery is read from the snapshots (the other days computed live)
    stored = window_parts(filters=window, metrics=[RECOVERY], today=date(2026, 4, 30))
    rows = recovery_from_parts(stored.parts[RECOVERY])
    # Then one day came from the snapshot, and the rows are the selector's, realized included
    assert (stored.snapshot_days, len(stored.live_days)) == (1, 3)
    assert rows == recovery_by_disposition(filters=window)
    assert [(row.outcome, row.realized) for row in rows] == [
        ("restock", Decimal("0.00")),
        ("vendor_return", Decimal("50.00")),
        ("liquidation", Decimal("12.00")),
    ]
    # And the Newark warehouse's own snapshot holds only its liquidated unit
    newark = KpiFilters(start=window.start, end=window.end, warehouse_id=dispositions["newark"].pk)
    part = window_parts(filters=newark, metrics=[RECOVERY], today=date(2026, 4, 30))
    assert part.snapshot_days == 1
    assert part.parts[RECOVERY] == {"liquidation|USD": [1, 4000, 1000, 1200]}
