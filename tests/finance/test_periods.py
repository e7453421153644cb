"""Fiscal periods: months open on first use, close with a permission and a reason, in order; a
closed month takes no posting (the database refuses one too) and late events go forward."""

from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from finance.models import FiscalPeriod, JournalEntry, PeriodStatus
from finance.services import fiscal_period_close, fiscal_period_for_date, fiscal_period_open_for
from tests.factories.finance import FiscalPeriodFactory, posted_entry

pytestmark = pytest.mark.django_db


def test_a_month_opens_on_first_use():
    # when a date in February 2028 (a leap year) asks for its period
    period = fiscal_period_for_date(day=date(2028, 2, 17))

    # then the whole month is one open period, created once
    assert (period.start_date, period.end_date, period.status) == (
        date(2028, 2, 1),
        date(2028, 2, 29),
        PeriodStatus.OPEN,
    )
    assert fiscal_period_for_date(day=date(2028, 2, 1)) == period
    assert FiscalPeriod.objects.count() == 1


def test_closing_records_who_when_and_why(finance_user):
    # given an open month
    period = FiscalPeriodFactory(start_date=date(2026, 1, 1))

    # when finance closes it
    fiscal_period_close(period_id=period.pk, reason="January reconciled", actor=finance_user)

    # then it is closed, and its history says who and why
    period.refresh_from_db()
    assert period.status == PeriodStatus.CLOSED
    assert period.closed_by == finance_user
    assert period.closed_at is not None
    assert period.close_reason == "January reconciled"
    last = period.history.first()
    assert (last.status, last.history_user, last.history_change_reason) == (
        PeriodStatus.CLOSED,
        finance_user,
        "January reconciled",
    )


@pytest.mark.parametrize("who", ["warehouse_user", "operations_user", "cs_user"])
def test_only_finance_closes_a_period(request, who):
    # given an open month
    period = FiscalPeriodFactory(start_date=date(2026, 1, 1))
    history = period.history.count()

    # when someone without close_period tries
    with pytest.raises(PermissionDenied):
        fiscal_period_close(period_id=period.pk, reason="x", actor=request.getfixturevalue(who))

    # then nothing changed
    period.refresh_from_db()
    assert period.status == PeriodStatus.OPEN
    assert period.closed_by is None
    assert period.history.count() == history


def test_closing_needs_a_reason_and_the_earlier_months_closed(finance_user):
    january = FiscalPeriodFactory(start_date=date(2026, 1, 1))
    february = FiscalPeriodFactory(start_date=date(2026, 2, 1))

    with pytest.raises(ValidationError, match="Give a reason"):
        fiscal_period_close(period_id=january.pk, reason="  ", actor=finance_user)
    with pytest.raises(ValidationError, match="Close 2026-01 first"):
        fiscal_period_close(period_id=february.pk, reason="Done", actor=finance_user)

    assert set(FiscalPeriod.objects.values_list("status", flat=True)) == {PeriodStatus.OPEN}

    # and a closed month cannot be closed again
    fiscal_period_close(period_id=january.pk, reason="Done", actor=finance_user)
    with pytest.raises(ValidationError, match="already closed"):
        fiscal_period_close(period_id=january.pk, reason="Again", actor=finance_user)


def test_a_late_event_posts_to_the_earliest_open_month_with_its_own_date(finance_user):
    # given January and February are closed
    for start in (date(2026, 1, 1), date(2026, 2, 1)):
        period = FiscalPeriodFactory(start_date=start)
        fiscal_period_close(period_id=period.pk, reason="Month end", actor=finance_user)

    # when a refund issued on 30 January is posted
    occurred = datetime(2026, 1, 30, 16, 45, tzinfo=UTC)
    entry = posted_entry(occurred_at=occurred)

    # then it is booked on 1 March, in March, and still says when it happened
    assert entry.period.start_date == date(2026, 3, 1)
    assert entry.posting_date == date(2026, 3, 1)
    assert entry.occurred_at == occurred
    assert entry.is_late
    assert fiscal_period_open_for(day=date(2026, 1, 30)) == entry.period
    # and nothing was posted into the closed months
    assert not JournalEntry.objects.filter(period__status=PeriodStatus.CLOSED).exists()


def test_the_database_refuses_an_entry_in_a_closed_month(finance_user):
    # given a closed month
    period = FiscalPeriodFactory(start_date=date(2026, 1, 1))
    fiscal_period_close(period_id=period.pk, reason="Month end", actor=finance_user)

    # when an entry is written into it around the service
    with (
        pytest.raises(IntegrityError, match="fiscal period 2026-01 is closed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO finance_journalentry (period_id, posting_date, occurred_at, posted_at, "
            "currency, cause_type, cause_id, memo, idempotency_key, payload_hash) "
            "VALUES (%s, '2026-01-15', now(), now(), 'USD', 'raw', '1', '', 'raw-closed', 'x')",
            [period.pk],
        )

    # then nothing was written
    assert not JournalEntry.objects.exists()


def test_the_database_refuses_a_posting_date_outside_its_period():
    period = FiscalPeriodFactory(start_date=date(2026, 1, 1))
    with (
        pytest.raises(IntegrityError, match="outside its period"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO finance_journalentry (period_id, posting_date, occurred_at, posted_at, "
            "currency, cause_type, cause_id, memo, idempotency_key, payload_hash) "
            "VALUES (%s, '2026-02-01', now(), now(), 'USD', 'raw', '1', '', 'raw-out', 'x')",
            [period.pk],
        )
    assert not JournalEntry.objects.exists()
