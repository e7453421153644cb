"""Single-request services: receive, move, reserve, release, ship, adjust.

Each is atomic: those that end in `_post_atomically` get their transaction there (or, for a
quantity move outside any transaction, post as one autocommit statement); ship has its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from simple_history.utils import bulk_create_with_history

from erp.models import OrderLine, ShippedItem

from ..models import CauseType, MovementKind, StockMovement
from ..models.states import SHIPPABLE_STATES
from ._checks import _check_qty, _require_perm
from ._common import ADJUSTABLE_IN_STATES, S, _begin, _Request, _request
from ._posting import _post_atomically, _post_checked

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User


def stock_receive(
    *,
    product_id: int,
    location_id: int,
    qty: int,
    idempotency_key: str,
    to_state: str = S.AVAILABLE,
    lot: str = "",
    serials: Sequence[str] = (),
    actor: User | None = None,
    cause_type: str = CauseType.RECEIPT,
    cause_id: str = "",
    occurred_at: datetime | None = None,
) -> list[StockMovement]:
    """Receive stock from outside (a supplier, or a customer's return) into one location.

    Effects: one movement from outside per request (one per serial for serial-tracked SKUs,
    creating each new unit, or bringing an `outside` unit back as a return); the balance of
    (SKU, location, to_state, lot) grows; ATS and outbox rows for the SKU are refreshed.
    """
    request = _receive_request(
        product_id=product_id,
        location_id=location_id,
        qty=qty,
        idempotency_key=idempotency_key,
        to_state=to_state,
        lot=lot,
        serials=serials,
        actor=actor,
        cause_type=cause_type,
        cause_id=cause_id,
        occurred_at=occurred_at,
    )
    return _post_atomically(
        request,
        product_id=product_id,
        qty=qty,
        lot=lot,
        serials=serials,
        from_side=(None, None),
        to_side=(location_id, to_state),
        create_units=True,
    )


def _receive_request(
    *,
    product_id: int,
    location_id: int,
    qty: int,
    idempotency_key: str,
    to_state: str,
    lot: str,
    serials: Sequence[str],
    actor: User | None,
    cause_type: str,
    cause_id: str,
    occurred_at: datetime | None,
) -> _Request:
    return _request(
        "stock_receive",
        key=idempotency_key,
        kind=MovementKind.RECEIVE,
        cause_type=cause_type,
        cause_id=cause_id,
        actor=actor,
        occurred_at=occurred_at,
        payload={
            "product_id": product_id,
            "location_id": location_id,
            "qty": qty,
            "to_state": to_state,
            "lot": lot,
            "serials": list(serials),
        },
    )


def stock_move(
    *,
    product_id: int,
    qty: int,
    from_location_id: int,
    from_state: str,
    to_location_id: int,
    to_state: str,
    idempotency_key: str,
    lot: str = "",
    serials: Sequence[str] = (),
    actor: User | None = None,
    cause_type: str = CauseType.TRANSFER,
    cause_id: str = "",
    reason: str = "",
    occurred_at: datetime | None = None,
) -> list[StockMovement]:
    """Move stock between locations and/or states within our stock.

    Effects: one movement (one per serial) from (from_location, from_state) to
    (to_location, to_state), allowed by the canonical flow; both balances change with row
    locks; serialized units change state/location; ATS and outbox rows are refreshed. Leaving
    quarantine for available needs `inventory.release_quarantine` and a reason.
    """
    if from_location_id is None or to_location_id is None:
        raise ValidationError(
            "A move names both locations; receive, ship or adjust to cross the stock boundary.",
            code="move_needs_both_sides",
        )
    request = _move_request(
        product_id=product_id,
        qty=qty,
        from_side=(from_location_id, from_state),
        to_side=(to_location_id, to_state),
        idempotency_key=idempotency_key,
        lot=lot,
        serials=serials,
        actor=actor,
        cause_type=cause_type,
        cause_id=cause_id,
        reason=reason,
        occurred_at=occurred_at,
    )
    return _post_atomically(
        request,
        product_id=product_id,
        qty=qty,
        lot=lot,
        serials=serials,
        from_side=(from_location_id, from_state),
        to_side=(to_location_id, to_state),
    )


def _move_request(
    *,
    product_id: int,
    qty: int,
    from_side: tuple[int, str],
    to_side: tuple[int, str],
    idempotency_key: str,
    lot: str,
    serials: Sequence[str],
    actor: User | None,
    cause_type: str,
    cause_id: str,
    reason: str,
    occurred_at: datetime | None,
) -> _Request:
    return _request(
        "stock_move",
        key=idempotency_key,
        kind=MovementKind.MOVE,
        cause_type=cause_type,
        cause_id=cause_id,
        actor=actor,
        occurred_at=occurred_at,
        reason=reason,
        payload={
            "product_id": product_id,
            "qty": qty,
            "from": list(from_side),
            "to": list(to_side),
            "lot": lot,
            "serials": list(serials),
        },
    )


def stock_reserve(
    *,
    product_id: int,
    location_id: int,
    qty: int,
    idempotency_key: str,
    lot: str = "",
    serials: Sequence[str] = (),
    actor: User | None = None,
    cause_type: str = CauseType.ORDER_RESERVATION,
    cause_id: str = "",
    occurred_at: datetime | None = None,
) -> list[StockMovement]:
    """Hold available stock for an order.

    Effects: available → reserved at the location (movement kind `reserve`); the reserved
    quantity leaves every channel's ATS; outbox rows for changed ATS.
    """
    return _reserve_or_release(
        "stock_reserve",
        kind=MovementKind.RESERVE,
        from_state=S.AVAILABLE,
        to_state=S.RESERVED,
        product_id=product_id,
        location_id=location_id,
        qty=qty,
        idempotency_key=idempotency_key,
        lot=lot,
        serials=serials,
        actor=actor,
        cause_type=cause_type,
        cause_id=cause_id,
        occurred_at=occurred_at,
    )


def stock_release(
    *,
    product_id: int,
    location_id: int,
    qty: int,
    idempotency_key: str,
    lot: str = "",
    serials: Sequence[str] = (),
    actor: User | None = None,
    cause_type: str = CauseType.ORDER_RESERVATION,
    cause_id: str = "",
    occurred_at: datetime | None = None,
) -> list[StockMovement]:
    """Give reserved stock back.

    Effects: reserved → available at the location (movement kind `release`); ATS grows on
    the channels that sell available stock; outbox rows for changed ATS.
    """
    return _reserve_or_release(
        "stock_release",
        kind=MovementKind.RELEASE,
        from_state=S.RESERVED,
        to_state=S.AVAILABLE,
        product_id=product_id,
        location_id=location_id,
        qty=qty,
        idempotency_key=idempotency_key,
        lot=lot,
        serials=serials,
        actor=actor,
        cause_type=cause_type,
        cause_id=cause_id,
        occurred_at=occurred_at,
    )


@transaction.atomic
def stock_ship(
    *,
    order_line_id: int,
    location_id: int,
    qty: int,
    idempotency_key: str,
    from_state: str = S.RESERVED,
    lot: str = "",
    serials: Sequence[str] = (),
    actor: User | None = None,
    occurred_at: datetime | None = None,
) -> list[StockMovement]:
    """Ship stock for an order line to the customer (outside).

    Effects: locks the order line; one movement (one per serial) from (location, from_state)
    to outside, caused by the order shipment (cause_id = the line's id); serialized units go
    `outside`; an `erp.ShippedItem` records each serial (or the lot and quantity) that left
    on the line; ATS and outbox rows are refreshed. Never ships more than the line ordered.
    """
    request = _request(
        "stock_ship",
        key=idempotency_key,
        kind=MovementKind.SHIP,
        cause_type=CauseType.ORDER_SHIPMENT,
        cause_id=str(order_line_id),
        actor=actor,
        occurred_at=occurred_at,
        payload={
            "order_line_id": order_line_id,
            "location_id": location_id,
            "qty": qty,
            "from_state": from_state,
            "lot": lot,
            "serials": list(serials),
        },
    )
    replay = _begin(request, rows=len(serials) or 1)
    if replay is not None:
        return replay
    line = OrderLine.objects.select_for_update().filter(pk=order_line_id).first()
    if line is None:
        raise ValidationError(f"Unknown order line {order_line_id}.", code="unknown_order_line")
    _check_qty(qty)
    shipped = (
        StockMovement.objects.filter(
            cause_type=CauseType.ORDER_SHIPMENT, cause_id=str(line.pk), kind=MovementKind.SHIP
        ).aggregate(total=Sum("qty"))["total"]
        or 0
    )
    if shipped + qty > line.quantity:
        raise ValidationError(
            f"Line {line.line_number} ordered {line.quantity}; {shipped} already shipped, "
            f"so {qty} more cannot ship.",
            code="over_shipment",
        )
    movements = _post_checked(
        request,
        product_id=line.product_id,
        qty=qty,
        lot=lot,
        serials=serials,
        from_side=(location_id, from_state),
        to_side=(None, None),
        exits=SHIPPABLE_STATES,
    )
    if serials:
        items = [ShippedItem(line=line, serial_number=s, lot_number=lot) for s in serials]
    elif lot:
        items = [ShippedItem(line=line, lot_number=lot, quantity=qty)]
    else:
        items = []
    bulk_create_with_history(items, ShippedItem)
    return movements


def stock_adjust(
    *,
    product_id: int,
    location_id: int,
    state: str,
    qty_delta: int,
    reason: str,
    actor: User | None,
    idempotency_key: str,
    lot: str = "",
    serials: Sequence[str] = (),
    cause_type: str = CauseType.ADJUSTMENT,
    cause_id: str = "",
    occurred_at: datetime | None = None,
) -> list[StockMovement]:
    """Correct stock found to differ from the books (a count, a found or lost unit).

    Effects: checks the actor holds `inventory.adjust_stock` and gave a reason; a positive
    delta posts a movement from outside into (location, state), a negative one out of it to
    outside (serialized units are created / go `outside`); balances, ATS and outbox follow.
    """
    _require_perm(actor, "inventory.adjust_stock", "adjust stock")
    if not reason.strip():
        raise ValidationError("An adjustment needs a reason.", code="reason_required")
    if isinstance(qty_delta, bool) or not isinstance(qty_delta, int) or qty_delta == 0:
        raise ValidationError(
            f"An adjustment changes stock by a non-zero whole number (got {qty_delta!r}).",
            code="bad_qty",
        )
    request = _request(
        "stock_adjust",
        key=idempotency_key,
        kind=MovementKind.ADJUST,
        cause_type=cause_type,
        cause_id=cause_id,
        actor=actor,
        occurred_at=occurred_at,
        reason=reason,
        payload={
            "product_id": product_id,
            "location_id": location_id,
            "state": state,
            "qty_delta": qty_delta,
            "lot": lot,
            "serials": list(serials),
        },
    )
    here = (location_id, state)
    return _post_atomically(
        request,
        product_id=product_id,
        qty=abs(qty_delta),
        lot=lot,
        serials=serials,
        from_side=(None, None) if qty_delta > 0 else here,
        to_side=here if qty_delta > 0 else (None, None),
        entries=ADJUSTABLE_IN_STATES,
        create_units=qty_delta > 0,
    )


def _reserve_or_release(
    service: str,
    *,
    kind: str,
    from_state: str,
    to_state: str,
    product_id: int,
    location_id: int,
    qty: int,
    idempotency_key: str,
    lot: str,
    serials: Sequence[str],
    actor: User | None,
    cause_type: str,
    cause_id: str,
    occurred_at: datetime | None,
) -> list[StockMovement]:
    request = _request(
        service,
        key=idempotency_key,
        kind=kind,
        cause_type=cause_type,
        cause_id=cause_id,
        actor=actor,
        occurred_at=occurred_at,
        payload={
            "product_id": product_id,
            "location_id": location_id,
            "qty": qty,
            "lot": lot,
            "serials": list(serials),
        },
    )
    return _post_atomically(
        request,
        product_id=product_id,
        qty=qty,
        lot=lot,
        serials=serials,
        from_side=(location_id, from_state),
        to_side=(location_id, to_state),
    )
