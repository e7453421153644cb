"""Stored snapshot days that a late change made stale are rebuilt by the hourly job, and only
those: a case cancelled ten days after its request leaves that day's figures; closing a case
today touches no past day; an order recorded today as shipped last week marks that week's day.
"""

from datetime import timedelta

from django.utils import timezone

from erp.roles import Role
from reporting.models import KpiSnapshot
from reporting.parts import reasons_metric
from reporting.snapshots import kpi_snapshots_refresh
from reporting.staleness import stale_days
from returns import services
from tests.factories import ProductFactory
from tests.reporting.builders import return_case, shipped_line


def refresh() -> list[str]:
    """The hourly job (tasks.kpi_snapshots_build) over 12 days instead of 60, and without its
    ten-minute look back, which would re-read every row of a test made seconds before the
    previous run."""
    days = kpi_snapshots_refresh(today=timezone.now().date(), days=12, overlap=timedelta(0))
    return [day.isoformat() for day in days]


def figure(day, metric):
    return KpiSnapshot.objects.get(day=day, dimension="", metric=metric)


def test_a_case_cancelled_late_leaves_the_day_it_was_requested_after_the_rebuild(make_user):
    # Given a case requested ten days ago, still authorized, and the hourly job has run
    now = timezone.now()
    today = now.date()
    requested = now - timedelta(days=10)
    line = shipped_line(product=ProductFactory(), qty=2, shipped_at=requested - timedelta(days=3))
    case = return_case(line=line, state="authorized", requested_at=requested)
    refresh()
    assert figure(requested.date(), "cases_requested").value == 1
    assert figure(requested.date(), "units_requested").value == 1

    # When customer service cancels it today
    services.return_case_cancel(
        case_id=case.pk, actor=make_user(Role.CUSTOMER_SERVICE), reason="Customer kept it"
    )
    # (the day still reads the old figure until the job runs)
    assert figure(requested.date(), "cases_requested").value == 1

    built = refresh()

    # Then that day, and only it besides yesterday and today, is built again without the case
    assert built == sorted(
        day.isoformat() for day in (requested.date(), today - timedelta(days=1), today)
    )
    assert figure(requested.date(), "cases_requested").value == 0
    assert figure(requested.date(), "units_requested").value == 0
    assert figure(requested.date(), reasons_metric("channel")).breakdown == {}


def test_closing_a_case_today_marks_no_past_day(make_user):
    # Given a case requested ten days ago and inspected three days ago, snapshots built
    now = timezone.now()
    requested = now - timedelta(days=10)
    line = shipped_line(product=ProductFactory(), qty=1, shipped_at=requested - timedelta(days=3))
    case = return_case(
        line=line,
        state="inspected",
        requested_at=requested,
        authorized_at=requested + timedelta(hours=2),
        received_at=now - timedelta(days=4),
        inspected_at=now - timedelta(days=3),
    )
    refresh()
    since = timezone.now()

    # When it is closed today
    services.return_case_close(case_id=case.pk, actor=make_user(Role.OPERATIONS_MANAGER))

    # Then no day before today is stale (the close is today's figure), and the job rebuilds
    # only yesterday and today
    assert stale_days(since=since, before=now.date()) == set()
    assert len(refresh()) == 2


def test_an_order_recorded_late_marks_the_day_it_shipped(db):
    # Given the time of the last refresh
    since = timezone.now()
    shipped = since - timedelta(days=6)

    # When an order shipped six days ago is recorded now (a channel import catching up)
    shipped_line(product=ProductFactory(), qty=1, shipped_at=shipped)

    # Then its day shipped is stale (units shipped, return rate), and nothing else
    assert stale_days(since=since, before=since.date()) == {shipped.date()}
