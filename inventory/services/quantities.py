"""A few quantity requests of one document posted in one round trip, each as its single
service would post it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from .. import locks
from ..models import StockMovement
from ..models.states import kinds_refusing
from ._checks import _check_change, _check_qty
from ._common import _NEVER_SELLABLE, _SQL_INT_MAX, _Request
from ._posting import _begin_and_post, _value_post
from .availability import _availability_queue
from .posting import _move_request, _receive_request

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User


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
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) AS t"
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
            kinds_refusing(post.to_state),
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
