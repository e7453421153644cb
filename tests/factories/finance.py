"""Finance factories: fiscal periods and posted journal entries (the journal is written only by
its service, so an entry is built by posting it)."""

import calendar
import itertools
from datetime import date, datetime
from decimal import Decimal

import factory

from finance.models import AccountPurpose, FiscalPeriod, JournalEntry
from finance.services import Posting, journal_entry_post

_keys = itertools.count(1)


class FiscalPeriodFactory(factory.django.DjangoModelFactory):
    """A month of the books, open unless closed through `fiscal_period_close`."""

    class Meta:
        model = FiscalPeriod
        django_get_or_create = ["start_date"]

    start_date = date(2026, 1, 1)
    end_date = factory.LazyAttribute(
        lambda period: period.start_date.replace(
            day=calendar.monthrange(period.start_date.year, period.start_date.month)[1]
        )
    )


def posted_entry(
    *,
    amount: str | Decimal = "10.00",
    debit: str = AccountPurpose.INVENTORY,
    credit: str = AccountPurpose.COST_OF_GOODS_SOLD,
    currency: str = "USD",
    cause_type: str = "test",
    cause_id: str = "1",
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
    memo: str = "",
) -> JournalEntry:
    """A two-line entry (Dr `debit` / Cr `credit` for `amount`) posted through the service."""
    amount = Decimal(amount)
    return journal_entry_post(
        postings=[
            Posting(purpose=debit, debit=amount),
            Posting(purpose=credit, credit=amount),
        ],
        currency=currency,
        cause_type=cause_type,
        cause_id=cause_id,
        memo=memo,
        idempotency_key=idempotency_key or f"test-entry-{next(_keys)}",
        occurred_at=occurred_at,
    )


# ---- Refunds --------------------------------------------------------------------------------


def refund_policy(
    *,
    trigger: str = "on_inspection",
    restocking_fee_percent: str = "0",
    return_shipping_paid_by: str = "merchant",
):
    """Publish a one-rule return policy that authorizes automatically and refunds at
    `trigger`, retiring whatever was published (so cases opened next follow it)."""
    from returns.models import PolicyRuleSet
    from tests.factories.returns import PolicyRuleFactory, PolicyRuleSetFactory

    PolicyRuleSet.objects.filter(state=PolicyRuleSet.State.PUBLISHED).update(
        state=PolicyRuleSet.State.RETIRED
    )
    rule_set = PolicyRuleSetFactory(state=PolicyRuleSet.State.PUBLISHED)
    return PolicyRuleFactory(
        rule_set=rule_set,
        name=f"Refund {trigger}",
        return_window_days=60,
        refund_trigger=trigger,
        restocking_fee_percent=Decimal(restocking_fee_percent),
        return_shipping_paid_by=return_shipping_paid_by,
    )
