"""KPIs that read models still being built (refunds, journal, inspections, reconciliation).

Each plugs in as a selector in this package once its source is stable; until then the
dashboards name them, so nobody mistakes their absence for a zero.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PendingKpi:
    name: str
    waits_for: str


PENDING_KPIS = {
    "finance": (
        PendingKpi("Inspection to refund (cycle-time stage)", "finance refunds"),
        PendingKpi("Refund latency", "finance refunds"),
        PendingKpi("Refund accuracy", "finance refunds and warehouse inspection outcomes"),
        PendingKpi("Recovery value and rate by disposition", "warehouse dispositions, journal"),
    ),
    "operations": (
        PendingKpi("Reconciliation variance (units, value, explained)", "reconciliation runs"),
    ),
}
