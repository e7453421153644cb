"""The demo reset clears the finance data the demo produced, journal included: the journal's
append-only triggers are lifted for the reset's own DELETEs only, and refuse edits again
right after (and everywhere else)."""

from datetime import date

import pytest
from django.db import InternalError, ProgrammingError, connection, transaction

from erp.security import history_rewrite_allowed
from finance.demo import demo_refunds_reset
from finance.models import FiscalPeriod, JournalEntry, JournalLine, ReturnShippingRate
from finance.services import fiscal_period_close
from tests.factories import ChannelFactory
from tests.factories.finance import FiscalPeriodFactory, posted_entry

pytestmark = pytest.mark.django_db
REFUSED = (InternalError, ProgrammingError)


def check_balances_now():
    """Run the journal's deferred balance checks now, as the commit of the transactions that
    posted them would have (the test runs in one transaction that never commits)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def delete_journal_outside_the_reset():
    with pytest.raises(REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM finance_journalline")


def test_the_demo_reset_clears_the_journal_and_its_periods(finance_user):
    # given a journal with entries in a closed month and an open one, and a shipping rate
    january = FiscalPeriodFactory(start_date=date(2026, 1, 1))
    posted_entry(cause_id="jan")
    fiscal_period_close(period_id=january.pk, reason="Month end", actor=finance_user)
    posted_entry(cause_id="late")
    ReturnShippingRate.objects.create(channel=ChannelFactory(), amount="4.95")
    # which nobody may delete
    check_balances_now()
    delete_journal_outside_the_reset()
    assert JournalLine.objects.count() == 4

    # when the demo is reset (as seed_demo --reset does, history rewrites allowed)
    with transaction.atomic(), history_rewrite_allowed():
        deleted = demo_refunds_reset()

    # then the journal, its periods and the finance configuration it seeded are gone
    assert deleted["journal entries"] == 2
    assert deleted["journal lines"] == 4
    assert deleted["fiscal periods"] == 2
    assert not JournalEntry.objects.exists()
    assert not FiscalPeriod.objects.exists()
    assert not FiscalPeriod.history.exists()
    assert not ReturnShippingRate.objects.exists()

    # and the journal is append-only again for everything that follows
    posted_entry(cause_id="after")
    check_balances_now()
    delete_journal_outside_the_reset()
    with pytest.raises(REFUSED), transaction.atomic():
        JournalEntry.objects.update(memo="edited")
    assert JournalLine.objects.count() == 2
