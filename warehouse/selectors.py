"""Reads of warehouse work for screens and for the apps above (returns, finance via
returns.refunds). Each selector owns its joins, so its query count does not grow with rows."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone

from .models import Disposition, PutawayTask, QuarantineRecord, Receipt, ReturnUnit


@dataclass(frozen=True)
class UnitOutcome:
    """What the warehouse found and decided for one unit of a case (interface I3)."""

    return_line_id: int | None
    product_id: int | None
    serial: str
    lot: str
    matched: bool
    grade: str
    disposition: str
    inspected_by_id: int | None
    received_by_id: int | None
    expected_recovery: Decimal | None


def _units_with_decisions() -> QuerySet[ReturnUnit]:
    return (
        ReturnUnit.objects.select_related(
            "product", "product__category", "inspection", "location", "receipt__warehouse"
        )
        .prefetch_related(
            Prefetch(
                "dispositions",
                queryset=Disposition.objects.order_by("-decided_at", "-id"),
                to_attr="decisions",
            )
        )
        .order_by("receipt_id", "id")
    )


def unit_current_disposition(unit: ReturnUnit) -> Disposition | None:
    """The latest decision of a unit fetched by one of these selectors."""
    decisions = getattr(unit, "decisions", None)
    if decisions is None:
        decisions = list(unit.dispositions.order_by("-decided_at", "-id")[:1])
    return decisions[0] if decisions else None


def case_unit_outcomes(*, case_id: int) -> list[UnitOutcome]:
    """Every unit received for the case, in receipt order. Three queries."""
    outcomes = []
    for unit in _units_with_decisions().filter(case_id=case_id):
        inspection = getattr(unit, "inspection", None)
        decision = unit_current_disposition(unit)
        outcomes.append(
            UnitOutcome(
                return_line_id=unit.return_line_id,
                product_id=unit.product_id,
                serial=unit.serial,
                lot=unit.lot,
                matched=unit.is_matched,
                grade=inspection.grade if inspection else "",
                disposition=decision.outcome if decision else "",
                inspected_by_id=inspection.inspector_id if inspection else None,
                received_by_id=unit.received_by_id,
                expected_recovery=decision.expected_recovery if decision else None,
            )
        )
    return outcomes


def case_units(*, case_id: int) -> list[ReturnUnit]:
    """The case's units with product, inspection, location and decisions (`unit.decisions`,
    newest first). Three queries."""
    return list(_units_with_decisions().filter(case_id=case_id))


def receipt_get(*, pk: int) -> Receipt:
    """A receipt as its page shows it, the page a receive lands on: when, by whom, at which
    warehouse, with its case's RMA number as `receipt.rma_number` and its units as
    `receipt.unit_list`, each with its product and location. Only the columns that page
    reads (not the units' decisions or inspections: a parcel just received has none to
    show, and its page links each unit to them). Two queries."""
    receipt = (
        Receipt.objects.select_related("warehouse", "received_by")
        .only(
            "received_at",
            "packaging_ok",
            "warnings",
            "warehouse__name",
            "received_by__username",
        )
        .annotate(rma_number=F("case__rma_number"))
        .get(pk=pk)
    )
    receipt.unit_list = list(
        ReturnUnit.objects.filter(receipt_id=pk)
        .select_related("product", "location")
        .only(
            "state",
            "scanned_code",
            "serial",
            "lot",
            "match",
            "mismatch_kinds",
            "stock_state",
            "product__name",
            "product__sku",
            "location__code",
        )
        .order_by("id")
    )
    return receipt


def unit_get(*, pk: int) -> ReturnUnit:
    """One unit with what the bench shows around it. Three queries."""
    return _units_with_decisions().get(pk=pk)


def unit_get_for_inspection(*, pk: int) -> ReturnUnit:
    """One unit with what its inspection form needs (the checklist goes by its category),
    without its decisions: an inspected unit has none yet. One query."""
    return ReturnUnit.objects.select_related(
        "product", "product__category", "inspection", "location", "receipt__warehouse"
    ).get(pk=pk)


@dataclass(frozen=True)
class QuarantineRow:
    record: QuarantineRecord
    age_days: int

    @property
    def unit(self) -> ReturnUnit:
        return self.record.unit


def quarantine_list(*, warehouse_id: int | None = None, now: datetime | None = None):
    """Units held in quarantine, oldest first, with their age in days. One query."""
    now = now or timezone.now()
    records = (
        QuarantineRecord.objects.filter(state=QuarantineRecord.State.HELD)
        .select_related(
            "unit__product",
            "unit__receipt__warehouse",
            "unit__location",
            "quarantined_by",
        )
        .order_by("quarantined_at", "id")
    )
    if warehouse_id is not None:
        records = records.filter(unit__receipt__warehouse_id=warehouse_id)
    return [QuarantineRow(record=r, age_days=(now - r.quarantined_at).days) for r in records]


def putaway_task_list(
    *, warehouse_id: int | None = None, state: str = PutawayTask.State.OPEN
) -> QuerySet[PutawayTask]:
    """Put-away tasks, oldest first, with unit, product, destination and decision. One query."""
    tasks = (
        PutawayTask.objects.filter(state=state)
        .select_related("unit__product", "to_location__warehouse", "disposition")
        .order_by("created_at", "id")
    )
    if warehouse_id is not None:
        tasks = tasks.filter(to_location__warehouse_id=warehouse_id)
    return tasks
