"""Cycle counts, counting side: opening a count (plans: count_plans.py), the blind
count on the tablet, and submission, which fixes each line's system quantity as of its
location's snapshot time and asks for recounts beyond tolerance.

The counter never sees a system quantity: nothing here returns one before submission, and the
screens the counter uses read only what was counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Value
from django.db.models.functions import Abs
from django.utils import timezone

from erp.models import Location, Product
from inventory.models import InventoryUnit

from ..count_selectors import (
    system_quantities,
    system_serials,
)
from ..models import (
    CountEntry,
    CountLine,
    CountLocation,
    CountPlan,
    CountState,
    CycleCount,
    LineStatus,
    SerialOutcome,
)
from ._support import require_perm, save

COUNT_PERMISSION = "warehouse.count_stock"
# Locations whose stock has left (disposed, returned to the vendor) hold nothing to count.
UNCOUNTABLE_KINDS = frozenset({Location.Kind.DISPOSAL})


@transaction.atomic
def count_start(
    *,
    warehouse_id: int,
    location_ids: Sequence[int],
    actor: AbstractBaseUser | None,
    product_ids: Sequence[int] = (),
    assignee_id: int | None = None,
    plan: CountPlan | None = None,
    tolerance_units: int | None = None,
    tolerance_percent: Decimal | None = None,
    approval_limit: Decimal | None = None,
) -> CycleCount:
    """Open a count of these locations (of these SKUs only, when given).

    Effects: a person needs `warehouse.count_stock` (the scheduler passes no actor); refuses
    an empty list, a location of another warehouse, an inactive or disposal location; creates
    the count (state open) and one CountLocation per location, with a history row. Tolerance
    and approval limit come from the plan; without one, from the arguments, else the
    settings' CYCLE_COUNT_TOLERANCE_UNITS / _PERCENT and the model's default limit.
    """
    if actor is not None:
        require_perm(actor, COUNT_PERMISSION, "start a count")
    ids = sorted(set(location_ids))
    if not ids:
        raise ValidationError("Name at least one location to count.", code="no_locations")
    locations = list(Location.objects.filter(pk__in=ids, warehouse_id=warehouse_id))
    if len(locations) != len(ids):
        raise ValidationError("Every location must belong to this warehouse.", "wrong_warehouse")
    for location in locations:
        if not location.is_active or location.kind in UNCOUNTABLE_KINDS:
            raise ValidationError(f"{location.code} cannot be counted.", code="uncountable")
    count = CycleCount(
        plan=plan,
        warehouse_id=warehouse_id,
        assignee_id=assignee_id,
        created_by=actor,
        product_filter=sorted(set(product_ids)),
    )
    if plan is not None:
        count.tolerance_units = plan.tolerance_units
        count.tolerance_percent = plan.tolerance_percent
        count.approval_limit = plan.approval_limit
    else:
        count.tolerance_units = (
            settings.CYCLE_COUNT_TOLERANCE_UNITS if tolerance_units is None else tolerance_units
        )
        count.tolerance_percent = Decimal(
            settings.CYCLE_COUNT_TOLERANCE_PERCENT
            if tolerance_percent is None
            else tolerance_percent
        )
        if approval_limit is not None:
            count.approval_limit = approval_limit
    save(count, actor=actor, why="Count opened" + (f" from plan {plan.name}" if plan else ""))
    CountLocation.objects.bulk_create(
        [CountLocation(count=count, location=location) for location in locations]
    )
    return count


def _count_for_counter(count_id: int, actor: AbstractBaseUser) -> CycleCount:
    require_perm(actor, COUNT_PERMISSION, "count stock")
    count = CycleCount.objects.select_for_update().filter(pk=count_id).first()
    if count is None:
        raise ValidationError("No such count.", code="unknown_count")
    if count.state != CountState.OPEN:
        raise ValidationError("This count is not open for counting.", code="count_not_open")
    if count.assignee_id not in (None, actor.pk):
        raise PermissionDenied("This count is assigned to someone else.")
    return count


@transaction.atomic
def count_location_open(*, count_id: int, code: str, actor: AbstractBaseUser) -> CountLocation:
    """The counter scans a location to count it.

    Effects: refuses a location the count does not include; the first scan fixes the
    location's snapshot time (the system quantity is the ledger's at that moment, so
    movements afterwards do not disturb the count); scanning it again changes nothing.
    """
    count = _count_for_counter(count_id, actor)
    code = (code or "").strip()
    place = (
        CountLocation.objects.select_for_update()
        .select_related("location")
        .filter(count=count, location__code__iexact=code)
        .first()
    )
    if place is None:
        raise ValidationError(f"{code or 'That'} is not a location of this count.", "not_in_count")
    if place.snapshot_at is None:
        place.snapshot_at = timezone.now()
        place.save(update_fields=["snapshot_at"])
    return place


@transaction.atomic
def count_entry_submit(
    *,
    count_location_id: int,
    product_id: int,
    qty: int,
    client_token: str,
    actor: AbstractBaseUser,
    lot: str = "",
    serial: str = "",
) -> CountEntry:
    """Record what the counter found: `qty` more of a SKU (lot), or one serial.

    Effects: the same client token returns the entry it recorded and adds nothing (a double
    tap or a resend from the tablet); refuses a location not yet scanned, a SKU outside the
    count's SKUs, a serial-tracked SKU without its serial (or a quantity other than 1), a lot
    on a SKU without lots and a missing lot on one with; otherwise adds `qty` to the line of
    (location, SKU, lot, serial) in the current round (created when new; a serial counted
    twice stays 1).
    """
    replay = CountEntry.objects.filter(client_token=client_token).first()
    if replay is not None:
        return replay
    if not client_token or len(client_token) > 64:
        raise ValidationError("A client token of 1 to 64 characters is required.", "bad_token")
    place = CountLocation.objects.filter(pk=count_location_id).first()
    if place is None:
        raise ValidationError("No such count location.", code="unknown_location")
    count = _count_for_counter(place.count_id, actor)
    if place.snapshot_at is None:
        raise ValidationError("Scan the location before counting in it.", "location_not_open")
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1 or qty > 100_000:
        raise ValidationError({"qty": "Count a whole number from 1 to 100,000."})
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise ValidationError("Unknown SKU.", code="unknown_sku")
    if count.product_filter and product.pk not in count.product_filter:
        raise ValidationError(f"{product.sku} is not part of this count.", "not_in_count")
    lot, serial = (lot or "").strip(), (serial or "").strip()
    if product.tracking == Product.Tracking.SERIAL:
        if not serial or qty != 1:
            raise ValidationError(f"{product.sku} is counted by serial: scan each unit.", "serial")
        if not lot:
            lot = (
                InventoryUnit.objects.filter(product=product, serial=serial)
                .values_list("lot", flat=True)
                .first()
                or ""
            )
    elif serial:
        raise ValidationError(f"{product.sku} has no serials: count its quantity.", "no_serial")
    if product.tracking == Product.Tracking.LOT and not lot:
        raise ValidationError({"lot": f"{product.sku} is counted by lot: give the lot."})
    if product.tracking == Product.Tracking.NONE and lot:
        raise ValidationError({"lot": f"{product.sku} has no lots."})
    line, _ = CountLine.objects.get_or_create(
        count_location=place,
        product=product,
        lot=lot,
        serial=serial,
        defaults={"count": count, "counted_qty": 0},
    )
    line = CountLine.objects.select_for_update().get(pk=line.pk)
    if line.status not in (LineStatus.COUNTED, LineStatus.RECOUNT):
        raise ValidationError(f"{product.sku} here is already approved.", code="line_closed")
    counted = (line.counted_qty or 0) + qty
    CountLine.objects.filter(pk=line.pk).update(
        counted_qty=1 if serial else counted, status=LineStatus.COUNTED
    )
    try:
        with transaction.atomic():
            return CountEntry.objects.create(
                line=line, client_token=client_token, qty=qty, round=line.round, counted_by=actor
            )
    except IntegrityError:
        # The same token posted concurrently: that entry stands; ours rolls back with us.
        raise ValidationError("This entry was just recorded.", code="duplicate") from None


@transaction.atomic
def count_location_finish(*, count_location_id: int, actor: AbstractBaseUser) -> CountLocation:
    """Effects: marks a scanned location as counted (it can be reopened by counting more)."""
    place = CountLocation.objects.select_for_update().get(pk=count_location_id)
    _count_for_counter(place.count_id, actor)
    if place.snapshot_at is None:
        raise ValidationError("Scan the location before finishing it.", "location_not_open")
    place.done_at = timezone.now()
    place.save(update_fields=["done_at"])
    return place


@transaction.atomic
def count_submit(*, count_id: int, actor: AbstractBaseUser) -> CycleCount:
    """The counter hands the count in.

    Effects: refuses while a location is unscanned or a recount line is uncounted. Fixes each
    line's system quantity as of its location's snapshot time (movements since then are
    taken out of today's balance), adds a zero-counted line for stock the system had there
    and nobody counted (for serials: `missing`; a scanned serial the system did not have there
    is `unexpected`), and stores each line's standard cost. Lines of the first round that
    differ by more than the tolerance go back for a recount and the count stays open; else
    the count moves to review and is recorded as a reconciliation snapshot. Beyond tolerance
    means off by more than the count's units and by more than its percent of the system
    quantity.
    """
    from .count_posting import count_snapshot_record

    count = _count_for_counter(count_id, actor)
    places = list(CountLocation.objects.filter(count=count).select_related("location"))
    unscanned = [p.location.code for p in places if p.snapshot_at is None]
    if unscanned:
        raise ValidationError(f"Scan and count {', '.join(unscanned)} first.", "unscanned")
    waiting = CountLine.objects.filter(
        count=count, status=LineStatus.RECOUNT, counted_qty__isnull=True
    ).count()
    if waiting:
        raise ValidationError(f"{waiting} line(s) wait for a recount.", code="recount_pending")
    _lines_fix_system(count, places)
    # Off by more than both tolerances; percent compared as 100 x off by > percent x system.
    over = (
        CountLine.objects.filter(count=count, status=LineStatus.COUNTED, round=1)
        .annotate(off_by=Abs(F("counted_qty") - F("system_qty")))
        .filter(off_by__gt=count.tolerance_units)
        .alias(off_by_100=F("off_by") * 100)
        .filter(
            off_by_100__gt=ExpressionWrapper(
                F("system_qty") * Value(count.tolerance_percent), output_field=DecimalField()
            )
        )
    )
    recount_ids = list(over.values_list("pk", flat=True))
    if recount_ids:
        CountLine.objects.filter(pk__in=recount_ids).update(
            status=LineStatus.RECOUNT,
            counted_qty=None,
            round=F("round") + 1,
            recount_reason="Differs beyond tolerance: count it again.",
        )
        CountLocation.objects.filter(count=count, lines__pk__in=recount_ids).update(done_at=None)
        save(count, actor=actor, why=f"{len(recount_ids)} line(s) sent for recount")
        return count
    count.submit()
    save(count, actor=actor, why="Count submitted for review")
    count_snapshot_record(count=count, actor=actor)
    return count


def _lines_fix_system(count: CycleCount, places: list[CountLocation]) -> None:
    """System quantities, zero-counted lines and serial outcomes for the lines under review."""
    open_lines = {
        (line.count_location_id, line.product_id, line.lot, line.serial): line
        for line in CountLine.objects.filter(count=count, status=LineStatus.COUNTED)
    }
    closed = set(
        CountLine.objects.filter(count=count)
        .exclude(status=LineStatus.COUNTED)
        .values_list("count_location_id", "product_id", "lot", "serial")
    )
    products = count.product_filter or None
    quantities = system_quantities(places=places, product_ids=products)
    serials = system_serials(places=places, product_ids=products)
    new_lines: list[CountLine] = []
    for key, qty in quantities.items():
        if qty > 0 and key not in open_lines and key not in closed:
            new_lines.append(_zero_line(count, key))
    for key in serials:
        if key not in open_lines and key not in closed:
            new_lines.append(_zero_line(count, key))
    CountLine.objects.bulk_create(new_lines, batch_size=2000)
    lines = [*open_lines.values(), *new_lines]
    costs = dict(
        Product.objects.filter(pk__in={line.product_id for line in lines}).values_list(
            "pk", "unit_cost"
        )
    )
    for line in lines:
        key = (line.count_location_id, line.product_id, line.lot, line.serial)
        line.unit_cost = costs[line.product_id]
        if line.serial:
            line.system_qty = 1 if key in serials else 0
            line.serial_outcome = (
                SerialOutcome.MISSING
                if not line.counted_qty
                else SerialOutcome.FOUND
                if line.system_qty
                else SerialOutcome.UNEXPECTED
            )
        else:
            line.system_qty = max(quantities.get(key, 0), 0)
    _lines_write_system(lines)


def _lines_write_system(lines: list[CountLine]) -> None:
    """One UPDATE from arrays on PostgreSQL (bulk_update's CASE per row took seconds for
    5,000 lines); bulk_update elsewhere."""
    if connection.vendor != "postgresql":
        CountLine.objects.bulk_update(
            lines, ["system_qty", "unit_cost", "serial_outcome"], batch_size=2000
        )
        return
    table = connection.ops.quote_name(CountLine._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS l SET system_qty = v.qty, unit_cost = v.cost, "
            "serial_outcome = v.outcome FROM unnest(%s::bigint[], %s::int[], %s::numeric[], "
            "%s::text[]) AS v(id, qty, cost, outcome) WHERE l.id = v.id",
            [
                [line.pk for line in lines],
                [line.system_qty for line in lines],
                [line.unit_cost for line in lines],
                [line.serial_outcome for line in lines],
            ],
        )


def _zero_line(count: CycleCount, key: tuple) -> CountLine:
    place_id, product_id, lot, serial = key
    return CountLine(
        count=count,
        count_location_id=place_id,
        product_id=product_id,
        lot=lot,
        serial=serial,
        counted_qty=0,
    )
