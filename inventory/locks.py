"""Row locks for stock writes, always taken in one order so concurrent posts cannot deadlock.

Order within a transaction: the idempotency key, units (by id), balances (by key),
availability rows (by product, channel). Every service goes through these helpers.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from .models import ChannelAvailability, InventoryUnit, SafetyStock, StockBalance

BalanceKey = tuple[int, int, str, str]  # product id, location id, state, lot

# Above this many keys, an OR of every key is too long a statement (imports touch thousands):
# PostgreSQL joins the keys as arrays, SQLite (no row locks) reads the products' and
# locations' range.
_EXACT_KEY_LIMIT = 32


def idempotency_key_lock(key: str) -> None:
    """Serialize requests that carry the same idempotency key until this transaction ends.

    PostgreSQL only: SQLite already runs one writing transaction at a time.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [idempotency_key_lock_id(key)])


def idempotency_key_lock_id(key: str) -> int:
    """The advisory lock that stands for the key (the SQL posting function takes it too)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def units_lock(*, product_id: int, serials: Iterable[str]) -> dict[str, InventoryUnit]:
    """Lock the product's units with these serials; {serial: unit} for those that exist."""
    units = (
        InventoryUnit.objects.select_for_update()
        .filter(product_id=product_id, serial__in=list(serials))
        .order_by("id")
    )
    return {unit.serial: unit for unit in units}


def balances_lock(keys: Iterable[BalanceKey]) -> dict[BalanceKey, tuple[int, int]]:
    """Lock the existing balance rows of `keys`; {key: (balance id, qty)}. Missing keys hold 0.

    Plain SQL: this runs in every posting, and the ORM would spend longer building the query
    than PostgreSQL spends running it.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    table = _table(StockBalance)
    if len(wanted) > _EXACT_KEY_LIMIT and connection.vendor == "postgresql":
        # Imports touch thousands of keys: join them as four arrays, locking exactly them.
        rows = _fetch(
            f"SELECT b.product_id, b.location_id, b.state, b.lot, b.id, b.qty FROM {table} b "
            "JOIN unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS k(p, l, s, lot) "
            "ON b.product_id = k.p AND b.location_id = k.l AND b.state = k.s AND b.lot = k.lot "
            f"ORDER BY b.product_id, b.location_id, b.state, b.lot{_for_update(' OF b')}",
            [list(column) for column in zip(*wanted, strict=True)],
        )
        return {(p, loc, s, lot): (pk, qty) for p, loc, s, lot, pk, qty in rows}
    if len(wanted) <= _EXACT_KEY_LIMIT:
        where = " OR ".join(
            ["(product_id = %s AND location_id = %s AND state = %s AND lot = %s)"] * len(wanted)
        )
        params = [value for key in wanted for value in key]
    else:
        products = sorted({key[0] for key in wanted})
        locations = sorted({key[1] for key in wanted})
        where = f"product_id IN ({_marks(products)}) AND location_id IN ({_marks(locations)})"
        params = [*products, *locations]
    rows = _fetch(
        f"SELECT product_id, location_id, state, lot, id, qty FROM {table} "
        f"WHERE {where} ORDER BY product_id, location_id, state, lot{_for_update()}",
        params,
    )
    return {(p, loc, s, lot): (pk, qty) for p, loc, s, lot, pk, qty in rows}


@dataclass
class AvailabilityRow:
    id: int
    product_id: int
    channel_id: int
    ats: int
    version: int
    safety_stock: int


def availability_lock(
    *, product_ids: list[int], channel_ids: list[int]
) -> dict[tuple[int, int], AvailabilityRow]:
    """Lock the availability rows of every (product, channel), creating the missing ones.

    Each row carries the channel's safety stock for the SKU (0 if none).
    """
    pairs = {(p, c) for p in product_ids for c in channel_ids}
    sql = (
        "SELECT a.id, a.product_id, a.channel_id, a.ats, a.version, COALESCE(s.qty, 0) "
        f"FROM {_table(ChannelAvailability)} a LEFT JOIN {_table(SafetyStock)} s "
        "ON s.channel_id = a.channel_id AND s.product_id = a.product_id "
        f"WHERE a.product_id IN ({_marks(product_ids)}) "
        f"AND a.channel_id IN ({_marks(channel_ids)}) "
        f"ORDER BY a.product_id, a.channel_id{_for_update(' OF a')}"
    )

    def lock() -> dict[tuple[int, int], AvailabilityRow]:
        rows = _fetch(sql, [*product_ids, *channel_ids])
        return {(row[1], row[2]): AvailabilityRow(*row) for row in rows}

    locked = lock()
    missing = pairs - locked.keys()
    if missing:
        ChannelAvailability.objects.bulk_create(
            [ChannelAvailability(product_id=p, channel_id=c) for p, c in sorted(missing)],
            ignore_conflicts=True,
        )
        locked = lock()
    return locked


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _marks(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _for_update(of: str = "") -> str:
    # SQLite has no row locks: it runs one writing transaction at a time.
    return f" FOR UPDATE{of}" if connection.features.has_select_for_update else ""
