"""The write path every single-request service ends in: one SQL call on PostgreSQL for a
quantity request, else checks step by step, then movements, balances, ATS and the journal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from erp.models import Product
from finance.valuation import is_value_change, movement_accounts, stock_value_post

from .. import locks
from ..models import StockBalance, StockMovement
from ..models.states import RECEIVABLE_STATES, kinds_refusing
from ._checks import (
    _check_change,
    _check_locations,
    _check_qty,
    _check_tracking,
    _insufficient,
    _product,
)
from ._common import (
    _NEVER_SELLABLE,
    _SQL_INT_MAX,
    IN_STOCK_STATES,
    _begin,
    _changes_ats,
    _Line,
    _Request,
    _row_keys,
    _table,
)
from ._units import _unit_lines
from .availability import _availability_queue, availability_recompute

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User


def _post_atomically(request: _Request, **post) -> list[StockMovement]:
    """`_begin_and_post(request, **post)` in a transaction of its own (a savepoint inside the
    caller's).

    Called outside any transaction, a quantity request that changes no stock value is first
    sent as one autocommit call of `inventory_post_quantity`: the function is atomic and
    writes the movement, balances, ATS and outbox rows itself, so BEGIN and COMMIT would only
    add two round trips; the outbox dispatch that on_commit would run after COMMIT runs once
    the call has committed. A request that needs a journal entry (written in Python, so in a
    transaction) or that the call declines goes the transactional way.
    """
    from_state, to_state = post["from_side"][1], post["to_side"][1]
    if (
        not post.get("serials")
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and connection.get_autocommit()
        and movement_accounts(from_state, to_state, request.kind, request.cause_type) is None
    ):
        one_statement = {"entries": RECEIVABLE_STATES, "exits": IN_STOCK_STATES}
        one_statement.update((key, post[key]) for key in _ONE_STATEMENT if key in post)
        movement = _post_in_one_statement(request, **one_statement)
        if movement is not None:
            return [movement]
        post["one_statement"] = False  # the step-by-step path says why
    with transaction.atomic():
        return _begin_and_post(request, **post)


# What `_post_in_one_statement` takes of a request's arguments (a quantity post's).
_ONE_STATEMENT = {"product_id", "qty", "lot", "from_side", "to_side", "entries", "exits"}


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
    one_statement: bool = True,
) -> list[StockMovement]:
    """Replay the request if its key was used, else check and post it, in the caller's
    transaction.

    On PostgreSQL a quantity request (no serials) that passes the checks Python can make on
    its own is posted by one database call (unless `one_statement` is False: the caller just
    tried); anything else, and any request the database declines (replay, refusal), goes the
    step-by-step way, which replays or raises the specific error.
    """
    if one_statement and not serials and connection.vendor == "postgresql":
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
            "%s, %s, %s, %s, %s, %s, %s, %s)",
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
                kinds_refusing(to_side[1]),
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
    _check_change(
        from_state,
        to_state,
        actor=request.actor,
        reason=request.reason,
        entries=entries,
        exits=exits,
    )
    # After the flow: a change the flow refuses anywhere is refused as such, not for where.
    _check_locations(from_ids=[from_location_id], to_sides=[to_side])
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
    if any(_changes_ats(line.from_state, line.to_state) for line in lines):
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
