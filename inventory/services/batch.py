"""Batch posting for imports (COPY), and the raw movement COPY that seeding and benches use."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict, namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from erp.models import Location, Product

from .. import locks
from ..models import CauseType, MovementKind, StockMovement
from ._checks import _check_change, _check_fits, _check_qty, _check_tracking, _insufficient
from ._common import CAUSE_TYPES, _Request, _table
from ._posting import _balances_write, _post_checked, _value_post
from .availability import availability_recompute

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

SERIAL = Product.Tracking.SERIAL


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
    # Serial-tracked SKUs: one serial per unit (qty of them). A unit received from outside is
    # created (or comes back as a return); a unit moved must be where the line says.
    serials: tuple[str, ...] = ()


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
    """Post many movements at once (imports, opening balances, 3PL feeds).

    Effects: the same checks as the single services for every line; lines whose key was
    already posted with the same payload are skipped, a different payload fails the whole
    batch. Quantity lines are written with COPY (PostgreSQL) in order, balances are locked
    once in key order and may not go negative at any line; ATS and outbox rows for every SKU
    touched are refreshed. Lines of serial-tracked SKUs (with their serials) then post as
    `stock_receive` / `stock_move` would, unit by unit: units are created or moved and each
    serial is one movement (`key`, `key#1`, …). Nothing is written if any line fails.
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
    locations = {
        pk: (is_active, kind)
        for pk, is_active, kind in Location.objects.filter(pk__in=location_ids)
        .order_by()
        .values_list("pk", "is_active", "kind")
    }
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
                line.serials,
            )
            if shape not in shapes:
                try:
                    _check_batch_line(line, products, locations, actor=actor, reason=reason)
                    shapes[shape] = None
                except (ValidationError, PermissionDenied) as refusal:
                    shapes[shape] = refusal
            if shapes[shape] is not None:
                raise shapes[shape]
        except ValidationError as error:
            raise ValidationError(f"Line {index + 1}: {'; '.join(error.messages)}") from error
    # Units are posted one line at a time after the quantity lines (their SKUs are others).
    unit_todo = [item for item in todo if products[item[1].product_id].tracking == SERIAL]
    todo = [item for item in todo if products[item[1].product_id].tracking != SERIAL]
    units_posted = _post_unit_lines(
        unit_todo, actor=actor, cause_type=cause_type, reason=reason, occurred_at=occurred_at
    )
    if not todo:
        return BatchResult(posted=units_posted, replayed=len(posted))

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
    return BatchResult(posted=len(rows) + units_posted, replayed=len(posted))


def _post_unit_lines(
    todo: list[tuple[int, BatchLine, str]],
    *,
    actor: User | None,
    cause_type: str,
    reason: str,
    occurred_at: datetime | None,
) -> int:
    """Post serial-tracked lines through the single services' checked path, in order."""
    for index, line, payload_hash in todo:
        request = _Request(
            key=line.idempotency_key,
            payload_hash=payload_hash,
            kind=_batch_kind(line),
            cause_type=cause_type,
            cause_id=line.cause_id,
            actor=actor,
            occurred_at=occurred_at,
            reason=reason,
        )
        try:
            _post_checked(
                request,
                product_id=line.product_id,
                qty=line.qty,
                lot=line.lot,
                serials=line.serials,
                from_side=(line.from_location_id, line.from_state),
                to_side=(line.to_location_id, line.to_state),
                create_units=line.from_location_id is None,
            )
        except ValidationError as error:
            raise ValidationError(
                f"Line {index + 1}: {'; '.join(error.messages)}", code=error.code
            ) from error
    return len(todo)


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
    reason_part = f',"reason":{enc(reason)}'
    tail = ',"service":"stock_post_batch","to":['
    sha256 = hashlib.sha256
    return [
        sha256(
            (
                f"{head}{enc(line.cause_id)}],"
                f'"frm":[{enc(line.from_location_id)},{enc(line.from_state)}],'
                f'"lot":{enc(line.lot)}{middle}{enc(line.product_id)},"qty":{enc(line.qty)}'
                f"{reason_part}{_serials_part(line.serials)}"
                f"{tail}{enc(line.to_location_id)},{enc(line.to_state)}]}}"
            ).encode()
        ).hexdigest()
        for line in lines
    ]


def _serials_part(serials: tuple[str, ...]) -> str:
    """The serials in a line's hash; none for quantity lines, so their hashes stay as they
    were before batches took units."""
    if not serials:
        return ""
    return f',"serials":{json.dumps(list(serials), separators=(",", ":"))}'


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
    locations: dict[int, tuple[bool, str]],
    *,
    actor: User | None,
    reason: str,
) -> None:
    _check_qty(line.qty)
    product = products.get(line.product_id)
    if product is None:
        raise ValidationError(f"Unknown SKU: no product with id {line.product_id}.")
    _check_tracking(product, lot=line.lot, serials=line.serials, qty=line.qty)
    for pk, is_destination in ((line.from_location_id, False), (line.to_location_id, True)):
        if pk is None:
            continue
        if pk not in locations:
            raise ValidationError(f"Unknown location: no location with id {pk}.")
        if is_destination and not locations[pk][0]:
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
    if line.to_location_id is not None:
        _check_fits(line.to_location_id, locations[line.to_location_id][1], line.to_state)


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
