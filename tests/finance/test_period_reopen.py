"""Reopening a closed month: the controller's permission and a reason, audited, latest month
first; postings into it are accepted again while every other closed month still refuses them."""

from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from finance.models import FiscalPeriod, PeriodStatus
from finance.services import fiscal_period_close, fiscal_period_reopen
from tests.factories.finance import FiscalPeriodFactory, posted_entry

pytestmark = pytest.mark.django_db


def closed_months(actor, *starts):
    periods = []
    for start in starts:
        period = FiscalPeriodFactory(start_date=start)
        fiscal_period_close(period_id=period.pk, reason="Month end", actor=actor)
        periods.append(period)
    return periods


def test_the_controller_reopens_the_latest_closed_month_and_it_takes_postings_again(
    finance_user, administrator_user
):
    # given January closed
    (january,) = closed_months(finance_user, date(2026, 1, 1))

    # when the controller reopens it with a reason
    fiscal_period_reopen(
        period_id=january.pk, reason="Vendor credit note dated 28 Jan", actor=administrator_user
    )

    # then it is open, with who, when and why, also in its history
    january.refresh_from_db()
    assert january.status == PeriodStatus.OPEN
    assert january.reopened_by == administrator_user
    assert january.reopened_at is not None
    assert january.reopen_reason == "Vendor credit note dated 28 Jan"
    last = january.history.first()
    assert (last.status, last.history_user, last.history_change_reason) == (
        PeriodStatus.OPEN,
        administrator_user,
        "Reopened: Vendor credit note dated 28 Jan",
    )
    # and an event dated in January is booked in January again
    entry = posted_entry(occurred_at=datetime(2026, 1, 28, 12, tzinfo=UTC))
    assert entry.period == january
    assert not entry.is_late


def test_finance_clerks_may_not_reopen_and_nothing_changes(finance_user):
    # given a closed month
    (january,) = closed_months(finance_user, date(2026, 1, 1))
    history = january.history.count()

    # when the clerk who closed it tries to reopen it
    with pytest.raises(PermissionDenied):
        fiscal_period_reopen(period_id=january.pk, reason="Oops", actor=finance_user)

    # then it stays closed and refuses postings, its history unchanged
    january.refresh_from_db()
    assert january.status == PeriodStatus.CLOSED
    assert january.history.count() == history
    late = posted_entry(occurred_at=datetime(2026, 1, 20, tzinfo=UTC))
    assert late.period.start_date == date(2026, 2, 1)


def test_reopening_needs_a_reason_a_closed_month_and_no_later_closed_month(
    finance_user, administrator_user
):
    january, february = closed_months(finance_user, date(2026, 1, 1), date(2026, 2, 1))
    march = FiscalPeriodFactory(start_date=date(2026, 3, 1))

    with pytest.raises(ValidationError, match="Give a reason"):
        fiscal_period_reopen(period_id=february.pk, reason=" ", actor=administrator_user)
    with pytest.raises(ValidationError, match="Reopen 2026-02 first"):
        fiscal_period_reopen(period_id=january.pk, reason="Fix", actor=administrator_user)
    with pytest.raises(ValidationError, match="open already"):
        fiscal_period_reopen(period_id=march.pk, reason="Fix", actor=administrator_user)
    assert list(FiscalPeriod.objects.values_list("status", flat=True)) == [
        PeriodStatus.CLOSED,
        PeriodStatus.CLOSED,
        PeriodStatus.OPEN,
    ]

    # and reopening February leaves January closed to postings
    fiscal_period_reopen(period_id=february.pk, reason="Fix", actor=administrator_user)
    late = posted_entry(occurred_at=datetime(2026, 1, 20, tzinfo=UTC))
    assert late.period == february


def test_the_period_page_offers_reopening_to_the_controller_only(
    client, finance_user, administrator_user
):
    (january,) = closed_months(finance_user, date(2026, 1, 1))
    url = f"/finance/periods/{january.pk}/"

    client.force_login(finance_user)
    assert "Reopen period" not in client.get(url).content.decode()

    client.force_login(administrator_user)
    assert "Reopen period" in client.get(url).content.decode()
    refused = client.post(f"{url}reopen/", {"reason": ""})
    assert refused.status_code == 422
    january.refresh_from_db()
    assert january.status == PeriodStatus.CLOSED

    done = client.post(f"{url}reopen/", {"reason": "Late vendor credit"})
    assert done.status_code == 302
    january.refresh_from_db()
    assert january.status == PeriodStatus.OPEN
    page = client.get(url).content.decode()
    assert "Late vendor credit" in page
    assert "Close period" in page
