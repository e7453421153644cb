"""Recovering an issued refund whose return case ended (cancelled or expired): finance records
how the money came back, the refund's journal entry is reversed, and the recovery exception
that `refunds_withdraw_for_case` opened is resolved."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from erp.history import save_with_history
from erp.models import ExceptionCase
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind, SubjectType
from erp.services import exception_resolve_as_system
from finance.models import Refund, RefundMethod, RefundState
from finance.providers.store_credit import store_credit_take_back

from .journal import journal_entry_reverse

RECOVER_PERMISSION = "finance.reverse_entry"


def refund_recovery_exception(*, refund_id: int) -> ExceptionCase | None:
    """The active exception asking finance to recover an issued refund, if any (a
    refund_failure on the refund whose evidence says it was issued)."""
    return (
        ExceptionCase.objects.filter(
            kind=ExceptionKind.REFUND_FAILURE,
            subject_type=SubjectType.REFUND,
            subject_id=str(refund_id),
            state__in=ACTIVE_STATES,
            evidence__issued=True,
        )
        .order_by("pk")
        .first()
    )


@transaction.atomic
def refund_recovery_record(
    *, refund_id: int, actor: AbstractBaseUser, note: str, reference: str = ""
) -> Refund:
    """Record that an issued refund's money is back.

    Effects: refuses without `finance.reverse_entry` (PermissionDenied); a missing note, a
    refund not issued, or one with no recovery exception open (ValidationError) — writing
    nothing. Otherwise locks the refund; store credit is taken back from the customer's
    balance (refused, writing nothing, when part of it was spent); the refund's journal entry
    is reversed by `actor` with the note (the refund's books net to zero, and reporting
    counts it as reversed); the refund gets a history row by `actor` saying how the money
    came back; and the recovery exception is resolved with that reason.
    """
    if not actor.has_perm(RECOVER_PERMISSION):
        raise PermissionDenied("You may not record recoveries.")
    note = note.strip()
    reference = reference.strip()
    if not note:
        raise ValidationError({"note": "Say how the money came back."})
    refund = Refund.objects.select_related("case").select_for_update(of=("self",)).get(pk=refund_id)
    if refund.state != RefundState.ISSUED:
        raise ValidationError(
            f"Refund #{refund.pk} is {refund.get_state_display().lower()}: nothing was paid "
            "to recover."
        )
    exception = refund_recovery_exception(refund_id=refund.pk)
    if exception is None:
        raise ValidationError(f"Refund #{refund.pk} has no recovery open: nothing to record.")
    how = f"{note} (ref. {reference})" if reference else note
    if refund.method == RefundMethod.STORE_CREDIT:
        store_credit_take_back(refund=refund, memo=f"Refund #{refund.pk} taken back: {how}")
    if refund.journal_entry_id:
        journal_entry_reverse(
            entry_id=refund.journal_entry_id,
            reason=f"Refund #{refund.pk} recovered: {how}",
            actor=actor,
        )
    save_with_history(refund, actor=actor, why=f"Recovered: {how}")
    exception_resolve_as_system(
        exception_id=exception.pk,
        reason=f"Recovered by {actor.get_username()}: {how}",
    )
    return refund
