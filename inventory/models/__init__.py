"""The stock ledger: movements, balances, serialized units and channel availability."""

from .channels import ChannelAvailability, ChannelRule, SafetyStock
from .ledger import CauseType, MovementKind, StockBalance, StockMovement
from .reconciliation import (
    Bucket,
    ExternalLocation,
    ExternalSnapshot,
    ExternalSnapshotHead,
    ExternalSnapshotLine,
    ReconciliationRun,
    ReconciliationTolerance,
    ReconciliationVariance,
    RunKind,
    RunStatus,
    SnapshotScope,
    SnapshotSource,
    VarianceCorrection,
    VarianceStatus,
    VarianceTrendPoint,
)
from .states import OUTSIDE, StockState
from .units import InventoryUnit

__all__ = [
    "OUTSIDE",
    "Bucket",
    "CauseType",
    "ChannelAvailability",
    "ChannelRule",
    "ExternalLocation",
    "ExternalSnapshot",
    "ExternalSnapshotHead",
    "ExternalSnapshotLine",
    "InventoryUnit",
    "MovementKind",
    "ReconciliationRun",
    "ReconciliationTolerance",
    "ReconciliationVariance",
    "RunKind",
    "RunStatus",
    "SafetyStock",
    "SnapshotScope",
    "SnapshotSource",
    "StockBalance",
    "StockMovement",
    "StockState",
    "VarianceCorrection",
    "VarianceStatus",
    "VarianceTrendPoint",
]
