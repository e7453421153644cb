"""Exception volume and aging by kind."""

from datetime import UTC, date, datetime, timedelta

from erp.models.exceptions import ExceptionKind, ExceptionState
from reporting.kpis import KpiFilters, exception_volume_by_kind
from tests.factories import ExceptionCaseFactory

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
MARCH = KpiFilters(start=date(2026, 3, 1), end=date(2026, 3, 31))


def opened(kind, days_ago: float, **extra):
    at = NOW - timedelta(days=days_ago)
    return ExceptionCaseFactory(kind=kind, opened_at=at, **extra)


def test_volume_and_aging_by_kind(db, django_assert_num_queries):
    # Given SKU mismatches opened 0.5, 2, 5 and 10 days ago (the 2-day one overdue: SLA 24 h),
    # one resolved in March and one opened in February, still active
    mismatch = ExceptionKind.SKU_MISMATCH
    opened(mismatch, 0.5)
    opened(mismatch, 2)
    opened(mismatch, 5, sla_due_at=NOW + timedelta(hours=1))
    opened(mismatch, 10, sla_due_at=NOW + timedelta(hours=1))
    opened(
        mismatch,
        3,
        state=ExceptionState.RESOLVED,
        resolution_reason="Relabelled",
        resolved_at=NOW - timedelta(days=1),
    )
    opened(mismatch, 45, sla_due_at=NOW + timedelta(hours=1))
    # And one refund failure, opened today
    opened(ExceptionKind.REFUND_FAILURE, 0.1)

    # When the March figures are read as of NOW
    with django_assert_num_queries(1):
        rows = {row.kind: row for row in exception_volume_by_kind(filters=MARCH, now=NOW)}

    # Then mismatches: 5 opened in March (not the February one), 1 closed, 5 active;
    # overdue: the 0.5-day one is within its 24 h SLA, the 2-day one is not
    row = rows[mismatch]
    assert (row.opened, row.closed, row.active, row.overdue) == (5, 1, 5, 1)
    # And by age: under 1 day 1, 1-3 days 1, 3-7 days 1, 7+ days 2 (10 and 45 days)
    assert row.by_age == (1, 1, 1, 2)
    assert rows[ExceptionKind.REFUND_FAILURE].by_age == (1, 0, 0, 0)
