"""Available-to-sell per channel and SKU: the channel rules, the recompute and the outbox
message a changed figure writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from erp.models import Channel, Location, OutboxMessage
from erp.services import outbox_dispatch_after_commit

from .. import locks
from ..models import ChannelAvailability, InventoryUnit, StockBalance
from ..models.channels import default_sellable_grades
from ..models.states import NEVER_SELLABLE_STATES
from ._common import _NEVER_SELLABLE, AVAILABILITY_TOPIC, S, _table


@transaction.atomic(savepoint=False)
def availability_recompute(*, product_ids: Iterable[int]) -> list[locks.AvailabilityRow]:
    """Recompute every active channel's ATS for these SKUs.

    ATS = stock in the states the channel's rule sells (never a NEVER_SELLABLE state), in
    its warehouses, less the graded serialized units there of a grade the rule does not sell,
    minus its safety stock, floored at 0. Reserved stock is its own state, so
    "available - reserved" is what the available balance already holds.

    Effects: locks the (SKU, channel) availability rows (creating missing ones) before reading
    balances, so concurrent posts see each other; each changed ATS bumps `version` and writes
    one `availability.changed` outbox message. Returns the changed rows.
    """
    product_ids = sorted(set(product_ids))
    if connection.vendor == "postgresql":
        # The same computation in one round trip (function installed by migrations 0004, 0009).
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT * FROM inventory_availability_recompute(%s::bigint[], %s, %s)",
                [product_ids, _NEVER_SELLABLE, timezone.now()],
            )
            changed = [locks.AvailabilityRow(*row) for row in cursor.fetchall()]
    else:
        changed = _recompute_portable(product_ids)
    _availability_queue(changed)
    return changed


def _recompute_portable(product_ids: list[int]) -> list[locks.AvailabilityRow]:
    """`availability_recompute` step by step, for SQLite; the changed rows, updated."""
    sells = _channel_sales_rules()
    if not product_ids or not sells:
        return []
    rows = locks.availability_lock(product_ids=product_ids, channel_ids=sorted(sells))
    states = sorted(set().union(*(rule.states for rule in sells.values())))
    on_hand: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for product_id, warehouse_id, state, total in _sellable_on_hand(product_ids, states):
        on_hand[product_id].append((warehouse_id, state, int(total)))  # SUM(bigint) is numeric
    graded: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
    for product_id, warehouse_id, state, grade, count in _graded_units(product_ids, states):
        graded[product_id].append((warehouse_id, state, grade, count))
    changed, now = [], timezone.now()
    for (product_id, channel_id), row in sorted(rows.items()):
        rule = sells[channel_id]
        sellable = sum(
            total
            for warehouse_id, state, total in on_hand[product_id]
            if rule.sells(state, warehouse_id)
        ) - sum(
            count
            for warehouse_id, state, grade, count in graded[product_id]
            if rule.sells(state, warehouse_id) and grade not in rule.grades
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
    return changed


def _availability_queue(changed: list[locks.AvailabilityRow]) -> None:
    """One `availability.changed` outbox message per changed (SKU, channel) ATS version, and
    the dispatch after commit. On PostgreSQL `inventory_availability_recompute` (migration
    0011) wrote the messages in its own statement, so only the dispatch is left."""
    if not changed:
        return
    if connection.vendor == "postgresql":
        outbox_dispatch_after_commit()
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


def _graded_units(product_ids: list[int], states: list[str]) -> list[tuple]:
    """(product id, warehouse id, state, grade, units) of graded serialized units in stock in
    these states; the balances count them, the rules decide which channels may."""
    if not states:
        return []
    rows = (
        InventoryUnit.objects.filter(product_id__in=product_ids, state__in=states)
        .exclude(grade="")
        .order_by()
        .values_list("product_id", "location__warehouse_id", "state", "grade")
        .annotate(units=Count("pk"))
    )
    return list(rows)


@dataclass(frozen=True)
class SalesRule:
    """What one channel sells: states, grades of graded units, warehouses (None: all)."""

    states: frozenset[str]
    grades: frozenset[str]
    warehouses: frozenset[int] | None

    def sells(self, state: str, warehouse_id: int) -> bool:
        return state in self.states and (self.warehouses is None or warehouse_id in self.warehouses)


def _channel_sales_rules() -> dict[int, SalesRule]:
    """{active channel id: its SalesRule}, in one query.

    A channel without a rule sells available stock, as new, from every warehouse.
    """
    rules: dict[int, tuple[frozenset[str], frozenset[str], set[int]]] = {}
    rows = (
        Channel.objects.filter(is_active=True)
        .order_by()
        .values_list(
            "pk",
            "stock_rule__sellable_states",
            "stock_rule__sellable_grades",
            "stock_rule__warehouses",
        )
    )
    for channel_id, states, grades, warehouse_id in rows:
        sold = frozenset(states if states is not None else [S.AVAILABLE]) - NEVER_SELLABLE_STATES
        graded = frozenset(grades if grades is not None else default_sellable_grades())
        _, _, warehouses = rules.setdefault(channel_id, (sold, graded, set()))
        if warehouse_id is not None:
            warehouses.add(warehouse_id)
    return {
        pk: SalesRule(sold, graded, frozenset(w) or None) for pk, (sold, graded, w) in rules.items()
    }
