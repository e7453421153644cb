"""Return policies (versioned rule sets) and return cases (RMA) with their lines and messages."""

from .cases import (
    ClaimedCondition,
    ReturnCase,
    ReturnCaseMessage,
    ReturnLine,
    ReturnPhoto,
    ReturnState,
    RiskLevel,
    Source,
)
from .policy import (
    DecisionKind,
    PolicyRule,
    PolicyRuleSet,
    RefundTrigger,
    Resolution,
    ShippingPaidBy,
    WarrantyStatus,
)

__all__ = [
    "ClaimedCondition",
    "DecisionKind",
    "PolicyRule",
    "PolicyRuleSet",
    "RefundTrigger",
    "Resolution",
    "ReturnCase",
    "ReturnCaseMessage",
    "ReturnLine",
    "ReturnPhoto",
    "ReturnState",
    "RiskLevel",
    "ShippingPaidBy",
    "Source",
    "WarrantyStatus",
]
