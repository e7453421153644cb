"""Executing approved refunds after commit through the outbox: the Stripe-like provider on
127.0.0.1 (tests/finance/provider_server.py), idempotency under concurrency and repeats, the
provider being down, a refusal and its retry, store credit, and the journal entry."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from erp.models import ExceptionCase, OutboxMessage
from erp.services import outbox_dispatch_due
from finance.models import (
    AccountPurpose,
    JournalLine,
    Refund,
    RefundState,
    StoreCreditAccount,
    StoreCreditEntry,
)
from finance.services import REFUND_TOPIC, refund_approve, refund_execute, refund_retry
from tests.finance.provider_server import SECRET, running_provider
from tests.finance.refund_cases import open_case, refund_of

P = AccountPurpose


@pytest.fixture
def provider(settings):
    with running_provider() as provider:
        settings.PAYMENT_PROVIDER_URL = provider.url
        settings.PAYMENT_PROVIDER_SECRET_KEY = SECRET
        settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS = 5
        yield provider


def journal(refund: Refund) -> list[tuple]:
    """(purpose, debit, credit) of the refund's journal entry."""
    return sorted(
        JournalLine.objects.filter(
            entry__cause_type="refund", entry__cause_id=str(refund.pk)
        ).values_list("account__purpose", "debit", "credit")
    )


def refund_messages(refund: Refund):
    return OutboxMessage.objects.filter(topic=REFUND_TOPIC, payload__refund_id=refund.pk)


def later(minutes: int):
    return timezone.now() + timedelta(minutes=minutes)


@pytest.mark.django_db
def test_the_outbox_issues_an_approved_refund_through_the_provider(provider, cs_user):
    # given a small low-risk refund the policy approved on authorization
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    assert refund.state == RefundState.APPROVED

    # when the outbox dispatches its execution
    result = outbox_dispatch_due()

    # then the provider refunded 3000 cents of the order's payment under the refund's key
    assert result.sent >= 1
    assert provider.refund_requests() == 1
    request = provider.requests[0]
    assert request["headers"]["Idempotency-Key"] == refund.idempotency_key
    assert request["form"]["amount"] == "3000"
    assert request["form"]["currency"] == "usd"
    assert request["form"]["payment_intent"].startswith("pi_")
    assert request["form"]["metadata[rma_number]"] == case.rma_number
    # and the refund is issued with the provider's id, its entry booked
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    assert refund.provider_refund_id == "re_000001"
    assert refund.attempts == 1
    assert journal(refund) == [
        (P.CASH_CLEARING, Decimal("0.00"), Decimal("30.00")),
        (P.SALES_RETURNS, Decimal("30.00"), Decimal("0.00")),
    ]
    assert refund_messages(refund).get().dispatched_at is not None
    assert (
        refund.history.first().history_change_reason
        == "Issued by the provider as re_000001 (succeeded)"
    )


@pytest.mark.django_db
def test_deductions_kept_are_booked_as_restocking_fee_income(provider, cs_user, finance_user):
    # given a refund of 2 x 40.00 with a 10 % restocking fee and the customer paying the label
    case = open_case(
        cs_user,
        quantity=2,
        price="40.00",
        trigger="on_authorization",
        fee="10",
        shipping="customer",
    )
    refund = refund_of(case)
    refund_approve(refund_id=refund.pk, actor=finance_user)

    # when it is executed
    refund_execute(refund_id=refund.pk)

    # then 80.00 leaves sales, 66.05 goes back to the customer and 13.95 is kept as income
    assert journal(refund) == [
        (P.CASH_CLEARING, Decimal("0.00"), Decimal("66.05")),
        (P.RESTOCKING_FEE_INCOME, Decimal("0.00"), Decimal("13.95")),
        (P.SALES_RETURNS, Decimal("80.00"), Decimal("0.00")),
    ]
    assert provider.requests[0]["form"]["amount"] == "6605"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ten_concurrent_and_ten_later_executions_call_the_provider_once(provider, cs_user):
    # given an approved refund, and a provider slow enough for the executions to overlap
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    provider.delay = 0.3
    start = threading.Barrier(10)
    outcomes, errors = [], []

    def execute():
        try:
            start.wait()
            outcomes.append(refund_execute(refund_id=refund.pk))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    # when ten executions run at once, each on its own database connection
    threads = [threading.Thread(target=execute) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # and ten more run after it was issued
    outcomes += [refund_execute(refund_id=refund.pk) for _ in range(10)]

    # then the provider was called once and every execution answers the same
    assert errors == []
    assert provider.refund_requests() == 1
    assert len(provider.executed) == 1
    assert len(set(outcomes)) == 1
    outcome = outcomes[0]
    assert (outcome.state, outcome.provider_refund_id) == (RefundState.ISSUED, "re_000001")
    refund.refresh_from_db()
    assert refund.attempts == 1
    assert len(journal(refund)) == 2


@pytest.mark.django_db
def test_provider_down_fails_then_the_outbox_retry_issues_it_once(provider, cs_user):
    # given an approved refund and a provider that is down
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    provider.mode = "down"

    # when the outbox dispatches it
    first = outbox_dispatch_due()

    # then the refund failed, a refund_failure exception says so, and the outbox backs off
    assert first.failed == 1
    refund.refresh_from_db()
    assert refund.state == RefundState.FAILED
    assert refund.failure_retryable
    assert refund.failure_code == "api_error"
    failure = ExceptionCase.objects.get(kind="refund_failure", subject_id=str(refund.pk))
    assert failure.subject_type == "refund"
    assert failure.state == "open"
    message = refund_messages(refund).get()
    assert message.attempts == 1
    assert message.dispatched_at is None
    assert message.next_attempt_at > timezone.now()
    assert journal(refund) == []

    # when the provider is back and the backoff has passed
    provider.mode = "ok"
    retried = outbox_dispatch_due(now=later(5))

    # then it is issued once, with the same idempotency key on both requests
    assert retried.sent == 1
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    assert refund.attempts == 2
    assert len(provider.executed) == 1
    keys = {request["headers"]["Idempotency-Key"] for request in provider.requests}
    assert keys == {refund.idempotency_key}
    states = list(refund.history.order_by("history_id").values_list("state", flat=True))
    assert states[-3:] == [RefundState.FAILED, RefundState.APPROVED, RefundState.ISSUED]
    # and nothing runs again
    assert outbox_dispatch_due(now=later(120)).sent == 0
    assert provider.refund_requests() == 2


@pytest.mark.django_db
def test_a_refusal_waits_for_a_person_whose_retry_uses_the_same_key(
    provider, settings, cs_user, finance_user
):
    # given an approved refund and a provider configured with the wrong secret key
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    settings.PAYMENT_PROVIDER_SECRET_KEY = "sk_wrong"

    # when the outbox dispatches it
    outbox_dispatch_due()

    # then it failed for good: no automatic retry, an exception for finance
    refund.refresh_from_db()
    assert refund.state == RefundState.FAILED
    assert not refund.failure_retryable
    assert refund.failure_code == "invalid_api_key"
    assert refund_messages(refund).get().dispatched_at is not None
    assert ExceptionCase.objects.filter(kind="refund_failure", subject_id=str(refund.pk)).exists()

    # when the key is fixed and finance retries it
    settings.PAYMENT_PROVIDER_SECRET_KEY = SECRET
    refund_retry(refund_id=refund.pk, actor=finance_user, note="Key rotated")
    outbox_dispatch_due()

    # then it is issued, with the same idempotency key, by a second execution message
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    assert refund_messages(refund).count() == 2
    assert {r["headers"]["Idempotency-Key"] for r in provider.requests} == {refund.idempotency_key}
    assert refund.history.filter(history_change_reason="Key rotated", history_user=finance_user)


@pytest.mark.django_db
def test_retry_needs_a_failed_refund_and_the_permission(provider, cs_user, warehouse_user):
    # given an issued refund
    case = open_case(cs_user, quantity=1, price="30.00", trigger="on_authorization")
    refund = refund_of(case)
    outbox_dispatch_due()

    # then nobody retries it, and it is unchanged
    from django_fsm import TransitionNotAllowed

    with pytest.raises(TransitionNotAllowed):
        refund_retry(refund_id=refund.pk, actor=warehouse_user)
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    assert refund_messages(refund).count() == 1


@pytest.mark.django_db
def test_store_credit_credits_the_customer_without_calling_the_provider(provider, cs_user):
    # given a small refund resolved as store credit, approved by the policy
    case = open_case(
        cs_user, quantity=1, price="30.00", trigger="on_authorization", resolution="store_credit"
    )
    refund = refund_of(case)

    # when it is executed twice
    refund_execute(refund_id=refund.pk)
    refund_execute(refund_id=refund.pk)

    # then the customer's balance rose once, by one entry, and the provider was not called
    account = StoreCreditAccount.objects.get(customer=case.customer, currency="USD")
    assert account.balance == Decimal("30.00")
    entry = StoreCreditEntry.objects.get(account=account)
    assert (entry.refund_id, entry.amount, entry.balance_after) == (
        refund.pk,
        Decimal("30.00"),
        Decimal("30.00"),
    )
    assert provider.refund_requests() == 0
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    assert journal(refund) == [
        (P.SALES_RETURNS, Decimal("30.00"), Decimal("0.00")),
        (P.STORE_CREDIT_LIABILITY, Decimal("0.00"), Decimal("30.00")),
    ]
