"""The journal of one fiscal period as a file an accountant opens: CSV and XLSX (openpyxl),
one row per journal line, with its entry's date, cause and currency."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from finance.journal_selectors import journal_export_lines
from finance.models import FiscalPeriod

COLUMNS = [
    "Entry",
    "Posting date",
    "Occurred on",
    "Late",
    "Cause type",
    "Cause id",
    "Entry memo",
    "Currency",
    "Account code",
    "Account name",
    "Debit",
    "Credit",
    "Line memo",
    "Reverses",
]
MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"


def journal_rows(*, period: FiscalPeriod) -> Iterator[list]:
    """The period's journal lines as typed values (dates, Decimals), in COLUMNS order."""
    for line in journal_export_lines(period=period).iterator(chunk_size=2000):
        entry = line.entry
        occurred_on = entry.occurred_at.date()
        yield [
            f"JE-{entry.pk}",
            entry.posting_date,
            occurred_on,
            "yes" if occurred_on < period.start_date else "",
            entry.cause_type,
            entry.cause_id,
            entry.memo,
            entry.currency,
            line.account.code,
            line.account.name,
            line.debit,
            line.credit,
            line.memo,
            f"JE-{entry.reverses_id}" if entry.reverses_id else "",
        ]


def journal_filename(period: FiscalPeriod, extension: str) -> str:
    return f"journal-{period.label}.{extension}"


def journal_csv(*, period: FiscalPeriod) -> str:
    """CSV text: a header row, then one row per line; amounts with two decimals, dates ISO."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in journal_rows(period=period):
        writer.writerow(
            value.isoformat() if hasattr(value, "isoformat") else value for value in row
        )
    return buffer.getvalue()


def journal_xlsx(*, period: FiscalPeriod) -> bytes:
    """An XLSX workbook, one sheet named after the period: header, lines, then the totals of
    debits and credits per currency. Amounts are numbers (formatted to cents), dates dates."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=f"Journal {period.label}")
    sheet.freeze_panes = "A2"
    sheet.append(COLUMNS)
    totals: dict[str, list[Decimal]] = {}
    debit_at, credit_at = COLUMNS.index("Debit"), COLUMNS.index("Credit")
    dates = (COLUMNS.index("Posting date"), COLUMNS.index("Occurred on"))
    for row in journal_rows(period=period):
        currency = row[COLUMNS.index("Currency")]
        total = totals.setdefault(currency, [Decimal(0), Decimal(0)])
        total[0] += row[debit_at]
        total[1] += row[credit_at]
        sheet.append(_cells(sheet, row, money=(debit_at, credit_at), dates=dates))
    for currency, (debit, credit) in sorted(totals.items()):
        total_row = [""] * len(COLUMNS)
        total_row[0] = f"Total {currency}"
        total_row[COLUMNS.index("Currency")] = currency
        total_row[debit_at], total_row[credit_at] = debit, credit
        sheet.append(_cells(sheet, total_row, money=(debit_at, credit_at), dates=(), bold=True))
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _cells(sheet, row: list, *, money: tuple[int, ...], dates: tuple[int, ...], bold=False):
    cells = []
    for index, value in enumerate(row):
        cell = WriteOnlyCell(sheet, value=value)
        if index in money:
            cell.number_format = MONEY_FORMAT
        elif index in dates:
            cell.number_format = DATE_FORMAT
        if bold:
            cell.font = Font(bold=True)
        cells.append(cell)
    return cells
