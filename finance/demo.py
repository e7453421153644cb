"""The refunds' part of the demo reset: refunds refer to return cases, so they go first."""

from django.db import connection

from erp.models import OutboxMessage
from finance.models import Refund, RefundCap, RefundLine, StoreCreditAccount, StoreCreditEntry
from finance.services.refunds import REFUND_TOPIC


def demo_refunds_reset() -> dict[str, int]:
    """Effects: deletes every refund with its lines, caps, history, execution messages and the
    store credit it issued; returns rows deleted per table. Call inside a transaction, before
    the returns reset (the demo's refunds exist only because its cases do). Journal entries
    the refunds posted stay: the journal is never edited."""
    deleted = {}
    for label, queryset in [
        ("store credit entries", StoreCreditEntry.objects.all()),
        ("store credit accounts", StoreCreditAccount.objects.all()),
        ("refund lines", RefundLine.objects.all()),
        ("refund caps", RefundCap.objects.all()),
        ("refund history", Refund.history.all()),
        ("refunds", Refund.objects.all()),
        ("refund executions", OutboxMessage.objects.filter(topic=REFUND_TOPIC)),
    ]:
        deleted[label] = queryset._raw_delete(connection.alias)
    return deleted
