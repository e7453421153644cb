"""A dashboard table as CSV or XLSX: the values behind the cells, headed by the column labels."""

import csv
import io
from datetime import date
from decimal import Decimal

from django.http import HttpResponse
from openpyxl import Workbook

from .tables import Table


def _plain(value):
    if value is None or isinstance(value, int | float | Decimal | str | date):
        return value
    return str(value)


def table_rows(table: Table) -> list[list]:
    return [[column.label for column in table.columns]] + [
        [_plain(cell.value) for cell in row] for row in table.rows
    ]


def table_csv(table: Table, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    writer = csv.writer(response)
    writer.writerows(table_rows(table))
    return response


def table_xlsx(table: Table, filename: str) -> HttpResponse:
    book = Workbook()
    sheet = book.active
    sheet.title = table.title[:31]
    for row in table_rows(table):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response
