"""Realized recovery: recording the money a dispositioned unit brought back — a vendor's credit
for a unit returned to them, or what a liquidator paid — with its balanced journal entry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from finance.models import OUTCOME_OF_KIND, AccountPurpose, RealizedRecovery, RecoveryKind
from finance.services.journal import Posting, journal_entry_post
from finance.valuation import liquidation_proceeds_post

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

RECORD_PERMISSION = "finance.record_recovery"
CENT = Decimal("0.01")


def _amount(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as error:
        raise ValidationError({"amount": "Enter an amount such as 12.50."}) from error
    if not amount.is_finite() or amount <= 0:
        raise ValidationError({"amount": "A recovery is a positive amount."})
    if amount != amount.quantize(CENT):
        raise ValidationError({"amount": "Use at most two decimal places."})
    return amount


@transaction.atomic
def realized_recovery_record(
    *,
    disposition_id: int,
    kind: str,
    amount: Decimal | str,
    reference: str,
    occurred_on: date,
    client_token: str,
    actor: User,
) -> RealizedRecovery:
    """Record a vendor credit or a liquidation sale against one disposition.

    Effects: returns the recovery already recorded under `client_token`, writing nothing (a
    resubmitted form). Otherwise refuses without `finance.record_recovery`
    (PermissionDenied), and with a ValidationError naming the field: an unknown kind, a kind
    that does not fit the disposition's outcome (a vendor credit is for a unit returned to
    the vendor, a sale for a liquidated one), an amount that is not a positive number of
    cents, a missing reference or a date in the future. Then posts one balanced journal
    entry (vendor credit: Dr Cash clearing / Cr Vendor receivable; liquidation sale:
    `liquidation_proceeds_post`) dated `occurred_on` (a closed month sends it to the next
    open one), and records the recovery with who and the entry.
    """
    existing = RealizedRecovery.objects.filter(client_token=client_token).first()
    if existing is not None:
        return existing
    if not actor.has_perm(RECORD_PERMISSION):
        raise PermissionDenied("You may not record recoveries.")
    if kind not in RecoveryKind.values:
        raise ValidationError({"kind": "Choose a vendor credit or a liquidation sale."})
    amount = _amount(amount)
    reference = reference.strip()
    if not reference:
        raise ValidationError({"reference": "Give the credit note or invoice number."})
    if occurred_on > timezone.localdate():
        raise ValidationError({"occurred_on": "The date is in the future."})
    # Read through the foreign key: finance never imports warehouse (see the model).
    disposition_model = RealizedRecovery.disposition.field.related_model
    disposition = (
        disposition_model.objects.select_related("unit__case")
        .select_for_update(of=("self",))
        .get(pk=disposition_id)
    )
    if disposition.outcome != OUTCOME_OF_KIND[RecoveryKind(kind)]:
        raise ValidationError(
            {
                "kind": f"This unit was dispositioned to {disposition.get_outcome_display()}: "
                f"a {RecoveryKind(kind).label.lower()} does not apply."
            }
        )
    currency = disposition.currency or settings.FINANCE_BOOK_CURRENCY
    memo = f"{RecoveryKind(kind).label} {reference} for disposition #{disposition.pk}"
    booking = {
        "currency": currency,
        "cause_type": "disposition",
        "cause_id": str(disposition.pk),
        "memo": memo[:255],
        "idempotency_key": f"recovery:{client_token}",
        "occurred_at": datetime.combine(occurred_on, clock_time(12), tzinfo=UTC),
        "actor": actor,
    }
    if kind == RecoveryKind.LIQUIDATION_SALE:
        # Dr Cash clearing / Cr Liquidation recovery, the account that holds the lot's cost.
        entry = liquidation_proceeds_post(amount=amount, **booking)
    else:
        # The credit settles the receivable the return to vendor booked at cost.
        entry = journal_entry_post(
            postings=[
                Posting(AccountPurpose.CASH_CLEARING, debit=amount, memo=memo),
                Posting(AccountPurpose.VENDOR_RECEIVABLE, credit=amount, memo=memo),
            ],
            **booking,
        )
    return RealizedRecovery.objects.create(
        disposition_id=disposition.pk,
        kind=kind,
        amount=amount,
        currency=currency,
        reference=reference,
        occurred_on=occurred_on,
        journal_entry=entry,
        recorded_by=actor,
        client_token=client_token,
    )
