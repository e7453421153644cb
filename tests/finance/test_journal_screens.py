"""The journal, entry, period and close screens: what they show, what their actions do, who may
use them, and that their query counts do not grow with the data."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from finance.models import AccountPurpose, FiscalPeriod, JournalEntry, PeriodStatus
from finance.services import journal_entry_reverse
from inventory import services as inventory_services
from inventory.models import StockState
from tests.factories import LocationFactory, ProductFactory
from tests.factories.finance import FiscalPeriodFactory, posted_entry

P = AccountPurpose
pytestmark = pytest.mark.django_db
MARCH = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_the_finance_home_links_the_journal_and_periods(client, finance_user):
    client.force_login(finance_user)
    page = client.get(reverse("finance_home")).content.decode()
    assert reverse("journal_list") in page
    assert reverse("fiscal_period_list") in page


def test_the_journal_lists_entries_and_filters_them(client, finance_user):
    # given entries for two causes in two months, on different accounts
    refund = posted_entry(
        amount="25.00",
        debit=P.SALES_RETURNS,
        credit=P.REFUNDS_PAYABLE,
        cause_type="refund",
        cause_id="41",
        occurred_at=MARCH,
        memo="Refund R-41",
    )
    restock = posted_entry(amount="12.00", cause_type="disposition", cause_id="7")
    client.force_login(finance_user)

    # when finance filters by period, by account and by cause
    by_period = client.get(reverse("journal_list"), {"period": refund.period_id})
    payable = refund.lines.get(credit__gt=0).account
    by_account = client.get(reverse("journal_list"), {"account": payable.pk})
    by_cause = client.get(reverse("journal_list"), {"cause_type": "disposition", "cause_id": "7"})

    # then each shows only the matching entries
    assert list(by_period.context["entries"]) == [refund]
    assert list(by_account.context["entries"]) == [refund]
    assert list(by_cause.context["entries"]) == [restock]
    page = by_period.content.decode()
    assert "Refund R-41" in page
    assert "25.00 USD" in page
    assert f"JE-{restock.pk}" not in page


def test_the_journal_partial_answers_htmx(client, finance_user):
    posted_entry()
    client.force_login(finance_user)
    response = client.get(reverse("journal_list"), HTTP_HX_REQUEST="true")
    assert response.templates[0].name == "finance/partials/_journal_table.html"


def test_the_journal_costs_the_same_queries_for_3_or_30_entries(
    client, finance_user, django_assert_max_num_queries
):
    client.force_login(finance_user)
    for n in range(3):
        posted_entry(cause_id=str(n))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("journal_list"))
    for n in range(3, 30):
        posted_entry(cause_id=str(n))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("journal_list"))
    assert len(response.context["entries"]) == 30


def test_an_entry_shows_its_lines_and_the_stock_movements_it_values(client, finance_user):
    # given a returned unit inspected into sellable stock (an entry caused by the disposition)
    shelf = LocationFactory()
    product = ProductFactory(sku="SHOW-1", unit_cost=Decimal("9.99"))
    inventory_services.stock_receive(
        product_id=product.pk,
        location_id=shelf.pk,
        qty=2,
        to_state=StockState.RECEIVED_PENDING_INSPECTION,
        cause_type="return_case",
        idempotency_key="show-in",
    )
    inventory_services.stock_move(
        product_id=product.pk,
        qty=2,
        from_location_id=shelf.pk,
        from_state=StockState.RECEIVED_PENDING_INSPECTION,
        to_location_id=shelf.pk,
        to_state=StockState.AVAILABLE,
        cause_type="disposition",
        cause_id="88",
        idempotency_key="show-restock",
    )
    entry = JournalEntry.objects.get()
    client.force_login(finance_user)

    # when finance opens it
    response = client.get(reverse("journal_entry_detail", args=[entry.pk]))

    # then the lines, the totals, the cause and the movement are there
    page = response.content.decode()
    assert response.status_code == 200
    assert "Disposition 88" in page
    assert "19.98 USD" in page
    assert "SHOW-1" in page
    assert [m.idempotency_key for m in response.context["movements"]] == ["show-restock"]


def test_an_entry_caused_by_a_return_case_links_to_it(client, finance_user):
    entry = posted_entry(cause_type="return_case", cause_id="5")
    client.force_login(finance_user)
    response = client.get(reverse("journal_entry_detail", args=[entry.pk]))
    assert response.context["cause_url"] == reverse("return_detail", args=[5])


def test_finance_reverses_an_entry_from_its_page(client, finance_user):
    # given an entry
    entry = posted_entry(amount="8.00")
    client.force_login(finance_user)

    # when finance reverses it with a reason
    response = client.post(
        reverse("journal_entry_reverse", args=[entry.pk]), {"reason": "Posted twice"}
    )

    # then the reversal exists and its page is shown
    reversal = JournalEntry.objects.get(reverses=entry)
    assert response.status_code == 302
    assert response.url == reverse("journal_entry_detail", args=[reversal.pk])
    assert reversal.memo == f"Reversal of JE-{entry.pk}: Posted twice"


def test_reversing_without_a_reason_changes_nothing(client, finance_user):
    entry = posted_entry()
    client.force_login(finance_user)
    response = client.post(reverse("journal_entry_reverse", args=[entry.pk]), {"reason": ""})
    assert response.status_code == 422
    assert JournalEntry.objects.count() == 1


def test_a_reversed_entry_offers_no_second_reversal(client, finance_user):
    entry = posted_entry()
    journal_entry_reverse(entry_id=entry.pk, reason="x", actor=finance_user)
    client.force_login(finance_user)
    response = client.get(reverse("journal_entry_detail", args=[entry.pk]))
    assert response.context["reverse_form"] is None
    assert "Reversed by" in response.content.decode()


def test_the_period_screen_shows_counts_and_totals_per_account(client, finance_user):
    # given March holds a refund in EUR, a restock in USD and a late event from a closed February
    FiscalPeriodFactory(start_date=date(2026, 1, 1))
    february = FiscalPeriodFactory(start_date=date(2026, 2, 1))
    posted_entry(
        amount="40.00",
        debit=P.SALES_RETURNS,
        credit=P.REFUNDS_PAYABLE,
        currency="EUR",
        occurred_at=MARCH,
    )
    posted_entry(amount="15.00", occurred_at=MARCH)
    client.force_login(finance_user)
    client.post(
        reverse(
            "fiscal_period_close", args=[FiscalPeriod.objects.get(start_date=date(2026, 1, 1)).pk]
        ),
        {"reason": "Jan"},
    )
    client.post(reverse("fiscal_period_close", args=[february.pk]), {"reason": "Feb"})
    posted_entry(amount="5.00", occurred_at=datetime(2026, 2, 27, tzinfo=UTC))
    march = FiscalPeriod.objects.get(start_date=date(2026, 3, 1))

    # when finance opens March
    response = client.get(reverse("fiscal_period_detail", args=[march.pk]))

    # then the counts and the per-account, per-currency totals are there
    summary = response.context["summary"]
    assert (summary.entry_count, summary.line_count, summary.late_count) == (3, 6, 1)
    totals = {(t.account.purpose, t.currency): (t.debit, t.credit) for t in summary.totals}
    assert totals == {
        (P.SALES_RETURNS, "EUR"): (Decimal("40.00"), Decimal("0.00")),
        (P.REFUNDS_PAYABLE, "EUR"): (Decimal("0.00"), Decimal("40.00")),
        (P.INVENTORY, "USD"): (Decimal("20.00"), Decimal("0.00")),
        (P.COST_OF_GOODS_SOLD, "USD"): (Decimal("0.00"), Decimal("20.00")),
    }
    assert summary.balanced
    assert response.context["close_form"] is not None
    assert "Export XLSX" in response.content.decode()


def test_finance_closes_a_period_from_its_screen(client, finance_user):
    # given an open month
    period = FiscalPeriodFactory(start_date=date(2026, 1, 1))
    client.force_login(finance_user)

    # when finance closes it with a reason
    response = client.post(
        reverse("fiscal_period_close", args=[period.pk]), {"reason": "Reconciled"}
    )

    # then it is closed, by them, for that reason
    assert response.status_code == 302
    period.refresh_from_db()
    assert (period.status, period.closed_by, period.close_reason) == (
        PeriodStatus.CLOSED,
        finance_user,
        "Reconciled",
    )
    page = client.get(reverse("fiscal_period_detail", args=[period.pk]))
    assert page.context["close_form"] is None
    assert "Reconciled" in page.content.decode()


def test_closing_out_of_order_is_explained_and_changes_nothing(client, finance_user):
    FiscalPeriodFactory(start_date=date(2026, 1, 1))
    february = FiscalPeriodFactory(start_date=date(2026, 2, 1))
    client.force_login(finance_user)
    response = client.post(reverse("fiscal_period_close", args=[february.pk]), {"reason": "Feb"})
    assert response.status_code == 422
    assert "Close 2026-01 first" in response.content.decode()
    february.refresh_from_db()
    assert february.status == PeriodStatus.OPEN


def test_operations_may_read_but_not_close_or_export(client, operations_user):
    period = posted_entry().period
    client.force_login(operations_user)
    page = client.get(reverse("fiscal_period_detail", args=[period.pk]))
    assert page.status_code == 200
    assert page.context["close_form"] is None
    assert "Export CSV" not in page.content.decode()
    denied = client.post(reverse("fiscal_period_close", args=[period.pk]), {"reason": "x"})
    assert denied.status_code == 403
    period.refresh_from_db()
    assert period.status == PeriodStatus.OPEN


def test_the_period_list_costs_the_same_queries_for_2_or_12_months(
    client, finance_user, django_assert_max_num_queries
):
    client.force_login(finance_user)
    for month in (1, 2):
        posted_entry(occurred_at=datetime(2025, month, 3, tzinfo=UTC))
    with django_assert_max_num_queries(10) as few:
        client.get(reverse("fiscal_period_list"))
    for month in range(3, 13):
        posted_entry(occurred_at=datetime(2025, month, 3, tzinfo=UTC))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("fiscal_period_list"))
    assert len(response.context["periods"]) == 12
