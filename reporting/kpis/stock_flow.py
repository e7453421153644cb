"""How long stock waits in a state, read from the movement ledger: restock latency (received,
pending inspection → available) and quarantine aging.

Units entering and leaving a state are matched first in, first out per SKU x lot, or per
serialized unit when the movement names one; a move within the state (between locations)
neither enters nor leaves it. Units leaving that no read entry accounts for (they entered
before the movements read) are left out, and do not use up a later entry.

On PostgreSQL the matching is one set-based query (`SEGMENTS_SQL`); elsewhere (the SQLite
demo) the movements are walked in Python (`_flow`). Both give the same pieces.
"""

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone

from inventory.models import StockBalance, StockMovement, StockState

from .filters import KpiFilters
from .stats import DurationSummary, on_postgresql

RESTOCK_LOOKBACK = timedelta(days=90)
QUARANTINE_LOOKBACK = timedelta(days=365)


@dataclass
class _Entry:
    at: datetime
    qty: int


@dataclass(frozen=True)
class Exit:
    """Units leaving the state: when, where to, and when they entered."""

    at: datetime
    to_state: str | None
    entered_at: datetime
    qty: int


def _key(movement) -> tuple:
    if movement["unit_id"]:
        return ("unit", movement["unit_id"])
    return (movement["product_id"], movement["lot"])


def _flow(state: str, movements: Iterable[dict]) -> tuple[list[Exit], dict[tuple, deque]]:
    """Match exits from `state` to entries into it, FIFO per key; returns the exits and what
    is still in the state (entries not yet consumed)."""
    inside: dict[tuple, deque] = defaultdict(deque)
    exits: list[Exit] = []
    for movement in movements:
        if movement["from_state"] == movement["to_state"]:
            continue
        queue = inside[_key(movement)]
        if movement["to_state"] == state:
            queue.append(_Entry(movement["occurred_at"], movement["qty"]))
            continue
        remaining = movement["qty"]
        while remaining and queue:
            entry = queue[0]
            taken = min(entry.qty, remaining)
            exits.append(
                Exit(
                    at=movement["occurred_at"],
                    to_state=movement["to_state"],
                    entered_at=entry.at,
                    qty=taken,
                )
            )
            entry.qty -= taken
            remaining -= taken
            if not entry.qty:
                queue.popleft()
    return exits, inside


def _movements(state: str, *, since: datetime, until: datetime, filters: KpiFilters):
    movements = StockMovement.objects.filter(
        Q(from_state=state) | Q(to_state=state), occurred_at__gte=since, occurred_at__lt=until
    )
    if filters.category_id:
        movements = movements.filter(product__category_id=filters.category_id)
    if filters.warehouse_id:
        movements = movements.filter(
            Q(from_location__warehouse_id=filters.warehouse_id)
            | Q(to_location__warehouse_id=filters.warehouse_id)
        )
    return movements.order_by("occurred_at", "pk").values(
        "product_id", "lot", "unit_id", "qty", "from_state", "to_state", "occurred_at"
    )


# The FIFO matching as set-based SQL. Per key, in (occurred_at, id) order: e = units that
# entered so far, x = units asked to leave so far. A walk drops the part of an exit that finds
# the state empty, so what has really left is c = x + min(0, min over rows so far of e - x);
# an exit takes the units (c before it, c after it] of the entries' sequence, and an entry is
# the units (e - qty, e]. Cutting that line at every entry's e and every exit's c gives pieces
# that each belong to one entry and at most one exit (none: still in the state): the first
# entry and the first exit at or beyond the piece's end, found as running minimums over the
# points in descending order (RANGE, so an entry and an exit at the same point see each other).
SEGMENTS_SQL = """
WITH m AS (
    SELECT sm.id, sm.occurred_at AS at, sm.qty, sm.to_state,
        COALESCE(sm.to_state = %(state)s, false) AS entering,
        COALESCE(sm.unit_id, 0) AS unit_key,
        CASE WHEN sm.unit_id IS NULL THEN sm.product_id ELSE 0 END AS product_key,
        CASE WHEN sm.unit_id IS NULL THEN sm.lot ELSE '' END AS lot_key
    FROM inventory_stockmovement sm {joins}
    WHERE (sm.from_state = %(state)s OR sm.to_state = %(state)s)
        AND sm.from_state IS DISTINCT FROM sm.to_state
        AND sm.occurred_at >= %(read_since)s AND sm.occurred_at < %(until)s {where}
), c AS (
    SELECT m.*,
        SUM(CASE WHEN entering THEN qty ELSE 0 END) OVER w AS e,
        SUM(CASE WHEN entering THEN 0 ELSE qty END) OVER w AS x
    FROM m
    WINDOW w AS (PARTITION BY unit_key, product_key, lot_key ORDER BY at, id)
), k AS (
    SELECT c.*,
        x + LEAST(0, MIN(e - x) OVER w) AS consumed,
        x - CASE WHEN entering THEN 0 ELSE qty END + LEAST(0, COALESCE(
            MIN(e - x) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)) AS before
    FROM c
    WINDOW w AS (PARTITION BY unit_key, product_key, lot_key ORDER BY at, id)
), p AS (
    SELECT unit_key, product_key, lot_key, e AS pos, 0 AS side, at AS entered_at,
        NULL::timestamptz AS exit_at, NULL::varchar AS to_state
    FROM k WHERE entering
    UNION ALL
    SELECT unit_key, product_key, lot_key, consumed, 1, NULL, at, to_state
    FROM k WHERE NOT entering AND consumed > before
), s AS (
    SELECT p.unit_key, p.product_key, p.lot_key,
        pos - LAG(pos, 1, 0) OVER (
            PARTITION BY unit_key, product_key, lot_key ORDER BY pos, side
        ) AS qty,
        MIN(entered_at) OVER r AS entered_at,
        MIN(CASE WHEN side = 1 THEN pos END) OVER r AS exit_pos
    FROM p
    WINDOW r AS (
        PARTITION BY unit_key, product_key, lot_key ORDER BY pos DESC RANGE UNBOUNDED PRECEDING
    )
), segments AS (
    SELECT s.entered_at, x.exit_at, x.to_state, s.qty
    FROM s LEFT JOIN p x ON x.side = 1 AND x.pos = s.exit_pos AND x.unit_key = s.unit_key
        AND x.product_key = s.product_key AND x.lot_key = s.lot_key
    WHERE s.qty > 0
)
"""
EXITS_SQL = """
SELECT exit_at - entered_at, to_state, SUM(qty)::bigint FROM segments
WHERE exit_at >= %(since)s AND exit_at < %(window_until)s GROUP BY 1, 2
"""
INSIDE_SQL = """
SELECT FLOOR(EXTRACT(EPOCH FROM %(until)s - entered_at) / 86400)::int, SUM(qty)::bigint
FROM segments
WHERE exit_at IS NULL GROUP BY 1
"""


def _segments_query(select: str, state: str, *, read_since, until, filters, **params):
    joins, where = [], []
    if filters.category_id:
        joins.append("JOIN erp_product pr ON pr.id = sm.product_id")
        where.append("pr.category_id = %(category)s")
    if filters.warehouse_id:
        joins.append(
            "LEFT JOIN erp_location fl ON fl.id = sm.from_location_id "
            "LEFT JOIN erp_location tl ON tl.id = sm.to_location_id"
        )
        where.append("(fl.warehouse_id = %(warehouse)s OR tl.warehouse_id = %(warehouse)s)")
    sql = SEGMENTS_SQL.format(
        joins=" ".join(joins), where="".join(f" AND {clause}" for clause in where)
    )
    params = {
        "state": state,
        "read_since": read_since,
        "until": until,
        "category": filters.category_id,
        "warehouse": filters.warehouse_id,
        **params,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql + select, params)
        return cursor.fetchall()


def stays(state: str, *, filters: KpiFilters, lookback: timedelta) -> list[tuple]:
    """(time spent in `state`, state moved to, units) of the units leaving `state` in the
    window, matched FIFO against the movements of `lookback` before the window (warehouse and
    category filters apply to the movements read); grouped by time and destination."""
    read_since, until = filters.since - lookback, filters.until
    if on_postgresql():
        return _segments_query(
            EXITS_SQL,
            state,
            read_since=read_since,
            until=until,
            filters=filters,
            since=filters.since,
            window_until=until,
        )
    exits, _ = _flow(state, _movements(state, since=read_since, until=until, filters=filters))
    grouped: dict[tuple, int] = defaultdict(int)
    for item in exits:
        if filters.since <= item.at < until:
            grouped[(item.at - item.entered_at, item.to_state)] += item.qty
    return [(spent, to_state, qty) for (spent, to_state), qty in grouped.items()]


def _ages(state: str, *, now: datetime, filters: KpiFilters, lookback: timedelta) -> list[tuple]:
    """(whole days since they entered, units) of the units in `state` at `now`, by the
    movements of `lookback` before it."""
    if on_postgresql():
        return _segments_query(
            INSIDE_SQL, state, read_since=now - lookback, until=now, filters=filters
        )
    _, inside = _flow(state, _movements(state, since=now - lookback, until=now, filters=filters))
    ages: dict[int, int] = defaultdict(int)
    for queue in inside.values():
        for entry in queue:
            ages[(now - entry.at).days] += entry.qty
    return list(ages.items())


def weighted_percentile_cont(pairs: list[tuple], fraction: float):
    """percentile_cont over values given as (value, how many times it occurs)."""
    ordered = sorted((value, weight) for value, weight in pairs if weight > 0)
    total = sum(weight for _, weight in ordered)
    if not total:
        return None
    position = fraction * (total - 1)

    def at(index: int):
        seen = 0
        for value, weight in ordered:
            seen += weight
            if index < seen:
                return value
        return ordered[-1][0]

    lower = int(position)
    low, high = at(lower), at(min(lower + 1, total - 1))
    return low + (high - low) * (position - lower)


def stay_summary(pairs: list[tuple]) -> DurationSummary:
    """Count, median and p90 of (duration, units) pairs, per unit."""
    return DurationSummary(
        count=sum(qty for _, qty in pairs),
        median=weighted_percentile_cont(pairs, 0.5),
        p90=weighted_percentile_cont(pairs, 0.9),
    )


def restocks(filters: KpiFilters) -> list[tuple]:
    """(latency, units) of `restock_latency`'s units, grouped by latency."""
    return [
        (spent, qty)
        for spent, to_state, qty in stays(
            StockState.RECEIVED_PENDING_INSPECTION, filters=filters, lookback=RESTOCK_LOOKBACK
        )
        if to_state == StockState.AVAILABLE
    ]


def restock_latency(*, filters: KpiFilters) -> DurationSummary:
    """Restock latency: median and p90 time, per unit, from a returned unit entering
    `received_pending_inspection` to it becoming `available`.

    Definition: every unit moving received_pending_inspection → available with the movement's
    occurred_at in [filters.since, filters.until), matched FIFO (per SKU x lot, or per serial)
    to the movement that brought it into received_pending_inspection; latency = exit - entry,
    counted once per unit (a movement of qty 3 is three units). Entries older than 90 days
    before the window are not read, so a unit waiting longer is left out. Filters: warehouse
    (of the locations moved between) and category (of the SKU); a channel does not apply to
    stock. `count` is the number of units.
    """
    return stay_summary(restocks(filters))


def quarantine_releases(filters: KpiFilters) -> list[tuple]:
    """(time spent in quarantine, units) of the units leaving it in the window, as
    `quarantine_aging`'s `released` counts them (365 days of movements before the window)."""
    return [
        (spent, qty)
        for spent, _, qty in stays(
            StockState.QUARANTINED, filters=filters, lookback=QUARANTINE_LOOKBACK
        )
    ]


AGING_BUCKETS = (
    ("0–2 days", timedelta(days=0)),
    ("3–7 days", timedelta(days=3)),
    ("8–14 days", timedelta(days=8)),
    ("15–30 days", timedelta(days=15)),
    ("Over 30 days", timedelta(days=31)),
)


@dataclass(frozen=True)
class AgingBucket:
    label: str
    units: int


@dataclass(frozen=True)
class QuarantineAging:
    buckets: list[AgingBucket]
    released: DurationSummary
    on_hand: int


def quarantine_buckets(*, filters: KpiFilters, now: datetime) -> tuple[dict[str, int], int]:
    """`quarantine_aging`'s buckets (label → units) and units on hand at `now`."""
    balances = StockBalance.objects.filter(state=StockState.QUARANTINED)
    if filters.category_id:
        balances = balances.filter(product__category_id=filters.category_id)
    if filters.warehouse_id:
        balances = balances.filter(location__warehouse_id=filters.warehouse_id)
    on_hand = balances.aggregate(n=Sum("qty"))["n"] or 0
    counts = dict.fromkeys((label for label, _ in AGING_BUCKETS), 0)
    dated = 0
    for days, qty in _ages(
        StockState.QUARANTINED, now=now, filters=filters, lookback=QUARANTINE_LOOKBACK
    ):
        counts[_bucket(timedelta(days=days))] += qty
        dated += qty
    counts[AGING_BUCKETS[-1][0]] += max(on_hand - dated, 0)
    return counts, on_hand


def quarantine_aging(*, filters: KpiFilters, now: datetime | None = None) -> QuarantineAging:
    """Units in quarantine now, by how long they have been there; and the time released units
    spent there.

    Definition: the quarantined units are the quarantined StockBalance quantity (warehouse and
    category filters apply). Each is dated by the movement that brought it into `quarantined`,
    matched FIFO (per SKU x lot, or per serial) against the movements out; age = now - that
    date, in whole days: 0-2, 3-7, 8-14, 15-30, over 30. Units whose entry is older than the
    365 days read count as over 30. `released`: median and p90, per unit, of exit - entry for
    units leaving quarantine in [filters.since, filters.until).
    """
    now = now or timezone.now()
    counts, on_hand = quarantine_buckets(filters=filters, now=now)
    return QuarantineAging(
        buckets=[AgingBucket(label, units) for label, units in counts.items()],
        released=stay_summary(quarantine_releases(filters)),
        on_hand=on_hand,
    )


def _bucket(age: timedelta) -> str:
    label = AGING_BUCKETS[0][0]
    for name, floor in AGING_BUCKETS:
        if age >= floor:
            label = name
    return label
