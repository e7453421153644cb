"""Manual partial refunds: finance proposes an amount per returned line (at most what is left
refundable) with a reason; it waits for someone else's approval like any refund, and the
policy's refund later pays the rest, its journal booking only what was not booked yet."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from erp.services import outbox_dispatch_due
from finance.models import AccountPurpose, JournalLine, Refund, RefundCap, RefundLine, RefundState
from finance.services import refund_approve
from returns.refunds import case_refund_propose_manual, case_refundable_lines
from tests.finance.provider_server import SECRET, running_provider
from tests.finance.refund_cases import inspect_all, open_case, receive, ship

pytestmark = pytest.mark.django_db
P = AccountPurpose


@pytest.fixture
def provider(settings):
    with running_provider() as provider:
        settings.PAYMENT_PROVIDER_URL = provider.url
        settings.PAYMENT_PROVIDER_SECRET_KEY = SECRET
        settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS = 5
        yield provider


@pytest.fixture
def case(cs_user):
    """Two shirts at 30.00 returned, refunded by the policy on inspection: 60.00 paid."""
    return open_case(cs_user, quantity=2, price="30.00", trigger="on_inspection")


def line_of(case) -> int:
    return case.lines.get().pk


def journal_sums() -> dict:
    rows = JournalLine.objects.filter(entry__cause_type="refund").values_list(
        "account__purpose", "debit", "credit"
    )
    sums: dict = {}
    for purpose, debit, credit in rows:
        sums[purpose] = sums.get(purpose, Decimal("0")) + debit - credit
    return sums


def test_finance_proposes_a_partial_refund_that_waits_for_someone_else(
    case, finance_user, make_user
):
    # when a finance clerk proposes 12.50 of the 60.00 paid, saying why
    refund = case_refund_propose_manual(
        case_id=case.pk,
        amounts={line_of(case): Decimal("12.50")},
        reason="Goodwill: late delivery",
        actor=finance_user,
    )

    # then it waits for approval, as a manual refund they requested, never auto-approved
    assert (refund.state, refund.stage, refund.amount) == (
        RefundState.PENDING_APPROVAL,
        "manual",
        Decimal("12.50"),
    )
    assert refund.requested_by == finance_user
    assert refund.evidence["reason"] == "Goodwill: late delivery"
    assert RefundCap.objects.get(return_line_id=line_of(case)).committed_amount == Decimal("12.50")
    assert [line.remaining for line in case_refundable_lines(case_id=case.pk)] == [Decimal("47.50")]
    # and the clerk may not approve it, someone else may
    with pytest.raises(PermissionDenied, match="You requested this refund"):
        refund_approve(refund_id=refund.pk, actor=finance_user)
    refund.refresh_from_db()
    assert refund.state == RefundState.PENDING_APPROVAL
    refund_approve(refund_id=refund.pk, actor=make_user("finance", username="approver"))
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED


@pytest.mark.parametrize(
    ("amount", "reason", "error"),
    [
        ("60.01", "Too much", "at most 60.00 is left"),
        ("0", "Nothing", "at least one line"),
        ("10.00", "  ", "Say why"),
        ("1.005", "Fractions", "amount in cents"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(case, finance_user, amount, reason, error):
    with pytest.raises(ValidationError, match=error):
        case_refund_propose_manual(
            case_id=case.pk,
            amounts={line_of(case): Decimal(amount)},
            reason=reason,
            actor=finance_user,
        )
    assert not Refund.objects.filter(case=case).exists()


def test_only_finance_proposes_and_nothing_changes(case, cs_user, warehouse_user):
    for who in (cs_user, warehouse_user):
        with pytest.raises(PermissionDenied):
            case_refund_propose_manual(
                case_id=case.pk, amounts={line_of(case): Decimal("5")}, reason="x", actor=who
            )
    assert not Refund.objects.filter(case=case).exists()


def test_the_policy_refund_later_pays_the_rest_and_the_books_balance(
    provider, case, cs_user, warehouse_user, finance_user, make_user
):
    # given a partial refund of 10.00, approved and paid
    approver = make_user("finance", username="approver")
    partial = case_refund_propose_manual(
        case_id=case.pk,
        amounts={line_of(case): Decimal("10.00")},
        reason="Goodwill",
        actor=finance_user,
    )
    refund_approve(refund_id=partial.pk, actor=approver)
    outbox_dispatch_due()

    # when the shirts come back as new and the policy refunds on inspection
    ship(case, cs_user)
    receive(case, warehouse_user)
    inspect_all(case, warehouse_user, grades=("A",))
    policy = Refund.objects.get(case=case, stage="on_inspection")

    # then it refunds both units less what the partial refund paid
    line = RefundLine.objects.get(refund=policy)
    assert (line.quantity, line.gross_amount, line.earlier_refunds, line.amount) == (
        2,
        Decimal("60.00"),
        Decimal("10.00"),
        Decimal("50.00"),
    )
    refund_approve(refund_id=policy.pk, actor=approver)
    outbox_dispatch_due()
    policy.refresh_from_db()
    assert policy.state == RefundState.ISSUED
    # and together the two refunds booked 60.00 of sales returns against 60.00 paid out
    assert journal_sums() == {P.SALES_RETURNS: Decimal("60.00"), P.CASH_CLEARING: Decimal("-60.00")}
    assert RefundCap.objects.get(return_line_id=line_of(case)).remaining == 0


def test_the_partial_refund_screen(client, case, finance_user):
    client.force_login(finance_user)
    url = "/finance/refunds/partial/"

    # finding the return shows its line with what is left
    page = client.get(url, {"rma": case.rma_number.lower()})
    assert page.status_code == 200
    assert "60.00" in page.content.decode()
    token = page.context["form"]["client_token"].value()
    field = f"line_{line_of(case)}"

    # too much is a form error, and nothing is written
    over = client.post(
        url, {"rma": case.rma_number, "client_token": token, field: "70", "reason": "x"}
    )
    assert over.status_code == 422
    assert "60.00" in over.content.decode()
    assert not Refund.objects.filter(case=case).exists()

    # a good submission proposes it, and submitting it again proposes nothing more
    data = {"rma": case.rma_number, "client_token": token, field: "15.00", "reason": "Goodwill"}
    done = client.post(url, data)
    refund = Refund.objects.get(case=case)
    assert done.status_code == 302
    assert done["Location"] == f"/finance/refunds/{refund.pk}/"
    assert client.post(url, data).status_code == 302
    assert Refund.objects.filter(case=case).count() == 1
    assert refund.amount == Decimal("15.00")


def test_the_refund_page_shows_a_partial_refund_as_an_amount_per_line_with_its_reason(
    client, case, finance_user
):
    # given a partial refund of 12.50 on a line of two shirts at 30.00
    refund = case_refund_propose_manual(
        case_id=case.pk,
        amounts={line_of(case): Decimal("12.50")},
        reason="Goodwill: late delivery",
        actor=finance_user,
    )
    client.force_login(finance_user)
    # when finance opens it
    response = client.get(f"/finance/refunds/{refund.pk}/")
    html = response.content.decode()
    # then it reads as what it is: the line's units and what was paid, the amount, the reason
    assert response.status_code == 200
    assert "Partial amounts" in html
    row = html[html.index("Partial amounts") :]
    row = row[row.index("<tbody>") : row.index("</tbody>")]
    assert "2 × 30.00" in row
    assert "60.00" in row
    assert "12.50" in row
    assert "Goodwill: late delivery" in row
    # and never as one unit priced at the refunded amount
    assert "Restocking fee" not in row
    assert ">1<" not in row.replace(" ", "")
