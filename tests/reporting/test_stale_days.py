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


def days_ago(now, *days):
    return {(now - timedelta(days=n)).date() for n in days}


def test_a_regrade_and_a_reason_code_change_mark_the_day_the_refund_was_issued(db):
    # Given a unit inspected as grade A, refunded five days ago, and a refresh since
    from erp.models import ReasonCode
    from tests.factories import UserFactory, WarehouseFactory
    from tests.reporting.builders import refund, units_of

    now = timezone.now()
    line = shipped_line(product=ProductFactory(), qty=1, shipped_at=now - timedelta(days=20))
    case = return_case(line=line, reason="SIZE_TOO_SMALL", requested_at=now - timedelta(days=15))
    (unit,) = units_of(case, grades=["A"], warehouse=WarehouseFactory(), user=UserFactory(), at=now)
    issued = now - timedelta(days=5)
    refund(case, proposed=issued - timedelta(hours=2), issued=issued)
    since = timezone.now()
    assert stale_days(since=since, before=now.date()) == set()

    # When the inspection is regraded C
    inspection = unit.inspection
    inspection.grade = "C"
    inspection.save()
    # Then the refund's day is stale (its accuracy is judged against the grade)
    assert stale_days(since=since, before=now.date()) == days_ago(now, 5)

    # When, later, the reason code's group changes (the grade deduction may no longer apply)
    since = timezone.now()
    reason = ReasonCode.objects.get(code="SIZE_TOO_SMALL")
    reason.group = ReasonCode.Group.DEFECT
    reason.save()
    # Then that day is stale again
    assert stale_days(since=since, before=now.date()) == days_ago(now, 5)


def test_an_exception_recorded_late_marks_the_day_it_was_opened(db):
    # Given the time of the last refresh
    from erp.models.exceptions import ExceptionKind
    from tests.factories import ExceptionCaseFactory

    since = timezone.now()
    # When a 3PL's late report opens an exception dated six days ago, and one opens now
    ExceptionCaseFactory(
        kind=ExceptionKind.LATE_3PL_DISPOSITION, opened_at=since - timedelta(days=6)
    )
    ExceptionCaseFactory(kind=ExceptionKind.SKU_MISMATCH)
    # Then only the day six days ago is stale (exceptions opened)
    assert stale_days(since=since, before=since.date()) == days_ago(since, 6)


def test_a_movement_posted_late_marks_its_day_and_the_later_exits_of_its_sku(db):
    # Given a unit received 4 days ago and restocked 2 days ago, then a refresh
    from inventory import services as stock
    from inventory.models import StockState
    from tests.factories import LocationFactory

    now = timezone.now()
    product, location = ProductFactory(), LocationFactory()
    pending = StockState.RECEIVED_PENDING_INSPECTION

    def receive(key, at):
        stock.stock_receive(
            product_id=product.pk,
            location_id=location.pk,
            qty=1,
            to_state=pending,
            idempotency_key=key,
            occurred_at=at,
        )

    receive("late-1", now - timedelta(days=4))
    stock.stock_move(
        product_id=product.pk,
        qty=1,
        from_location_id=location.pk,
        from_state=pending,
        to_location_id=location.pk,
        to_state=StockState.AVAILABLE,
        idempotency_key="late-2",
        occurred_at=now - timedelta(days=2),
    )
    since = timezone.now()

    # When a receipt of the same SKU that happened 6 days ago is posted now
    receive("late-3", now - timedelta(days=6))

    # Then its day, and the day of the restock it now pairs with first in, first out, are stale
    assert stale_days(since=since, before=now.date()) == days_ago(now, 6, 2)


def test_a_new_disposition_marks_the_day_of_the_one_it_supersedes(db):
    # Given a unit put on hold nine days ago, then a refresh
    from tests.factories import UserFactory, WarehouseFactory
    from tests.reporting.builders import dispose, units_of

    now = timezone.now()
    user = UserFactory()
    line = shipped_line(product=ProductFactory(), qty=1, shipped_at=now - timedelta(days=20))
    case = return_case(line=line, requested_at=now - timedelta(days=15))
    (unit,) = units_of(case, grades=["B"], warehouse=WarehouseFactory(), user=user, at=now)
    dispose(unit, "hold", expected=None, at=now - timedelta(days=9), user=user)
    since = timezone.now()

    # When it is dispositioned for liquidation, dated three days ago
    dispose(unit, "liquidation", expected="5", at=now - timedelta(days=3), user=user)

    # Then both days are stale: the hold is no longer the unit's current disposition
    assert stale_days(since=since, before=now.date()) == days_ago(now, 9, 3)
