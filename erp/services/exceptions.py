"""The exception queue's write path: open (idempotently), assign, escalate, resolve, dismiss,
note, and the automatic escalation of overdue ones.

Higher apps react to a resolution by registering a handler here from their
`AppConfig.ready()` (DESIGN.md: a lower layer never calls up):

    exception_resolution_handler_register(
        kind=ExceptionKind.FRAUD_REVIEW, subject_type=SubjectType.RETURN_CASE, handler=...
    )
"""

from collections.abc import Callable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed, can_proceed, has_transition_perm

from erp.history import save_with_history
from erp.models import ExceptionCase, ExceptionNote, Product, SalesOrder
from erp.models.exceptions import (
    ACTIVE_STATES,
    KIND_DEFAULTS,
    OUTCOME_KINDS,
    ExceptionKind,
    ExceptionState,
    SubjectType,
)
from erp.roles import Role

# handler(*, exception: ExceptionCase, actor: User) runs inside the resolving transaction, so
# what it writes commits or rolls back with the resolution.
ResolutionHandler = Callable[..., None]

_resolution_handlers: dict[tuple[str, str], list[ResolutionHandler]] = {}

NOTE_PERMISSION = "erp.add_exceptionnote"
# Rows escalated per run: the beat runs every few minutes, so a backlog drains in steps
# without holding row locks for long.
ESCALATION_BATCH = 500
PAST_TENSE = {
    "assign": "assigned",
    "escalate": "escalated",
    "resolve": "resolved",
    "dismiss": "dismissed",
}


def exception_resolution_handler_register(
    *, kind: ExceptionKind, subject_type: SubjectType, handler: ResolutionHandler
) -> None:
    """Call `handler` whenever an exception of `kind` on a `subject_type` is resolved.

    Effects: none on the database; registering the same handler twice keeps one.
    """
    handlers = _resolution_handlers.setdefault((ExceptionKind(kind), SubjectType(subject_type)), [])
    if handler not in handlers:
        handlers.append(handler)


def exception_resolution_handler_unregister(
    *, kind: ExceptionKind, subject_type: SubjectType, handler: ResolutionHandler
) -> None:
    """Effects: `handler` is no longer called for (`kind`, `subject_type`)."""
    handlers = _resolution_handlers.get((ExceptionKind(kind), SubjectType(subject_type)), [])
    if handler in handlers:
        handlers.remove(handler)


# handler(*, exception: ExceptionCase, actor: User | None) runs inside the opening
# transaction when an exception is newly opened (not when the same problem is reported again).
OpenHandler = Callable[..., None]
_open_handlers: dict[tuple[str, str], list[OpenHandler]] = {}


def exception_open_handler_register(
    *, kind: ExceptionKind, subject_type: SubjectType, handler: OpenHandler
) -> None:
    """Call `handler` whenever an exception of `kind` on a `subject_type` is newly opened
    (e.g. finance puts a case's refunds on hold). Effects: none on the database; registering
    the same handler twice keeps one."""
    handlers = _open_handlers.setdefault((ExceptionKind(kind), SubjectType(subject_type)), [])
    if handler not in handlers:
        handlers.append(handler)


def exception_open_handler_unregister(
    *, kind: ExceptionKind, subject_type: SubjectType, handler: OpenHandler
) -> None:
    """Effects: `handler` is no longer called for (`kind`, `subject_type`)."""
    handlers = _open_handlers.get((ExceptionKind(kind), SubjectType(subject_type)), [])
    if handler in handlers:
        handlers.remove(handler)


def _locked(exception_id: int) -> ExceptionCase:
    return ExceptionCase.objects.select_for_update().get(pk=exception_id)


def _active_locked(*, kind: str, subject_type: str, subject_id: str) -> ExceptionCase | None:
    return (
        ExceptionCase.objects.select_for_update()
        .filter(
            kind=kind, subject_type=subject_type, subject_id=subject_id, state__in=ACTIVE_STATES
        )
        .first()
    )


def _authorize(exception: ExceptionCase, method: Callable, actor: AbstractBaseUser) -> None:
    """Refuse a transition the exception's state does not allow, then one the actor may not
    take; `method` is the bound transition."""
    if not can_proceed(method):
        done = PAST_TENSE[method.__name__]
        raise TransitionNotAllowed(
            f"A {exception.get_state_display().lower()} exception cannot be {done}.",
            object=exception,
            method=method,
        )
    if not has_transition_perm(method, actor):
        raise PermissionDenied(f"You may not {method.__name__} exceptions.")


def _required_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why, so the next person understands the outcome."})
    return reason


_save = save_with_history


@transaction.atomic
def exception_open(
    *,
    kind: ExceptionKind,
    subject_type: SubjectType,
    subject_id: str | int,
    summary: str,
    subject_label: str = "",
    details: str = "",
    evidence: dict | None = None,
    product: Product | None = None,
    sales_order: SalesOrder | None = None,
    owner_role: Role | None = None,
    sla_due_at: datetime | None = None,
    actor: AbstractBaseUser | None = None,
) -> ExceptionCase:
    """Open an exception about a subject, or return the one already open for it.

    Effects: when no exception of `kind` is active on the subject, creates one owned by the
    kind's default role with the kind's default SLA (both overridable) and a history row,
    then calls the open handlers registered for its kind and subject type, in this
    transaction.
    Otherwise, locks the active one and adds the new report (summary, details, evidence) to
    it as a note; nothing else on it changes. `actor` is empty when the system reports it.
    """
    kind = ExceptionKind(kind)
    subject_type = SubjectType(subject_type)
    key = {"kind": kind, "subject_type": subject_type, "subject_id": str(subject_id)}
    existing = _active_locked(**key)
    if existing is None:
        opened_at = timezone.now()
        exception = ExceptionCase(
            **key,
            subject_label=subject_label,
            summary=summary,
            details=details,
            evidence=evidence or {},
            product=product,
            sales_order=sales_order,
            owner_role=owner_role or KIND_DEFAULTS[kind].owner_role,
            opened_by=actor,
            opened_at=opened_at,
            sla_due_at=sla_due_at or ExceptionCase.default_sla_due(kind, opened_at),
        )
        try:
            # A savepoint: a concurrent report of the same problem may win the unique index.
            with transaction.atomic():
                _save(exception, actor=actor, why="Opened")
            for handler in list(_open_handlers.get((kind, subject_type), [])):
                handler(exception=exception, actor=actor)
            return exception
        except IntegrityError:
            existing = _active_locked(**key)
            if existing is None:
                raise
    body = f"Reported again: {summary}"
    if details:
        body += f"\n\n{details}"
    ExceptionNote.objects.create(
        exception=existing, author=actor, body=body, evidence=evidence or {}
    )
    return existing


@transaction.atomic
def exception_assign(
    *, exception_id: int, actor: AbstractBaseUser, assignee: AbstractBaseUser
) -> ExceptionCase:
    """Give an active exception to the actor themself or to someone in its owner role.

    Effects: locks it; refuses without `manage_exceptions` (PermissionDenied), on a closed one
    (TransitionNotAllowed) or for anyone else (ValidationError); sets the assignee, moves an
    open one to `assigned` (an escalated one stays escalated) and records a history row.
    """
    exception = _locked(exception_id)
    _authorize(exception, exception.assign, actor)
    in_owner_role = assignee.groups.filter(name=exception.owner_role).exists()
    if not assignee.is_active or (assignee.pk != actor.pk and not in_owner_role):
        role = Role(exception.owner_role).label.lower()
        raise ValidationError({"assignee": f"Assign it to yourself or to someone in {role}."})
    exception.assign(assignee=assignee)
    _save(exception, actor=actor, why=f"Assigned to {assignee.get_username()}")
    return exception


@transaction.atomic
def exception_escalate(
    *, exception_id: int, actor: AbstractBaseUser, note: str = ""
) -> ExceptionCase:
    """Effects: locks the exception; refuses as `exception_assign` does; moves it to
    `escalated`, stamps when, and records a history row whose reason is `note`."""
    exception = _locked(exception_id)
    _authorize(exception, exception.escalate, actor)
    exception.escalate(at=timezone.now())
    _save(exception, actor=actor, why=note.strip() or "Escalated")
    return exception


def _valid_outcome(exception: ExceptionCase, outcome: str) -> str:
    allowed = OUTCOME_KINDS.get(exception.kind, {})
    if outcome and outcome not in allowed:
        kinds = ", ".join(sorted(str(kind.label).lower() for kind in OUTCOME_KINDS))
        raise ValidationError(
            {"outcome": f"Only these kinds take a verdict: {kinds}."}
            if not allowed
            else {"outcome": f"Choose one of: {', '.join(allowed.values())}."}
        )
    return outcome


@transaction.atomic
def exception_resolve(
    *, exception_id: int, actor: AbstractBaseUser, reason: str, outcome: str = ""
) -> ExceptionCase:
    """Close an exception because the problem is dealt with.

    Effects: locks it; refuses without `manage_exceptions`, on a closed one, without a reason,
    or with an `outcome` its kind does not take (ValidationError; OUTCOME_KINDS); moves it to
    `resolved` with the reason, the outcome, who and when, records a history row, then calls
    the handlers registered for its kind and subject type, in this transaction (they read
    `exception.outcome`; blank means the person gave no verdict).
    """
    exception = _locked(exception_id)
    _authorize(exception, exception.resolve, actor)
    reason = _required_reason(reason)
    return _resolve(
        exception, actor=actor, reason=reason, outcome=_valid_outcome(exception, outcome)
    )


@transaction.atomic
def exception_resolve_as_system(*, exception_id: int, reason: str) -> ExceptionCase:
    """Close an exception whose problem went away by itself (a variance that cleared).

    Effects: as `exception_resolve` with no person behind it — no permission check, an empty
    history user — so the resolution handlers of its kind run here too.
    """
    exception = _locked(exception_id)
    if not can_proceed(exception.resolve):
        raise TransitionNotAllowed(
            f"A {exception.get_state_display().lower()} exception cannot be resolved.",
            object=exception,
            method=exception.resolve,
        )
    return _resolve(exception, actor=None, reason=_required_reason(reason))


def _resolve(
    exception: ExceptionCase, *, actor: AbstractBaseUser | None, reason: str, outcome: str = ""
) -> ExceptionCase:
    exception.resolve(by=actor, at=timezone.now(), reason=reason, outcome=outcome)
    _save(exception, actor=actor, why=reason)
    key = (ExceptionKind(exception.kind), SubjectType(exception.subject_type))
    for handler in list(_resolution_handlers.get(key, [])):
        handler(exception=exception, actor=actor)
    return exception


@transaction.atomic
def exception_dismiss(*, exception_id: int, actor: AbstractBaseUser, reason: str) -> ExceptionCase:
    """Close an exception that needs no action (a false alarm, a duplicate).

    Effects: as `exception_resolve`, ending in `dismissed`; no resolution handler runs.
    """
    exception = _locked(exception_id)
    _authorize(exception, exception.dismiss, actor)
    reason = _required_reason(reason)
    exception.dismiss(by=actor, at=timezone.now(), reason=reason)
    _save(exception, actor=actor, why=reason)
    return exception


def exception_add_note(
    *, exception_id: int, actor: AbstractBaseUser, body: str, evidence: dict | None = None
) -> ExceptionNote:
    """Effects: adds a note by `actor` to the exception's timeline; refuses without
    `add_exceptionnote` (PermissionDenied) or with an empty body (ValidationError)."""
    if not actor.has_perm(NOTE_PERMISSION):
        raise PermissionDenied("You may not add notes to exceptions.")
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write the note first."})
    exception = ExceptionCase.objects.get(pk=exception_id)
    return ExceptionNote.objects.create(
        exception=exception, author=actor, body=body, evidence=evidence or {}
    )


@transaction.atomic
def exceptions_escalate_overdue(*, now: datetime | None = None) -> int:
    """Escalate open and assigned exceptions whose SLA has passed; the beat runs this.

    Effects: locks up to ESCALATION_BATCH overdue rows, skipping rows another transaction
    holds (a person acting on one right now); moves each to `escalated` with a history row
    by the system. Returns how many it escalated.
    """
    now = now or timezone.now()
    overdue = (
        ExceptionCase.objects.select_for_update(skip_locked=True)
        .filter(state__in=[ExceptionState.OPEN, ExceptionState.ASSIGNED], sla_due_at__lt=now)
        .order_by("sla_due_at", "pk")[:ESCALATION_BATCH]
    )
    escalated = 0
    for exception in overdue:
        exception.escalate(at=now)
        due = timezone.localtime(exception.sla_due_at).strftime("%d %b %Y %H:%M")
        _save(exception, actor=None, why=f"SLA due {due} passed: escalated automatically")
        escalated += 1
    return escalated
