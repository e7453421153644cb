"""Realized recovery: a vendor credit for a unit returned to the vendor, or a liquidation sale,
recorded against its disposition with a balanced journal entry; bad input and the wrong role
write nothing; the recovery screens show expected and realized recovery per disposition."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from finance.models import AccountPurpose, JournalEntry, JournalLine, RealizedRecovery
from finance.services.recovery import realized_recovery_record
from returns import workflow
from tests.finance.refund_cases import APPAREL_ANSWERS, inspect_all, open_case, receive, ship, token
from warehouse.models import Disposition, ReturnUnit

pytestmark = pytest.mark.django_db
P = AccountPurpose
TODAY = timezone.localdate


def returned_unit(cs_user, warehouse_user):
    case = open_case(cs_user, quantity=1, price="30.00")
    ship(case, cs_user)
    receive(case, warehouse_user)
    return case


@pytest.fixture
def liquidated(cs_user, warehouse_user) -> Disposition:
    """A shirt inspected as grade C, which the rules send to liquidation."""
    case = returned_unit(cs_user, warehouse_user)
    inspect_all(case, warehouse_user, grades=("C",))
    disposition = Disposition.objects.get(unit__case=case)
    assert disposition.outcome == "liquidation"
    return disposition


@pytest.fixture
def returned_to_vendor(cs_user, warehouse_user, operations_user) -> Disposition:
    """A shirt an operations manager sends back to the vendor (an override, with a reason)."""
    case = returned_unit(cs_user, warehouse_user)
    unit = ReturnUnit.objects.get(case=case)
    workflow.return_unit_inspect(
        unit_id=unit.pk,
        answers=APPAREL_ANSWERS,
        grade="C",
        client_token=token("inspection"),
        actor=warehouse_user,
    )
    return workflow.return_unit_disposition(
        unit_id=unit.pk,
        outcome="vendor_return",
        override_reason="Vendor takes back seconds for credit",
        client_token=token("disposition"),
        actor=operations_user,
    )


def entry_lines(entry: JournalEntry) -> list[tuple]:
    return sorted(entry.lines.values_list("account__purpose", "debit", "credit"))


def record(disposition, actor, **overrides):
    values = {
        "disposition_id": disposition.pk,
        "kind": "liquidation_sale",
        "amount": Decimal("4.00"),
        "reference": "LQ-2026-118",
        "occurred_on": TODAY(),
        "client_token": token("recovery"),
        "actor": actor,
    } | overrides
    return realized_recovery_record(**values)


def test_a_liquidation_sale_books_its_proceeds_once(liquidated, finance_user):
    # when finance records what the liquidator paid, and the form is submitted twice
    key = token("recovery")
    recovery = record(liquidated, finance_user, client_token=key)
    again = record(liquidated, finance_user, client_token=key)

    # then one recovery, one balanced entry: Dr Cash clearing / Cr Liquidation recovery
    assert again == recovery
    assert RealizedRecovery.objects.count() == 1
    assert (recovery.amount, recovery.currency, recovery.recorded_by) == (
        Decimal("4.00"),
        liquidated.currency,
        finance_user,
    )
    entry = recovery.journal_entry
    assert (entry.cause_type, entry.cause_id, entry.actor) == (
        "disposition",
        str(liquidated.pk),
        finance_user,
    )
    assert entry_lines(entry) == [
        (P.CASH_CLEARING, Decimal("4.00"), Decimal("0.00")),
        (P.LIQUIDATION_RECOVERY, Decimal("0.00"), Decimal("4.00")),
    ]


def test_a_vendor_credit_settles_the_vendor_receivable(returned_to_vendor, finance_user):
    recovery = record(
        returned_to_vendor,
        finance_user,
        kind="vendor_credit",
        amount="11.50",
        reference="CN-88812",
    )
    assert entry_lines(recovery.journal_entry) == [
        (P.CASH_CLEARING, Decimal("11.50"), Decimal("0.00")),
        (P.VENDOR_RECEIVABLE, Decimal("0.00"), Decimal("11.50")),
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "vendor_credit"}, "kind"),
        ({"kind": "insurance"}, "kind"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-3"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"reference": " "}, "reference"),
        ({"occurred_on": TODAY() + timedelta(days=2)}, "occurred_on"),
    ],
)
def test_bad_input_names_its_field_and_writes_nothing(liquidated, finance_user, overrides, field):
    entries = JournalEntry.objects.count()
    with pytest.raises(ValidationError) as error:
        record(liquidated, finance_user, **overrides)
    assert field in error.value.message_dict
    assert not RealizedRecovery.objects.exists()
    assert JournalEntry.objects.count() == entries


def test_only_finance_records_recovery(liquidated, cs_user, warehouse_user, operations_user):
    entries = JournalEntry.objects.count()
    for who in (cs_user, warehouse_user, operations_user):
        with pytest.raises(PermissionDenied):
            record(liquidated, who)
    assert not RealizedRecovery.objects.exists()
    assert JournalEntry.objects.count() == entries


def test_the_recovery_screens_show_expected_and_realized(client, liquidated, finance_user):
    client.force_login(finance_user)
    record(liquidated, finance_user, amount="3.25")

    listing = client.get("/finance/recovery/")
    assert listing.status_code == 200
    row = next(row for row in listing.context["dispositions"] if row.pk == liquidated.pk)
    assert row.realized == Decimal("3.25")
    assert row.expected_recovery == liquidated.expected_recovery
    assert "3.25" in listing.content.decode()

    url = f"/finance/recovery/{liquidated.pk}/"
    page = client.get(url)
    token_value = page.context["form"]["client_token"].value()
    bad = client.post(
        url,
        {
            "client_token": token_value,
            "kind": "vendor_credit",
            "amount": "2.00",
            "reference": "X",
            "occurred_on": TODAY().isoformat(),
        },
    )
    assert bad.status_code == 422
    assert "does not apply" in bad.content.decode()
    assert RealizedRecovery.objects.count() == 1

    good = client.post(
        url,
        {
            "client_token": token_value,
            "kind": "liquidation_sale",
            "amount": "2.00",
            "reference": "LQ-9",
            "occurred_on": TODAY().isoformat(),
        },
    )
    assert good.status_code == 302
    assert RealizedRecovery.objects.count() == 2
    assert "LQ-9" in client.get(url).content.decode()
    assert JournalLine.objects.filter(entry__cause_id=str(liquidated.pk)).exists()


def test_the_recovery_list_costs_the_same_queries_for_more_rows(
    client, liquidated, finance_user, cs_user, warehouse_user, django_assert_max_num_queries
):
    client.force_login(finance_user)
    with django_assert_max_num_queries(12) as few:
        client.get("/finance/recovery/")
    case = returned_unit(cs_user, warehouse_user)
    inspect_all(case, warehouse_user, grades=("D",))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/finance/recovery/")
    assert len(response.context["dispositions"]) == 2
