"""Amazon reports: FBA inventory → inventory rows per seller SKU, and customer returns (FBA
and MFN) → one inbox event per returned unit; both with row-level errors.

Pure functions over the report's bytes (FORMATS.md §2): `GET_AFN_INVENTORY_DATA` (one row per
SKU and warehouse condition, "Quantity Available" with its mixed case and space) and
`GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA` (one row per SKU with afn-* quantities), plus the
SP-API `getInventorySummaries` JSON. A row that cannot be read becomes a RowError naming the
row, the column and why; the other rows still count.
"""

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from .base import (
    Envelope,
    MalformedPayload,
    Unsupported,
    body_digest,
    load_json_object,
    lower_keys,
    parse_datetime,
    quantity,
)

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


# ---- Customer returns reports ---------------------------------------------------------------
#
# GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA (FBA: Amazon's fulfillment center took the unit
# back) and GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE (MFN: the buyer asked to return to us).
# Each row becomes one inbound event whose body is the row in a canonical JSON form without its
# row number, so the same row in any later (back-updated, re-pulled) report is the same event,
# and a row whose status or disposition changed is a new one.

FBA_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
MFN_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
RETURN_TOPICS = {FBA_RETURNS: "fba_customer_returns", MFN_RETURNS: "mfn_returns"}
REPORT_ROW_HEADER = "X-Amazon-Report-Row"
REPORT_FILE_HEADER = "X-Amazon-Report-File"

# disposition_canonical_map.tsv; any other value is kept raw and read as UNKNOWN.
FBA_DISPOSITIONS = {
    "SELLABLE": "SELLABLE",
    "DAMAGED": "DAMAGED_MARKETPLACE_LIABLE",
    "CUSTOMER_DAMAGED": "UNSELLABLE_CUSTOMER_DAMAGED",
    "DEFECTIVE": "UNSELLABLE_DEFECTIVE",
    "CARRIER_DAMAGED": "DAMAGED_CARRIER",
    "EXPIRED": "UNSELLABLE_EXPIRED",
}
# Column → field, for each report; the first spelling present wins.
_FBA_FIELDS = {
    "returned_at": ("return-date",),
    "order_id": ("order-id", "amazon-order-id"),
    "sku": ("sku", "seller-sku"),
    "asin": ("asin",),
    "fnsku": ("fnsku",),
    "product_name": ("product-name",),
    "quantity": ("quantity",),
    "fulfillment_center": ("fulfillment-center-id",),
    "disposition": ("detailed-disposition",),
    "reason": ("reason",),
    "status": ("status",),
    "license_plate": ("license-plate-number",),
    "comments": ("customer-comments",),
}
_MFN_FIELDS = {
    "returned_at": ("return request date",),
    "order_id": ("order id",),
    "sku": ("merchant sku",),
    "asin": ("asin",),
    "product_name": ("item name",),
    "quantity": ("return quantity",),
    "reason": ("return reason",),
    "status": ("return request status",),
    "rma": ("amazon rma id",),
    "resolution": ("resolution",),
}
_REQUIRED = ("returned_at", "order_id", "sku", "quantity")
_DAY_FIRST = ("%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S")


@dataclass(frozen=True)
class CustomerReturnRow:
    """One returned unit (FBA: one LPN) or one MFN return request, as the report says it.

    `disposition` and `reason` keep the raw upper-cased code; `canonical_disposition` is
    UNKNOWN for a value the map does not know."""

    report_type: str
    returned_at: datetime
    order_id: str
    sku: str
    quantity: int
    asin: str = ""
    fnsku: str = ""
    product_name: str = ""
    fulfillment_center: str = ""
    disposition: str = ""
    reason: str = ""
    status: str = ""
    license_plate: str = ""
    comments: str = ""
    rma: str = ""
    resolution: str = ""
    row: int = 0

    @property
    def topic(self) -> str:
        return RETURN_TOPICS[self.report_type]

    @property
    def canonical_disposition(self) -> str:
        if not self.disposition:
            return ""
        return FBA_DISPOSITIONS.get(self.disposition, "UNKNOWN")

    @property
    def return_ref(self) -> str:
        """Amazon's identity of the return this row is about: the unit's license plate (FBA),
        the Amazon RMA (MFN), else the order, SKU and day."""
        if self.license_plate:
            return f"lpn:{self.license_plate}"
        if self.rma:
            return f"rma:{self.rma}"
        return f"{self.order_id}:{self.sku}:{self.returned_at:%Y-%m-%d}"

    def as_body(self) -> bytes:
        """The canonical inbox body: sorted keys, no row number."""
        data = {k: v for k, v in asdict(self).items() if k != "row"}
        data["returned_at"] = self.returned_at.isoformat()
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class CustomerReturnsReport:
    report_type: str
    rows: tuple[CustomerReturnRow, ...]
    errors: tuple[RowError, ...]


def _report_datetime(value: str) -> datetime:
    """ISO 8601 as real files carry it, or the day-first form of the Seller Central view."""
    value = value.strip()
    try:
        return parse_datetime(value)
    except MalformedPayload:
        pass
    for pattern in _DAY_FIRST:
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise MalformedPayload(f"{value!r} is neither an ISO 8601 date nor DD-MM-YYYY.")


def customer_returns_parse(body: bytes) -> CustomerReturnsReport:
    """Read an FBA customer returns or MFN returns report (tab-separated, either header
    spelling of the order id). Raises MalformedPayload when the file is neither; a row that
    cannot be read becomes a RowError (row, column as the file spells it, why)."""
    text = _text(body)
    reader = csv.reader(io.StringIO(text), delimiter="\t")
    header = next(reader, None)
    if not header:
        raise MalformedPayload("The file is empty: expected a tab-separated report header.")
    columns = [name.strip().lower() for name in header]
    spelled = {name.strip().lower(): name.strip() for name in header}
    if "detailed-disposition" in columns or "license-plate-number" in columns:
        report_type, fields = FBA_RETURNS, _FBA_FIELDS
    elif "amazon rma id" in columns:
        report_type, fields = MFN_RETURNS, _MFN_FIELDS
    else:
        raise MalformedPayload(
            "Not an Amazon returns report: expected the FBA customer returns columns "
            "(return-date, order-id, sku, detailed-disposition, license-plate-number…) or the "
            f"MFN returns columns (Order ID, Amazon RMA ID…); got {', '.join(header[:8])}."
        )
    chosen = {
        name: next((c for c in spellings if c in columns), None)
        for name, spellings in fields.items()
    }
    missing = [fields[name][0] for name in _REQUIRED if chosen[name] is None]
    if missing:
        raise MalformedPayload(f"The report has no {', '.join(missing)} column.")
    rows, errors = [], []
    for number, values in enumerate(reader, 2):
        if not any(v.strip() for v in values):
            continue
        record = dict(zip(columns, values, strict=False))
        row = _return_row(report_type, number, record, chosen, spelled, errors)
        if row is not None:
            rows.append(row)
    return CustomerReturnsReport(report_type, tuple(rows), tuple(errors))


def _return_row(report_type, number, record, chosen, spelled, errors) -> CustomerReturnRow | None:
    values = {name: (record.get(c) or "").strip() if c else "" for name, c in chosen.items()}
    bad = len(errors)
    for name in ("order_id", "sku"):
        if not values[name]:
            errors.append(RowError(number, spelled[chosen[name]], f"The {name} is empty."))
    try:
        returned_at = _report_datetime(values["returned_at"])
    except MalformedPayload as error:
        errors.append(RowError(number, spelled[chosen["returned_at"]], str(error)))
    column = spelled[chosen["quantity"]]
    try:
        count = quantity(values["quantity"], field=column)
    except MalformedPayload as error:
        errors.append(RowError(number, column, str(error)))
    else:
        if count < 1:
            errors.append(RowError(number, column, f"The quantity is {count}; at least 1."))
    if len(errors) > bad:
        return None
    values.update(
        returned_at=returned_at,
        quantity=count,
        disposition=values.get("disposition", "").upper(),
        reason=values.get("reason", "").upper(),
    )
    return CustomerReturnRow(report_type=report_type, row=number, **values)


def customer_return_from_body(body: bytes) -> CustomerReturnRow:
    """A row back from its inbox body (`CustomerReturnRow.as_body`)."""
    data = load_json_object(body)
    if data.get("report_type") not in RETURN_TOPICS:
        raise MalformedPayload("The body is not an Amazon returns report row.")
    try:
        data["returned_at"] = parse_datetime(data["returned_at"])
        return CustomerReturnRow(**data)
    except (KeyError, TypeError) as error:
        raise MalformedPayload(f"The returns row is incomplete: {error}") from error


def returns_verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """Amazon reports are uploaded or pulled, never pushed: no webhook of theirs is accepted."""
    return False


def returns_envelope(body: bytes, headers: Mapping[str, str]) -> Envelope:
    row = customer_return_from_body(body)
    return Envelope(body_digest(body), row.topic, row.return_ref[:120], row.returned_at)


def returns_parse(topic: str, body: bytes) -> CustomerReturnRow:
    row = customer_return_from_body(body)
    if row.topic != topic:
        raise Unsupported(f"Amazon topic {topic!r} is not parsed.")
    return row
