"""A refund proposed when its case was authorized is withdrawn when the case is cancelled or
expires (audited, its amount back to the cap, a queued execution pays nothing); one already
issued is never withdrawn but raises a refund_failure exception for finance to recover it. A
refund_failure exception is resolved by the system when the retry issues the refund."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from erp.models import ExceptionCase
from erp.services import outbox_dispatch_due
from finance.models import RefundCap, RefundState
from finance.services import refund_retry
from returns.models import ReturnCase
from returns.services import return_case_cancel, return_case_expire
from tests.finance.provider_server import SECRET, running_provider
from tests.finance.refund_cases import open_case, refund_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings):
    with running_provider() as provider:
        settings.PAYMENT_PROVIDER_URL = provider.url
        settings.PAYMENT_PROVIDER_SECRET_KEY = SECRET
        settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS = 5
        yield provider


def expire(case):
    """The case's ship-by date passed; the system expires it."""
    ReturnCase.objects.filter(pk=case.pk).update(ship_by=timezone.now() - timedelta(days=1))
    return return_case_expire(case_id=case.pk)


def failure_exceptions(refund):
    return ExceptionCase.objects.filter(
        kind="refund_failure", subject_type="refund", subject_id=str(refund.pk)
    )


def test_cancelling_the_case_withdraws_its_pending_refund(cs_user):
    # given a case whose refund was proposed on authorization and waits for approval (too
    # large to approve automatically)
    case = open_case(cs_user, quantity=2, price="40.00", trigger="on_authorization")
    refund = refund_of(case)
    assert refund.state == RefundState.PENDING_APPROVAL
    cap = RefundCap.objects.get(return_line__case=case)
    assert cap.committed_amount == Decimal("80.00")

    # when customer service cancels the case
    return_case_cancel(case_id=case.pk, actor=cs_user, reason="Customer kept the shirts")

    # then the refund is withdrawn, audited with the reason, and the cap is free again
    refund.refresh_from_db()
    assert refund.state == RefundState.WITHDRAWN
    assert refund.withdrawn_at is not None
    assert "Customer kept the shirts" in refund.withdrawal_reason
    last = refund.history.first()
    assert last.state == RefundState.WITHDRAWN
    assert last.history_change_reason.startswith("Withdrawn: Return ")
    assert last.history_user is None
    cap.refresh_from_db()
    assert cap.committed_amount == 0
    assert not refund.lines.filter(released=False).exists()


def test_an_expired_case_withdraws_an_approved_refund_before_it_is_paid(provider, cs_user):
    # given a small refund approved automatically on authorization, its execution queued
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    assert refund.state == RefundState.APPROVED

    # when the case expires before the outbox ran
    expire(case)
    outbox_dispatch_due(now=timezone.now() + timedelta(minutes=5))

    # then the refund is withdrawn and the provider was never called
    refund.refresh_from_db()
    assert refund.state == RefundState.WITHDRAWN
    assert provider.refund_requests() == 0
    assert refund.journal_entry is None


def test_an_issued_refund_is_never_withdrawn_but_finance_is_told_to_recover_it(provider, cs_user):
    # given a refund the provider already paid
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    outbox_dispatch_due()
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED

    # when the case is cancelled afterwards
    return_case_cancel(case_id=case.pk, actor=cs_user, reason="Parcel never sent")

    # then the refund stays issued, and a refund_failure exception asks finance to recover it
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    exception = failure_exceptions(refund).get()
    assert exception.state == "open"
    assert "issued, but its case ended" in exception.summary
    assert "recover the money" in exception.details
    assert exception.evidence["provider_refund_id"] == refund.provider_refund_id


def test_withdrawing_a_failed_refund_resolves_its_failure_exception(provider, settings, cs_user):
    # given a refund the provider refused (wrong key), with its refund_failure exception
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    settings.PAYMENT_PROVIDER_SECRET_KEY = "sk_wrong"
    outbox_dispatch_due()
    refund.refresh_from_db()
    assert refund.state == RefundState.FAILED
    assert failure_exceptions(refund).get().state == "open"

    # when the case expires
    expire(case)

    # then the refund is withdrawn and the exception resolved by the system
    refund.refresh_from_db()
    assert refund.state == RefundState.WITHDRAWN
    exception = failure_exceptions(refund).get()
    assert exception.state == "resolved"
    assert exception.history.first().history_user is None


def test_a_successful_retry_resolves_the_refund_failure_exception(
    provider, settings, cs_user, finance_user
):
    # given a refund that failed for good, with its open refund_failure exception
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    settings.PAYMENT_PROVIDER_SECRET_KEY = "sk_wrong"
    outbox_dispatch_due()
    assert failure_exceptions(refund).get().state == "open"

    # when the key is fixed and finance retries it
    settings.PAYMENT_PROVIDER_SECRET_KEY = SECRET
    refund_retry(refund_id=refund.pk, actor=finance_user, note="Key rotated")
    outbox_dispatch_due()

    # then the refund is issued and its exception resolved, as the system, saying why
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    exception = failure_exceptions(refund).get()
    assert exception.state == "resolved"
    last = exception.history.first()
    assert last.history_user is None
    assert f"Refund #{refund.pk} issued on retry" in last.history_change_reason


def test_a_retry_that_fails_again_leaves_the_exception_open(provider, cs_user):
    # given a refund that failed because the provider was down
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    provider.mode = "down"
    outbox_dispatch_due()

    # when the outbox retries while it is still down
    outbox_dispatch_due(now=timezone.now() + timedelta(minutes=5))

    # then the refund is still failed and its one exception still open
    refund.refresh_from_db()
    assert refund.state == RefundState.FAILED
    assert failure_exceptions(refund).get().state == "open"
