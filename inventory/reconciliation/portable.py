"""The variance computation for databases other than PostgreSQL (the SQLite demo): the same
rules as the set-based statements in `variances`, in Python over the ORM, for small data.

A test runs both on the same data on PostgreSQL and holds them to the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from erp.models import Location, OutboxMessage, Product, Warehouse

from ..models import (
    Bucket,
    ChannelAvailability,
    ExternalSnapshotHead,
    ExternalSnapshotLine,
    ReconciliationTolerance,
    ReconciliationVariance,
    SnapshotScope,
    SnapshotSource,
    StockBalance,
    StockMovement,
    StockState,
    VarianceStatus,
)
from ..models.reconciliation import VARIANCE_FIGURES
from .buckets import PHYSICAL_STATES
from .explanations import split

S = StockState
AVAILABILITY_TOPIC = "availability.changed"
_BUCKET_STATES = {Bucket.SELLABLE: frozenset({S.AVAILABLE}), Bucket.ON_HAND: PHYSICAL_STATES}


def status_of(*, difference: int, unexplained: int, erp_qty: int, unit_cost, tolerance) -> str:
    """The status rule of the statements (`variances._STATUS`)."""
    if difference == 0:
        return VarianceStatus.MATCHED
    if unexplained == 0:
        return VarianceStatus.EXPLAINED
    units, percent, value = tolerance
    size = abs(unexplained)
    if size > units and size * 100 > percent * max(erp_qty, 0) and size * unit_cost > value:
        return VarianceStatus.OVER_TOLERANCE
    return VarianceStatus.WITHIN_TOLERANCE


def _tolerances():
    rows = {
        (t.source, t.category_id): (t.units, t.percent, t.value)
        for t in ReconciliationTolerance.objects.all()
    }
    zero = (0, Decimal("0"), Decimal("0"))

    def tolerance(source: str, category_id: int | None):
        for key in ((source, category_id), (source, None), ("", category_id), ("", None)):
            if key in rows and (key[1] is None or category_id is not None):
                return rows[key]
        return zero

    return tolerance


def _external(part) -> tuple[dict, list]:
    """{(source, product, warehouse): (snapshot, taken_at, on_hand, sellable)} from the
    current full snapshots and newer partial ones (the newest wins), and the heads."""
    heads = list(ExternalSnapshotHead.objects.select_related("snapshot"))
    head_at = {(h.source, h.warehouse_id): h for h in heads}
    sums: dict[tuple, list] = {}
    lines = (
        ExternalSnapshotLine.objects.filter(part.q("product_id"))
        .filter(
            Q(snapshot__scope=SnapshotScope.PARTIAL)
            | Q(snapshot_id__in=[h.snapshot_id for h in heads])
        )
        .values_list(
            "snapshot_id",
            "snapshot__source",
            "snapshot__taken_at",
            "snapshot__scope",
            "product_id",
            "warehouse_id",
            "on_hand",
            "sellable",
        )
    )
    for snapshot_id, source, taken_at, scope, product_id, warehouse_id, on_hand, sellable in lines:
        head = head_at.get((source, warehouse_id))
        if scope == SnapshotScope.PARTIAL:
            if head is not None and taken_at <= head.taken_at:
                continue
        elif head is None or head.snapshot_id != snapshot_id:
            continue
        key = (source, product_id, warehouse_id, snapshot_id, taken_at)
        total = sums.setdefault(key, [None, None])
        for i, qty in enumerate((on_hand, sellable)):
            if qty is not None:
                total[i] = (total[i] or 0) + qty
    ext: dict[tuple, tuple] = {}
    for (source, product_id, warehouse_id, snapshot_id, taken_at), (on_hand, sellable) in sorted(
        sums.items(), key=lambda item: (item[0][4], item[0][3])
    ):
        ext[(source, product_id, warehouse_id)] = (snapshot_id, taken_at, on_hand, sellable)
    return ext, heads


def _ours(part, warehouse_ids: set[int]) -> dict:
    """{(product, warehouse): {state: qty}} of the slice at those warehouses."""
    ours: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    balances = StockBalance.objects.filter(
        part.q("product_id"), location__warehouse_id__in=warehouse_ids
    ).values_list("product_id", "location__warehouse_id", "state", "qty")
    for product_id, warehouse_id, state, qty in balances:
        ours[(product_id, warehouse_id)][state] += qty
    return ours


def _after(keys: dict) -> dict:
    """{(source, product, warehouse): {bucket: net units into it after taken_at}}."""
    if not keys:
        return {}
    since = min(taken_at for _, taken_at, _, _ in keys.values())
    products = {product_id for _, product_id, _ in keys}
    warehouse_of = dict(Location.objects.values_list("id", "warehouse_id"))
    moves = StockMovement.objects.filter(
        product_id__in=products, occurred_at__gt=since
    ).values_list(
        "product_id",
        "occurred_at",
        "qty",
        "from_location_id",
        "from_state",
        "to_location_id",
        "to_state",
    )
    by_product = defaultdict(list)
    for move in moves:
        by_product[move[0]].append(move)
    after: dict[tuple, dict] = {}
    for (source, product_id, warehouse_id), (_, taken_at, _, _) in keys.items():
        net = dict.fromkeys(_BUCKET_STATES, 0)
        for _, occurred_at, qty, from_loc, from_state, to_loc, to_state in by_product[product_id]:
            if occurred_at <= taken_at:
                continue
            for bucket, states in _BUCKET_STATES.items():
                if to_loc and warehouse_of[to_loc] == warehouse_id and to_state in states:
                    net[bucket] += qty
                if from_loc and warehouse_of[from_loc] == warehouse_id and from_state in states:
                    net[bucket] -= qty
        after[(source, product_id, warehouse_id)] = net
    return after


def _stock_rows(part, now: datetime) -> list[dict]:
    ext, heads = _external(part)
    warehouse_ids = {h.warehouse_id for h in heads} | {w for _, _, w in ext}
    ours = _ours(part, warehouse_ids)
    keys = dict(ext)
    for h in heads:
        for product_id, warehouse_id in ours:
            if warehouse_id == h.warehouse_id and (h.source, product_id, warehouse_id) not in ext:
                keys[(h.source, product_id, warehouse_id)] = (
                    h.snapshot_id,
                    h.taken_at,
                    0 if h.snapshot.reports_on_hand else None,
                    0 if h.snapshot.reports_sellable else None,
                )
    after = _after(keys)
    rows = []
    for (source, product_id, warehouse_id), (
        snapshot_id,
        taken_at,
        on_hand,
        sellable,
    ) in keys.items():
        held = ours.get((product_id, warehouse_id), {})
        in_transit = held.get(S.IN_TRANSIT_RETURN, 0)
        for bucket, external, pending in (
            (Bucket.SELLABLE, sellable, held.get(S.RECEIVED_PENDING_INSPECTION, 0)),
            (Bucket.ON_HAND, on_hand, 0),
        ):
            if external is None:
                continue
            erp_qty = sum(q for state, q in held.items() if state in _BUCKET_STATES[bucket])
            rows.append(
                {
                    "source": source,
                    "bucket": bucket,
                    "product_id": product_id,
                    "scope_id": warehouse_id,
                    "warehouse_id": warehouse_id,
                    "channel_id": None,
                    "snapshot_id": snapshot_id,
                    "taken_at": taken_at,
                    "erp_qty": erp_qty,
                    "external_qty": external,
                    "after_snapshot": -after[(source, product_id, warehouse_id)][bucket],
                    "pending_disposition": pending,
                    "in_transit": in_transit,
                    "unacknowledged": 0,
                }
            )
    return rows


def _ats_rows(part, now: datetime) -> list[dict]:
    acked = set(
        ChannelAvailability.objects.filter(last_pushed_version__gt=0).values_list(
            "channel_id", flat=True
        )
    )
    availability = list(
        ChannelAvailability.objects.filter(part.q("product_id"), channel_id__in=acked)
    )
    in_flight = set(
        OutboxMessage.objects.filter(
            topic=AVAILABILITY_TOPIC, dispatched_at__isnull=True, dead_lettered_at__isnull=True
        ).values_list("ordering_key", flat=True)
    )
    acks = {
        m.dedupe_key: m.payload
        for m in OutboxMessage.objects.filter(
            dedupe_key__in=[
                f"{AVAILABILITY_TOPIC}:{a.channel_id}:{a.product_id}:{a.last_pushed_version}"
                for a in availability
                if a.last_pushed_version > 0
            ]
        )
    }
    rows = []
    for a in availability:
        payload = acks.get(
            f"{AVAILABILITY_TOPIC}:{a.channel_id}:{a.product_id}:{a.last_pushed_version}"
        )
        external = int(payload.get("ats", 0)) if payload and a.last_pushed_version > 0 else 0
        pushing = f"availability:{a.channel_id}:{a.product_id}" in in_flight
        unacknowledged = external - a.ats if pushing and a.version > a.last_pushed_version else 0
        rows.append(
            {
                "source": SnapshotSource.STOREFRONT,
                "bucket": Bucket.ATS,
                "product_id": a.product_id,
                "scope_id": a.channel_id,
                "warehouse_id": None,
                "channel_id": a.channel_id,
                "snapshot_id": None,
                "taken_at": now,
                "erp_qty": a.ats,
                "external_qty": external,
                "after_snapshot": 0,
                "pending_disposition": 0,
                "in_transit": 0,
                "unacknowledged": unacknowledged,
                # The ATS split is all or nothing: a push in flight explains all of it.
                "explained_all": bool(unacknowledged),
            }
        )
    return rows


def variances_compute_portable(*, part, run_id: int, now: datetime) -> int:
    """Effects: upserts the slice's variance rows and clears the ones nothing compares any
    more, as the PostgreSQL statements do. Returns the number of rows written."""
    tolerance = _tolerances()
    products = Product.objects.filter(part.q("id")).in_bulk()
    existing = {
        (v.source, v.bucket, v.product_id, v.scope_id): v
        for v in ReconciliationVariance.objects.filter(part.q("product_id"))
    }
    written = 0
    produced = set()
    for row in _stock_rows(part, now) + _ats_rows(part, now):
        explained_all = row.pop("explained_all", None)
        difference = row["external_qty"] - row["erp_qty"]
        key = (row["source"], row["bucket"], row["product_id"], row["scope_id"])
        current = existing.get(key)
        if difference == 0 and row["pending_disposition"] == 0 and current is None:
            continue
        if explained_all is None:
            parts = split(
                difference, [row["after_snapshot"], row["pending_disposition"], row["in_transit"]]
            )
            explained = parts.explained
        else:
            explained = difference if explained_all else 0
        unexplained = difference - explained
        product = products[row["product_id"]]
        since = None
        if unexplained:
            since = (current.unexplained_since if current else None) or now
        values = {
            **row,
            "difference": difference,
            "explained": explained,
            "unexplained": unexplained,
            "unit_cost": product.unit_cost,
            "unexplained_value": abs(unexplained) * product.unit_cost,
            "status": status_of(
                difference=difference,
                unexplained=unexplained,
                erp_qty=row["erp_qty"],
                unit_cost=product.unit_cost,
                tolerance=tolerance(row["source"], product.category_id),
            ),
            "unexplained_since": since,
            "computed_at": now,
            "run_id": run_id,
        }
        produced.add(key)
        if current is not None and all(
            getattr(current, name) == values[name] for name in VARIANCE_FIGURES
        ):
            continue  # unchanged: the statements do not write it again either
        ReconciliationVariance.objects.update_or_create(
            source=key[0], bucket=key[1], product_id=key[2], scope_id=key[3], defaults=values
        )
        written += 1
    stale = [
        variance.pk
        for key, variance in existing.items()
        if key not in produced and variance.status != VarianceStatus.MATCHED
    ]
    ReconciliationVariance.objects.filter(pk__in=stale).update(
        erp_qty=0,
        external_qty=0,
        difference=0,
        after_snapshot=0,
        pending_disposition=0,
        in_transit=0,
        unacknowledged=0,
        explained=0,
        unexplained=0,
        unexplained_value=0,
        status=VarianceStatus.MATCHED,
        unexplained_since=None,
        computed_at=now,
        run_id=run_id,
    )
    return written


def late_pending_portable(part) -> list[tuple]:
    """(product, warehouse, pending qty, oldest pending receipt) at 3PL warehouses, as
    `variances._late_sql`: the pending units are the newest receipts into inspection."""
    pending: dict[tuple, int] = defaultdict(int)
    for product_id, warehouse_id, qty in StockBalance.objects.filter(
        part.q("product_id"),
        state=S.RECEIVED_PENDING_INSPECTION,
        qty__gt=0,
        location__warehouse__operator=Warehouse.Operator.THIRD_PARTY,
    ).values_list("product_id", "location__warehouse_id", "qty"):
        pending[(product_id, warehouse_id)] += qty
    result = []
    for (product_id, warehouse_id), qty in sorted(pending.items()):
        receipts = StockMovement.objects.filter(
            product_id=product_id,
            to_state=S.RECEIVED_PENDING_INSPECTION,
            to_location__warehouse_id=warehouse_id,
        ).order_by("-occurred_at", "-id")
        total, oldest, earliest = 0, None, None
        for occurred_at, moved in receipts.values_list("occurred_at", "qty"):
            total += moved
            earliest = occurred_at
            if oldest is None and total >= qty:
                oldest = occurred_at
        if earliest is not None:
            result.append((product_id, warehouse_id, qty, oldest or earliest))
    return result
