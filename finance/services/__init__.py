"""Writes of the finance app: the journal and fiscal periods. Import from here."""

from .journal import Posting, journal_entry_post, journal_entry_reverse
from .periods import (
    fiscal_period_close,
    fiscal_period_for_date,
    fiscal_period_open_for,
    fiscal_period_reopen,
)
from .refund_recovery import (
    RECOVER_PERMISSION,
    refund_recovery_exception,
    refund_recovery_record,
)
from .refunds import (
    REFUND_TOPIC,
    BulkOutcome,
    ExecutionOutcome,
    refund_approve,
    refund_execute,
    refund_hold_release,
    refund_holds_apply,
    refund_holds_release,
    refund_holds_release_cleared,
    refund_outbox_send,
    refund_propose,
    refund_reject,
    refund_retry,
    refunds_bulk_approve,
    refunds_withdraw_for_case,
)

__all__ = [
    "RECOVER_PERMISSION",
    "REFUND_TOPIC",
    "BulkOutcome",
    "ExecutionOutcome",
    "Posting",
    "fiscal_period_close",
    "fiscal_period_for_date",
    "fiscal_period_open_for",
    "fiscal_period_reopen",
    "journal_entry_post",
    "journal_entry_reverse",
    "refund_approve",
    "refund_execute",
    "refund_hold_release",
    "refund_holds_apply",
    "refund_holds_release",
    "refund_holds_release_cleared",
    "refund_outbox_send",
    "refund_propose",
    "refund_recovery_exception",
    "refund_recovery_record",
    "refund_reject",
    "refund_retry",
    "refunds_bulk_approve",
    "refunds_withdraw_for_case",
]
