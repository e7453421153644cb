"""Refund KPIs: how fast refunds are paid, and whether they paid what the inspection found."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from finance.amounts import ZERO, grade_deduction
from finance.models import Refund, RefundLine, RefundStage, RefundState
from returns.refunds import NOT_CUSTOMER_FAULT
from warehouse.models import Inspection

from .cases import cases_filtered
from .filters import KpiFilters
from .stats import DurationSummary, duration_summaries


def refunds_issued(filters: KpiFilters) -> QuerySet[Refund]:
    """Refunds issued in the window (issued_at in [since, until)) whose case matches the
    channel / warehouse / category filters."""
    refunds = Refund.objects.filter(
        state=RefundState.ISSUED, issued_at__gte=filters.since, issued_at__lt=filters.until
    )
    if filters.channel_id or filters.warehouse_id or filters.category_id:
        refunds = refunds.filter(case__in=cases_filtered(filters).values("pk"))
    return refunds


def refund_latency(*, filters: KpiFilters) -> DurationSummary:
    """Refund latency: median and p90 of `issued_at - proposed_at` over the refunds issued in
    the window (see `refunds_issued`), whatever their method (money, store credit, exchange).

    It is the time a refund spends in finance once the policy's trigger (authorization,
    receipt, inspection) or a person proposed it: approval, holds for open exceptions, a
    failed provider call and its retry. Rejected and withdrawn refunds are never issued and not
    counted. One query on PostgreSQL.
    """
    window = Q(issued_at__gte=filters.since, issued_at__lt=filters.until)
    spans = {"latency": ("proposed_at", "issued_at", window)}
    return duration_summaries(refunds_issued(filters), spans)["latency"]


def inspection_to_refund(*, filters: KpiFilters) -> DurationSummary:
    """The inspection-to-refund stage of the cycle time: median and p90 of
    `refund.issued_at - case.inspected_at` over the refunds issued in the window (see
    `refunds_issued`) whose case was inspected before the refund was issued. A refund paid
    before inspection (the policy refunds on authorization or receipt) has no such stage and is
    not counted; a case refunded in two parts counts each part. One query on PostgreSQL."""
    refunds = refunds_issued(filters).filter(
        case__inspected_at__isnull=False, issued_at__gte=F("case__inspected_at")
    )
    window = Q(issued_at__gte=filters.since, issued_at__lt=filters.until)
    return duration_summaries(refunds, {"stage": ("case__inspected_at", "issued_at", window)})[
        "stage"
    ]


@dataclass
class RefundAccuracy:
    issued: int = 0
    accurate: int = 0
    reversed: int = 0
    mismatched: int = 0
    unverified: int = 0
    over_refunded: Decimal = Decimal("0.00")
    under_refunded: Decimal = Decimal("0.00")

    @property
    def checked(self) -> int:
        return self.accurate + self.reversed + self.mismatched

    @property
    def rate(self) -> float | None:
        return self.accurate / self.checked if self.checked else None


def refund_accuracy(*, filters: KpiFilters) -> RefundAccuracy:
    """Refund accuracy over the refunds issued in the window (see `refunds_issued`); manual
    (goodwill) refunds are not about an inspection and are left out.

    Each refund is exactly one of:
    - reversed: its journal entry was reversed (finance took it back);
    - mismatched: not reversed, but on some line the condition deduction it took differs from
      the one the inspection calls for. The inspection calls for, per unit, the grade's
      share of the unit price (`finance.amounts.grade_deduction`) when the customer caused the
      return (the reason's group is not defect, not as described, fulfilment error or
      logistics), else nothing. A line's units are taken in the order they were received,
      each refund of the line (in the order proposed, rejected/withdrawn ones skipped) using the
      next `quantity` of them — as the workflow does;
    - unverified: not reversed, and some line has fewer inspected units than it refunds (paid
      before the parcel arrived, or a unit never came back): nothing to compare yet;
    - accurate: otherwise.
    accurate ÷ (accurate + mismatched + reversed) is the rate (unverified left out); the money
    paid over or under what the inspection called for is summed per refund line. Four queries.
    """
    refunds = list(
        refunds_issued(filters)
        .exclude(stage=RefundStage.MANUAL)
        .annotate(
            was_reversed=Exists(
                Refund.objects.filter(pk=OuterRef("pk"), journal_entry__reversed_by__isnull=False)
            )
        )
        .values_list("pk", "was_reversed")
    )
    result = RefundAccuracy(issued=len(refunds))
    if not refunds:
        return result
    refund_ids = [pk for pk, _ in refunds]
    ours = list(
        RefundLine.objects.filter(refund_id__in=refund_ids).values_list(
            "refund_id", "return_line_id", "quantity", "unit_price", "grade_deduction"
        )
    )
    line_ids = {line_id for _, line_id, *_ in ours}
    # Every unreleased, non-manual refund line of those return lines, to know which units an
    # earlier refund of the same line used.
    earlier: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for refund_id, line_id, quantity in (
        RefundLine.objects.filter(return_line_id__in=line_ids, released=False)
        .exclude(refund__stage=RefundStage.MANUAL)
        .order_by("refund_id")
        .values_list("refund_id", "return_line_id", "quantity")
    ):
        earlier[line_id].append((refund_id, quantity))
    grades: dict[int, list[str]] = defaultdict(list)
    fault: dict[int, bool] = {}
    for line_id, grade, group in (
        Inspection.objects.filter(unit__return_line_id__in=line_ids)
        .order_by("unit__received_at", "unit_id")
        .values_list("unit__return_line_id", "grade", "unit__return_line__reason__group")
    ):
        grades[line_id].append(grade)
        fault[line_id] = group not in NOT_CUSTOMER_FAULT
    verdicts: dict[int, str] = {}
    for refund_id, line_id, quantity, unit_price, deduction in ours:
        before = 0
        for other, other_quantity in earlier[line_id]:
            if other == refund_id:
                break
            before += other_quantity
        units = grades[line_id][before : before + quantity]
        if len(units) < quantity:
            verdicts.setdefault(refund_id, "unverified")
            continue
        expected = ZERO
        if fault.get(line_id, True):
            expected = sum((grade_deduction(unit_price=unit_price, grade=g) for g in units), ZERO)
        if expected != deduction:
            verdicts[refund_id] = "mismatched"
            if deduction < expected:
                result.over_refunded += expected - deduction
            else:
                result.under_refunded += deduction - expected
    for refund_id, was_reversed in refunds:
        verdict = "reversed" if was_reversed else verdicts.get(refund_id, "accurate")
        setattr(result, verdict, getattr(result, verdict) + 1)
    return result
