"""An issued refund whose case is later cancelled opens a recovery exception; finance records
how the money came back, which reverses the refund's journal entry (audited) and resolves the
exception. Refusals write nothing."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from erp.models import ExceptionCase
from erp.services import outbox_dispatch_due
from finance.models import JournalEntry, Refund, RefundState, StoreCreditAccount
from finance.services import refund_recovery_record
from returns.services import return_case_cancel
from tests.finance.journal_checks import check_deferred_constraints
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


def issued_then_cancelled(agent, resolution="refund") -> Refund:
    """A 30.00 refund paid on authorization, then its case cancelled."""
    case = open_case(
        agent, quantity=1, price="30.00", trigger="on_authorization", resolution=resolution
    )
    refund = refund_of(case)
    outbox_dispatch_due()
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    return_case_cancel(case_id=case.pk, actor=agent, reason="Parcel never sent")
    return refund


def recovery_exception(refund) -> ExceptionCase:
    return ExceptionCase.objects.get(
        kind="refund_failure", subject_type="refund", subject_id=str(refund.pk)
    )


def effects() -> tuple:
    return (
        JournalEntry.objects.count(),
        Refund.history.count(),
        list(ExceptionCase.objects.values_list("pk", "state")),
    )


def test_finance_records_the_recovery_which_reverses_the_entry_and_resolves_it(
    provider, cs_user, finance_user
):
    refund = issued_then_cancelled(cs_user)
    exception = recovery_exception(refund)
    assert exception.state == "open"
    # when finance records how the money came back
    refund_recovery_record(
        refund_id=refund.pk,
        actor=finance_user,
        note="Customer returned the money by bank transfer",
        reference="TRF-8812",
    )
    # then the refund's entry is reversed by them, with the reason
    refund.refresh_from_db()
    reversal = JournalEntry.objects.get(reverses_id=refund.journal_entry_id)
    assert reversal.actor == finance_user
    assert "Customer returned the money by bank transfer (ref. TRF-8812)" in reversal.memo
    check_deferred_constraints()
    # and the refund's history says who and how, the refund stays issued (it was paid)
    last = refund.history.first()
    assert (last.history_user, last.state) == (finance_user, RefundState.ISSUED)
    assert last.history_change_reason.startswith("Recovered: Customer returned the money")
    # and the exception is resolved, naming who recorded it
    exception.refresh_from_db()
    assert exception.state == "resolved"
    assert exception.resolution_reason.startswith(f"Recovered by {finance_user.username}:")


def test_store_credit_is_taken_back_from_the_balance(provider, cs_user, finance_user):
    refund = issued_then_cancelled(cs_user, resolution="store_credit")
    account = StoreCreditAccount.objects.get(customer_id=refund.customer_id)
    assert account.balance == refund.amount
    refund_recovery_record(refund_id=refund.pk, actor=finance_user, note="Credit cancelled")
    account.refresh_from_db()
    assert account.balance == Decimal("0.00")
    assert account.entries.order_by("pk").last().amount == -refund.amount
    assert recovery_exception(refund).state == "resolved"


def test_spent_store_credit_is_refused_and_nothing_changes(provider, cs_user, finance_user):
    refund = issued_then_cancelled(cs_user, resolution="store_credit")
    StoreCreditAccount.objects.filter(customer_id=refund.customer_id).update(balance=Decimal("5"))
    before = effects()
    with pytest.raises(ValidationError, match="of store credit left"):
        refund_recovery_record(refund_id=refund.pk, actor=finance_user, note="Credit cancelled")
    assert effects() == before


@pytest.mark.parametrize(
    ("note", "message"),
    [("", "Say how the money came back"), ("   ", "Say how the money came back")],
)
def test_a_recovery_without_a_note_is_refused(provider, cs_user, finance_user, note, message):
    refund = issued_then_cancelled(cs_user)
    before = effects()
    with pytest.raises(ValidationError, match=message):
        refund_recovery_record(refund_id=refund.pk, actor=finance_user, note=note)
    assert effects() == before


def test_nothing_to_recover_twice_and_only_finance_records_it(
    provider, cs_user, finance_user, warehouse_user
):
    refund = issued_then_cancelled(cs_user)
    before = effects()
    with pytest.raises(PermissionDenied):
        refund_recovery_record(refund_id=refund.pk, actor=warehouse_user, note="x")
    assert effects() == before
    refund_recovery_record(refund_id=refund.pk, actor=finance_user, note="Bank transfer")
    after = effects()
    with pytest.raises(ValidationError, match="no recovery open"):
        refund_recovery_record(refund_id=refund.pk, actor=finance_user, note="Again")
    assert effects() == after


def test_the_refund_page_offers_the_recovery_to_finance(provider, client, cs_user, finance_user):
    refund = issued_then_cancelled(cs_user)
    client.force_login(finance_user)
    page = client.get(f"/finance/refunds/{refund.pk}/").content.decode()
    assert "Recover this refund" in page
    # an empty note is refused with the reason shown, nothing written
    before = effects()
    refused = client.post(f"/finance/refunds/{refund.pk}/recover/", {"note": ""}, follow=True)
    assert "Say how the money came back" in refused.content.decode()
    assert effects() == before
    # a good one records it, and the form is gone
    done = client.post(
        f"/finance/refunds/{refund.pk}/recover/",
        {"note": "Chargeback won", "reference": "CB-1"},
        follow=True,
    )
    html = done.content.decode()
    assert "recovery recorded and its journal entry reversed" in html
    assert "Recover this refund" not in html
    assert recovery_exception(refund).state == "resolved"
