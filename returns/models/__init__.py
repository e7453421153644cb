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
from .channel_events import CARRIER_KINDS, ChannelReturn, ExternalEventKind, ReturnCaseEvent
from .policy import (
    DecisionKind,
    PolicyEdit,
    PolicyRule,
    PolicyRuleSet,
    RefundTrigger,
    Resolution,
    ShippingPaidBy,
    WarrantyStatus,
)

__all__ = [
    "CARRIER_KINDS",
    "ChannelReturn",
    "ClaimedCondition",
    "DecisionKind",
    "ExternalEventKind",
    "PolicyEdit",
    "PolicyRule",
    "PolicyRuleSet",
    "RefundTrigger",
    "Resolution",
    "ReturnCase",
    "ReturnCaseEvent",
    "ReturnCaseMessage",
    "ReturnLine",
    "ReturnPhoto",
    "ReturnState",
    "RiskLevel",
    "ShippingPaidBy",
    "Source",
    "WarrantyStatus",
]
