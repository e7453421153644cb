"""KPI selectors: each reads, never writes, and states its exact definition in its docstring."""

from . import reasons, reconciliation, recovery, refunds, return_rate
from .cycle_time import STAGES, return_cycle_times
from .exceptions import exception_volume_by_kind
from .filters import KpiFilters
from .queues import OPEN_STATES, open_pipeline, risk_priority_queue
from .reasons import return_reasons
from .return_rate import returned_units, shipped_units, sku_return_rates
from .stock_flow import quarantine_aging, restock_latency

__all__ = [
    "OPEN_STATES",
    "STAGES",
    "KpiFilters",
    "exception_volume_by_kind",
    "open_pipeline",
    "quarantine_aging",
    "reasons",
    "reconciliation",
    "recovery",
    "refunds",
    "restock_latency",
    "return_cycle_times",
    "return_rate",
    "return_reasons",
    "returned_units",
    "risk_priority_queue",
    "shipped_units",
    "sku_return_rates",
]
