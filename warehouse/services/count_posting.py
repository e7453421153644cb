"""Cycle counts, review side: maker-checker approval within value limits, lines sent back for
recount, and posting approved variances to the ledger with the count as cause.

Posting is set-based: the lines are read as plain values, and every quantity line of the count
goes to `inventory.stock_post_batch` in one call (COPY, balances locked once); only serial
lines and gains into states a batch may not create (quarantine, refurbishment, …) go through
`stock_adjust` / `unit_transition` one by one. The journal entries are inventory's: every
movement caused by a count is valued by `finance.valuation` (Inventory / Inventory
adjustments) in the same transaction, so nothing here posts to the journal. Movements are
dated no later than the count's snapshot time (the batch at it, single lines at their
location's), so a reconciliation against the count's snapshot sees them as already booked.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from erp.models import Location, Product
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.services.exceptions import exception_open
from inventory.models import CauseType, InventoryUnit, StockBalance, StockMovement, StockState
from inventory.models.states import OUTSIDE, RECEIVABLE_STATES, kinds_refusing
from inventory.reconciliation.buckets import PHYSICAL_STATES
from inventory.services import BatchLine, stock_adjust, stock_post_batch, unit_transition

from ..count_selectors import warehouse_on_hand_at
from ..models import (
    CountApproval,
    CountEntry,
    CountLine,
    CountLocation,
    CountState,
    CycleCount,
    LineStatus,
)
from ._support import require_perm, save

S = StockState
PENDING = S.RECEIVED_PENDING_INSPECTION
APPROVE_PERMISSION = "warehouse.approve_count"
OVER_LIMIT_PERMISSION = "warehouse.approve_count_over_limit"
# The state a gain found at a location of this kind is booked in.
KIND_STATE = {
    Location.Kind.RECEIVING: S.RECEIVED_PENDING_INSPECTION,
    Location.Kind.INSPECTION: S.RECEIVED_PENDING_INSPECTION,
    Location.Kind.QUARANTINE: S.QUARANTINED,
    Location.Kind.STOCK: S.AVAILABLE,
    Location.Kind.REFURBISHMENT: S.REFURBISH,
    Location.Kind.VENDOR_RETURN: S.AWAITING_VENDOR_RETURN,
    Location.Kind.LIQUIDATION: S.LIQUIDATION,
}
# A loss is taken from the location's own state first, then these; reserved stock is promised
# to an order and never written off by a count.
LOSS_ORDER = [
    S.AVAILABLE,
    S.RECEIVED_PENDING_INSPECTION,
    S.QUARANTINED,
    S.REFURBISH,
    S.AWAITING_VENDOR_RETURN,
    S.LIQUIDATION,
    S.DAMAGED,
]


class _Line(NamedTuple):
    """An approved or rejected line as posting reads it (plain values: a count of 20,000 lines
    built as model instances with their location and product cost more than posting them)."""

    pk: int
    product_id: int
    lot: str
    serial: str
    variance: int
    unit_cost: Decimal | None
    round: int
    location_id: int
    location_code: str
    location_kind: str
    snapshot_at: datetime

    @property
    def variance_value(self) -> Decimal:
        return self.variance * (self.unit_cost or 0)


def _lines_in_review(count: CycleCount) -> list[_Line]:
    """The count's lines in review, oldest first: two narrow queries, the lines without
    joins and their (few) locations apart."""
    places = {
        pk: rest
        for pk, *rest in CountLocation.objects.filter(count=count).values_list(
            "pk", "location_id", "location__code", "location__kind", "snapshot_at"
        )
    }
    rows = (
        CountLine.objects.filter(count=count, status=LineStatus.COUNTED)
        .order_by("pk")
        .values_list(
            "pk",
            "product_id",
            "lot",
            "serial",
            "counted_qty",
            "system_qty",
            "unit_cost",
            "round",
            "count_location_id",
        )
    )
    return [
        _Line(pk, product_id, lot, serial, counted - system, cost, round_, *places[place_id])
        for pk, product_id, lot, serial, counted, system, cost, round_, place_id in rows
    ]


@transaction.atomic
def count_review_decide(
    *,
    count_id: int,
    actor: AbstractBaseUser,
    client_token: str,
    recount_line_ids: list[int] = (),
    note: str = "",
) -> CycleCount:
    """Approve a count in review, except the lines sent back for recount, and post it.

    Effects: the same client token returns the count and does nothing more; needs
    `warehouse.approve_count`; refuses anyone who counted in this count (maker-checker), and,
    when the approved lines' variance value (sum of |units x standard cost|) is above the
    count's approval limit, anyone without `warehouse.approve_count_over_limit` (operations
    managers); serial lines and gains into review states post through `stock_adjust`, which
    needs `inventory.adjust_stock`. Records the decision(s); lines sent back go to recount
    (round + 1, counted quantity cleared) and the count reopens; approved lines post their
    variances (movements, balances, ATS, journal) and become posted — or held, with a
    serial_mismatch exception, when the ledger cannot take them (`_post_serial`); with
    nothing sent back the count is posted. The query count does not grow with the lines.
    """
    replay = CountApproval.objects.filter(client_token=client_token).first()
    if replay is not None:
        return CycleCount.objects.get(pk=replay.count_id)
    require_perm(actor, APPROVE_PERMISSION, "approve counts")
    count = CycleCount.objects.select_for_update().filter(pk=count_id).first()
    if count is None or count.state != CountState.REVIEW:
        raise ValidationError("This count is not waiting for review.", code="not_in_review")
    if CountEntry.objects.filter(line__count=count, counted_by=actor).exists():
        raise PermissionDenied("You counted this stock: someone else must approve it.")
    lines = _lines_in_review(count)
    sent_back = set(recount_line_ids)
    if sent_back - {line.pk for line in lines}:
        raise ValidationError("Only lines in review can be sent back.", code="unknown_line")
    approved = [line for line in lines if line.pk not in sent_back]
    rejected = [line for line in lines if line.pk in sent_back]
    gross = sum((abs(line.variance_value) for line in approved), Decimal(0))
    if gross > count.approval_limit and not actor.has_perm(OVER_LIMIT_PERMISSION):
        raise PermissionDenied(
            f"Variances worth {gross} exceed this count's approval limit of "
            f"{count.approval_limit}: an operations manager must approve."
        )
    needs_adjust = any(line.variance and (line.serial or _single_path(line)) for line in approved)
    if needs_adjust and not actor.has_perm("inventory.adjust_stock"):
        raise PermissionDenied(
            "Serial and review-area variances are adjusted unit by unit: an operations "
            "manager must approve this count."
        )
    now = timezone.now()
    decisions = []
    # An empty count (nothing on the books, nothing found) is approved too, on the record.
    if approved or not rejected:
        held = _post(count, approved, actor=actor)
        posted_ids = [line.pk for line in approved if line.pk not in held]
        _lines_set_status(posted_ids, LineStatus.POSTED)
        _lines_set_status(sorted(held), LineStatus.HELD)
        decisions.append(
            _decision(count, CountApproval.Decision.APPROVED, approved, actor, now, note)
        )
    if rejected:
        CountLine.objects.filter(pk__in=[line.pk for line in rejected]).update(
            status=LineStatus.RECOUNT,
            counted_qty=None,
            round=max(line.round for line in rejected) + 1,
            recount_reason=(note or "Sent back by the reviewer.")[:200],
        )
        decisions.append(
            _decision(count, CountApproval.Decision.REJECTED, rejected, actor, now, note)
        )
    # The first decision carries the client token (a replay finds it); a second its variant.
    decisions[0].client_token = client_token
    if len(decisions) > 1:
        decisions[1].client_token = f"{client_token}:recount"
    CountApproval.objects.bulk_create(decisions)
    if rejected:
        count.reopen()
        save(count, actor=actor, why=f"{len(rejected)} line(s) sent back for recount")
    else:
        count.post()
        count.posted_by = actor
        save(count, actor=actor, why=f"Approved and posted ({len(approved)} line(s))")
    return count


def _decision(
    count: CycleCount,
    decision: str,
    lines: list[_Line],
    actor: AbstractBaseUser,
    now: datetime,
    note: str,
) -> CountApproval:
    return CountApproval(
        count=count,
        decision=decision,
        lines=len(lines),
        net_value=sum((line.variance_value for line in lines), Decimal(0)),
        abs_value=sum((abs(line.variance_value) for line in lines), Decimal(0)),
        decided_by=actor,
        decided_at=now,
        note=note[:200],
    )


def _lines_set_status(ids: list[int], status: str) -> None:
    """One UPDATE from an array on PostgreSQL (an IN list of 20,000 ids costs more to plan
    than to run); a plain IN elsewhere."""
    if not ids:
        return
    if connection.vendor != "postgresql":
        CountLine.objects.filter(pk__in=ids).update(status=status)
        return
    table = connection.ops.quote_name(CountLine._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s WHERE id = ANY(%s::bigint[])", [status, ids]
        )


def _single_path(line: _Line) -> bool:
    """A gain into a state the batch may not create stock in (it creates what a receipt may)."""
    return line.variance > 0 and _gain_state(line) not in RECEIVABLE_STATES


def _gain_state(line: _Line) -> str:
    return KIND_STATE.get(line.location_kind, S.AVAILABLE)


def _post(count: CycleCount, lines: list[_Line], *, actor: AbstractBaseUser) -> set[int]:
    """Post the approved lines' variances: every quantity line in one batch, the rest one by
    one. Returns the ids of the lines held for investigation instead.

    The batch is dated at the count's snapshot time (its last location's scan: the
    `taken_at` of its reconciliation snapshot), one time for the whole batch; each location's
    system quantity was fixed at its own scan, so what moved since is already out of the
    variance."""
    reason = f"Cycle count {count.pk}"
    cause_id = str(count.pk)
    moving = [line for line in lines if line.variance]
    if not moving:
        return set()
    when = max(line.snapshot_at for line in moving)
    batch: list[BatchLine] = []
    held: set[int] = set()
    on_hand = _balances_by_state(
        count, [line for line in moving if not line.serial and line.variance < 0]
    )
    for line in moving:
        key = f"count:{count.pk}:line:{line.pk}:r{line.round}"
        if line.serial:
            if not _post_serial(
                line, key=key, actor=actor, reason=reason, cause_id=cause_id, count=count
            ):
                held.add(line.pk)
        elif _single_path(line):
            stock_adjust(
                product_id=line.product_id,
                location_id=line.location_id,
                state=_gain_state(line),
                qty_delta=line.variance,
                reason=reason,
                actor=actor,
                idempotency_key=key,
                lot=line.lot,
                cause_type=CauseType.COUNT,
                cause_id=cause_id,
                occurred_at=line.snapshot_at,
            )
        elif line.variance > 0:
            batch.append(
                BatchLine(
                    idempotency_key=key,
                    product_id=line.product_id,
                    qty=line.variance,
                    to_location_id=line.location_id,
                    to_state=_gain_state(line),
                    lot=line.lot,
                    cause_id=cause_id,
                )
            )
        else:
            batch.extend(_loss_lines(line, key=key, on_hand=on_hand, cause_id=cause_id))
    if batch:
        stock_post_batch(
            lines=batch, actor=actor, cause_type=CauseType.COUNT, reason=reason, occurred_at=when
        )
    return held


def _balances_by_state(count: CycleCount, lines: list[_Line]) -> dict[tuple, dict[str, int]]:
    """{(product, location, lot): {state: qty}} today, for the loss lines, in one query.

    The SKUs come from a subquery of the count's lines, not a list of thousands of ids
    (Django resolves an IN list parameter by parameter)."""
    if not lines:
        return {}
    keys = {(line.product_id, line.location_id, line.lot) for line in lines}
    found: dict[tuple, dict[str, int]] = defaultdict(dict)
    for product_id, location_id, lot, state, qty in StockBalance.objects.filter(
        product_id__in=CountLine.objects.filter(count=count, status=LineStatus.COUNTED).values(
            "product_id"
        ),
        location_id__in={k[1] for k in keys},
        state__in=LOSS_ORDER,
        qty__gt=0,
    ).values_list("product_id", "location_id", "lot", "state", "qty"):
        if (product_id, location_id, lot) in keys:
            found[(product_id, location_id, lot)][state] = qty
    return found


def _loss_lines(
    line: _Line, *, key: str, on_hand: dict[tuple, dict[str, int]], cause_id: str
) -> list[BatchLine]:
    """A loss taken from the location's own state first, then the others in LOSS_ORDER."""
    states = on_hand.get((line.product_id, line.location_id, line.lot), {})
    own = _gain_state(line)
    order = [own, *(state for state in LOSS_ORDER if state != own)]
    missing, out = -line.variance, []
    for state in order:
        take = min(missing, states.get(state, 0))
        if take:
            out.append(
                BatchLine(
                    idempotency_key=key if not out else f"{key}:{state}",
                    product_id=line.product_id,
                    qty=take,
                    from_location_id=line.location_id,
                    from_state=state,
                    lot=line.lot,
                    cause_id=cause_id,
                )
            )
            states[state] -= take
            missing -= take
        if not missing:
            return out
    sku = Product.objects.filter(pk=line.product_id).values_list("sku", flat=True).get()
    raise ValidationError(
        f"{sku} at {line.location_code}: the count finds {-line.variance} fewer, but "
        f"only {-line.variance - missing} can be written off now (the rest is reserved or "
        "has moved since); recount it.",
        code="loss_exceeds_stock",
    )


def _post_serial(
    line: _Line,
    *,
    key: str,
    actor: AbstractBaseUser,
    reason: str,
    cause_id: str,
    count: CycleCount,
) -> bool:
    """Post one serial line; False when it is held for investigation instead.

    Missing: the unit leaves stock. Unexpected, by what the ledger says of the unit:
    - unknown: a new unit is added here, in the location's state;
    - in our stock elsewhere: it moves here, in its state;
    - outside (sold and shipped, or written off by an earlier count): the books were wrong
      about it leaving, so it comes back by an adjustment-in — pending inspection, the only
      way back inventory allows, and right, since it may have been with a customer — and a
      serial_mismatch exception asks what left instead (a customer may hold another unit);
    - disposed of, returned to the vendor, or on its way back from a customer (or outside
      but found in quarantine, which holds nothing pending inspection): the ledger cannot
      take it from here (a terminal state is final; a return in transit is received against
      its RMA), so nothing posts, the line is held and a serial_mismatch exception asks for
      the disposal, vendor return or receipt to be checked.
    """
    unit = (
        InventoryUnit.objects.filter(product_id=line.product_id, serial=line.serial)
        .select_related("product")
        .first()
    )
    common = {"actor": actor, "idempotency_key": key, "cause_type": CauseType.COUNT}
    if line.variance < 0:
        stock_adjust(
            product_id=line.product_id,
            location_id=line.location_id,
            state=unit.state,
            qty_delta=-1,
            reason=reason,
            serials=[line.serial],
            lot=unit.lot,
            cause_id=cause_id,
            occurred_at=line.snapshot_at,
            **common,
        )
    elif unit is None:
        stock_adjust(
            product_id=line.product_id,
            location_id=line.location_id,
            state=_gain_state(line),
            qty_delta=1,
            reason=reason,
            serials=[line.serial],
            lot=line.lot,
            cause_id=cause_id,
            occurred_at=line.snapshot_at,
            **common,
        )
    elif unit.state in PHYSICAL_STATES:
        unit_transition(
            product_id=line.product_id,
            serial=line.serial,
            to_state=unit.state,
            to_location_id=line.location_id,
            reason=reason,
            cause_id=cause_id,
            **common,
        )
    elif unit.state == OUTSIDE and line.location_kind not in kinds_refusing(PENDING):
        _found_unit_report(line, unit, count=count, actor=actor, held=False)
        stock_adjust(
            product_id=line.product_id,
            location_id=line.location_id,
            state=PENDING,
            qty_delta=1,
            reason=f"{reason}: found, though the ledger says it had left our stock",
            serials=[line.serial],
            lot=unit.lot,
            cause_id=cause_id,
            occurred_at=line.snapshot_at,
            **common,
        )
    else:
        _found_unit_report(line, unit, count=count, actor=actor, held=True)
        return False
    return True


def _found_unit_report(
    line: _Line, unit: InventoryUnit, *, count: CycleCount, actor: AbstractBaseUser, held: bool
) -> None:
    """Open (or add to) the serial_mismatch exception of a unit found that the books say left."""
    last = (
        StockMovement.objects.filter(unit=unit)
        .order_by("-occurred_at", "-id")
        .values("cause_type", "cause_id", "occurred_at", "reason")
        .first()
    )
    fate = f"is {unit.get_state_display().lower()}"
    if last is not None:
        fate += f" since {last['occurred_at']:%Y-%m-%d} ({last['cause_type']} {last['cause_id']})"
    outcome = (
        "Nothing was posted: the line is held until the record is checked."
        if held
        else "It was booked back at this location, pending inspection."
    )
    exception_open(
        kind=ExceptionKind.SERIAL_MISMATCH,
        subject_type=SubjectType.INVENTORY_UNIT,
        subject_id=unit.pk,
        subject_label=f"{unit.product.sku} {unit.serial}",
        summary=f"Cycle count {count.pk} found {unit.serial} at {line.location_code}; "
        f"the ledger says it {fate}.",
        details=f"{outcome} Find out what left in its place, or why the record is wrong.",
        evidence={
            "count_id": count.pk,
            "count_line_id": line.pk,
            "location": line.location_code,
            "unit_state": unit.state,
            "last_movement": {
                "cause_type": last["cause_type"],
                "cause_id": last["cause_id"],
                "occurred_at": last["occurred_at"].isoformat(),
            }
            if last
            else None,
            "held": held,
        },
        product=unit.product,
        actor=actor,
    )


def count_snapshot_record(*, count: CycleCount, actor: AbstractBaseUser | None) -> int | None:
    """Record the count as a reconciliation snapshot (source `cycle_count`, partial scope).

    Effects: for each SKU the count saw, the warehouse's physical on hand at the latest
    snapshot time of the count plus the variances not yet posted — what the warehouse holds
    according to the count; stored through `inventory.reconciliation.snapshot_record`
    (which queues an incremental reconciliation after commit) with reference
    `count-<id>-<submission>`; the count keeps the snapshot's id.
    """
    from inventory.reconciliation.snapshots import SnapshotLineIn, snapshot_record

    lines = list(
        CountLine.objects.filter(count=count, status=LineStatus.COUNTED).values_list(
            "product_id", "product__sku", "counted_qty", "system_qty", "count_location_id"
        )
    )
    if not lines:
        return None
    snapshots = dict(CountLocation.objects.filter(count=count).values_list("pk", "snapshot_at"))
    taken_at = max(snapshots[place_id] for *_, place_id in lines)
    variance: dict[int, int] = defaultdict(int)
    skus: dict[int, str] = {}
    for product_id, sku, counted, system, _place_id in lines:
        if counted is not None and system is not None:
            variance[product_id] += counted - system
        skus[product_id] = sku
    books = warehouse_on_hand_at(
        warehouse_id=count.warehouse_id, product_ids=sorted(skus), at=taken_at
    )
    submissions = CycleCount.history.filter(id=count.pk, state=CountState.REVIEW).count()
    snapshot = snapshot_record(
        source="cycle_count",
        taken_at=taken_at,
        lines=[
            SnapshotLineIn(sku=skus[pk], on_hand=max(books.get(pk, 0) + variance[pk], 0))
            for pk in sorted(skus)
        ],
        external_ref=f"count-{count.pk}-{submissions}",
        warehouse_id=count.warehouse_id,
        actor=actor,
        scope="partial",
        note=f"Cycle count {count.pk}",
    )
    CycleCount.objects.filter(pk=count.pk).update(snapshot_id=snapshot.pk)
    count.snapshot_id = snapshot.pk
    return snapshot.pk
