"""The finance part of the demo reset: refunds refer to return cases and recoveries to
dispositions, so they go first; the journal the demo's stock, refunds and recoveries posted
goes with them."""

import pgtrigger
from django.db import connection

from erp.models import OutboxMessage
from finance.models import (
    FiscalPeriod,
    JournalEntry,
    JournalLine,
    RealizedRecovery,
    Refund,
    RefundCap,
    RefundLine,
    ReturnShippingRate,
    StoreCreditAccount,
    StoreCreditEntry,
)
from finance.services.refunds import REFUND_TOPIC

# The journal is append-only: a row-level trigger refuses every UPDATE and DELETE, and that is
# what keeps the books honest. The demo reset alone lifts it, for the duration of its own
# DELETEs in this thread and transaction (`pgtrigger.ignore` sets a transaction-local flag the
# triggers read), because the books it clears describe only demo data it is deleting too: an
# operator's database is never reset (seed_demo refuses without --reset). Everything else —
# every other connection, and this one after the block — still meets the triggers.
JOURNAL_APPEND_ONLY = (
    "finance.JournalEntry:journal_entry_append_only",
    "finance.JournalLine:journal_line_append_only",
)


def demo_refunds_reset() -> dict[str, int]:
    """Effects: deletes every refund with its lines, caps, history, execution messages and the
    store credit it issued, every realized recovery and return shipping rate, and the whole
    journal with its fiscal periods (and their history); returns rows deleted per table. Call
    inside a transaction, before the returns, warehouse and stock resets (the demo's refunds,
    recoveries and postings exist only because its cases and movements do). PostgreSQL only,
    like the reset itself."""
    deleted = {}
    for label, queryset in [
        ("store credit entries", StoreCreditEntry.objects.all()),
        ("store credit accounts", StoreCreditAccount.objects.all()),
        ("refund lines", RefundLine.objects.all()),
        ("refund caps", RefundCap.objects.all()),
        ("refund history", Refund.history.all()),
        ("refunds", Refund.objects.all()),
        ("refund executions", OutboxMessage.objects.filter(topic=REFUND_TOPIC)),
        ("realized recoveries", RealizedRecovery.objects.all()),
        ("return shipping rates", ReturnShippingRate.objects.all()),
        ("return shipping rate history", ReturnShippingRate.history.all()),
    ]:
        deleted[label] = queryset._raw_delete(connection.alias)
    with connection.cursor() as cursor:
        # Entries posted earlier in this same transaction (a seed then a reset, as the tests
        # do) still have their deferred balance checks pending; run them now, while their
        # lines exist, rather than at commit, after the lines are gone.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    with pgtrigger.ignore(*JOURNAL_APPEND_ONLY):
        deleted["journal lines"] = JournalLine.objects.all()._raw_delete(connection.alias)
        deleted["journal entries"] = JournalEntry.objects.all()._raw_delete(connection.alias)
    deleted["fiscal period history"] = FiscalPeriod.history.all()._raw_delete(connection.alias)
    deleted["fiscal periods"] = FiscalPeriod.objects.all()._raw_delete(connection.alias)
    return deleted
