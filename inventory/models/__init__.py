"""The stock ledger: movements, balances, serialized units and channel availability."""

from .channels import ChannelAvailability, ChannelRule, SafetyStock
from .ledger import CauseType, MovementKind, StockBalance, StockMovement
from .states import OUTSIDE, StockState
from .units import InventoryUnit

__all__ = [
    "OUTSIDE",
    "CauseType",
    "ChannelAvailability",
    "ChannelRule",
    "InventoryUnit",
    "MovementKind",
    "SafetyStock",
    "StockBalance",
    "StockMovement",
    "StockState",
]
