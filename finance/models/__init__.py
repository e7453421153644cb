"""Finance data: the chart of accounts, fiscal periods and the journal."""

from .journal import (
    Account,
    AccountKind,
    AccountPurpose,
    FiscalPeriod,
    JournalEntry,
    JournalLine,
    PeriodStatus,
)
from .recovery import OUTCOME_OF_KIND, RealizedRecovery, RecoveryKind
from .refunds import (
    ApprovalLimit,
    Refund,
    RefundCap,
    RefundLine,
    RefundMethod,
    RefundStage,
    RefundState,
    ReturnShippingRate,
    StoreCreditAccount,
    StoreCreditEntry,
)

__all__ = [
    "OUTCOME_OF_KIND",
    "Account",
    "AccountKind",
    "AccountPurpose",
    "ApprovalLimit",
    "FiscalPeriod",
    "JournalEntry",
    "JournalLine",
    "PeriodStatus",
    "RealizedRecovery",
    "RecoveryKind",
    "Refund",
    "RefundCap",
    "RefundLine",
    "RefundMethod",
    "RefundStage",
    "RefundState",
    "ReturnShippingRate",
    "StoreCreditAccount",
    "StoreCreditEntry",
]
