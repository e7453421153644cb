"""The journal of a period as CSV and XLSX: every line with its entry's date, cause and currency,
read back as an accountant's tool would read it."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from finance.exports import COLUMNS
from finance.models import AccountPurpose
from finance.services import journal_entry_reverse
from tests.factories.finance import FiscalPeriodFactory, posted_entry

P = AccountPurpose
pytestmark = pytest.mark.django_db
APRIL = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def april(finance_user):
    """April 2026: a refund in EUR, a restock in USD and its reversal; May holds another entry."""
    refund = posted_entry(
        amount="1234.50",
        debit=P.SALES_RETURNS,
        credit=P.REFUNDS_PAYABLE,
        currency="EUR",
        cause_type="refund",
        cause_id="R-9",
        occurred_at=APRIL,
        memo="Refund, case 12",
    )
    restock = posted_entry(
        amount="12.00", cause_type="disposition", cause_id="3", occurred_at=APRIL
    )
    reversal = journal_entry_reverse(
        entry_id=restock.pk, reason="Wrong SKU", actor=finance_user, occurred_at=APRIL
    )
    posted_entry(occurred_at=datetime(2026, 5, 1, tzinfo=UTC), cause_id="may")
    return refund.period, refund, restock, reversal


def test_the_csv_has_every_line_of_the_period(client, finance_user, april):
    period, refund, restock, reversal = april
    client.force_login(finance_user)

    # when finance downloads April's journal as CSV
    response = client.get(reverse("journal_export", args=[period.pk, "csv"]))

    # then it is an attachment named after the month, one row per line of April's entries
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="journal-2026-04.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == COLUMNS
    assert len(rows) == 1 + 6
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert first == {
        "Entry": f"JE-{refund.pk}",
        "Posting date": "2026-04-02",
        "Occurred on": "2026-04-02",
        "Late": "",
        "Cause type": "refund",
        "Cause id": "R-9",
        "Entry memo": "Refund, case 12",
        "Currency": "EUR",
        "Account code": "4010",
        "Account name": "Sales returns",
        "Debit": "1234.50",
        "Credit": "0.00",
        "Line memo": "",
        "Reverses": "",
    }
    reversal_rows = [row for row in rows[1:] if row[0] == f"JE-{reversal.pk}"]
    assert [row[COLUMNS.index("Reverses")] for row in reversal_rows] == [f"JE-{restock.pk}"] * 2
    assert "may" not in {row[COLUMNS.index("Cause id")] for row in rows[1:]}


def test_the_xlsx_reads_back_with_numbers_dates_and_totals(client, finance_user, april):
    period, refund, *_ = april
    client.force_login(finance_user)

    # when finance downloads April's journal as XLSX
    response = client.get(reverse("journal_export", args=[period.pk, "xlsx"]))

    # then openpyxl reads the sheet: header, six lines, one total row per currency
    assert response["Content-Disposition"] == 'attachment; filename="journal-2026-04.xlsx"'
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "Journal 2026-04"
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == COLUMNS
    lines = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:7]]
    assert lines[0]["Entry"] == f"JE-{refund.pk}"
    assert lines[0]["Posting date"].date() == date(2026, 4, 2)
    assert Decimal(str(lines[0]["Debit"])) == Decimal("1234.50")
    assert {line["Currency"] for line in lines} == {"EUR", "USD"}
    totals = {
        row[0]: (row[COLUMNS.index("Debit")], row[COLUMNS.index("Credit")]) for row in rows[7:]
    }
    assert totals == {"Total EUR": (1234.5, 1234.5), "Total USD": (24, 24)}
    assert sheet.cell(row=2, column=COLUMNS.index("Debit") + 1).number_format == "#,##0.00"


def test_an_empty_period_exports_just_the_header(client, finance_user):
    posted_entry(occurred_at=APRIL)
    june = FiscalPeriodFactory(start_date=date(2026, 6, 1))
    client.force_login(finance_user)
    response = client.get(reverse("journal_export", args=[june.pk, "csv"]))
    assert response.content.decode().splitlines() == [",".join(COLUMNS)]


def test_an_unknown_format_is_not_found(client, finance_user, april):
    client.force_login(finance_user)
    assert client.get(reverse("journal_export", args=[april[0].pk, "pdf"])).status_code == 404


def test_the_export_costs_the_same_queries_for_any_number_of_lines(
    client, finance_user, django_assert_max_num_queries
):
    period = posted_entry(occurred_at=APRIL).period
    client.force_login(finance_user)
    with django_assert_max_num_queries(8) as few:
        client.get(reverse("journal_export", args=[period.pk, "xlsx"]))
    for n in range(20):
        posted_entry(occurred_at=APRIL, cause_id=str(n))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("journal_export", args=[period.pk, "xlsx"]))


@pytest.mark.parametrize("who", ["operations_user", "warehouse_user", "cs_user"])
def test_only_finance_exports(client, request, who):
    period = posted_entry().period
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("journal_export", args=[period.pk, "csv"])).status_code == 403
