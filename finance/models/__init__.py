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
from .refunds import (
    ApprovalLimit,
    Refund,
    RefundCap,
    RefundLine,
    RefundMethod,
    RefundStage,
    RefundState,
    StoreCreditAccount,
    StoreCreditEntry,
)

__all__ = [
    "Account",
    "AccountKind",
    "AccountPurpose",
    "ApprovalLimit",
    "FiscalPeriod",
    "JournalEntry",
    "JournalLine",
    "PeriodStatus",
    "Refund",
    "RefundCap",
    "RefundLine",
    "RefundMethod",
    "RefundStage",
    "RefundState",
    "StoreCreditAccount",
    "StoreCreditEntry",
]
