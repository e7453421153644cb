"""Which stored snapshot days a late change made stale, read from the rows changed since the
last refresh: a case cancelled ten days after it was requested changes that day's returned
units; a carrier scan recorded a day late moves a transit time to the day before; a refund
reversed next month changes the accuracy of the day it was issued.

Every figure of a day (reporting.snapshots, reporting.parts) is keyed by a moment of a case,
a return line's case, a refund or an order, so a change can only touch the days of the
moments the changed row had before and after it. Cases are compared with their previous
history version, so closing a case today does not mark the day it was requested.
"""

from collections.abc import Iterable
from datetime import date, datetime

from django.db.models import Q

from erp.models import OrderLine, SalesOrder
from finance.models import JournalEntry, Refund, RefundLine, RefundState
from returns.models import ReturnCase, ReturnLine
from returns.models.cases import VOID_STATES
from warehouse.models import Inspection

# The case moments a figure is keyed by (cycle-time stages end on them; returned units and
# reasons are of the day requested; units received of the day received).
CASE_MOMENTS = (
    "requested_at",
    "authorized_at",
    "shipped_at",
    "delivered_at",
    "received_at",
    "inspected_at",
    "closed_at",
)


def _days(moments: Iterable[datetime | None]) -> set[date]:
    return {moment.date() for moment in moments if moment is not None}


def _case_days(since: datetime) -> set[date]:
    """Per case changed since `since`, each version against the one before it: the days of a
    moment that changed (its old and new value), and the day requested when the case became
    void or stopped being so (it leaves or re-enters that day's returned units). A case
    created since counts with every moment it was created with."""
    history = ReturnCase.history.model
    changed = history.objects.filter(history_date__gt=since).values("id")
    versions = (
        history.objects.filter(id__in=changed)
        .order_by("id", "history_date", "history_id")
        .values_list("id", "history_date", "state", *CASE_MOMENTS)
    )
    days: set[date] = set()
    previous = None
    for version in versions.iterator(chunk_size=2000):
        case_id, at, state, *moments = version
        before = previous if previous and previous[0] == case_id else None
        previous = version
        if at <= since:
            continue
        if before is None:
            days |= _days(moments)
            continue
        _, _, old_state, *old_moments = before
        for old, new in zip(old_moments, moments, strict=True):
            if old != new:
                days |= _days((old, new))
        if (old_state in VOID_STATES) != (state in VOID_STATES):
            days |= _days(moments[:1])
    return days


def _line_days(since: datetime) -> set[date]:
    """A return line added, changed or removed since: its case's day requested."""
    lines = ReturnLine.history.model.objects.filter(history_date__gt=since)
    cases = ReturnCase.objects.filter(pk__in=lines.values("case_id"))
    return _days(cases.values_list("requested_at", flat=True))


def _refund_days(since: datetime) -> set[date]:
    """The day issued of a refund changed since (any version of it), of one whose journal
    entry was reversed since, and of one of a return line inspected since (its accuracy is
    judged against the inspection)."""
    history = Refund.history.model
    days = _days(history.objects.filter(history_date__gt=since).values_list("issued_at", flat=True))
    reversed_entries = JournalEntry.objects.filter(
        posted_at__gt=since, reverses__isnull=False
    ).values("reverses_id")
    inspected_lines = Inspection.objects.filter(inspected_at__gt=since).values(
        "unit__return_line_id"
    )
    refunds = Refund.objects.filter(state=RefundState.ISSUED).filter(
        Q(journal_entry_id__in=reversed_entries)
        | Q(
            pk__in=RefundLine.objects.filter(return_line_id__in=inspected_lines).values("refund_id")
        )
    )
    return days | _days(refunds.values_list("issued_at", flat=True))


def _order_days(since: datetime) -> set[date]:
    """An order or order line saved since: the order's day shipped (units shipped)."""
    orders = SalesOrder.objects.filter(
        Q(updated_at__gt=since)
        | Q(pk__in=OrderLine.objects.filter(updated_at__gt=since).values("order_id")),
        shipped_at__isnull=False,
    )
    return _days(orders.values_list("shipped_at", flat=True))


def stale_days(*, since: datetime, before: date) -> set[date]:
    """The days before `before` whose stored figures rows changed since `since` may have
    changed; five queries and one pass over the changed cases' history."""
    days = _case_days(since) | _line_days(since) | _refund_days(since) | _order_days(since)
    return {day for day in days if day < before}
