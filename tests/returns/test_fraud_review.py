"""A case held for a fraud review moves on when the review is resolved: erp's exception queue
calls the returns resolution handler, which authorizes per the policy or rejects."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from erp.models import Customer, ExceptionCase, OutboxMessage, Product
from erp.models.exceptions import ExceptionKind, ExceptionState, ResolutionOutcome, SubjectType
from erp.services import exception_dismiss, exception_open, exception_resolve
from returns.models import ReturnCase, ReturnCaseMessage
from returns.services import return_case_cancel
from tests.returns.conftest import delivered_order, open_case

pytestmark = pytest.mark.django_db


def held_case(cs_user, price="300.00") -> tuple[ReturnCase, ExceptionCase]:
    """A watchlisted customer returning a serial-tracked high-value item: high risk, held."""
    order = delivered_order(
        segment=Customer.Segment.WATCHLIST,
        lines=((1, price),),
        is_high_value=True,
        tracking=Product.Tracking.SERIAL,
    )
    case = open_case(order, cs_user)
    assert case.state == ReturnCase.State.PENDING_REVIEW
    review = ExceptionCase.objects.get(
        kind=ExceptionKind.FRAUD_REVIEW, subject_id=str(case.pk), state=ExceptionState.OPEN
    )
    return case, review


def messages_of(case) -> list[str]:
    return list(
        ReturnCaseMessage.objects.filter(case=case)
        .order_by("pk")
        .values_list("template", flat=True)
    )


def test_a_cleared_review_authorizes_the_case_as_the_policy_decided(cs_user, operations_user):
    # given a case the policy would authorize, held only by its risk score
    case, review = held_case(cs_user)
    # when operations clears the review
    exception_resolve(
        exception_id=review.pk,
        actor=operations_user,
        reason="Customer verified by phone",
        outcome=ResolutionOutcome.CLEARED,
    )
    # then the case is authorized, by the resolver, with the review's reason, and told so
    case.refresh_from_db()
    assert case.state == ReturnCase.State.AUTHORIZED
    assert case.ship_by is not None
    last = case.history.latest()
    assert last.history_user == operations_user
    assert last.history_change_reason == "Authorized after fraud review: Customer verified by phone"
    assert messages_of(case) == ["return_under_review", "return_authorized"]
    assert OutboxMessage.objects.filter(
        dedupe_key=f"return_case:{case.pk}:return_authorized"
    ).exists()
    review.refresh_from_db()
    assert (review.state, review.outcome) == (ExceptionState.RESOLVED, "cleared")


def test_a_resolution_without_a_verdict_counts_as_cleared(cs_user, operations_user):
    case, review = held_case(cs_user)
    exception_resolve(exception_id=review.pk, actor=operations_user, reason="Checked")
    case.refresh_from_db()
    assert case.state == ReturnCase.State.AUTHORIZED


def test_confirmed_fraud_rejects_the_case_and_tells_the_customer(cs_user, operations_user):
    case, review = held_case(cs_user)
    # when operations confirms the fraud
    exception_resolve(
        exception_id=review.pk,
        actor=operations_user,
        reason="The serial was never shipped on this order.",
        outcome=ResolutionOutcome.CONFIRMED,
    )
    # then the case is rejected with that reason, by the resolver, and the customer is told
    case.refresh_from_db()
    assert case.state == ReturnCase.State.REJECTED
    assert case.outcome_reason == "The serial was never shipped on this order."
    last = case.history.latest()
    assert last.history_user == operations_user
    assert last.history_change_reason.startswith("Rejected after fraud review: The serial")
    assert messages_of(case) == ["return_under_review", "return_rejected"]
    assert not case.refunds.exists()


def test_a_cleared_review_leaves_a_policy_review_to_a_person(cs_user, operations_user):
    # given a case the policy itself holds for review (item value 1000 or more), also high risk
    case, review = held_case(cs_user, price="1200.00")
    assert case.decision["lines"][0]["decision"] == "manual_review"
    # when the fraud review is cleared
    exception_resolve(exception_id=review.pk, actor=operations_user, reason="Genuine")
    # then the case still waits for a person, with the cleared review in its history
    case.refresh_from_db()
    assert case.state == ReturnCase.State.PENDING_REVIEW
    assert case.history.latest().history_change_reason == (
        "Fraud review cleared; the policy still asks a person: Genuine"
    )
    assert messages_of(case) == ["return_under_review"]


def test_a_dismissed_review_moves_nothing(cs_user, operations_user):
    case, review = held_case(cs_user)
    exception_dismiss(exception_id=review.pk, actor=operations_user, reason="Duplicate")
    case.refresh_from_db()
    assert case.state == ReturnCase.State.PENDING_REVIEW


def test_a_verdict_on_a_kind_that_takes_none_is_refused_and_nothing_changes(
    cs_user, operations_user
):
    case = open_case(delivered_order(), cs_user)
    mismatch = exception_open(
        kind=ExceptionKind.SKU_MISMATCH,
        subject_type=SubjectType.RETURN_CASE,
        subject_id=case.pk,
        summary="Other SKU",
    )
    with pytest.raises(ValidationError, match="Only these kinds take a verdict: fraud review"):
        exception_resolve(
            exception_id=mismatch.pk, actor=operations_user, reason="x", outcome="confirmed"
        )
    mismatch.refresh_from_db()
    assert (mismatch.state, mismatch.outcome) == (ExceptionState.OPEN, "")


def test_the_exception_page_asks_for_the_verdict_and_rejects_on_confirmed(
    client, cs_user, operations_user
):
    case, review = held_case(cs_user)
    client.force_login(operations_user)
    page = client.get(reverse("exception_detail", args=[review.pk])).content.decode()
    assert "Fraud confirmed: the return is rejected" in page
    # a verdict that is not one of the choices is refused, nothing written
    url = reverse("exception_resolve", args=[review.pk])
    refused = client.post(url, {"reason": "Seen", "outcome": "maybe"})
    assert refused.status_code == 422
    review.refresh_from_db()
    case.refresh_from_db()
    assert (review.state, case.state) == (ExceptionState.OPEN, ReturnCase.State.PENDING_REVIEW)
    # a confirmed verdict rejects the case
    done = client.post(url, {"reason": "Box weighed 180 g", "outcome": "confirmed"})
    assert done.status_code == 302
    case.refresh_from_db()
    assert case.state == ReturnCase.State.REJECTED
    shown = client.get(reverse("exception_detail", args=[review.pk])).content.decode()
    assert "Confirmed: the subject is refused." in shown


def test_a_case_someone_already_moved_is_left_alone(cs_user, operations_user):
    # given a held case cancelled by the agent while its review was still open
    case, review = held_case(cs_user)
    return_case_cancel(case_id=case.pk, actor=operations_user, reason="Customer kept it")
    # when the review is resolved afterwards, nothing moves
    exception_resolve(exception_id=review.pk, actor=operations_user, reason="Moot")
    case.refresh_from_db()
    assert case.state == ReturnCase.State.CANCELLED
