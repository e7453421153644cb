"""The refunds' write path: propose, hold and release, approve (one or many), reject, execute
through the payment provider or as store credit, and retry. Every state change of a refund
goes through one of these; `finance.services.approvals` says who may approve what.

Execution happens after commit: approving queues an outbox message (topic REFUND_TOPIC) whose
sender, `refund_outbox_send`, calls `refund_execute`. The provider gets the refund's one
idempotency key on every attempt, so a retry (automatic, with the outbox's backoff, when the
provider was unavailable; or a person's, after a refusal) never pays twice.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django_fsm import TransitionNotAllowed, can_proceed, has_transition_perm

from erp.history import save_with_history, update_with_history
from erp.models import ExceptionCase, OutboxMessage
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind, SubjectType
from erp.services import exception_open, exception_resolve_as_system, outbox_enqueue
from erp.services.outbox_dispatch import OutboxSendError
from finance.amounts import RefundAmounts
from finance.models import AccountPurpose, Refund, RefundLine, RefundMethod, RefundStage
from finance.models import RefundState as State
from finance.models.refunds import REJECT_PERMISSION, RETRY_PERMISSION, WITHDRAWABLE_STATES
from finance.providers import ProviderError, payment_provider
from finance.providers.store_credit import store_credit_issue

from .approvals import Limits, approval_refusal, auto_approval_reason
from .journal import Posting, journal_entry_post

REFUND_TOPIC = "finance.refund_execute"
CAP_CONSTRAINT = "refund_never_exceeds_paid"
PAST_TENSE = {
    "approve": "approved",
    "withdraw": "withdrawn",
    "reject": "rejected",
    "retry": "retried",
    "release": "released from hold",
}


@dataclass(frozen=True)
class ExecutionOutcome:
    """Where a refund stands after an execution attempt; the same for every repeat."""

    refund_id: int
    state: str
    provider_refund_id: str
    amount: str
    currency: str
    retryable: bool = False
    message: str = ""


@dataclass(frozen=True)
class BulkOutcome:
    refund_id: int
    approved: bool
    reason: str = ""


_save = save_with_history


def _locked(refund_id: int, *, with_case: bool = True) -> Refund:
    refunds = Refund.objects.select_for_update(of=("self",))
    if with_case:
        refunds = refunds.select_related("case")
    return refunds.get(pk=refund_id)


def _refuse_state(refund: Refund, method) -> None:
    if not can_proceed(method):
        raise TransitionNotAllowed(
            f"Refund #{refund.pk} is {refund.get_state_display().lower()}: it cannot be "
            f"{PAST_TENSE[method.__name__]}.",
            object=refund,
            method=method,
        )


def case_open_exception_kinds(case_id: int) -> list[str]:
    """The kinds of the exceptions still active on a return case."""
    return sorted(
        ExceptionCase.objects.filter(
            subject_type=SubjectType.RETURN_CASE, subject_id=str(case_id), state__in=ACTIVE_STATES
        ).values_list("kind", flat=True)
    )


def _hold_reason(kinds: Sequence[str]) -> str:
    labels = ", ".join(ExceptionKind(kind).label.lower() for kind in kinds)
    return f"Open exception on the case: {labels}"


def _send_for_execution(refund: Refund) -> None:
    """Queue the execution (after commit) of an approved refund; call before saving it."""
    refund.execution_round += 1
    outbox_enqueue(
        topic=REFUND_TOPIC,
        payload={"refund_id": refund.pk, "round": refund.execution_round},
        dedupe_key=f"refund:{refund.pk}:execute:{refund.execution_round}",
    )


def _auto_approve(refund: Refund, kinds: Sequence[str] = ()) -> bool:
    reason = auto_approval_reason(refund=refund, open_exception_kinds=kinds)
    if not reason:
        return False
    refund.approve(by=None, auto=True)
    _send_for_execution(refund)
    _save(refund, actor=None, why=reason)
    return True


# ---- Proposing ------------------------------------------------------------------------------


@transaction.atomic
def refund_propose(
    *,
    case_id: int,
    channel_id: int,
    customer_id: int,
    stage: str,
    method: str,
    currency: str,
    amounts: RefundAmounts,
    dedupe_key: str,
    payment_reference: str = "",
    risk_level: str = "",
    evidence: dict | None = None,
    inspector_ids: Sequence[int] = (),
    requested_by: AbstractBaseUser | None = None,
) -> Refund:
    """Propose a refund of a return case's lines and route it.

    Effects: returns the refund already proposed under `dedupe_key`, writing nothing.
    Otherwise refuses an empty proposal (ValidationError) and creates the refund and its lines
    with a history row; the database refuses lines that would take a returned line's refunds
    beyond what was paid (ValidationError, nothing written). Then: an exchange is recorded as
    issued at once (no money moves); a case with an open exception puts it on hold; else it
    waits for approval, or is approved automatically when small and low-risk
    (`approvals.auto_approval_reason`), which queues its execution after commit.
    """
    existing = Refund.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    if not amounts.lines:
        raise ValidationError("Nothing to refund: no returned unit qualifies.")
    refund = Refund(
        case_id=case_id,
        channel_id=channel_id,
        customer_id=customer_id,
        stage=RefundStage(stage),
        method=RefundMethod(method),
        currency=currency,
        gross_amount=amounts.gross_amount,
        deductions_amount=amounts.deductions_amount,
        amount=amounts.amount,
        dedupe_key=dedupe_key,
        idempotency_key=f"refund_{uuid.uuid4().hex}",
        payment_reference=payment_reference,
        risk_level=risk_level,
        evidence=evidence or {},
        inspector_ids=sorted(set(inspector_ids)),
        requested_by=requested_by,
    )
    try:
        with transaction.atomic():
            _save(refund, actor=requested_by, why=f"Proposed {RefundStage(stage).label.lower()}")
            RefundLine.objects.bulk_create(
                [
                    RefundLine(
                        refund=refund,
                        return_line_id=line.return_line_id,
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                        gross_amount=line.gross_amount,
                        grade_deduction=line.grade_deduction,
                        restocking_fee=line.restocking_fee,
                        shipping_deduction=line.shipping_deduction,
                        earlier_refunds=line.earlier_refunds,
                        amount=line.amount,
                        grades=line.grades,
                    )
                    for line in amounts.lines
                ]
            )
    except IntegrityError as error:
        if CAP_CONSTRAINT in str(error):
            raise ValidationError(
                "This refund would exceed what was paid for the returned lines; "
                "earlier refunds of the case already cover part of them."
            ) from error
        concurrent = Refund.objects.filter(dedupe_key=dedupe_key).first()
        if concurrent is None:
            raise
        return concurrent
    _route(refund)
    return refund


def _route(refund: Refund) -> None:
    if refund.method == RefundMethod.EXCHANGE:
        refund.submit()
        refund.approve(by=None, auto=True)
        refund.issue(provider_status="exchanged")
        _save(refund, actor=None, why="Exchange: the replacement ships instead of money")
        return
    kinds = case_open_exception_kinds(refund.case_id)
    if kinds:
        refund.hold(reason=_hold_reason(kinds))
        _save(refund, actor=None, why=refund.hold_reason)
        return
    refund.submit()
    _save(refund, actor=None, why="Waiting for approval")
    _auto_approve(refund)


# ---- Holds ----------------------------------------------------------------------------------


@transaction.atomic
def refund_holds_apply(*, case_id: int, reason: str) -> int:
    """Put every unpaid, unrefused refund of a case on hold (an exception was opened on it).

    Effects: locks them; moves each proposed, pending or approved-but-unpaid refund to
    on_hold with `reason` in its history (a queued execution then does nothing). Returns how
    many it held.
    """
    held = 0
    refunds = Refund.objects.select_for_update().filter(
        case_id=case_id, state__in=[State.PROPOSED, State.PENDING_APPROVAL, State.APPROVED]
    )
    for refund in refunds.order_by("pk"):
        refund.hold(reason=reason)
        _save(refund, actor=None, why=reason)
        held += 1
    return held


@transaction.atomic
def refund_holds_release(*, case_id: int, actor: AbstractBaseUser | None = None) -> int:
    """Release a case's held refunds once no exception is active on it any more.

    Effects: none while any exception on the case is active. Otherwise locks the held refunds,
    moves each back to pending_approval with a history row, and approves automatically those
    the policy allows (queueing their execution). Returns how many it released.
    """
    if case_open_exception_kinds(case_id):
        return 0
    released = 0
    for refund in Refund.objects.select_for_update().filter(case_id=case_id, state=State.ON_HOLD):
        refund.release()
        _save(refund, actor=actor, why="Hold released: no open exception on the case")
        _auto_approve(refund)
        released += 1
    return released


@transaction.atomic
def refund_hold_release(*, refund_id: int, actor: AbstractBaseUser) -> Refund:
    """A person releases one refund's hold.

    Effects: locks it; refuses in another state (TransitionNotAllowed), without
    `release_refund_hold` (PermissionDenied) or while an exception on the case is still
    active (ValidationError); moves it to pending_approval with who and why.
    """
    refund = _locked(refund_id)
    _refuse_state(refund, refund.release)
    if not has_transition_perm(refund.release, actor):
        raise PermissionDenied("You may not release refund holds.")
    kinds = case_open_exception_kinds(refund.case_id)
    if kinds:
        raise ValidationError(f"{_hold_reason(kinds)}: resolve it first.")
    refund.release()
    _save(refund, actor=actor, why="Hold released")
    return refund


def exception_opened_hold_refunds(*, exception: ExceptionCase, actor=None) -> None:
    """erp open handler (registered in FinanceConfig.ready): an exception on a return case
    holds the case's unpaid refunds."""
    refund_holds_apply(
        case_id=int(exception.subject_id),
        reason=f"{exception.get_kind_display()} exception #{exception.pk} opened",
    )


def exception_resolved_release_refunds(*, exception: ExceptionCase, actor=None) -> None:
    """erp resolution handler: resolving the case's last exception releases its refunds."""
    refund_holds_release(case_id=int(exception.subject_id), actor=actor)


def refund_holds_release_cleared() -> int:
    """Release the holds of every case that has no active exception left (a dismissal runs no
    handler; the beat runs this). Effects: as `refund_holds_release`, per case."""
    case_ids = set(Refund.objects.filter(state=State.ON_HOLD).values_list("case_id", flat=True))
    return sum(refund_holds_release(case_id=case_id) for case_id in sorted(case_ids))


# ---- Approving and rejecting ----------------------------------------------------------------


@transaction.atomic
def refund_approve(
    *, refund_id: int, actor: AbstractBaseUser, note: str = "", limits: Limits | None = None
) -> Refund:
    """Approve a refund waiting for approval.

    Effects: locks it; refuses in another state (TransitionNotAllowed: of many concurrent
    approvals exactly one succeeds) and, with a PermissionDenied saying why, an actor without
    `approve_refund`, its requester, anyone who received or inspected its units, or an amount
    over the actor's approval limit — changing nothing. Otherwise moves it to approved with
    who, when and why, and queues its execution after commit.
    """
    # The hot action of the approval queue: approving reads nothing of the case (not even
    # its ~40 columns), and the refund and its history row are one statement.
    refund = _locked(refund_id, with_case=False)
    _refuse_state(refund, refund.approve)
    refusal = approval_refusal(refund=refund, actor=actor, limits=limits or Limits(actor))
    if refusal:
        raise PermissionDenied(refusal)
    refund.approve(by=actor)
    _send_for_execution(refund)
    update_with_history(refund, actor=actor, why=note.strip() or "Approved")
    return refund


def refunds_bulk_approve(
    *, refund_ids: Sequence[int], actor: AbstractBaseUser, note: str = ""
) -> list[BulkOutcome]:
    """Approve several refunds, each checked and committed on its own.

    Effects: as `refund_approve` for every id, in its own transaction: one refused refund
    (limit, segregation of duties, state) neither stops nor undoes the others. Returns one
    outcome per id, in order, saying which were refused and why.
    """
    limits = Limits(actor)
    outcomes = []
    for refund_id in dict.fromkeys(refund_ids):
        try:
            refund_approve(refund_id=refund_id, actor=actor, note=note, limits=limits)
        except Refund.DoesNotExist:
            outcomes.append(BulkOutcome(refund_id, False, "No such refund."))
        except (PermissionDenied, TransitionNotAllowed, ValidationError) as error:
            outcomes.append(BulkOutcome(refund_id, False, _message(error)))
        else:
            outcomes.append(BulkOutcome(refund_id, True))
    return outcomes


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or type(error).__name__


@transaction.atomic
def refund_reject(*, refund_id: int, actor: AbstractBaseUser, reason: str) -> Refund:
    """Refuse a refund waiting for approval or on hold.

    Effects: locks it; refuses without `reject_refund`, in another state or without a reason;
    moves it to rejected with the reason, and releases its lines' amounts back to the
    returned lines' caps (another refund of them may be proposed).
    """
    refund = _locked(refund_id)
    _refuse_state(refund, refund.reject)
    if not actor.has_perm(REJECT_PERMISSION):
        raise PermissionDenied("You may not reject refunds.")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the refund is refused."})
    refund.reject(reason=reason)
    _save(refund, actor=actor, why=f"Rejected: {reason}")
    refund.lines.update(released=True)
    return refund


@transaction.atomic
def refund_retry(*, refund_id: int, actor: AbstractBaseUser, note: str = "") -> Refund:
    """Send a failed refund to the provider again, with the same idempotency key.

    Effects: locks it; refuses without `retry_refund` or unless failed; moves it back to
    approved and queues its execution after commit.
    """
    refund = _locked(refund_id)
    _refuse_state(refund, refund.retry)
    if not actor.has_perm(RETRY_PERMISSION):
        raise PermissionDenied("You may not retry refunds.")
    refund.retry()
    _send_for_execution(refund)
    _save(refund, actor=actor, why=note.strip() or "Retried")
    return refund


# ---- Withdrawing -----------------------------------------------------------------------------


@transaction.atomic
def refunds_withdraw_for_case(*, case_id: int, reason: str) -> list[Refund]:
    """The system withdraws a case's unpaid refunds: the case was cancelled or expired, so
    nothing is owed any more.

    Effects: locks the case's refunds; moves each proposed, pending, approved-but-unpaid, held
    or failed one to withdrawn with `reason` in its history (a queued execution then does
    nothing), gives its lines' amounts back to the returned lines' caps and resolves its
    refund_failure exception, if any. A refund already issued with money or credit paid out
    is never withdrawn: a refund_failure exception is opened on it for finance to recover the
    money (or reverse the credit). Returns the refunds withdrawn.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the refunds are withdrawn.")
    withdrawn = []
    refunds = Refund.objects.select_related("case").select_for_update(of=("self",))
    for refund in refunds.filter(case_id=case_id).order_by("pk"):
        if refund.state in WITHDRAWABLE_STATES:
            refund.withdraw(reason=reason)
            _save(refund, actor=None, why=f"Withdrawn: {reason}")
            refund.lines.update(released=True)
            _resolve_failure_exceptions(refund, reason=f"Refund #{refund.pk} withdrawn: {reason}")
            withdrawn.append(refund)
        elif refund.state == State.ISSUED and refund.amount > 0:
            _open_recovery_exception(refund, reason)
    return withdrawn


def _open_recovery_exception(refund: Refund, reason: str) -> None:
    paid = (
        "as store credit: reverse the credit"
        if refund.method == RefundMethod.STORE_CREDIT
        else f"through the provider ({refund.provider_refund_id}): recover the money"
    )
    exception_open(
        kind=ExceptionKind.REFUND_FAILURE,
        subject_type=SubjectType.REFUND,
        subject_id=refund.pk,
        subject_label=f"Refund #{refund.pk} ({refund.case.rma_number})",
        summary=f"Refund of {refund.amount} {refund.currency} issued, but its case ended"[:200],
        details=(
            f"{reason}. The refund was issued already {paid} from the customer, then reverse "
            "its journal entry."
        ),
        evidence={
            "refund_id": refund.pk,
            "issued": True,
            "provider_refund_id": refund.provider_refund_id,
            "journal_entry_id": refund.journal_entry_id,
        },
    )


# ---- Executing ------------------------------------------------------------------------------


def _outcome(refund: Refund, *, message: str = "") -> ExecutionOutcome:
    return ExecutionOutcome(
        refund_id=refund.pk,
        state=refund.state,
        provider_refund_id=refund.provider_refund_id,
        amount=str(refund.amount),
        currency=refund.currency,
        retryable=refund.state == State.FAILED and refund.failure_retryable,
        message=message or refund.failure_message,
    )


def _journal_post(refund: Refund):
    """Dr sales returns (the gross, less what earlier manual refunds of the lines booked
    already), Cr cash clearing or store-credit liability (what the customer gets) and
    Cr restocking-fee income (what was kept: fee, return shipping and condition deductions)."""
    earlier = refund.lines.aggregate(total=Sum("earlier_refunds"))["total"] or 0
    if refund.gross_amount - earlier == 0:
        return None
    paid_to = (
        AccountPurpose.STORE_CREDIT_LIABILITY
        if refund.method == RefundMethod.STORE_CREDIT
        else AccountPurpose.CASH_CLEARING
    )
    rma = refund.case.rma_number
    return journal_entry_post(
        postings=[
            Posting(AccountPurpose.SALES_RETURNS, debit=refund.gross_amount - earlier, memo=rma),
            Posting(paid_to, credit=refund.amount, memo=f"Refund #{refund.pk}"),
            Posting(
                AccountPurpose.RESTOCKING_FEE_INCOME,
                credit=refund.deductions_amount - earlier,
                memo="Restocking fee, return shipping and condition deductions kept",
            ),
        ],
        currency=refund.currency,
        cause_type="refund",
        cause_id=str(refund.pk),
        memo=f"Refund #{refund.pk} issued for {rma}",
        idempotency_key=f"refund:{refund.pk}:issued",
        occurred_at=refund.issued_at,
    )


def _open_failure_exception(refund: Refund, error: ProviderError) -> None:
    then = (
        "The outbox retries it with the same idempotency key."
        if error.retryable
        else "Fix the cause, then retry it from the refund page (same idempotency key)."
    )
    exception_open(
        kind=ExceptionKind.REFUND_FAILURE,
        subject_type=SubjectType.REFUND,
        subject_id=refund.pk,
        subject_label=f"Refund #{refund.pk} ({refund.case.rma_number})",
        summary=f"Refund of {refund.amount} {refund.currency} failed: {error.code}"[:200],
        details=f"{error.message}\n\n{then}",
        evidence={
            "refund_id": refund.pk,
            "code": error.code,
            "retryable": error.retryable,
            "attempts": refund.attempts,
            "idempotency_key": refund.idempotency_key,
        },
    )


@transaction.atomic
def refund_execute(*, refund_id: int, resume_retryable: bool = False) -> ExecutionOutcome:
    """Pay an approved refund: to the original payment through the provider, or as store
    credit; an exchange moves no money.

    Effects: locks the refund, so concurrent executions run one after the other; an issued
    refund (or one not approved: on hold, rejected) is returned as it is, with no call.
    `resume_retryable` (the outbox's retries) first moves a refund that failed because the
    provider was unavailable back to approved. Then: store credit raises the customer's
    balance (`store_credit_issue`); a provider refund calls the provider with the refund's
    idempotency key — on success the refund is issued with the provider's id; on failure it
    is failed, with the provider's code and message, and a refund_failure exception is
    opened (or noted again). An issued refund posts its journal entry (`_journal_post`).
    """
    refund = _locked(refund_id)
    if resume_retryable and refund.state == State.FAILED and refund.failure_retryable:
        refund.retry()
        _save(refund, actor=None, why="Retrying: the provider was unavailable")
    if refund.state != State.APPROVED:
        return _outcome(refund)
    if refund.method == RefundMethod.STORE_CREDIT:
        entry = store_credit_issue(refund=refund)
        refund.issue(provider_refund_id=f"store-credit-{entry.pk}", provider_status="credited")
        why = f"Issued as store credit (balance {entry.balance_after} {refund.currency})"
    elif refund.method == RefundMethod.EXCHANGE:
        refund.issue(provider_status="exchanged")
        why = "Exchange: no money moves"
    else:
        refund.attempts += 1
        try:
            paid = payment_provider().refund_create(
                amount=refund.amount,
                currency=refund.currency,
                payment_reference=refund.payment_reference,
                idempotency_key=refund.idempotency_key,
                metadata={"refund_id": str(refund.pk), "rma_number": refund.case.rma_number},
            )
        except ProviderError as error:
            refund.fail(code=error.code, message=error.message, retryable=error.retryable)
            _save(refund, actor=None, why=f"Failed: {error.code}")
            _open_failure_exception(refund, error)
            return _outcome(refund)
        refund.issue(provider_refund_id=paid.id, provider_status=paid.status)
        why = f"Issued by the provider as {paid.id} ({paid.status})"
    refund.journal_entry = _journal_post(refund)
    _save(refund, actor=None, why=why)
    _resolve_failure_exceptions(refund, reason=f"Refund #{refund.pk} issued on retry: {why}")
    return _outcome(refund)


def _resolve_failure_exceptions(refund: Refund, *, reason: str) -> None:
    """Resolve the refund_failure exception still active on `refund`, as the system: the
    problem it reported went away (the retry paid, or the refund was withdrawn)."""
    active = ExceptionCase.objects.filter(
        kind=ExceptionKind.REFUND_FAILURE,
        subject_type=SubjectType.REFUND,
        subject_id=str(refund.pk),
        state__in=ACTIVE_STATES,
    ).values_list("pk", flat=True)
    for exception_id in list(active):
        exception_resolve_as_system(exception_id=exception_id, reason=reason)


def refund_outbox_send(message: OutboxMessage) -> None:
    """The outbox sender for REFUND_TOPIC (registered in FinanceConfig.ready): executes the
    refund; when the provider was unavailable, raises so the outbox retries with backoff."""
    outcome = refund_execute(refund_id=message.payload["refund_id"], resume_retryable=True)
    if outcome.retryable:
        raise OutboxSendError(f"Refund #{outcome.refund_id}: {outcome.message}")
