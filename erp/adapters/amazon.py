"""Amazon FBA inventory reports → inventory rows per seller SKU, with row-level errors.

Pure functions over the report's bytes (FORMATS.md §2): `GET_AFN_INVENTORY_DATA` (one row per
SKU and warehouse condition, "Quantity Available" with its mixed case and space) and
`GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA` (one row per SKU with afn-* quantities), plus the
SP-API `getInventorySummaries` JSON. A row that cannot be read becomes a RowError naming the
row, the column and why; the other rows still count.
"""

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from .base import MalformedPayload, lower_keys, quantity

AFN = "GET_AFN_INVENTORY_DATA"
MYI = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"
SPAPI = "getInventorySummaries"

_AFN_COLUMNS = ("seller-sku", "warehouse-condition-code", "quantity available")
_MYI_COLUMNS = ("sku", "afn-warehouse-quantity", "afn-fulfillable-quantity")
_CONDITIONS = {"SELLABLE": True, "UNSELLABLE": False}


@dataclass(frozen=True)
class InventoryRow:
    """What Amazon holds of one seller SKU. `row` is the first report row it came from
    (header = row 1), so errors and lines point at the same place."""

    row: int
    sku: str
    on_hand: int
    sellable: int
    reserved: int | None = None
    unsellable: int | None = None


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    why: str


@dataclass(frozen=True)
class InventoryReport:
    kind: str
    rows: tuple[InventoryRow, ...]
    errors: tuple[RowError, ...]


def inventory_report_parse(body: bytes) -> InventoryReport:
    """Read either tab-separated inventory report, or the SP-API JSON; the header says which.

    Raises MalformedPayload when the file is neither (the message names what is missing)."""
    text = _text(body)
    if text.lstrip().startswith("{"):
        return inventory_summaries_parse(text.encode("utf-8"))
    reader = csv.reader(io.StringIO(text), delimiter="\t")
    header = next(reader, None)
    if not header:
        raise MalformedPayload("The file is empty: expected a tab-separated report header.")
    columns = [name.strip().lower() for name in header]
    records = [
        (number, dict(zip(columns, values, strict=False)))
        for number, values in enumerate(reader, 2)
    ]
    records = [(n, r) for n, r in records if any(v.strip() for v in r.values())]
    if all(c in columns for c in _AFN_COLUMNS):
        return _afn(records)
    if all(c in columns for c in _MYI_COLUMNS):
        return _myi(records)
    raise MalformedPayload(
        "Not an FBA inventory report: expected the columns of GET_AFN_INVENTORY_DATA "
        f"({', '.join(_AFN_COLUMNS)}) or of the MYI report ({', '.join(_MYI_COLUMNS)}); "
        f"got {', '.join(header[:8])}."
    )


def _text(body: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise MalformedPayload("The file is neither UTF-8 nor Windows-1252 text.")


def _number(record: dict, column: str, row: int, errors: list[RowError]) -> int | None:
    try:
        value = quantity(record.get(column), field=column)
    except MalformedPayload as error:
        errors.append(RowError(row, column, str(error)))
        return None
    if value < 0:
        errors.append(RowError(row, column, f"{column} is negative: {value}."))
        return None
    return value


def _sku(record: dict, column: str, row: int, errors: list[RowError]) -> str | None:
    sku = (record.get(column) or "").strip()
    if not sku:
        errors.append(RowError(row, column, "The SKU is empty."))
        return None
    return sku


def _afn(records: Iterable[tuple[int, dict]]) -> InventoryReport:
    """One row per (SKU, fulfillment-channel SKU, warehouse condition): sellable rows are
    fulfillable stock, unsellable ones are on hand but not for sale."""
    totals: dict[str, list] = {}
    errors: list[RowError] = []
    for row, record in records:
        sku = _sku(record, "seller-sku", row, errors)
        qty = _number(record, "quantity available", row, errors)
        condition = (record.get("warehouse-condition-code") or "").strip().upper()
        if condition not in _CONDITIONS:
            errors.append(
                RowError(
                    row,
                    "Warehouse-Condition-code",
                    f"{condition or 'empty'!s} is not SELLABLE or UNSELLABLE.",
                )
            )
            continue
        if sku is None or qty is None:
            continue
        first, on_hand, sellable, unsellable = totals.setdefault(sku, [row, 0, 0, 0])
        if _CONDITIONS[condition]:
            totals[sku] = [first, on_hand + qty, sellable + qty, unsellable]
        else:
            totals[sku] = [first, on_hand + qty, sellable, unsellable + qty]
    rows = tuple(
        InventoryRow(row=first, sku=sku, on_hand=on_hand, sellable=sellable, unsellable=unsold)
        for sku, (first, on_hand, sellable, unsold) in totals.items()
    )
    return InventoryReport(AFN, rows, _fix_columns(errors))


def _myi(records: Iterable[tuple[int, dict]]) -> InventoryReport:
    """afn-warehouse-quantity is what Amazon's fulfillment centers hold (fulfillable,
    unsellable and reserved); afn-fulfillable-quantity is what it may sell."""
    rows, errors = [], []
    for row, record in records:
        sku = _sku(record, "sku", row, errors)
        numbers = {
            column: _number(record, column, row, errors)
            for column in (
                "afn-warehouse-quantity",
                "afn-fulfillable-quantity",
                "afn-reserved-quantity",
                "afn-unsellable-quantity",
            )
        }
        if sku is None or numbers["afn-warehouse-quantity"] is None:
            continue
        if numbers["afn-fulfillable-quantity"] is None:
            continue
        rows.append(
            InventoryRow(
                row=row,
                sku=sku,
                on_hand=numbers["afn-warehouse-quantity"],
                sellable=numbers["afn-fulfillable-quantity"],
                reserved=numbers["afn-reserved-quantity"],
                unsellable=numbers["afn-unsellable-quantity"],
            )
        )
    return InventoryReport(MYI, tuple(rows), tuple(errors))


def inventory_summaries_parse(body: bytes) -> InventoryReport:
    """SP-API `getInventorySummaries` (details=true): on hand is everything at the fulfillment
    centers (fulfillable + reserved + unfulfillable + researching), inbound excluded."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedPayload(f"The body is not JSON: {error}") from error
    data = lower_keys(data)
    payload = data.get("payload", data) if isinstance(data, dict) else None
    summaries = payload.get("inventorysummaries") if isinstance(payload, dict) else None
    if not isinstance(summaries, list):
        raise MalformedPayload("The body has no payload.inventorySummaries list.")
    rows, errors = [], []
    for index, summary in enumerate(summaries, start=1):
        sku = _sku(summary, "sellersku", index, errors)
        details = summary.get("inventorydetails") or {}

        def total(key: str, inner: str, row: int = index, details: dict = details) -> int | None:
            value = details.get(key)
            if isinstance(value, dict):
                value = value.get(inner)
            return _number({key: value}, key, row, errors)

        fulfillable = _number(details, "fulfillablequantity", index, errors)
        reserved = total("reservedquantity", "totalreservedquantity")
        unfulfillable = total("unfulfillablequantity", "totalunfulfillablequantity")
        researching = total("researchingquantity", "totalresearchingquantity")
        parts = (fulfillable, reserved, unfulfillable, researching)
        if sku is None or any(p is None for p in parts):
            continue
        rows.append(
            InventoryRow(
                row=index,
                sku=sku,
                on_hand=sum(parts),
                sellable=fulfillable,
                reserved=reserved,
                unsellable=unfulfillable,
            )
        )
    return InventoryReport(SPAPI, tuple(rows), tuple(errors))


def _fix_columns(errors: list[RowError]) -> tuple[RowError, ...]:
    """Report columns as the file spells them."""
    spelled = {
        "seller-sku": "seller-sku",
        "quantity available": "Quantity Available",
    }
    return tuple(RowError(e.row, spelled.get(e.column, e.column), e.why) for e in errors)
