"""The only write path to stock: each change is a ledger movement, posted in one transaction
with the balances, the serialized units and the channel availability it changes.

Idempotency: every call carries a key. A call that posts n movements stores them under `key`,
`key#1` … `key#<n-1>`, each with the hash of the whole request. The same key with the same
payload returns those movements and writes nothing; a different payload under a used key is a
ValidationError. The actor, and occurred_at when left to default, are not part of the payload
(a retry is the same request whoever sends it, whenever).

Balances never go negative in this pass, whatever the location kind (the database refuses it
too); a shortfall is a ValidationError naming what is there.

On PostgreSQL a quantity post (no serials) and the ATS recompute each run as one call of a SQL
function (migration 0004) holding the same rules and locks; anything that function declines
comes back to the Python path here, which SQLite always uses. Batches COPY their lines.

Perpetual inventory: whichever path wrote a request's movements hands them to `_value_post`,
which posts their value change to the journal (finance.valuation: the rules, at standard cost)
in the same transaction. Moves that change no account's value (available ⇄ reserved, between
locations, …) cost a cached dictionary look-up there and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict, namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from erp.models import Channel, Location, OrderLine, OutboxMessage, Product, ShippedItem
from erp.services import outbox_dispatch_after_commit
from finance.valuation import is_value_change, stock_value_post

from . import locks
from .models import (
    OUTSIDE,
    CauseType,
    ChannelAvailability,
    InventoryUnit,
    MovementKind,
    StockBalance,
    StockMovement,
    StockState,
)
from .models.states import (
    NEVER_SELLABLE_STATES,
    RECEIVABLE_STATES,
    SHIPPABLE_STATES,
    STATE_VALUES,
    TERMINAL_STATES,
    is_allowed_change,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

S = StockState
IN_STOCK_STATES = STATE_VALUES - TERMINAL_STATES
CAUSE_TYPES = frozenset(CauseType.values)
ADJUSTABLE_IN_STATES = IN_STOCK_STATES - {S.RESERVED}
AVAILABILITY_TOPIC = "availability.changed"
# The PostgreSQL functions take the rule as a parameter, so it is written down once.
_NEVER_SELLABLE = sorted(NEVER_SELLABLE_STATES)
_SQL_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class _Line:
    """One movement to post for a request."""

    qty: int
    lot: str
    from_location_id: int | None
    from_state: str | None
    to_location_id: int | None
    to_state: str | None
    unit: InventoryUnit | None = None


@dataclass(frozen=True)
class _Request:
    key: str
    payload_hash: str
    kind: str
    cause_type: str
    cause_id: str
    actor: User | None
    occurred_at: datetime | None
    reason: str


# --- Public services --------------------------------------------------------------------------


@transaction.atomic
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
    return _begin_and_post(
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


@transaction.atomic
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
    return _begin_and_post(
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


@transaction.atomic
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


@transaction.atomic
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


@transaction.atomic
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
    return _begin_and_post(
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


@transaction.atomic
def unit_transition(
    *,
    product_id: int,
    serial: str,
    to_state: str,
    cause_type: str,
    idempotency_key: str,
    to_location_id: int | None = None,
    actor: User | None = None,
    cause_id: str = "",
    reason: str = "",
    occurred_at: datetime | None = None,
) -> StockMovement:
    """Change a serialized unit's state (and location, if given) along the canonical flow.

    Effects: locks the unit, re-checks its state on the locked row, runs its FSM transition
    (ConcurrentTransitionMixin guards the save), records a history row, and posts one
    movement of qty 1 from where it was to where it is now; balances, ATS and outbox follow.
    """
    request = _request(
        "unit_transition",
        key=idempotency_key,
        kind=MovementKind.UNIT_TRANSITION,
        cause_type=cause_type,
        cause_id=cause_id,
        actor=actor,
        occurred_at=occurred_at,
        reason=reason,
        payload={
            "product_id": product_id,
            "serial": serial,
            "to_state": to_state,
            "to_location_id": to_location_id,
        },
    )
    replay = _begin(request, rows=1)
    if replay is not None:
        return replay[0]
    if to_state not in STATE_VALUES:
        raise ValidationError(f"Unknown stock state {to_state!r}.", code="unknown_state")
    product = _product(product_id)
    _check_tracking(product, lot="", serials=[serial], qty=1)
    unit = locks.units_lock(product_id=product.pk, serials=[serial]).get(serial)
    if unit is None:
        raise ValidationError(f"{product.sku} has no unit with serial {serial}.", "unknown_serial")
    if unit.state == OUTSIDE:
        raise ValidationError(
            f"Serial {serial} is not in our stock; receive it as a return first.",
            code="unit_outside",
        )
    destination = to_location_id or unit.location_id
    _check_locations(from_ids=[], to_ids=[destination])
    _check_change(unit.state, to_state, actor=actor, reason=reason)
    line = _unit_apply(unit, to_location_id=destination, to_state=to_state, reason=reason)
    return _post(request, product=product, lines=[line])[0]


@dataclass(frozen=True)
class BatchLine:
    """One movement of an import; the key is the import row's own (e.g. file + row number)."""

    idempotency_key: str
    product_id: int
    qty: int
    from_location_id: int | None = None
    from_state: str | None = None
    to_location_id: int | None = None
    to_state: str | None = None
    lot: str = ""
    cause_id: str = ""


@dataclass(frozen=True)
class BatchResult:
    posted: int
    replayed: int


@transaction.atomic
def stock_post_batch(
    *,
    lines: Sequence[BatchLine],
    actor: User | None = None,
    cause_type: str = CauseType.IMPORT,
    reason: str = "",
    occurred_at: datetime | None = None,
) -> BatchResult:
    """Post many quantity movements at once (imports, opening balances, 3PL feeds).

    Effects: the same checks as the single services for every line (serial-tracked SKUs are
    refused: their units go through the unit services); lines whose key was already posted
    with the same payload are skipped, a different payload fails the whole batch; the rest
    are written with COPY (PostgreSQL) in order, balances are locked once in key order and
    may not go negative at any line; ATS and outbox rows for every SKU touched are refreshed.
    Nothing is written if any line fails.
    """
    post = partial(
        _post_batch,
        lines,
        actor=actor,
        cause_type=cause_type,
        reason=reason,
        occurred_at=occurred_at,
    )
    if (
        connection.vendor == "postgresql"
        and lines
        and not _posted_hashes([lines[0].idempotency_key])
    ):
        # Imports are new lines nearly always: post them as if none of their keys were used,
        # and let the unique key index say otherwise, rather than look every key up first.
        # If it does, or anything is refused, this savepoint is rolled back and the exact path
        # below replays the used keys or raises the specific error. (A batch sent again, or
        # resumed, starts with a used key: it goes the exact way straight away.)
        try:
            with transaction.atomic():
                return post(keys_known_new=True)
        except (IntegrityError, ValidationError, PermissionDenied):
            pass
    try:
        with transaction.atomic():
            return post()
    except IntegrityError:
        # A concurrent batch posted some of the same keys; they are committed now, so the
        # second pass replays them.
        return post()


@dataclass(frozen=True)
class QuantityPost:
    """One request of `stock_post_quantities`: `stock_receive`'s arguments when it has no
    from side, else `stock_move`'s."""

    idempotency_key: str
    product_id: int
    qty: int
    to_location_id: int
    to_state: str
    cause_type: str
    from_location_id: int | None = None
    from_state: str | None = None
    lot: str = ""
    cause_id: str = ""
    reason: str = ""
    occurred_at: datetime | None = None

    @property
    def is_receive(self) -> bool:
        return self.from_location_id is None


@transaction.atomic(savepoint=False)
def stock_post_quantities(
    *, posts: Sequence[QuantityPost], actor: User | None = None
) -> list[StockMovement]:
    """Post a few quantity requests of one document in order (a parcel's units: arrive,
    dock, quarantine), each exactly as `stock_receive` / `stock_move` posts it alone — same
    idempotency key and payload hash, same checks, replay and refusals — in one round trip.

    Effects: as the single services, request by request; one movement per request, in order.
    On PostgreSQL the requests go to `inventory_post_quantity` in one statement (UNION ALL
    runs the calls in order, each seeing the ones before); any request the database declined
    (a replay, or a refusal) is then posted by the single service's path, which replays it or
    raises the specific error (and the caller's transaction, so the whole batch, rolls back).
    Opens no savepoint of its own. Serial-tracked SKUs go through the single services.
    """
    requests = [_quantity_request(post, actor=actor) for post in posts]
    posted: dict[int, StockMovement] = {}
    if connection.vendor == "postgresql":
        posted = _post_quantities_in_one_statement(list(zip(requests, posts, strict=True)))
    movements = []
    for index, (request, post) in enumerate(zip(requests, posts, strict=True)):
        if index in posted:
            movements.append(posted[index])
            continue
        movements.extend(
            _begin_and_post(
                request,
                product_id=post.product_id,
                qty=post.qty,
                lot=post.lot,
                serials=(),
                from_side=(post.from_location_id, post.from_state),
                to_side=(post.to_location_id, post.to_state),
                create_units=post.is_receive,
            )
        )
    return movements


def _quantity_request(post: QuantityPost, *, actor: User | None) -> _Request:
    if post.is_receive:
        return _receive_request(
            product_id=post.product_id,
            location_id=post.to_location_id,
            qty=post.qty,
            idempotency_key=post.idempotency_key,
            to_state=post.to_state,
            lot=post.lot,
            serials=(),
            actor=actor,
            cause_type=post.cause_type,
            cause_id=post.cause_id,
            occurred_at=post.occurred_at,
        )
    if post.from_location_id is None or post.to_location_id is None:
        raise ValidationError(
            "A move names both locations; receive, ship or adjust to cross the stock boundary.",
            code="move_needs_both_sides",
        )
    return _move_request(
        product_id=post.product_id,
        qty=post.qty,
        from_side=(post.from_location_id, post.from_state),
        to_side=(post.to_location_id, post.to_state),
        idempotency_key=post.idempotency_key,
        lot=post.lot,
        serials=(),
        actor=actor,
        cause_type=post.cause_type,
        cause_id=post.cause_id,
        reason=post.reason,
        occurred_at=post.occurred_at,
    )


def _post_quantities_in_one_statement(
    batch: list[tuple[_Request, QuantityPost]],
) -> dict[int, StockMovement]:
    """{request index: movement} of the requests `inventory_post_quantity` posted, all in one
    statement. Requests from the first one Python would not send on its own (see
    `_post_in_one_statement`) are left to the caller."""
    sendable = []
    for request, post in batch:
        try:
            _check_qty(post.qty)
            _check_change(
                post.from_state, post.to_state, actor=request.actor, reason=request.reason
            )
        except (ValidationError, PermissionDenied):
            break
        if (
            (post.from_location_id, post.from_state) == (post.to_location_id, post.to_state)
            or post.qty > _SQL_INT_MAX
            or (request.occurred_at is not None and timezone.is_naive(request.occurred_at))
        ):
            break
        sendable.append((request, post))
    if not sendable:
        return {}
    now = timezone.now()
    call = (
        "SELECT %s AS n, t.* FROM inventory_post_quantity(%s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s, %s, %s, %s, %s, %s) AS t"
    )
    params = []
    for index, (request, post) in enumerate(sendable):
        params += [
            index,
            locks.idempotency_key_lock_id(request.key),
            request.key,
            request.payload_hash,
            post.product_id,
            post.qty,
            post.lot,
            post.from_location_id,
            post.from_state,
            post.to_location_id,
            post.to_state,
            request.kind,
            request.cause_type,
            request.cause_id,
            request.actor.pk if request.actor else None,
            request.occurred_at or now,
            now,
            request.reason,
            _NEVER_SELLABLE,
        ]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join([call] * len(sendable)), params)
        rows = cursor.fetchall()
    posted: dict[int, StockMovement] = {}
    changed = []
    for row in rows:
        index, movement_id, availability = row[0], row[1], row[2:]
        if availability[0] is not None:
            changed.append(locks.AvailabilityRow(*availability))
            continue
        request, post = sendable[index]
        movement = StockMovement(
            id=movement_id,
            product_id=post.product_id,
            qty=post.qty,
            lot=post.lot,
            from_location_id=post.from_location_id,
            from_state=post.from_state,
            to_location_id=post.to_location_id,
            to_state=post.to_state,
            kind=request.kind,
            cause_type=request.cause_type,
            cause_id=request.cause_id,
            actor=request.actor,
            occurred_at=request.occurred_at or now,
            posted_at=now,
            idempotency_key=request.key,
            payload_hash=request.payload_hash,
            reason=request.reason,
        )
        movement._state.adding = False
        movement._state.db = connection.alias
        posted[index] = movement
    _availability_queue(changed)
    for index in sorted(posted):
        _value_post([posted[index]], actor=sendable[index][0].actor)
    return posted


@transaction.atomic(savepoint=False)
def availability_recompute(*, product_ids: Iterable[int]) -> list[locks.AvailabilityRow]:
    """Recompute every active channel's ATS for these SKUs.

    ATS = stock in the states the channel's rule sells (never a NEVER_SELLABLE state), in
    its warehouses, minus its safety stock, floored at 0. Reserved stock is its own state, so
    "available - reserved" is what the available balance already holds.

    Effects: locks the (SKU, channel) availability rows (creating missing ones) before reading
    balances, so concurrent posts see each other; each changed ATS bumps `version` and writes
    one `availability.changed` outbox message. Returns the changed rows.
    """
    product_ids = sorted(set(product_ids))
    if connection.vendor == "postgresql":
        # The same computation in one round trip (function installed by migration 0004).
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT * FROM inventory_availability_recompute(%s::bigint[], %s, %s)",
                [product_ids, _NEVER_SELLABLE, timezone.now()],
            )
            changed = [locks.AvailabilityRow(*row) for row in cursor.fetchall()]
        _availability_queue(changed)
        return changed
    sells = _channel_sales_rules()
    if not product_ids or not sells:
        return []
    rows = locks.availability_lock(product_ids=product_ids, channel_ids=sorted(sells))
    states = sorted(set().union(*(states for states, _ in sells.values())))
    on_hand: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for product_id, warehouse_id, state, total in _sellable_on_hand(product_ids, states):
        on_hand[product_id].append((warehouse_id, state, int(total)))  # SUM(bigint) is numeric
    changed, now = [], timezone.now()
    for (product_id, channel_id), row in sorted(rows.items()):
        states, warehouses = sells[channel_id]
        sellable = sum(
            total
            for warehouse_id, state, total in on_hand[product_id]
            if state in states and (warehouses is None or warehouse_id in warehouses)
        )
        ats = max(0, sellable - row.safety_stock)
        if ats != row.ats:
            row.ats = ats
            row.version += 1
            changed.append(row)
    if changed:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {_table(ChannelAvailability)} SET ats = %s, version = %s, "
                "updated_at = %s WHERE id = %s",
                [(row.ats, row.version, now, row.id) for row in changed],
            )
    _availability_queue(changed)
    return changed


def _availability_queue(changed: list[locks.AvailabilityRow]) -> None:
    """One `availability.changed` outbox message per changed (SKU, channel) ATS version."""
    if not changed:
        return
    messages = [
        OutboxMessage(
            topic=AVAILABILITY_TOPIC,
            dedupe_key=f"{AVAILABILITY_TOPIC}:{row.channel_id}:{row.product_id}:{row.version}",
            # A channel must see a SKU's ATS versions in order, never an older one last.
            ordering_key=f"availability:{row.channel_id}:{row.product_id}",
            payload={
                "channel_id": row.channel_id,
                "product_id": row.product_id,
                "ats": row.ats,
                "version": row.version,
            },
        )
        for row in changed
    ]
    OutboxMessage.objects.bulk_create(messages)
    outbox_dispatch_after_commit()


def _sellable_on_hand(product_ids: list[int], states: list[str]) -> list[tuple]:
    """(product id, warehouse id, state, qty) of stock in these states."""
    if not states:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.product_id, l.warehouse_id, b.state, SUM(b.qty) "
            f"FROM {_table(StockBalance)} b JOIN {_table(Location)} l ON l.id = b.location_id "
            f"WHERE b.product_id IN ({', '.join(['%s'] * len(product_ids))}) "
            f"AND b.state IN ({', '.join(['%s'] * len(states))}) AND b.qty > 0 "
            "GROUP BY b.product_id, l.warehouse_id, b.state",
            [*product_ids, *states],
        )
        return cursor.fetchall()


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- Request handling -------------------------------------------------------------------------


def _request(
    service: str,
    *,
    key: str,
    kind: str,
    cause_type: str,
    cause_id: str,
    actor: User | None,
    occurred_at: datetime | None,
    payload: dict,
    reason: str = "",
) -> _Request:
    if not key or len(key) > 180:
        raise ValidationError(
            "An idempotency key of 1 to 180 characters is required.", code="bad_key"
        )
    if cause_type not in CAUSE_TYPES:
        raise ValidationError(f"Unknown cause type {cause_type!r}.", code="unknown_cause")
    return _Request(
        key=key,
        payload_hash=_payload_hash(
            service,
            **payload,
            cause=[cause_type, cause_id],
            reason=reason,
            occurred_at=occurred_at.isoformat() if occurred_at else None,
        ),
        kind=kind,
        cause_type=cause_type,
        cause_id=cause_id,
        actor=actor,
        occurred_at=occurred_at,
        reason=reason,
    )


def _payload_hash(service: str, **payload) -> str:
    text = json.dumps({"service": service, **payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _row_keys(key: str, rows: int) -> list[str]:
    return [key, *(f"{key}#{i}" for i in range(1, rows))]


def _begin(request: _Request, *, rows: int) -> list[StockMovement] | None:
    """Claim the key; the movements already posted under it by the same request, if any."""
    locks.idempotency_key_lock(request.key)
    posted = list(
        StockMovement.objects.filter(idempotency_key__in=_row_keys(request.key, rows)).order_by(
            "id"
        )
    )
    if not posted:
        return None
    if len(posted) != rows or any(m.payload_hash != request.payload_hash for m in posted):
        raise ValidationError(
            f"Idempotency key {request.key!r} was already used for a different request; "
            "use a new key for a new request.",
            code="idempotency_key_reused",
        )
    return posted


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
    return _begin_and_post(
        request,
        product_id=product_id,
        qty=qty,
        lot=lot,
        serials=serials,
        from_side=(location_id, from_state),
        to_side=(location_id, to_state),
    )


def _begin_and_post(
    request: _Request,
    *,
    product_id: int,
    qty: int,
    lot: str,
    serials: Sequence[str],
    from_side: tuple[int | None, str | None],
    to_side: tuple[int | None, str | None],
    entries: frozenset[str] = RECEIVABLE_STATES,
    exits: frozenset[str] = IN_STOCK_STATES,
    create_units: bool = False,
) -> list[StockMovement]:
    """Replay the request if its key was used, else check and post it.

    On PostgreSQL a quantity request (no serials) that passes the checks Python can make on
    its own is posted by one database call; anything else, and any request the database
    declines (replay, refusal), goes the step-by-step way, which replays or raises the
    specific error.
    """
    if not serials and connection.vendor == "postgresql":
        movement = _post_in_one_statement(
            request,
            product_id=product_id,
            qty=qty,
            lot=lot,
            from_side=from_side,
            to_side=to_side,
            entries=entries,
            exits=exits,
        )
        if movement is not None:
            return [movement]
    replay = _begin(request, rows=len(serials) or 1)
    if replay is not None:
        return replay
    return _post_checked(
        request,
        product_id=product_id,
        qty=qty,
        lot=lot,
        serials=serials,
        from_side=from_side,
        to_side=to_side,
        entries=entries,
        exits=exits,
        create_units=create_units,
    )


def _post_in_one_statement(
    request: _Request,
    *,
    product_id: int,
    qty: int,
    lot: str,
    from_side: tuple[int | None, str | None],
    to_side: tuple[int | None, str | None],
    entries: frozenset[str],
    exits: frozenset[str],
) -> StockMovement | None:
    """PostgreSQL: post one quantity movement with `inventory_post_quantity` (migration 0004),
    which takes the same locks in the same order and makes the database-side checks of
    `_post_checked`. None if the request fails a check or the database declines it: nothing
    was written, and the caller's step-by-step path says why."""
    try:
        _check_qty(qty)
        _check_change(
            from_side[1],
            to_side[1],
            actor=request.actor,
            reason=request.reason,
            entries=entries,
            exits=exits,
        )
    except (ValidationError, PermissionDenied):
        return None
    if (
        from_side == to_side
        or qty > _SQL_INT_MAX  # the ledger's qty column is a 32-bit integer
        or (request.occurred_at is not None and timezone.is_naive(request.occurred_at))
    ):
        return None  # the step-by-step path says why, or converts the naive time as Django does
    now = timezone.now()
    occurred_at = request.occurred_at or now
    actor_id = request.actor.pk if request.actor else None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM inventory_post_quantity(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s, %s)",
            [
                locks.idempotency_key_lock_id(request.key),
                request.key,
                request.payload_hash,
                product_id,
                qty,
                lot,
                *from_side,
                *to_side,
                request.kind,
                request.cause_type,
                request.cause_id,
                actor_id,
                occurred_at,
                now,
                request.reason,
                _NEVER_SELLABLE,
            ],
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    movement_id = rows[0][0]
    _availability_queue([locks.AvailabilityRow(*row[1:]) for row in rows[1:]])
    movement = StockMovement(
        id=movement_id,
        product_id=product_id,
        qty=qty,
        lot=lot,
        from_location_id=from_side[0],
        from_state=from_side[1],
        to_location_id=to_side[0],
        to_state=to_side[1],
        kind=request.kind,
        cause_type=request.cause_type,
        cause_id=request.cause_id,
        actor=request.actor,
        occurred_at=occurred_at,
        posted_at=now,
        idempotency_key=request.key,
        payload_hash=request.payload_hash,
        reason=request.reason,
    )
    movement._state.adding = False
    movement._state.db = connection.alias
    _value_post([movement], actor=request.actor)
    return movement


def _post_checked(
    request: _Request,
    *,
    product_id: int,
    qty: int,
    lot: str,
    serials: Sequence[str],
    from_side: tuple[int | None, str | None],
    to_side: tuple[int | None, str | None],
    entries: frozenset[str] = RECEIVABLE_STATES,
    exits: frozenset[str] = IN_STOCK_STATES,
    create_units: bool = False,
) -> list[StockMovement]:
    """Validate a request against the master data and the canonical flow, then post it."""
    _check_qty(qty)
    product = _product(product_id)
    _check_tracking(product, lot=lot, serials=serials, qty=qty)
    from_location_id, from_state = from_side
    to_location_id, to_state = to_side
    _check_locations(from_ids=[from_location_id], to_ids=[to_location_id])
    _check_change(
        from_state,
        to_state,
        actor=request.actor,
        reason=request.reason,
        entries=entries,
        exits=exits,
    )
    if from_side == to_side:
        raise ValidationError("The stock is already there: nothing to move.", code="no_change")
    if product.tracking == Product.Tracking.SERIAL:
        lines = _unit_lines(
            product,
            serials=serials,
            lot=lot,
            from_side=from_side,
            to_side=to_side,
            create_units=create_units,
            reason=request.reason,
        )
    else:
        lines = [_Line(qty, lot, from_location_id, from_state, to_location_id, to_state)]
    return _post(request, product=product, lines=lines)


def _post(request: _Request, *, product: Product, lines: list[_Line]) -> list[StockMovement]:
    """Write the movements, then the balances and availability they change."""
    now = timezone.now()
    movements = StockMovement.objects.bulk_create(
        [
            StockMovement(
                product=product,
                qty=line.qty,
                lot=line.lot,
                unit=line.unit,
                from_location_id=line.from_location_id,
                from_state=line.from_state,
                to_location_id=line.to_location_id,
                to_state=line.to_state,
                kind=request.kind,
                cause_type=request.cause_type,
                cause_id=request.cause_id,
                actor=request.actor,
                occurred_at=request.occurred_at or now,
                posted_at=now,
                idempotency_key=key,
                payload_hash=request.payload_hash,
                reason=request.reason,
            )
            for line, key in zip(lines, _row_keys(request.key, len(lines)), strict=True)
        ]
    )
    deltas: dict[locks.BalanceKey, int] = defaultdict(int)
    for line in lines:
        if line.from_location_id is not None:
            deltas[(product.pk, line.from_location_id, line.from_state, line.lot)] -= line.qty
        if line.to_location_id is not None:
            deltas[(product.pk, line.to_location_id, line.to_state, line.lot)] += line.qty
    _balances_apply(deltas)
    availability_recompute(product_ids=[product.pk])
    _value_post(movements, unit_cost=product.unit_cost, actor=request.actor)
    return movements


def _value_post(movements: Sequence, *, unit_cost=None, actor: User | None = None) -> None:
    """The journal entry of one request's movements, if they change stock value."""
    if any(is_value_change(movement) for movement in movements):
        stock_value_post(movements=movements, unit_cost=unit_cost, actor=actor)


def _balances_apply(deltas: dict[locks.BalanceKey, int]) -> None:
    """Lock the balances in key order, refuse any that would go negative, then change them."""
    deltas = {key: delta for key, delta in deltas.items() if delta}
    locked = locks.balances_lock(deltas)
    for key, delta in sorted(deltas.items()):
        have = locked.get(key, (None, 0))[1]
        if have + delta < 0:
            raise _insufficient(key, have=have, needed=-delta)
    _balances_write(deltas, locked)


def _balances_write(
    deltas: dict[locks.BalanceKey, int], locked: dict[locks.BalanceKey, tuple[int, int]]
) -> None:
    """qty = qty + delta on the locked rows (an F() update, one statement for all of them);
    keys no row holds yet are inserted, adding to a row a concurrent transaction created
    meanwhile rather than failing."""
    table = _table(StockBalance)
    updates = [(locked[key][0], delta) for key, delta in sorted(deltas.items()) if key in locked]
    inserts = [(*key, delta) for key, delta in sorted(deltas.items()) if key not in locked]
    upsert = (
        "ON CONFLICT (product_id, location_id, state, lot) "
        f"DO UPDATE SET qty = {table}.qty + EXCLUDED.qty"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement per kind however many keys: imports touch thousands.
            if updates:
                cursor.execute(
                    f"UPDATE {table} AS b SET qty = b.qty + v.delta "
                    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, delta) WHERE b.id = v.id",
                    list(map(list, zip(*updates, strict=True))),
                )
            if inserts:
                cursor.execute(
                    f"INSERT INTO {table} (product_id, location_id, state, lot, qty) "
                    "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], "
                    f"%s::bigint[]) {upsert}",
                    list(map(list, zip(*inserts, strict=True))),
                )
            return
        if updates:
            cursor.executemany(
                f"UPDATE {table} SET qty = qty + %s WHERE id = %s",
                [(delta, pk) for pk, delta in updates],
            )
        if inserts:
            cursor.executemany(
                f"INSERT INTO {table} (product_id, location_id, state, lot, qty) "
                f"VALUES (%s, %s, %s, %s, %s) {upsert}",
                inserts,
            )


def _insufficient(key: locks.BalanceKey, *, have: int, needed: int) -> ValidationError:
    product_id, location_id, state, lot = key
    sku = Product.objects.values_list("sku", flat=True).get(pk=product_id)
    location = Location.objects.select_related("warehouse").get(pk=location_id)
    lot_text = f" (lot {lot})" if lot else ""
    return ValidationError(
        f"Not enough stock: {location} holds {have} {StockState(state).label.lower()} "
        f"{sku}{lot_text}, {needed} needed.",
        code="insufficient_stock",
    )


# --- Serialized units -------------------------------------------------------------------------


def _unit_lines(
    product: Product,
    *,
    serials: Sequence[str],
    lot: str,
    from_side: tuple[int | None, str | None],
    to_side: tuple[int | None, str | None],
    create_units: bool,
    reason: str,
) -> list[_Line]:
    """Lock the units, check each is where the request says, and move them (qty 1 each)."""
    units = locks.units_lock(product_id=product.pk, serials=serials)
    new_units, lines = [], []
    to_location_id, to_state = to_side
    for serial in serials:
        unit = units.get(serial)
        if unit is None:
            if not create_units:
                raise ValidationError(
                    f"{product.sku} has no unit with serial {serial}.", code="unknown_serial"
                )
            unit = InventoryUnit(
                product=product, serial=serial, lot=lot, location_id=to_location_id, state=to_state
            )
            new_units.append(unit)
            lines.append(_Line(1, lot, None, None, to_location_id, to_state, unit))
            continue
        where = (None, None) if unit.state == OUTSIDE else (unit.location_id, unit.state)
        if where != from_side:
            raise ValidationError(
                f"Serial {serial} is {_describe(where)}, not {_describe(from_side)}.",
                code="unit_elsewhere",
            )
        if lot and unit.lot != lot:
            raise ValidationError(f"Serial {serial} is of lot {unit.lot!r}, not {lot!r}.")
        if unit.state == OUTSIDE and not is_allowed_change(OUTSIDE, to_state):
            raise ValidationError(
                f"Serial {serial} comes back into stock as a return (in transit or pending "
                "inspection), not straight into "
                f"{StockState(to_state).label.lower()}.",
                code="transition_not_allowed",
            )
        lines.append(
            _unit_apply(unit, to_location_id=to_location_id, to_state=to_state, reason=reason)
        )
    if new_units:
        bulk_create_with_history(new_units, InventoryUnit)
    return lines


def _unit_apply(
    unit: InventoryUnit, *, to_location_id: int | None, to_state: str | None, reason: str
) -> _Line:
    """Run the locked unit's transition and save it; the movement line it calls for."""
    from_location_id = unit.location_id
    from_state = None if unit.state == OUTSIDE else unit.state
    if from_state == to_state and from_location_id == to_location_id:
        raise ValidationError(
            f"Serial {unit.serial} is already {_describe((to_location_id, to_state))}.",
            code="no_change",
        )
    if to_state is None:
        unit.to_outside()
    elif to_state != unit.state:
        getattr(unit, f"to_{to_state}")()
    unit.location_id = to_location_id
    unit._change_reason = reason
    unit.save()
    return _Line(1, unit.lot, from_location_id, from_state, to_location_id, to_state, unit)


def _describe(side: tuple[int | None, str | None]) -> str:
    location_id, state = side
    if location_id is None:
        return "outside our stock"
    location = Location.objects.select_related("warehouse").filter(pk=location_id).first()
    return f"{StockState(state).label.lower()} at {location or location_id}"


# --- Checks -----------------------------------------------------------------------------------


def _check_qty(qty: int) -> None:
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        raise ValidationError(
            f"Quantity must be a whole number of at least 1 (got {qty!r}).", code="bad_qty"
        )


def _product(product_id: int) -> Product:
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise ValidationError(f"Unknown SKU: no product with id {product_id}.", "unknown_sku")
    return product


def _check_tracking(product: Product, *, lot: str, serials: Sequence[str], qty: int) -> None:
    tracking = product.tracking
    if tracking == Product.Tracking.SERIAL:
        if not serials:
            raise ValidationError(
                f"{product.sku} is serial-tracked: give the serial of each unit.",
                code="serial_required",
            )
        if len(serials) != qty or len(set(serials)) != len(serials) or not all(serials):
            raise ValidationError(
                f"Give {qty} different serial(s) for {qty} unit(s) of {product.sku}.",
                code="serial_count",
            )
    elif serials:
        raise ValidationError(
            f"{product.sku} is not serial-tracked: it takes no serial.",
            code="serial_not_tracked",
        )
    if tracking == Product.Tracking.LOT and not lot:
        raise ValidationError(f"{product.sku} is lot-tracked: give the lot.", "lot_required")
    if tracking == Product.Tracking.NONE and lot:
        raise ValidationError(
            f"{product.sku} is not lot-tracked: it takes no lot.", "lot_not_tracked"
        )


def _check_locations(*, from_ids: Iterable[int | None], to_ids: Iterable[int | None]) -> None:
    sources = {pk for pk in from_ids if pk is not None}
    destinations = {pk for pk in to_ids if pk is not None}
    active = dict(
        Location.objects.filter(pk__in=sources | destinations)
        .order_by()
        .values_list("pk", "is_active")
    )
    unknown = (sources | destinations) - active.keys()
    if unknown:
        raise ValidationError(
            f"Unknown location: no location with id {', '.join(map(str, sorted(unknown)))}.",
            code="unknown_location",
        )
    inactive = sorted(pk for pk in destinations if not active[pk])
    if inactive:
        raise ValidationError(
            f"Location {', '.join(map(str, inactive))} is inactive: stock cannot go there.",
            code="inactive_location",
        )


def _check_change(
    from_state: str | None,
    to_state: str | None,
    *,
    actor: User | None,
    reason: str,
    entries: frozenset[str] = RECEIVABLE_STATES,
    exits: frozenset[str] = IN_STOCK_STATES,
) -> None:
    for state in (from_state, to_state):
        if state is not None and state not in STATE_VALUES:
            raise ValidationError(f"Unknown stock state {state!r}.", code="unknown_state")
    if from_state is None and to_state not in entries:
        raise ValidationError(
            f"Stock cannot enter as {StockState(to_state).label.lower()}; it enters as one of "
            f"{', '.join(sorted(entries))}.",
            code="transition_not_allowed",
        )
    if to_state is None and from_state not in exits:
        raise ValidationError(
            f"Stock cannot leave from {StockState(from_state).label.lower()}; it leaves from "
            f"one of {', '.join(sorted(exits))}.",
            code="transition_not_allowed",
        )
    if from_state and to_state and not is_allowed_change(from_state, to_state):
        raise ValidationError(
            f"Stock cannot go from {StockState(from_state).label.lower()} to "
            f"{StockState(to_state).label.lower()}.",
            code="transition_not_allowed",
        )
    if from_state == S.QUARANTINED and to_state == S.AVAILABLE:
        _require_perm(actor, "inventory.release_quarantine", "release stock from quarantine")
        if not reason.strip():
            raise ValidationError("Releasing quarantine needs a reason.", code="reason_required")


def _require_perm(actor: User | None, perm: str, what: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise PermissionDenied(f"You may not {what}.")


def _channel_sales_rules() -> dict[int, tuple[frozenset[str], frozenset[int] | None]]:
    """{active channel id: (states it sells, warehouse ids or None for all)}, in one query.

    A channel without a rule sells available stock from every warehouse.
    """
    rules: dict[int, tuple[frozenset[str], set[int]]] = {}
    rows = (
        Channel.objects.filter(is_active=True)
        .order_by()
        .values_list("pk", "stock_rule__sellable_states", "stock_rule__warehouses")
    )
    for channel_id, states, warehouse_id in rows:
        sold = frozenset(states if states is not None else [S.AVAILABLE]) - NEVER_SELLABLE_STATES
        _, warehouses = rules.setdefault(channel_id, (sold, set()))
        if warehouse_id is not None:
            warehouses.add(warehouse_id)
    return {pk: (sold, frozenset(w) or None) for pk, (sold, w) in rules.items()}


# --- Batch ------------------------------------------------------------------------------------


def _post_batch(
    lines: Sequence[BatchLine],
    *,
    actor: User | None,
    cause_type: str,
    reason: str,
    occurred_at: datetime | None,
    keys_known_new: bool = False,
) -> BatchResult:
    """Post the lines whose keys are new. `keys_known_new` skips looking the keys up: the
    COPY then fails on the unique key index if one was used after all."""
    if cause_type not in CAUSE_TYPES:
        raise ValidationError(f"Unknown cause type {cause_type!r}.", code="unknown_cause")
    hashes = _batch_hashes(lines, cause_type=cause_type, reason=reason, occurred_at=occurred_at)
    by_key: dict[str, str] = {}
    for line, payload_hash in zip(lines, hashes, strict=True):
        if by_key.setdefault(line.idempotency_key, payload_hash) != payload_hash:
            raise ValidationError(
                f"Key {line.idempotency_key!r} appears twice in the batch with different lines.",
                code="idempotency_key_reused",
            )
    posted = {} if keys_known_new else _posted_hashes(list(by_key))
    for key, payload_hash in posted.items():
        if by_key[key] != payload_hash:
            raise ValidationError(
                f"Idempotency key {key!r} was already used for a different movement.",
                code="idempotency_key_reused",
            )
    todo, seen = [], set(posted)
    for index, (line, payload_hash) in enumerate(zip(lines, hashes, strict=True)):
        if line.idempotency_key not in seen:
            seen.add(line.idempotency_key)
            todo.append((index, line, payload_hash))
    if not todo:
        return BatchResult(posted=0, replayed=len(posted))

    products = {
        p.pk: p for p in Product.objects.filter(pk__in={line.product_id for _, line, _ in todo})
    }
    location_ids = {
        pk for _, line, _ in todo for pk in (line.from_location_id, line.to_location_id) if pk
    }
    active = dict(
        Location.objects.filter(pk__in=location_ids).order_by().values_list("pk", "is_active")
    )
    # Lines of the same shape (SKU, sides, with or without a lot) pass or fail the same
    # checks: imports repeat a few shapes many times, so each is checked once.
    shapes: dict[tuple, ValidationError | PermissionDenied | None] = {}
    for index, line, _ in todo:
        try:
            _check_qty(line.qty)
            shape = (
                line.product_id,
                line.from_location_id,
                line.from_state,
                line.to_location_id,
                line.to_state,
                bool(line.lot),
            )
            if shape not in shapes:
                try:
                    _check_batch_line(line, products, active, actor=actor, reason=reason)
                    shapes[shape] = None
                except (ValidationError, PermissionDenied) as refusal:
                    shapes[shape] = refusal
            if shapes[shape] is not None:
                raise shapes[shape]
        except ValidationError as error:
            raise ValidationError(f"Line {index + 1}: {'; '.join(error.messages)}") from error

    # Balances: lock once, then replay the lines in order so none goes negative at any point.
    deltas: dict[locks.BalanceKey, int] = defaultdict(int)
    for _, line, _ in todo:
        if line.from_location_id:
            deltas[(line.product_id, line.from_location_id, line.from_state, line.lot)] -= line.qty
        if line.to_location_id:
            deltas[(line.product_id, line.to_location_id, line.to_state, line.lot)] += line.qty
    locked = locks.balances_lock(deltas)
    running = {key: locked.get(key, (None, 0))[1] for key in deltas}
    for index, line, _ in todo:
        if line.from_location_id:
            key = (line.product_id, line.from_location_id, line.from_state, line.lot)
            running[key] -= line.qty
            if running[key] < 0:
                error = _insufficient(key, have=running[key] + line.qty, needed=line.qty)
                raise ValidationError(f"Line {index + 1}: {error.message}", code=error.code)
        if line.to_location_id:
            running[(line.product_id, line.to_location_id, line.to_state, line.lot)] += line.qty

    now = timezone.now()
    when = occurred_at or now
    actor_id = actor.pk if actor else None
    rows = [
        (
            line.product_id,
            line.qty,
            line.lot,
            line.from_location_id,
            line.from_state,
            line.to_location_id,
            line.to_state,
            _batch_kind(line),
            cause_type,
            line.cause_id,
            actor_id,
            when,
            now,
            line.idempotency_key,
            payload_hash,
            reason,
        )
        for _, line, payload_hash in todo
    ]
    movements_copy(rows)
    _balances_write({key: delta for key, delta in deltas.items() if delta}, locked)
    availability_recompute(product_ids={line.product_id for _, line, _ in todo})
    # One journal entry per cause (a count, an import file): its lines are valued together,
    # summed per account pair, instead of an entry per line (10 queries each).
    by_cause: dict[str, list] = defaultdict(list)
    for row in rows:
        movement = _MovementRow(*row)
        by_cause[movement.cause_id].append(movement)
    for movements in by_cause.values():
        _value_post(movements, actor=actor)
    return BatchResult(posted=len(rows), replayed=len(posted))


def _batch_hashes(
    lines: Sequence[BatchLine], *, cause_type: str, reason: str, occurred_at: datetime | None
) -> list[str]:
    """Each line's payload hash: `_payload_hash("stock_post_batch", …)` of the line, byte for
    byte, at a fraction of its cost (json.dumps per line was a fifth of an import's time).

    The JSON text is assembled around the parts the whole batch shares, encoded once; a value
    of a type other than int, str or None falls back to json.dumps itself.
    """
    encode_str = json.encoder.encode_basestring_ascii  # what json.dumps uses (ensure_ascii)

    def enc(value) -> str:
        kind = type(value)
        if kind is int:
            return str(value)
        if kind is str:
            return encode_str(value)
        if value is None:
            return "null"
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    head = f'{{"cause":[{enc(cause_type)},'
    middle = f',"occurred_at":{enc(occurred_at.isoformat() if occurred_at else None)},"product_id":'
    tail = f',"reason":{enc(reason)},"service":"stock_post_batch","to":['
    sha256 = hashlib.sha256
    return [
        sha256(
            (
                f"{head}{enc(line.cause_id)}],"
                f'"frm":[{enc(line.from_location_id)},{enc(line.from_state)}],'
                f'"lot":{enc(line.lot)}{middle}{enc(line.product_id)},"qty":{enc(line.qty)}'
                f"{tail}{enc(line.to_location_id)},{enc(line.to_state)}]}}"
            ).encode()
        ).hexdigest()
        for line in lines
    ]


MOVEMENT_COLUMNS = (
    "product_id",
    "qty",
    "lot",
    "from_location_id",
    "from_state",
    "to_location_id",
    "to_state",
    "kind",
    "cause_type",
    "cause_id",
    "actor_id",
    "occurred_at",
    "posted_at",
    "idempotency_key",
    "payload_hash",
    "reason",
)


# A written row as valuation reads it (the attributes of a StockMovement it needs).
_MovementRow = namedtuple("_MovementRow", MOVEMENT_COLUMNS)


# PostgreSQL types of MOVEMENT_COLUMNS, for binary COPY (about a fifth faster than text).
_MOVEMENT_COPY_TYPES = [
    "int8",
    "int4",
    "varchar",
    "int8",
    "varchar",
    "int8",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "int4",
    "timestamptz",
    "timestamptz",
    "varchar",
    "varchar",
    "text",
]


def movements_copy(rows: Sequence[tuple]) -> None:
    """Write movement rows (in MOVEMENT_COLUMNS order) the fastest way the database has.

    Only for callers that already checked the rows and update the balances themselves.
    """
    table = _table(StockMovement)
    columns = ", ".join(MOVEMENT_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(_MOVEMENT_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(MOVEMENT_COLUMNS))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _batch_kind(line: BatchLine) -> str:
    if line.from_location_id is None:
        return MovementKind.RECEIVE
    if line.to_location_id is None:
        return MovementKind.SHIP
    return MovementKind.MOVE


def _check_batch_line(
    line: BatchLine,
    products: dict[int, Product],
    active: dict[int, bool],
    *,
    actor: User | None,
    reason: str,
) -> None:
    _check_qty(line.qty)
    product = products.get(line.product_id)
    if product is None:
        raise ValidationError(f"Unknown SKU: no product with id {line.product_id}.")
    if product.tracking == Product.Tracking.SERIAL:
        raise ValidationError(
            f"{product.sku} is serial-tracked: post its units with the unit services."
        )
    _check_tracking(product, lot=line.lot, serials=(), qty=line.qty)
    for pk, is_destination in ((line.from_location_id, False), (line.to_location_id, True)):
        if pk is None:
            continue
        if pk not in active:
            raise ValidationError(f"Unknown location: no location with id {pk}.")
        if is_destination and not active[pk]:
            raise ValidationError(f"Location {pk} is inactive: stock cannot go there.")
    if (line.from_location_id is None) != (line.from_state is None) or (
        line.to_location_id is None
    ) != (line.to_state is None):
        raise ValidationError("Each side names both a location and a state, or neither.")
    if line.from_location_id is None and line.to_location_id is None:
        raise ValidationError("A movement starts or ends in our stock.")
    if (line.from_location_id, line.from_state) == (line.to_location_id, line.to_state):
        raise ValidationError("The stock is already there: nothing to move.")
    _check_change(line.from_state, line.to_state, actor=actor, reason=reason)


def _posted_hashes(keys: list[str]) -> dict[str, str]:
    """{key: payload hash} of the keys already in the ledger."""
    if connection.vendor == "postgresql":
        # One array parameter instead of an IN list of every key.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT idempotency_key, payload_hash FROM {_table(StockMovement)} "
                "WHERE idempotency_key = ANY(%s)",
                [keys],
            )
            return dict(cursor.fetchall())
    posted: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        posted.update(
            StockMovement.objects.filter(idempotency_key__in=keys[start : start + 500]).values_list(
                "idempotency_key", "payload_hash"
            )
        )
    return posted
