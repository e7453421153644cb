"""Which stored snapshot days a late change made stale, read from the rows changed since the
last refresh: a case cancelled ten days after it was requested changes that day's returned
units; a carrier scan recorded a day late moves a transit time to the day before; a refund
reversed next month changes the accuracy of the day it was issued.

Every figure of a day (reporting.snapshots, reporting.parts) is keyed by a moment of a case,
a return line's case, a refund, an order, an exception, a stock movement or a disposition, so
a change can only touch the days of the moments the changed row had before and after it.
Cases are compared with their previous history version, so closing a case today does not mark
the day it was requested.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime

from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import TruncDate

from erp.models import ExceptionCase, OrderLine, ReasonCode, SalesOrder
from finance.models import JournalEntry, RealizedRecovery, Refund, RefundLine, RefundState
from inventory.models import StockMovement, StockState
from returns.models import ReturnCase, ReturnLine
from returns.models.cases import VOID_STATES
from warehouse.models import Disposition, Inspection, ReturnUnit

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


def _utc_days(rows, field: str) -> set[date]:
    """The distinct UTC days of `field` over `rows`, counted by the database."""
    return set(
        rows.order_by()
        .annotate(day=TruncDate(field, tzinfo=UTC))
        .values_list("day", flat=True)
        .distinct()
    )


def _line_days(since: datetime) -> set[date]:
    """A return line added, changed or removed since: its case's day requested."""
    lines = ReturnLine.history.model.objects.filter(history_date__gt=since)
    cases = ReturnCase.objects.filter(pk__in=lines.values("case_id"))
    return _days(cases.values_list("requested_at", flat=True))


def _judged_lines(since: datetime) -> Q:
    """The return lines a refund's accuracy is judged on that changed since: a unit of theirs
    inspected or regraded (an inspection's history), the line itself changed (its reason), or
    its reason code changed (its group decides whether the grade's deduction applies)."""
    inspected = Inspection.history.model.objects.filter(history_date__gt=since).values("unit_id")
    reasons = ReasonCode.history.model.objects.filter(history_date__gt=since).values("id")
    return (
        Q(return_line__in=ReturnUnit.objects.filter(pk__in=inspected).values("return_line_id"))
        | Q(
            return_line__in=ReturnLine.history.model.objects.filter(history_date__gt=since).values(
                "id"
            )
        )
        | Q(return_line__reason_id__in=reasons)
    )


def _refund_days(since: datetime) -> set[date]:
    """The day issued of a refund changed since (any version of it), of one whose journal
    entry was reversed since, and of one of a return line its accuracy is judged on that
    changed since (`_judged_lines`)."""
    history = Refund.history.model
    days = _days(history.objects.filter(history_date__gt=since).values_list("issued_at", flat=True))
    reversed_entries = JournalEntry.objects.filter(
        posted_at__gt=since, reverses__isnull=False
    ).values("reverses_id")
    refunds = Refund.objects.filter(state=RefundState.ISSUED, issued_at__isnull=False).filter(
        Q(journal_entry_id__in=reversed_entries)
        | Q(pk__in=RefundLine.objects.filter(_judged_lines(since)).values("refund_id"))
    )
    return days | _utc_days(refunds, "issued_at")


def _exception_days(since: datetime) -> set[date]:
    """An exception opened since, whenever it says it was opened (a 3PL's late disposition, an
    import): its day opened (exceptions opened)."""
    created = ExceptionCase.history.model.objects.filter(history_date__gt=since, history_type="+")
    return _days(created.values_list("opened_at", flat=True))


WAITING_STATES = (StockState.RECEIVED_PENDING_INSPECTION, StockState.QUARANTINED)


def _movement_days(since: datetime) -> set[date]:
    """A movement into or out of a state whose stays are stored (restock latency, quarantine
    stays) posted since: the day it occurred and the day of every later exit of that SKU from
    that state, which the first-in, first-out matching may now pair differently."""
    posted = StockMovement.objects.filter(posted_at__gt=since).filter(
        Q(from_state__in=WAITING_STATES) | Q(to_state__in=WAITING_STATES)
    )
    days = _utc_days(posted, "occurred_at")
    later = StockMovement.objects.filter(
        from_state__in=WAITING_STATES, product_id__in=posted.values("product_id")
    ).filter(
        Exists(
            posted.filter(
                Q(from_state=OuterRef("from_state")) | Q(to_state=OuterRef("from_state")),
                product_id=OuterRef("product_id"),
                occurred_at__lte=OuterRef("occurred_at"),
            )
        )
    )
    return days | _utc_days(later, "occurred_at")


def _disposition_days(since: datetime) -> set[date]:
    """Every disposition of a unit given one since (the one it supersedes is no longer its
    current), of one realized recovery was recorded for since, and of a unit of a return line
    changed since (its returned value): their days decided (recovery by disposition)."""
    units = Disposition.history.model.objects.filter(history_date__gt=since).values("unit_id")
    lines = ReturnLine.history.model.objects.filter(history_date__gt=since).values("id")
    recovered = RealizedRecovery.objects.filter(recorded_at__gt=since).values("disposition_id")
    dispositions = Disposition.objects.filter(
        Q(unit_id__in=units) | Q(unit__return_line_id__in=lines) | Q(pk__in=recovered)
    )
    return _utc_days(dispositions, "decided_at")


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
    changed; nine queries and one pass over the changed cases' history."""
    days = (
        _case_days(since)
        | _line_days(since)
        | _refund_days(since)
        | _order_days(since)
        | _exception_days(since)
        | _movement_days(since)
        | _disposition_days(since)
    )
    return {day for day in days if day < before}
