"""Reads of cycle counts: what the counter may see (never a system quantity), what the
reviewer sees (variances and the movements since each location's snapshot), and the ledger
reads that fix a count's system quantities as of a snapshot time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum

from erp.models import Location, Product
from inventory.models import CauseType, InventoryUnit, StockBalance, StockMovement
from inventory.reconciliation.buckets import PHYSICAL_STATES

from .models import CountLine, CountLocation, CountState, CycleCount, LineStatus
from .scan import ScanKind, scan_parse

PHYSICAL = sorted(PHYSICAL_STATES)
QUANTITY_TRACKING = (Product.Tracking.NONE, Product.Tracking.LOT)
RETURN_CAUSES = (
    CauseType.RETURN_CASE,
    CauseType.RECEIPT,
    CauseType.INSPECTION,
    CauseType.DISPOSITION,
)
# Fields of a line the counter's screens and API may read: no system quantity, no variance.
COUNTER_LINE_FIELDS = (
    "pk",
    "product__sku",
    "product__name",
    "lot",
    "serial",
    "counted_qty",
    "status",
    "round",
)


# --- The ledger as of a snapshot time ---------------------------------------------------------


def system_quantities(
    *, places: Sequence[CountLocation], product_ids: Iterable[int] | None
) -> dict[tuple, int]:
    """{(count location id, product id, lot, ""): physical quantity at the location's
    snapshot time} for quantity-tracked SKUs: today's balance less the movements since."""
    result: dict[tuple, int] = defaultdict(int)
    for place in places:
        scope = Q(product__tracking__in=QUANTITY_TRACKING)
        if product_ids is not None:
            scope &= Q(product_id__in=list(product_ids))
        balances = (
            StockBalance.objects.filter(scope, location_id=place.location_id, state__in=PHYSICAL)
            .values_list("product_id", "lot")
            .annotate(total=Sum("qty"))
            .order_by()
        )
        for product_id, lot, total in balances:
            result[(place.pk, product_id, lot, "")] += int(total)
        after = Q(occurred_at__gt=place.snapshot_at)
        arrived = (
            StockMovement.objects.filter(
                scope, after, to_location_id=place.location_id, to_state__in=PHYSICAL
            )
            .values_list("product_id", "lot")
            .annotate(total=Sum("qty"))
            .order_by()
        )
        for product_id, lot, total in arrived:
            result[(place.pk, product_id, lot, "")] -= int(total)
        left = (
            StockMovement.objects.filter(
                scope, after, from_location_id=place.location_id, from_state__in=PHYSICAL
            )
            .values_list("product_id", "lot")
            .annotate(total=Sum("qty"))
            .order_by()
        )
        for product_id, lot, total in left:
            result[(place.pk, product_id, lot, "")] += int(total)
    return dict(result)


def system_serials(
    *, places: Sequence[CountLocation], product_ids: Iterable[int] | None
) -> set[tuple]:
    """{(count location id, product id, lot, serial)} of the units physically at each location
    at its snapshot time: where a unit's first movement after the snapshot came from, or where
    it is now if it has not moved since."""
    found: set[tuple] = set()
    for place in places:
        scope = Q(product__tracking=Product.Tracking.SERIAL)
        if product_ids is not None:
            scope &= Q(product_id__in=list(product_ids))
        here_now = set(
            InventoryUnit.objects.filter(
                scope, location_id=place.location_id, state__in=PHYSICAL
            ).values_list("pk", flat=True)
        )
        touched = set(
            StockMovement.objects.filter(
                scope, occurred_at__gt=place.snapshot_at, unit__isnull=False
            )
            .filter(Q(to_location_id=place.location_id) | Q(from_location_id=place.location_id))
            .values_list("unit_id", flat=True)
        )
        first_after: dict[int, tuple] = {}
        for unit_id, from_location_id, from_state in (
            StockMovement.objects.filter(unit_id__in=touched, occurred_at__gt=place.snapshot_at)
            .order_by("unit_id", "occurred_at", "id")
            .values_list("unit_id", "from_location_id", "from_state")
        ):
            first_after.setdefault(unit_id, (from_location_id, from_state))
        units = InventoryUnit.objects.filter(pk__in=here_now | touched).values_list(
            "pk", "product_id", "lot", "serial"
        )
        for unit_id, product_id, lot, serial in units:
            if unit_id in first_after:
                location_id, state = first_after[unit_id]
                there = location_id == place.location_id and state in PHYSICAL_STATES
            else:
                there = unit_id in here_now
            if there:
                found.add((place.pk, product_id, lot, serial))
    return found


def warehouse_on_hand_at(
    *, warehouse_id: int, product_ids: Sequence[int], at: datetime
) -> dict[int, int]:
    """{product id: physical on hand in the warehouse at `at`} (today's less what moved since)."""
    in_warehouse = Location.objects.filter(warehouse_id=warehouse_id).values("pk")
    totals: dict[int, int] = defaultdict(int)
    for product_id, total in (
        StockBalance.objects.filter(
            product_id__in=product_ids, location__in=in_warehouse, state__in=PHYSICAL
        )
        .values_list("product_id")
        .annotate(total=Sum("qty"))
        .order_by()
    ):
        totals[product_id] += int(total)
    moved = StockMovement.objects.filter(product_id__in=product_ids, occurred_at__gt=at)
    for product_id, total in (
        moved.filter(to_location__in=in_warehouse, to_state__in=PHYSICAL)
        .values_list("product_id")
        .annotate(total=Sum("qty"))
        .order_by()
    ):
        totals[product_id] -= int(total)
    for product_id, total in (
        moved.filter(from_location__in=in_warehouse, from_state__in=PHYSICAL)
        .values_list("product_id")
        .annotate(total=Sum("qty"))
        .order_by()
    ):
        totals[product_id] += int(total)
    return dict(totals)


# --- What plans count ------------------------------------------------------------------------


def abc_product_ids(*, warehouse_id: int, abc_class: str) -> list[int]:
    """The SKUs of one ABC class in a warehouse, by stock value at standard cost: A holds the
    top 80% of the value, B the next 15%, C the rest."""
    values = []
    for product_id, qty, cost in (
        StockBalance.objects.filter(
            location__warehouse_id=warehouse_id, state__in=PHYSICAL, qty__gt=0
        )
        .values_list("product_id", "product__unit_cost")
        .annotate(total=Sum("qty"))
        .values_list("product_id", "total", "product__unit_cost")
        .order_by()
    ):
        values.append((Decimal(qty) * cost, product_id))
    values.sort(key=lambda pair: (-pair[0], pair[1]))
    grand = sum((value for value, _ in values), Decimal(0)) or Decimal(1)
    classes: dict[str, list[int]] = {"A": [], "B": [], "C": []}
    running = Decimal(0)
    for value, product_id in values:
        share_before = running / grand
        running += value
        klass = (
            "A"
            if share_before < Decimal("0.80")
            else "B"
            if share_before < Decimal("0.95")
            else "C"
        )
        classes[klass].append(product_id)
    return classes.get(abc_class, [])


def locations_touched_by_returns(
    *, warehouse_id: int, since: datetime | None, until: datetime
) -> list[int]:
    """The warehouse's locations a return movement (receipt, inspection, disposition) went
    into or out of since `since` (ever, when None)."""
    moved = StockMovement.objects.filter(cause_type__in=RETURN_CAUSES, occurred_at__lte=until)
    if since is not None:
        moved = moved.filter(occurred_at__gt=since)
    ids = set(moved.values_list("to_location_id", flat=True).distinct()) | set(
        moved.values_list("from_location_id", flat=True).distinct()
    )
    return sorted(
        Location.objects.filter(pk__in=ids - {None}, warehouse_id=warehouse_id, is_active=True)
        .exclude(kind=Location.Kind.DISPOSAL)
        .values_list("pk", flat=True)
    )


# --- Screens ----------------------------------------------------------------------------------


def count_list(*, warehouse_id: int | None = None, states: Sequence[str] = ()) -> list[CycleCount]:
    counts = CycleCount.objects.select_related("warehouse", "assignee", "plan").annotate(
        location_count=Count("locations", distinct=True)
    )
    if warehouse_id is not None:
        counts = counts.filter(warehouse_id=warehouse_id)
    if states:
        counts = counts.filter(state__in=states)
    return list(counts[:100])


def count_get(*, count_id: int) -> CycleCount | None:
    return (
        CycleCount.objects.select_related("warehouse", "assignee", "plan")
        .filter(pk=count_id)
        .first()
    )


def counter_locations(*, count: CycleCount) -> list[dict]:
    """The count's locations as the counter sees them: code, whether scanned and finished, how
    many lines were counted and how many wait for a recount."""
    return list(
        CountLocation.objects.filter(count=count)
        .order_by("location__code")
        .values("pk", "location__code", "location__name", "snapshot_at", "done_at")
        .annotate(
            counted=Count("lines", filter=Q(lines__counted_qty__isnull=False)),
            recounts=Count("lines", filter=Q(lines__status=LineStatus.RECOUNT)),
        )
    )


def counter_lines(*, count_location_id: int) -> list[dict]:
    """What the counter has counted at one location (and the lines to recount), blind: only
    COUNTER_LINE_FIELDS, never the system quantity."""
    return list(
        CountLine.objects.filter(count_location_id=count_location_id)
        .exclude(counted_qty=0, status=LineStatus.COUNTED)
        .order_by("product__sku", "lot", "serial")
        .values(*COUNTER_LINE_FIELDS)
    )


@dataclass
class ReviewLine:
    line: CountLine
    moved_since: int


def review_lines(*, count: CycleCount) -> list[ReviewLine]:
    """The lines in review with their variance (units, value) and the net quantity that moved
    in or out of their location since its snapshot (three queries, whatever the size)."""
    lines = list(
        CountLine.objects.filter(count=count)
        .exclude(status=LineStatus.POSTED)
        .select_related("product", "count_location__location")
        .order_by("count_location__location__code", "product__sku", "lot", "serial")
    )
    moved: dict[tuple, int] = defaultdict(int)
    places = {line.count_location_id: line.count_location for line in lines}
    for place in places.values():
        after = StockMovement.objects.filter(
            occurred_at__gt=place.snapshot_at or count.created_at
        ).exclude(cause_type=CauseType.COUNT, cause_id=str(count.pk))
        for product_id, lot, total in (
            after.filter(to_location_id=place.location_id)
            .values_list("product_id", "lot")
            .annotate(total=Sum("qty"))
            .order_by()
        ):
            moved[(place.pk, product_id, lot)] += int(total)
        for product_id, lot, total in (
            after.filter(from_location_id=place.location_id)
            .values_list("product_id", "lot")
            .annotate(total=Sum("qty"))
            .order_by()
        ):
            moved[(place.pk, product_id, lot)] -= int(total)
    return [
        ReviewLine(line, moved.get((line.count_location_id, line.product_id, line.lot), 0))
        for line in lines
    ]


def held_lines(*, count: CycleCount) -> list[dict]:
    """The approved lines the ledger could not take (a serial it says was disposed of or is
    in transit back), each with a serial_mismatch exception to follow up."""
    return list(
        CountLine.objects.filter(count=count, status=LineStatus.HELD)
        .order_by("count_location__location__code", "product__sku", "serial")
        .values("pk", "product__sku", "serial", "count_location__location__code")
    )


def count_reviewable(*, count: CycleCount) -> bool:
    return count.state == CountState.REVIEW


def count_scan_resolve(code: str) -> tuple[Product, str, str]:
    """(product, lot, serial) a scanned or typed code names: our SKU, a GTIN (with a GS1 lot
    or serial) or the serial of one of our units. ValidationError when it names nothing."""
    text = (code or "").strip()
    if not text:
        raise ValidationError("Nothing was scanned.", code="empty_scan")
    product = Product.objects.filter(sku__iexact=text).first()
    if product is not None:
        return product, "", ""
    try:
        scan = scan_parse(text)
    except ValidationError:
        scan = None
    if scan is not None and scan.kind in (ScanKind.GTIN, ScanKind.GS1) and scan.gtin:
        product = Product.objects.filter(gtin=scan.gtin).first()
        if product is not None:
            return product, scan.lot, scan.serial
    units = list(InventoryUnit.objects.filter(serial=text).select_related("product")[:2])
    if len(units) == 1:
        return units[0].product, units[0].lot, units[0].serial
    raise ValidationError(f"{text} is not a SKU, GTIN or serial we know.", code="unknown_code")
