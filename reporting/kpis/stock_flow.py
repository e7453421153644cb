"""How long stock waits in a state, read from the movement ledger: restock latency (received,
pending inspection → available) and quarantine aging.

Units entering and leaving a state are matched first in, first out per SKU x lot, or per
serialized unit when the movement names one; a move within the state (between locations)
neither enters nor leaves it.
"""

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from inventory.models import StockBalance, StockMovement, StockState

from .filters import KpiFilters
from .stats import DurationSummary

RESTOCK_LOOKBACK = timedelta(days=90)
QUARANTINE_LOOKBACK = timedelta(days=365)


@dataclass
class _Entry:
    at: datetime
    qty: int


@dataclass(frozen=True)
class Exit:
    """Units leaving the state: when, where to, from which warehouse, and when they entered."""

    at: datetime
    to_state: str | None
    warehouse_id: int | None
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
                    warehouse_id=movement["from_location__warehouse_id"],
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
        "product_id",
        "lot",
        "unit_id",
        "qty",
        "from_state",
        "to_state",
        "occurred_at",
        "from_location__warehouse_id",
    )


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


def _summary(exits: list[Exit]) -> DurationSummary:
    pairs = [(item.at - item.entered_at, item.qty) for item in exits]
    return DurationSummary(
        count=sum(item.qty for item in exits),
        median=weighted_percentile_cont(pairs, 0.5),
        p90=weighted_percentile_cont(pairs, 0.9),
    )


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
    state = StockState.RECEIVED_PENDING_INSPECTION
    movements = _movements(
        state, since=filters.since - RESTOCK_LOOKBACK, until=filters.until, filters=filters
    )
    exits, _ = _flow(state, movements)
    restocked = [
        item
        for item in exits
        if item.to_state == StockState.AVAILABLE and filters.since <= item.at < filters.until
    ]
    return _summary(restocked)


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
    state = StockState.QUARANTINED
    exits, inside = _flow(
        state, _movements(state, since=now - QUARANTINE_LOOKBACK, until=now, filters=filters)
    )
    balances = StockBalance.objects.filter(state=state)
    if filters.category_id:
        balances = balances.filter(product__category_id=filters.category_id)
    if filters.warehouse_id:
        balances = balances.filter(location__warehouse_id=filters.warehouse_id)
    on_hand = balances.aggregate(n=Sum("qty"))["n"] or 0

    counts = dict.fromkeys((label for label, _ in AGING_BUCKETS), 0)
    dated = 0
    for queue in inside.values():
        for entry in queue:
            label = _bucket(timedelta(days=(now - entry.at).days))
            counts[label] += entry.qty
            dated += entry.qty
    counts[AGING_BUCKETS[-1][0]] += max(on_hand - dated, 0)
    released = [item for item in exits if filters.since <= item.at < filters.until]
    return QuarantineAging(
        buckets=[AgingBucket(label, units) for label, units in counts.items()],
        released=_summary(released),
        on_hand=on_hand,
    )


def _bucket(age: timedelta) -> str:
    label = AGING_BUCKETS[0][0]
    for name, floor in AGING_BUCKETS:
        if age >= floor:
            label = name
    return label
