"""Store credit: a refund paid as a balance the customer spends later, kept in our database."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from finance.models import Refund, StoreCreditAccount, StoreCreditEntry


@transaction.atomic
def store_credit_issue(*, refund: Refund) -> StoreCreditEntry:
    """Credit the refund's amount to its customer's balance in its currency.

    Effects: creates the account on first use; raises its balance with an F() update under the
    account's row lock and writes one entry with the balance after. A refund is credited at
    most once (the entry is unique per refund): a second call returns the first entry.
    """
    existing = StoreCreditEntry.objects.filter(refund=refund).first()
    if existing is not None:
        return existing
    StoreCreditAccount.objects.get_or_create(
        customer_id=refund.customer_id, currency=refund.currency
    )
    account = StoreCreditAccount.objects.select_for_update().get(
        customer_id=refund.customer_id, currency=refund.currency
    )
    amount = Decimal(refund.amount)
    StoreCreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
    account.refresh_from_db(fields=["balance"])
    return StoreCreditEntry.objects.create(
        account=account,
        refund=refund,
        amount=amount,
        balance_after=account.balance,
        memo=f"Refund #{refund.pk} for {refund.case}",
    )


@transaction.atomic
def store_credit_take_back(*, refund: Refund, memo: str) -> StoreCreditEntry:
    """Take a refund's credit back from its customer's balance (the refund should not have
    been paid: its return was cancelled).

    Effects: locks the account; refuses (ValidationError) when the customer has spent part of
    it, naming what is left; otherwise lowers the balance with an F() update and writes one
    negative entry (not linked to the refund, which keeps its issuing entry)."""
    account = StoreCreditAccount.objects.select_for_update().get(
        customer_id=refund.customer_id, currency=refund.currency
    )
    amount = Decimal(refund.amount)
    if account.balance < amount:
        raise ValidationError(
            f"The customer has {account.balance} {refund.currency} of store credit left, less "
            f"than the {amount} to take back: recover the difference another way first."
        )
    StoreCreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") - amount)
    account.refresh_from_db(fields=["balance"])
    return StoreCreditEntry.objects.create(
        account=account, amount=-amount, balance_after=account.balance, memo=memo[:200]
    )
