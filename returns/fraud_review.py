"""A held return moves on when its fraud review is resolved: erp's exception queue calls this
resolution handler (registered in ReturnsConfig.ready), so the core never imports returns."""

from erp.models import ExceptionCase
from erp.models.exceptions import ExceptionKind, ResolutionOutcome, SubjectType

from .services import return_case_fraud_review_conclude


def fraud_review_resolved(*, exception: ExceptionCase, actor=None) -> None:
    """Effects: as `return_case_fraud_review_conclude`, in the resolving transaction: a verdict
    of "confirmed" rejects the case; "cleared", or no verdict, lets it go ahead per its policy
    decision. What it writes commits or rolls back with the resolution."""
    return_case_fraud_review_conclude(
        case_id=int(exception.subject_id),
        actor=actor,
        confirmed=exception.outcome == ResolutionOutcome.CONFIRMED,
        reason=exception.resolution_reason,
    )


def fraud_review_handler_register() -> None:
    """Effects: none on the database."""
    from erp.services import exception_resolution_handler_register

    exception_resolution_handler_register(
        kind=ExceptionKind.FRAUD_REVIEW,
        subject_type=SubjectType.RETURN_CASE,
        handler=fraud_review_resolved,
    )
