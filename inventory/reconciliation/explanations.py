"""How a variance splits into the part known in-flight events explain and the rest, and the
events behind each part (the drill-down).

The split rule is written once in Python (`split`) and once in SQL (`SPLIT_SQL`, used by the
set-based runs); a property test holds them to the same results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from erp.models import OutboxMessage

from ..models import Bucket, ReconciliationVariance, StockMovement, StockState
from .buckets import PHYSICAL_STATES

S = StockState

COMPONENTS = (
    ("after_snapshot", "Movements after the snapshot was taken"),
    ("pending_disposition", "Received by the 3PL, disposition not reported yet"),
    ("in_transit", "Returns in transit"),
    ("unacknowledged", "Availability pushed, not acknowledged yet"),
)


@dataclass(frozen=True)
class Split:
    explained: int
    unexplained: int


def split(difference: int, components: list[int]) -> Split:
    """The components that point the way of the difference explain it, up to all of it;
    explained + unexplained == difference, always."""
    if difference > 0:
        explained = min(difference, sum(c for c in components if c > 0))
    elif difference < 0:
        explained = max(difference, sum(c for c in components if c < 0))
    else:
        explained = 0
    return Split(explained, difference - explained)


def split_sql(difference: str, components: list[str]) -> str:
    """The same rule as `split`, as a SQL expression over column expressions."""
    positive = " + ".join(f"GREATEST({c}, 0)" for c in components)
    negative = " + ".join(f"LEAST({c}, 0)" for c in components)
    return (
        f"(CASE WHEN {difference} > 0 THEN LEAST({difference}, {positive}) "
        f"WHEN {difference} < 0 THEN GREATEST({difference}, {negative}) ELSE 0 END)"
    )


@dataclass(frozen=True)
class Evidence:
    """What stands behind one variance: the movements and pushes that explain it."""

    movements_after: list[StockMovement]
    pending_receipts: list[StockMovement]
    in_transit: list[StockMovement]
    pushes: list[OutboxMessage]


EVIDENCE_LIMIT = 50


def variance_evidence(variance: ReconciliationVariance) -> Evidence:
    """The events behind each explained component, newest first, at most EVIDENCE_LIMIT
    each; a fixed number of queries whatever the history."""
    movements = StockMovement.objects.select_related(
        "from_location__warehouse", "to_location__warehouse", "actor"
    ).order_by("-occurred_at", "-id")
    if variance.bucket == Bucket.ATS:
        pushes = list(
            OutboxMessage.objects.filter(
                ordering_key=f"availability:{variance.channel_id}:{variance.product_id}"
            ).order_by("-id")[:EVIDENCE_LIMIT]
        )
        return Evidence([], [], [], pushes)
    here = Q(to_location__warehouse_id=variance.warehouse_id) | Q(
        from_location__warehouse_id=variance.warehouse_id
    )
    states = [S.AVAILABLE] if variance.bucket == Bucket.SELLABLE else sorted(PHYSICAL_STATES)
    after = movements.filter(here, product_id=variance.product_id).filter(
        occurred_at__gt=variance.taken_at
    )
    after = after.filter(Q(to_state__in=states) | Q(from_state__in=states))
    into = movements.filter(
        product_id=variance.product_id, to_location__warehouse_id=variance.warehouse_id
    )
    pending = (
        into.filter(to_state=S.RECEIVED_PENDING_INSPECTION)
        if variance.pending_disposition
        else None
    )
    transit = into.filter(to_state=S.IN_TRANSIT_RETURN) if variance.in_transit else None
    return Evidence(
        movements_after=list(after[:EVIDENCE_LIMIT]),
        pending_receipts=list(pending[:EVIDENCE_LIMIT]) if pending is not None else [],
        in_transit=list(transit[:EVIDENCE_LIMIT]) if transit is not None else [],
        pushes=[],
    )


def evidence_summary(variance: ReconciliationVariance) -> dict:
    """The figures an exception keeps as evidence (JSON)."""
    return {
        "detector": "reconciliation",
        "variance_id": variance.pk,
        "source": variance.source,
        "bucket": variance.bucket,
        "product_id": variance.product_id,
        "warehouse_id": variance.warehouse_id,
        "channel_id": variance.channel_id,
        "snapshot_id": variance.snapshot_id,
        "taken_at": _iso(variance.taken_at),
        "erp_qty": variance.erp_qty,
        "external_qty": variance.external_qty,
        "difference": variance.difference,
        "explained": {name: getattr(variance, name) for name, _ in COMPONENTS},
        "unexplained": variance.unexplained,
        "unexplained_value": str(variance.unexplained_value),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
