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
from finance.valuation import movement_accounts, stock_value_post

from .. import locks
from ..models import CauseType, MovementKind, StockBalance, StockMovement
from ._checks import _check_change, _check_fits, _check_qty, _check_tracking, _insufficient
from ._common import CAUSE_TYPES, _changes_ats, _Request, _row_keys, _table
from ._posting import _balances_write, _post_checked
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
    batch. Lines of serial-tracked SKUs (with their serials) post first, as `stock_receive` /
    `stock_move` would, unit by unit: units are created or moved and each serial is one
    movement (`key`, `key#1`, …; those keys may not be another line's). Quantity lines are
    then written in order: on PostgreSQL they are COPYed into a temporary table and checked,
    written and summed into the balances by set-based SQL; the balances they touch are locked
    once in key order and may not go negative at any line (a batch of new receipts, the usual
    import, is COPYed straight into the ledger as its lines are hashed, once every line passed
    the checks). ATS and outbox rows for every SKU touched are refreshed, and each cause's
    value change is one journal entry. Nothing is written if any line fails.
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
    ledger insert then fails on the unique key index if one was used after all."""
    if cause_type not in CAUSE_TYPES:
        raise ValidationError(f"Unknown cause type {cause_type!r}.", code="unknown_cause")
    if keys_known_new and connection.vendor == "postgresql":
        streamed = _post_streamed(
            lines, actor=actor, cause_type=cause_type, reason=reason, occurred_at=occurred_at
        )
        if streamed is not None:
            return streamed
    hashes = _batch_hashes(lines, cause_type=cause_type, reason=reason, occurred_at=occurred_at)
    by_key = {
        line.idempotency_key: payload_hash for line, payload_hash in zip(lines, hashes, strict=True)
    }
    if len(by_key) == len(lines):  # as imports are: every line its own key
        firsts: _Todo = list(zip(range(len(lines)), lines, hashes, strict=True))
    else:
        by_key, firsts = _firsts(lines, hashes)
    # A serial line posts one movement per unit, keyed `key`, `key#1`, …: those keys are its.
    derived: dict[str, str] = {}
    for index, line in enumerate(lines):
        if len(line.serials) < 2:
            continue
        for row_key in _row_keys(line.idempotency_key, len(line.serials))[1:]:
            owner = derived.setdefault(row_key, line.idempotency_key)
            if row_key in by_key or owner != line.idempotency_key:
                raise ValidationError(
                    f"Line {index + 1}: its unit movement key {row_key!r} is also another "
                    "line's key; give each line a key that no other line's units use.",
                    code="idempotency_key_reused",
                )
    found = {} if keys_known_new else _posted_hashes([*by_key, *derived])
    posted = {key: payload_hash for key, payload_hash in found.items() if key in by_key}
    for key, payload_hash in found.items():
        if by_key.get(key, by_key.get(derived.get(key))) != payload_hash:
            raise ValidationError(
                f"Idempotency key {key!r} was already used for a different movement.",
                code="idempotency_key_reused",
            )
    todo = [item for item in firsts if item[1].idempotency_key not in posted] if posted else firsts
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
    # A line passes the checks of its SKU part (SKU, lot or not, serials) and then those of its
    # sides part (locations, states, the change): imports repeat each part many times, so each
    # distinct part is checked once (a refusal is kept and raised again for the next line).
    verdicts: dict[tuple, ValidationError | PermissionDenied | None] = {}

    def verdict(part: tuple, check, *args, **kwargs) -> ValidationError | PermissionDenied | None:
        if part not in verdicts:
            try:
                check(*args, **kwargs)
                verdicts[part] = None
            except (ValidationError, PermissionDenied) as refusal:
                verdicts[part] = refusal
        return verdicts[part]

    def sku_part(line: BatchLine) -> tuple:
        return ("sku", line.product_id, bool(line.lot), line.serials, line.serials and line.qty)

    def sides_part(line: BatchLine) -> tuple:
        return ("sides", line.from_location_id, line.from_state, line.to_location_id, line.to_state)

    # Every distinct part first, once each; the lines are walked in order only if one of them
    # is refused, to name the first line refused and why.
    skus = {sku_part(line): line for _, line, _ in todo}
    sides = {sides_part(line): line for _, line, _ in todo}
    refused = not _qtys_pass(todo) or any(
        [verdict(part, _check_batch_sku, line, products) for part, line in skus.items()]
        + [
            verdict(part, _check_batch_sides, line, locations, actor=actor, reason=reason)
            for part, line in sides.items()
        ]
    )
    for index, line, _ in todo if refused else ():
        try:
            _check_qty(line.qty)
            refusal = verdict(sku_part(line), _check_batch_sku, line, products) or verdict(
                sides_part(line), _check_batch_sides, line, locations, actor=actor, reason=reason
            )
            if refusal is not None:
                raise refusal
        except ValidationError as error:
            raise ValidationError(f"Line {index + 1}: {'; '.join(error.messages)}") from error
    # Units are posted one line at a time before the quantity lines (their SKUs are others).
    unit_todo = [item for item in todo if products[item[1].product_id].tracking == SERIAL]
    todo = [item for item in todo if products[item[1].product_id].tracking != SERIAL]
    units_posted = _post_unit_lines(
        unit_todo, actor=actor, cause_type=cause_type, reason=reason, occurred_at=occurred_at
    )
    if not todo:
        return BatchResult(posted=units_posted, replayed=len(posted))

    now = timezone.now()
    post_lines = _post_staged if connection.vendor == "postgresql" else _post_in_python
    post_lines(
        todo,
        cause_type=cause_type,
        actor_id=actor.pk if actor else None,
        occurred_at=occurred_at or now,
        now=now,
        reason=reason,
    )
    # Lines repeat a few pairs of states: each pair is asked once whether it can change ATS.
    changes_ats = _Memo(lambda states: _changes_ats(*states))
    availability_recompute(
        product_ids={
            line.product_id for _, line, _ in todo if changes_ats[line.from_state, line.to_state]
        }
    )
    _value_post_by_cause(
        todo,
        cause_type=cause_type,
        occurred_at=occurred_at or now,
        now=now,
        reason=reason,
        actor=actor,
    )
    return BatchResult(posted=len(todo) + units_posted, replayed=len(posted))


_Todo = list[tuple[int, BatchLine, str]]  # (index in the batch, line, payload hash)


def _post_streamed(
    lines: Sequence[BatchLine],
    *,
    actor: User | None,
    cause_type: str,
    reason: str,
    occurred_at: datetime | None,
) -> BatchResult | None:
    """PostgreSQL, new keys only: post a batch of receipts of quantity SKUs (an import's usual
    shape) by hashing and COPYing each line straight into the ledger as it comes, so that
    PostgreSQL writes the ledger on one core while Python prepares the next lines on the other
    (one after the other, Python's part was a third of an import's time). Then one upsert adds
    each balance key's total, in key order as every path locks, and ATS and the journal follow
    as for any batch. A key used before, or given twice in the batch, fails the ledger's unique
    index during the COPY (the caller rolls the COPY back and posts the batch the exact way,
    which replays or refuses it).

    None, having written nothing, if a line is refused (the caller's exact path says which and
    why) or the batch is of another shape (a line that moves or ships stock, serials or a
    serial-tracked SKU, a naive time): the caller posts it the staged way."""
    if any(line.from_location_id is not None or line.serials for line in lines) or (
        occurred_at is not None and timezone.is_naive(occurred_at)
    ):
        return None
    products = {p.pk: p for p in Product.objects.filter(pk__in={line.product_id for line in lines})}
    if any(product.tracking == SERIAL for product in products.values()):
        return None
    locations = {
        pk: (is_active, kind)
        for pk, is_active, kind in Location.objects.filter(
            pk__in={line.to_location_id for line in lines}
        )
        .order_by()
        .values_list("pk", "is_active", "kind")
    }

    # Every distinct part of the lines passes the checks of `_post_batch` before the COPY starts
    # (some ask the database, which answers nothing else during a COPY); if one is refused,
    # the exact path names the first line refused and why.
    skus = {(line.product_id, not line.lot): line for line in lines}
    sides = {(line.to_location_id, line.to_state): line for line in lines}
    try:
        for _, qty in {(type(line.qty), line.qty) for line in lines}:  # True is not taken for 1
            _check_qty(qty)
        for line in skus.values():
            _check_batch_sku(line, products)
        for line in sides.values():
            _check_batch_sides(line, locations, actor=actor, reason=reason)
    except (ValidationError, PermissionDenied):
        return None
    line_hash = _line_hasher(cause_type=cause_type, reason=reason, occurred_at=occurred_at)
    changes_value = _Memo(
        lambda to_state: (
            movement_accounts(None, to_state, MovementKind.RECEIVE, cause_type) is not None
        )
    )
    now = timezone.now()
    occurred_at = occurred_at or now
    actor_id = actor.pk if actor else None
    deltas: dict[locks.BalanceKey, int] = defaultdict(int)
    valued: _Todo = []  # the lines that change stock value, for the journal
    with connection.cursor() as cursor:
        # The ledger's reference trigger keeps the COPY's rows in memory (its transition
        # table; the default 4 MB spills 100,000 rows to disk and reads them back four times),
        # and the balance upsert sorts 50,000 keys; SET LOCAL ends with the transaction.
        cursor.execute(_WORK_MEM)
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(
                f"COPY {_table(StockMovement)} ({', '.join(MOVEMENT_COLUMNS)}) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(_MOVEMENT_COPY_TYPES)
            write_row = copy.write_row
            row = partial(
                _movement_row,
                cause_type=cause_type,
                actor_id=actor_id,
                occurred_at=occurred_at,
                now=now,
                reason=reason,
            )
            for index, line in enumerate(lines):
                payload_hash = line_hash(line)
                write_row(row(line, payload_hash))
                state = line.to_state
                deltas[line.product_id, line.to_location_id, state, line.lot] += line.qty
                if changes_value[state]:
                    valued.append((index, line, payload_hash))
        _balances_receive(cursor, deltas)
    changes_ats = _Memo(lambda state: _changes_ats(None, state))
    availability_recompute(
        product_ids={product_id for product_id, _, state, _ in deltas if changes_ats[state]}
    )
    _value_post_by_cause(
        valued, cause_type=cause_type, occurred_at=occurred_at, now=now, reason=reason, actor=actor
    )
    return BatchResult(posted=len(lines), replayed=0)


def _firsts(lines: Sequence[BatchLine], hashes: list[str]) -> tuple[dict[str, str], _Todo]:
    """{key: payload hash} and each key's first line; a key given twice must carry the same
    line both times."""
    by_key: dict[str, str] = {}
    firsts: _Todo = []
    for index, (line, payload_hash) in enumerate(zip(lines, hashes, strict=True)):
        known = by_key.setdefault(line.idempotency_key, payload_hash)
        if known is payload_hash:  # this line's own hash object: the key is new
            firsts.append((index, line, payload_hash))
        elif known != payload_hash:
            raise ValidationError(
                f"Key {line.idempotency_key!r} appears twice in the batch with different lines.",
                code="idempotency_key_reused",
            )
    return by_key, firsts


_WORK_MEM = "SET LOCAL work_mem = '64MB'"

# The quantity lines of one batch, COPYed in so SQL can check and post them as a set.
_STAGE = "inventory_batch_lines"
_STAGE_COLUMNS = (
    "ord integer, product_id bigint, qty integer, lot text, from_location_id bigint, "
    "from_state text, to_location_id bigint, to_state text, kind text, cause_id text, "
    "idempotency_key text, payload_hash text"
)
_STAGE_COPY_TYPES = [
    "int4",
    "int8",
    "int4",
    "text",
    "int8",
    "text",
    "int8",
    "text",
    "text",
    "text",
    "text",
    "text",
]
# Each line's effect on a balance: its source gives qty, its destination takes it.
_SIDES = f"""
    SELECT ord, product_id, from_location_id AS location_id, from_state AS state, lot,
           -qty AS delta
      FROM {_STAGE} WHERE from_location_id IS NOT NULL
    UNION ALL
    SELECT ord, product_id, to_location_id, to_state, lot, qty
      FROM {_STAGE} WHERE to_location_id IS NOT NULL
"""
_KEY = "product_id, location_id, state, lot"


def _post_staged(
    todo: _Todo,
    *,
    cause_type: str,
    actor_id: int | None,
    occurred_at: datetime,
    now: datetime,
    reason: str,
) -> None:
    """PostgreSQL: COPY the lines into a temporary table, then, in SQL: lock every balance
    they touch in key order and find the first line that would take one below zero (none
    may); insert the movements in line order; add each key's net change to its balance.

    Lines that only bring stock in (receipts, opening balances: most imports) cannot take a
    balance below zero, so nothing is checked or locked ahead: one upsert adds each key's
    total in key order, locking each row as it reaches it, the order every path locks in."""
    balances = _table(StockBalance)
    with connection.cursor() as cursor:
        # The sorts and hashes over the lines fit in memory (the default 4 MB spills 100,000
        # lines to disk); SET LOCAL ends with the transaction.
        cursor.execute(_WORK_MEM)
        cursor.execute(f"CREATE TEMPORARY TABLE {_STAGE} ({_STAGE_COLUMNS}) ON COMMIT DROP")
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {_STAGE} FROM STDIN (FORMAT BINARY)") as copy,
        ):
            # Binary: half the time of text COPY here, and no escaping in Python.
            copy.set_types(_STAGE_COPY_TYPES)
            for index, line, payload_hash in todo:
                copy.write_row(
                    (
                        index,
                        line.product_id,
                        line.qty,
                        line.lot,
                        line.from_location_id,
                        line.from_state,
                        line.to_location_id,
                        line.to_state,
                        _batch_kind(line),
                        line.cause_id,
                        line.idempotency_key,
                        payload_hash,
                    )
                )
        receipts_only = all(line.from_location_id is None for _, line, _ in todo)
        if not receipts_only:
            _lock_and_check(cursor, balances)
        cursor.execute(
            f"INSERT INTO {_table(StockMovement)} ({', '.join(MOVEMENT_COLUMNS)}) "
            "SELECT product_id, qty, lot, from_location_id, from_state, to_location_id, "
            "to_state, kind, %s, cause_id, %s, %s, %s, idempotency_key, payload_hash, %s "
            f"FROM {_STAGE} ORDER BY ord",
            [cause_type, actor_id, occurred_at, now, reason],
        )
        if receipts_only:
            cursor.execute(
                f"""
                INSERT INTO {balances} AS b ({_KEY}, qty)
                SELECT product_id, to_location_id, to_state, lot, sum(qty) FROM {_STAGE}
                 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
                    ON CONFLICT ({_KEY}) DO UPDATE SET qty = b.qty + EXCLUDED.qty
                """
            )
        else:
            # The balances held change by their net; the others are created (an upsert alone
            # would not do: PostgreSQL checks qty >= 0 on the row it would insert, before the
            # conflict), adding to a row a concurrent transaction created meanwhile rather than
            # failing.
            cursor.execute(
                f"""
                WITH net AS MATERIALIZED (
                    SELECT {_KEY}, sum(delta) AS delta FROM ({_SIDES}) AS sides
                     GROUP BY {_KEY} HAVING sum(delta) <> 0
                ), held AS (
                    UPDATE {balances} b SET qty = b.qty + n.delta FROM net n
                     WHERE b.product_id = n.product_id AND b.location_id = n.location_id
                       AND b.state = n.state AND b.lot = n.lot
                    RETURNING b.product_id, b.location_id, b.state, b.lot
                )
                INSERT INTO {balances} AS b ({_KEY}, qty)
                SELECT {_KEY}, delta FROM net
                 WHERE NOT EXISTS (SELECT FROM held WHERE ({_KEY}) = (
                       net.product_id, net.location_id, net.state, net.lot))
                 ORDER BY {_KEY}
                    ON CONFLICT ({_KEY}) DO UPDATE SET qty = b.qty + EXCLUDED.qty
                """
            )
        cursor.execute(f"DROP TABLE {_STAGE}")


def _balances_receive(cursor, deltas: dict[locks.BalanceKey, int]) -> None:
    """Add what receipts bring to each balance key: one upsert in key order, locking each row
    as it reaches it (the order every path locks in); a receipt cannot take one below zero.

    The keys go in by binary COPY: as array parameters, quoting 50,000 keys' texts in Python
    took longer than the upsert."""
    if not deltas:
        return
    cursor.execute(f"CREATE TEMPORARY TABLE {_RECEIVED} ({_RECEIVED_COLUMNS}) ON COMMIT DROP")
    with (
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {_RECEIVED} FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["int8", "int8", "text", "text", "int8"])
        for key, qty in deltas.items():
            copy.write_row((*key, qty))
    cursor.execute(RECEIPTS_TO_BALANCES)
    cursor.execute(f"DROP TABLE {_RECEIVED}")


# What the receipts of a streamed batch bring to each balance key.
_RECEIVED = "inventory_batch_received"
_RECEIVED_COLUMNS = "product_id bigint, location_id bigint, state text, lot text, qty bigint"
# Each key's total into its balance, in key order (bench/ledger_instructions.py counts it).
RECEIPTS_TO_BALANCES = f"""
    INSERT INTO {_table(StockBalance)} AS b ({_KEY}, qty)
    SELECT * FROM {_RECEIVED} ORDER BY {_KEY}
        ON CONFLICT ({_KEY}) DO UPDATE SET qty = b.qty + EXCLUDED.qty
"""


def _lock_and_check(cursor, balances: str) -> None:
    """Lock every balance the staged lines touch, in key order, and refuse the first line
    that would take one below zero at its turn."""
    # Every balance the lines touch, locked in key order as every posting path does (the
    # count makes PostgreSQL read, so lock, them all). A key no line could take below zero
    # holds at least all its lines draw from it; the others, if any, are checked below.
    cursor.execute(
        f"""
        WITH keys AS (
            SELECT {_KEY}, sum(GREATEST(-delta, 0)) AS drawn FROM ({_SIDES}) AS sides
             GROUP BY {_KEY}
        ), locked AS (
            SELECT b.qty, k.drawn FROM {balances} b JOIN keys k USING ({_KEY})
             ORDER BY b.product_id, b.location_id, b.state, b.lot
               FOR UPDATE OF b
        )
        SELECT (SELECT count(*) FROM keys WHERE drawn > 0)
               - count(*) FILTER (WHERE drawn > 0 AND qty >= drawn)
          FROM locked
        """
    )
    if not cursor.fetchone()[0]:
        return  # every key holds what its lines draw from it
    # The running balance of each such key, line by line, from its locked quantity: the first
    # line that takes one below zero is refused.
    cursor.execute(
        f"""
        WITH drawn AS (
            SELECT s.ord, s.product_id, s.location_id, s.state, s.lot, s.delta,
                   COALESCE(b.qty, 0) + sum(s.delta) OVER (
                       PARTITION BY s.product_id, s.location_id, s.state, s.lot
                       ORDER BY s.ord
                   ) AS after
              FROM ({_SIDES}) AS s
              LEFT JOIN {balances} b USING ({_KEY})
             WHERE ({_KEY}) IN (
                   SELECT product_id, from_location_id, from_state, lot FROM {_STAGE}
                    WHERE from_location_id IS NOT NULL)
        )
        SELECT ord, {_KEY}, after - delta, -delta FROM drawn
         WHERE delta < 0 AND after < 0 ORDER BY ord LIMIT 1
        """
    )
    short = cursor.fetchone()
    if short is not None:
        index, *key, have, needed = short
        error = _insufficient(tuple(key), have=have, needed=needed)
        raise ValidationError(f"Line {index + 1}: {error.message}", code=error.code)


def _post_in_python(
    todo: _Todo,
    *,
    cause_type: str,
    actor_id: int | None,
    occurred_at: datetime,
    now: datetime,
    reason: str,
) -> None:
    """Other databases: lock the balances once, replay the lines in order so none goes
    negative at any point, then write the movements and the balances' net changes."""
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
    movements_copy(
        [
            _movement_row(
                line,
                payload_hash,
                cause_type=cause_type,
                actor_id=actor_id,
                occurred_at=occurred_at,
                now=now,
                reason=reason,
            )
            for _, line, payload_hash in todo
        ]
    )
    _balances_write({key: delta for key, delta in deltas.items() if delta}, locked)


def _movement_row(
    line: BatchLine,
    payload_hash: str,
    *,
    cause_type: str,
    actor_id: int | None,
    occurred_at: datetime,
    now: datetime,
    reason: str,
) -> tuple:
    """A line as a ledger row, in MOVEMENT_COLUMNS order."""
    return (
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
        occurred_at,
        now,
        line.idempotency_key,
        payload_hash,
        reason,
    )


def _value_post_by_cause(
    todo: _Todo,
    *,
    cause_type: str,
    occurred_at: datetime,
    now: datetime,
    reason: str,
    actor: User | None,
) -> None:
    """One journal entry per cause (a count, an import file): its lines that change stock
    value are valued together, summed per account pair, instead of an entry per line."""
    by_cause: dict[str, list] = defaultdict(list)
    # Lines repeat a few shapes: each distinct one is looked up once.
    changes_value = _Memo(lambda shape: movement_accounts(*shape, cause_type) is not None)
    for _, line, payload_hash in todo:
        if changes_value[line.from_state, line.to_state, _batch_kind(line)]:
            by_cause[line.cause_id].append(
                _MovementRow(
                    *_movement_row(
                        line,
                        payload_hash,
                        cause_type=cause_type,
                        actor_id=actor.pk if actor else None,
                        occurred_at=occurred_at,
                        now=now,
                        reason=reason,
                    )
                )
            )
    for movements in by_cause.values():
        stock_value_post(movements=movements, actor=actor)


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
    """Each line's payload hash (see `_line_hasher`)."""
    line_hash = _line_hasher(cause_type=cause_type, reason=reason, occurred_at=occurred_at)
    return [line_hash(line) for line in lines]


def _line_hasher(*, cause_type: str, reason: str, occurred_at: datetime | None):
    """A function giving a line's payload hash: `_payload_hash("stock_post_batch", …)` of the
    line, byte for byte, at a fraction of its cost (json.dumps per line was a fifth of an
    import's time).

    The JSON text is assembled around the parts the whole batch shares, encoded once; a value
    of a type other than int, str or None falls back to json.dumps itself.
    """
    encode_str = json.encoder.encode_basestring_ascii  # what json.dumps uses (ensure_ascii)

    def enc(value) -> str:
        if type(value) is int:
            return str(value)
        if isinstance(value, str):  # a TextChoices member too: json.dumps writes its text
            return encode_str(value)
        if value is None:
            return "null"
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    head = f'{{"cause":[{enc(cause_type)},'
    middle = f',"occurred_at":{enc(occurred_at.isoformat() if occurred_at else None)},"product_id":'
    reason_part = f',"reason":{enc(reason)}'
    tail = ',"service":"stock_post_batch","to":['
    # Imports repeat a few SKUs, sides, lots and causes: each distinct one is encoded once.
    causes, lots = _Memo(lambda value: f"{head}{enc(value)}],"), _Memo(enc)
    sources = _Memo(lambda side: f'"frm":[{enc(side[0])},{enc(side[1])}],"lot":')
    targets = _Memo(lambda side: f"{tail}{enc(side[0])},{enc(side[1])}]}}")
    sha256 = hashlib.sha256

    def line_hash(line: BatchLine) -> str:
        return sha256(
            (
                f"{causes[line.cause_id]}{sources[line.from_location_id, line.from_state]}"
                f'{lots[line.lot]}{middle}{enc(line.product_id)},"qty":{enc(line.qty)}'
                f"{reason_part}{_serials_part(line.serials)}"
                f"{targets[line.to_location_id, line.to_state]}"
            ).encode()
        ).hexdigest()

    return line_hash


class _Memo(dict):
    """{value: make(value)}, made on first use."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, value):
        made = self[value] = self.make(value)
        return made


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


def _qtys_pass(todo: _Todo) -> bool:
    """Every line's quantity passes `_check_qty` (each distinct one checked once; the type is
    part of the value, so True is not taken for 1)."""
    try:
        for _, qty in {(type(line.qty), line.qty) for _, line, _ in todo}:
            _check_qty(qty)
    except (ValidationError, TypeError):
        return False
    return True


def _batch_kind(line: BatchLine) -> str:
    if line.from_location_id is None:
        return MovementKind.RECEIVE
    if line.to_location_id is None:
        return MovementKind.SHIP
    return MovementKind.MOVE


def _check_batch_sku(line: BatchLine, products: dict[int, Product]) -> None:
    """The line's SKU exists and takes its lot and serials (the checks on its quantity come
    first, per line)."""
    product = products.get(line.product_id)
    if product is None:
        raise ValidationError(f"Unknown SKU: no product with id {line.product_id}.")
    _check_tracking(product, lot=line.lot, serials=line.serials, qty=line.qty)


def _check_batch_sides(
    line: BatchLine,
    locations: dict[int, tuple[bool, str]],
    *,
    actor: User | None,
    reason: str,
) -> None:
    """The line's locations exist (its destination active), each side is complete, the change
    of state is allowed, and the destination holds stock in that state."""
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
