"""A 3PL's returns receipt and disposition report (CSV) → one inbox event per row.

No 3PL publishes a returns report we could copy, so this is our documented shape
(docs/3pl_returns_report.md): one row per unit, or per quantity of a SKU without serials,
with the RMA or order it came back under, when the 3PL received it, and — once it has
decided — the grade and disposition as the 3PL writes them, mapped through
samples/disposition_canonical_map.tsv. A row whose disposition the map does not know keeps
the raw value and reads as UNKNOWN (the unit stays pending).

Each row's inbox body is the row in a canonical JSON form without its row number, so the
same row in a later file is the same event, and the same unit re-reported with its
disposition is a new one.
"""

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from .amazon import RowError, _report_datetime, _text
from .base import Envelope, MalformedPayload, Unsupported, body_digest, load_json_object, quantity

RETURNS_TOPIC = "returns_report"
REPORT_KIND = "3pl_returns"
# Set on each row's event by the import; a 3PL's own webhooks never carry it.
REPORT_ROW_HEADER = "X-ERP-Report-Row"
REPORT_FILE_HEADER = "X-ERP-Report-File"

# disposition_canonical_map.tsv (the Shopify reverse-fulfillment and Amazon codes a 3PL uses).
DISPOSITIONS = {
    "RESTOCKED": "SELLABLE",
    "NOT_RESTOCKED": "UNSELLABLE",
    "PROCESSING_REQUIRED": "PENDING_INSPECTION",
    "MISSING": "MISSING",
    "SELLABLE": "SELLABLE",
    "DAMAGED": "DAMAGED_MARKETPLACE_LIABLE",
    "CUSTOMER_DAMAGED": "UNSELLABLE_CUSTOMER_DAMAGED",
    "DEFECTIVE": "UNSELLABLE_DEFECTIVE",
    "CARRIER_DAMAGED": "DAMAGED_CARRIER",
    "EXPIRED": "UNSELLABLE_EXPIRED",
}
# The 3PL's condition words → our grades A to F; a grade letter is taken as it is.
GRADES = {"NEW": "A", "LIKE_NEW": "B", "GOOD": "C", "FAIR": "D", "POOR": "E", "DAMAGED": "F"}
# Column → field; the first spelling present wins (headers are read case-insensitively,
# with spaces and dashes read as underscores).
_FIELDS = {
    "rma": ("rma", "rma_number"),
    "order_ref": ("order_ref", "order", "order_number", "order_id"),
    "sku": ("sku",),
    "serial": ("serial", "serial_number"),
    "lot": ("lot", "lot_number"),
    "quantity": ("qty", "quantity"),
    "received_at": ("received_at", "receipt_date", "received"),
    "condition": ("condition", "grade"),
    "disposition": ("disposition",),
    "reference": ("reference", "receipt_id", "line_id"),
    "notes": ("notes", "comments"),
}
_REQUIRED = ("sku", "quantity", "received_at")


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


@dataclass(frozen=True)
class ThreePLReturnRow:
    """One row as the 3PL wrote it; `disposition` and `condition` upper-cased, raw."""

    received_at: datetime
    sku: str
    quantity: int
    rma: str = ""
    order_ref: str = ""
    serial: str = ""
    lot: str = ""
    condition: str = ""
    disposition: str = ""
    reference: str = ""
    notes: str = ""
    row: int = 0

    @property
    def canonical_disposition(self) -> str:
        """The canonical condition of the disposition; "" when none is reported yet."""
        if not self.disposition:
            return ""
        return DISPOSITIONS.get(self.disposition, "UNKNOWN")

    @property
    def grade(self) -> str:
        """Our grade: the 3PL's letter or condition word; else what the disposition implies
        (sellable A, anything else F)."""
        if self.condition in ("A", "B", "C", "D", "E", "F"):
            return self.condition
        if self.condition in GRADES:
            return GRADES[self.condition]
        return "A" if self.canonical_disposition == "SELLABLE" else "F"

    @property
    def return_ref(self) -> str:
        return self.rma or f"order {self.order_ref}"

    @property
    def receipt_key(self) -> str:
        """The identity of the receipt this row reports: the same unit re-reported with its
        disposition names the same receipt (64 characters at most, a client token)."""
        parts = (
            self.rma,
            self.order_ref,
            self.sku,
            self.serial,
            self.lot,
            self.received_at.isoformat(),
            self.reference,
        )
        return "3pl:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:56]

    def as_body(self) -> bytes:
        data = {k: v for k, v in asdict(self).items() if k != "row"}
        data["received_at"] = self.received_at.isoformat()
        data["report"] = REPORT_KIND
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ThreePLReturnsReport:
    rows: tuple[ThreePLReturnRow, ...]
    errors: tuple[RowError, ...]
    report_type: str = "3PL returns report"


def returns_report_parse(body: bytes) -> ThreePLReturnsReport:
    """Read a 3PL returns report (comma- or tab-separated, header first). Raises
    MalformedPayload when the file is not one (the message names the missing columns); a row
    that cannot be read becomes a RowError (row, column as the file spells it, why)."""
    text = _text(body)
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter="\t" if "\t" in first else ",")
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise MalformedPayload("The file is empty: expected a header row (rma, sku, qty…).")
    columns = [_key(name) for name in header]
    spelled = {_key(name): name.strip() for name in header}
    chosen = {
        name: next((c for c in spellings if c in columns), None)
        for name, spellings in _FIELDS.items()
    }
    missing = [_FIELDS[name][0] for name in _REQUIRED if chosen[name] is None]
    if chosen["rma"] is None and chosen["order_ref"] is None:
        missing.insert(0, "rma (or order_ref)")
    if missing:
        raise MalformedPayload(
            f"Not a 3PL returns report: it has no {', '.join(missing)} column; "
            f"got {', '.join(header[:8])}."
        )
    rows, errors = [], []
    for number, values in enumerate(reader, 2):
        if not any(v.strip() for v in values):
            continue
        record = dict(zip(columns, values, strict=False))
        values_by_field = {
            name: (record.get(c) or "").strip() if c else "" for name, c in chosen.items()
        }
        row = _row(number, values_by_field, chosen, spelled, errors)
        if row is not None:
            rows.append(row)
    return ThreePLReturnsReport(tuple(rows), tuple(errors))


def _row(number, values, chosen, spelled, errors) -> ThreePLReturnRow | None:
    bad = len(errors)

    def column(name: str) -> str:
        return spelled.get(chosen[name] or "", _FIELDS[name][0])

    if not values["rma"] and not values["order_ref"]:
        errors.append(RowError(number, column("rma"), "Neither an RMA nor an order is given."))
    if not values["sku"]:
        errors.append(RowError(number, column("sku"), "The SKU is empty."))
    try:
        received_at = _report_datetime(values["received_at"])
    except MalformedPayload as error:
        errors.append(RowError(number, column("received_at"), str(error)))
    try:
        count = quantity(values["quantity"], field=column("quantity"))
    except MalformedPayload as error:
        errors.append(RowError(number, column("quantity"), str(error)))
    else:
        if count < 1:
            errors.append(
                RowError(number, column("quantity"), f"The quantity is {count}; at least 1.")
            )
        elif values["serial"] and count != 1:
            errors.append(
                RowError(number, column("quantity"), f"A serial is one unit; the row says {count}.")
            )
    condition = values["condition"].upper().replace(" ", "_").replace("-", "_")
    if condition and condition not in GRADES and condition not in ("A", "B", "C", "D", "E", "F"):
        errors.append(
            RowError(
                number,
                column("condition"),
                f"{values['condition']!r} is not a grade A–F or one of "
                f"{', '.join(w.lower() for w in GRADES)}.",
            )
        )
    if len(errors) > bad:
        return None
    return ThreePLReturnRow(
        received_at=received_at,
        sku=values["sku"],
        quantity=count,
        rma=values["rma"].upper(),
        order_ref=values["order_ref"],
        serial=values["serial"],
        lot=values["lot"],
        condition=condition,
        disposition=values["disposition"].upper().replace(" ", "_").replace("-", "_"),
        reference=values["reference"],
        notes=values["notes"],
        row=number,
    )


def returns_row_from_body(body: bytes) -> ThreePLReturnRow:
    """A row back from its inbox body (`ThreePLReturnRow.as_body`)."""
    data = load_json_object(body)
    if data.pop("report", None) != REPORT_KIND:
        raise MalformedPayload("The body is not a 3PL returns report row.")
    try:
        data["received_at"] = _report_datetime(data["received_at"])
        return ThreePLReturnRow(**data)
    except (KeyError, TypeError) as error:
        raise MalformedPayload(f"The returns row is incomplete: {error}") from error


def returns_row_envelope(body: bytes) -> Envelope:
    row = returns_row_from_body(body)
    return Envelope(body_digest(body), RETURNS_TOPIC, row.receipt_key[:120], row.received_at)


def returns_row_parse(topic: str, body: bytes) -> ThreePLReturnRow:
    if topic != RETURNS_TOPIC:
        raise Unsupported(f"3PL report topic {topic!r} is not parsed.")
    return returns_row_from_body(body)
