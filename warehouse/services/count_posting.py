"""Cycle counts, review side: maker-checker approval within value limits, lines sent back for
recount, and posting approved variances to the ledger with the count as cause.

Posting is set-based: the quantity lines of each location go to `inventory.stock_post_batch`
in one call (COPY, balances locked once); only serial lines and gains into states a batch may
not create (quarantine, refurbishment, …) go through `stock_adjust` / `unit_transition` one by
one. The journal entries are inventory's: every movement caused by a count is valued by
`finance.valuation` (Inventory / Inventory adjustments) in the same transaction, so nothing
here posts to the journal. Movements are dated at their location's snapshot time, the moment
the variance was true, so a later reconciliation does not count them as in flight.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from erp.models import Location
from inventory.models import CauseType, InventoryUnit, StockBalance, StockState
from inventory.models.states import OUTSIDE, RECEIVABLE_STATES
from inventory.reconciliation.buckets import PHYSICAL_STATES
from inventory.services import BatchLine, stock_adjust, stock_post_batch, unit_transition

from ..count_selectors import warehouse_on_hand_at
from ..models import CountApproval, CountEntry, CountLine, CountState, CycleCount, LineStatus
from ._support import require_perm, save

S = StockState
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
    variances (movements, balances, ATS, journal) and become posted; with nothing sent back
    the count is posted.
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
    lines = list(
        CountLine.objects.filter(count=count, status=LineStatus.COUNTED).select_related(
            "product", "count_location__location"
        )
    )
    sent_back = set(recount_line_ids)
    unknown = sent_back - {line.pk for line in lines}
    if unknown:
        raise ValidationError("Only lines in review can be sent back.", code="unknown_line")
    approved = [line for line in lines if line.pk not in sent_back]
    rejected = [line for line in lines if line.pk in sent_back]
    gross = sum((abs(line.variance_value or 0) for line in approved), Decimal(0))
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
    if approved:
        _post(count, approved, actor=actor)
        CountApproval.objects.create(
            count=count,
            decision=CountApproval.Decision.APPROVED,
            lines=len(approved),
            net_value=sum((line.variance_value or 0 for line in approved), Decimal(0)),
            abs_value=gross,
            decided_by=actor,
            decided_at=now,
            client_token=client_token,
            note=note[:200],
        )
    if rejected:
        CountLine.objects.filter(pk__in=[line.pk for line in rejected]).update(
            status=LineStatus.RECOUNT,
            counted_qty=None,
            round=max(line.round for line in rejected) + 1,
            recount_reason=(note or "Sent back by the reviewer.")[:200],
        )
        CountApproval.objects.create(
            count=count,
            decision=CountApproval.Decision.REJECTED,
            lines=len(rejected),
            net_value=sum((line.variance_value or 0 for line in rejected), Decimal(0)),
            abs_value=sum((abs(line.variance_value or 0) for line in rejected), Decimal(0)),
            decided_by=actor,
            decided_at=now,
            client_token=f"{client_token}:recount" if approved else client_token,
            note=note[:200],
        )
        count.reopen()
        save(count, actor=actor, why=f"{len(rejected)} line(s) sent back for recount")
    else:
        count.post()
        count.posted_by = actor
        save(count, actor=actor, why=f"Approved and posted ({len(approved)} line(s))")
    return count


def _single_path(line: CountLine) -> bool:
    """A gain into a state the batch may not create stock in (it creates what a receipt may)."""
    return (line.variance or 0) > 0 and _gain_state(line) not in RECEIVABLE_STATES


def _gain_state(line: CountLine) -> str:
    return KIND_STATE.get(line.count_location.location.kind, S.AVAILABLE)


def _post(count: CycleCount, lines: list[CountLine], *, actor: AbstractBaseUser) -> None:
    """Post the approved lines' variances: one batch per location, the rest one by one."""
    reason = f"Cycle count {count.pk}"
    cause_id = str(count.pk)
    moving = [line for line in lines if line.variance]
    batches: dict[int, list[BatchLine]] = defaultdict(list)
    when: dict[int, object] = {}
    losses = [line for line in moving if not line.serial and line.variance < 0]
    on_hand = _balances_by_state(losses)
    for line in moving:
        place = line.count_location
        when[place.pk] = place.snapshot_at
        key = f"count:{count.pk}:line:{line.pk}:r{line.round}"
        if line.serial:
            _post_serial(line, key=key, actor=actor, reason=reason, cause_id=cause_id)
        elif line.variance > 0 and _single_path(line):
            stock_adjust(
                product_id=line.product_id,
                location_id=place.location_id,
                state=_gain_state(line),
                qty_delta=line.variance,
                reason=reason,
                actor=actor,
                idempotency_key=key,
                lot=line.lot,
                cause_type=CauseType.COUNT,
                cause_id=cause_id,
                occurred_at=place.snapshot_at,
            )
        elif line.variance > 0:
            batches[place.pk].append(
                BatchLine(
                    idempotency_key=key,
                    product_id=line.product_id,
                    qty=line.variance,
                    to_location_id=place.location_id,
                    to_state=_gain_state(line),
                    lot=line.lot,
                    cause_id=cause_id,
                )
            )
        else:
            batches[place.pk].extend(_loss_lines(line, key=key, on_hand=on_hand, cause_id=cause_id))
    for place_id, batch in batches.items():
        stock_post_batch(
            lines=batch,
            actor=actor,
            cause_type=CauseType.COUNT,
            reason=reason,
            occurred_at=when[place_id],
        )
    CountLine.objects.filter(pk__in=[line.pk for line in lines]).update(status=LineStatus.POSTED)


def _balances_by_state(lines: list[CountLine]) -> dict[tuple, dict[str, int]]:
    """{(product, location, lot): {state: qty}} today, for the loss lines, in one query."""
    if not lines:
        return {}
    keys = {(line.product_id, line.count_location.location_id, line.lot) for line in lines}
    found: dict[tuple, dict[str, int]] = defaultdict(dict)
    for product_id, location_id, lot, state, qty in StockBalance.objects.filter(
        product_id__in={k[0] for k in keys},
        location_id__in={k[1] for k in keys},
        state__in=LOSS_ORDER,
        qty__gt=0,
    ).values_list("product_id", "location_id", "lot", "state", "qty"):
        if (product_id, location_id, lot) in keys:
            found[(product_id, location_id, lot)][state] = qty
    return found


def _loss_lines(
    line: CountLine, *, key: str, on_hand: dict[tuple, dict[str, int]], cause_id: str
) -> list[BatchLine]:
    """A loss taken from the location's own state first, then the others in LOSS_ORDER."""
    location = line.count_location.location
    states = on_hand.get((line.product_id, location.pk, line.lot), {})
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
                    from_location_id=location.pk,
                    from_state=state,
                    lot=line.lot,
                    cause_id=cause_id,
                )
            )
            states[state] -= take
            missing -= take
        if not missing:
            return out
    raise ValidationError(
        f"{line.product.sku} at {location.code}: the count finds {-line.variance} fewer, but "
        f"only {-line.variance - missing} can be written off now (the rest is reserved or "
        "has moved since); recount it.",
        code="loss_exceeds_stock",
    )


def _post_serial(
    line: CountLine, *, key: str, actor: AbstractBaseUser, reason: str, cause_id: str
) -> None:
    """Missing: the unit leaves stock. Unexpected: a unit of ours elsewhere moves here; one not
    in stock is added here (inventory refuses what it may not create)."""
    place = line.count_location
    unit = InventoryUnit.objects.filter(product_id=line.product_id, serial=line.serial).first()
    common = {"actor": actor, "idempotency_key": key, "cause_type": CauseType.COUNT}
    if line.variance < 0:
        stock_adjust(
            product_id=line.product_id,
            location_id=place.location_id,
            state=unit.state,
            qty_delta=-1,
            reason=reason,
            serials=[line.serial],
            lot=unit.lot,
            cause_id=cause_id,
            occurred_at=place.snapshot_at,
            **common,
        )
    elif unit is not None and unit.state != OUTSIDE and unit.state in PHYSICAL_STATES:
        unit_transition(
            product_id=line.product_id,
            serial=line.serial,
            to_state=unit.state,
            to_location_id=place.location_id,
            reason=reason,
            cause_id=cause_id,
            **common,
        )
    else:
        stock_adjust(
            product_id=line.product_id,
            location_id=place.location_id,
            state=_gain_state(line),
            qty_delta=1,
            reason=reason,
            serials=[line.serial],
            lot=line.lot,
            cause_id=cause_id,
            occurred_at=place.snapshot_at,
            **common,
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
        CountLine.objects.filter(count=count, status=LineStatus.COUNTED).select_related(
            "product", "count_location"
        )
    )
    if not lines:
        return None
    taken_at = max(line.count_location.snapshot_at for line in lines)
    variance: dict[int, int] = defaultdict(int)
    skus: dict[int, str] = {}
    for line in lines:
        variance[line.product_id] += line.variance or 0
        skus[line.product_id] = line.product.sku
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
