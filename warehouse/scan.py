"""What a code scanned at the packing bench is: an RMA label, a carrier tracking number, a
GTIN/UPC/EAN or a GS1 element string (GS1-128, DataMatrix, QR) — parsed with `biip`.

A scanner acting as a keyboard may drop the GS separator (FNC1). When it does, a lot or serial
that is not the last element swallows the elements after it; biip cannot know, so the result
carries a warning when a lot or serial contains what looks like a date element.
"""

import re
from dataclasses import dataclass, field
from datetime import date

from biip import ParseConfig, ParseError, parse
from biip.gs1_messages import GS1Message
from django.conf import settings
from django.core.exceptions import ValidationError


class ScanKind:
    RMA = "rma"
    TRACKING = "tracking"
    GTIN = "gtin"
    GS1 = "gs1"
    SERIAL = "serial"
    UNKNOWN = "unknown"


# Our RMA labels ("RMA-" and 8 characters, returns.services); older imports use up to 16.
RMA_PATTERN = re.compile(r"^RMA-[A-Z0-9]{4,16}$", re.IGNORECASE)
GTIN_LENGTHS = frozenset({8, 12, 13, 14})
# AIM symbology identifiers of the GS1 symbologies: what follows is an element string.
GS1_SYMBOLOGIES = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})
# Carrier tracking numbers: UPS 1Z…, USPS 20 to 22 digits starting with 9, FedEx 12/15/20/22
# digits, DHL Express 10 digits, and the letters+digits forms most carriers use (S10: 2
# letters, 9 digits, 2 letters).
TRACKING_PATTERNS = (
    re.compile(r"^1Z[0-9A-Z]{16}$"),
    re.compile(r"^9[0-9]{19,21}$"),
    re.compile(r"^[0-9]{10}$|^[0-9]{12}$|^[0-9]{15}$|^[0-9]{20}$|^[0-9]{22}$"),
    re.compile(r"^[A-Z]{2}[0-9]{9}[A-Z]{2}$"),
    re.compile(r"^(?=.*[0-9])(?=.*[A-Z])[0-9A-Z]{10,35}$"),
)
# A date element (11 production, 13 packaging, 15 best before, 16 sell by, 17 expiry)
# followed by a plausible YYMMDD: what a lot holds when the GS before that element was lost.
SWALLOWED_DATE = re.compile(r"(1[13567])(\d{2}(?:0[1-9]|1[0-2])(?:[0-2]\d|3[01]))")
# An SSCC (00) or a GTIN (01, 02) up front: an element string, whatever follows.
GS1_START = re.compile(r"^(?:00[0-9]{18}|0[12][0-9]{14})")
DATE_AI_NAMES = {
    "11": "a production date",
    "13": "a packaging date",
    "15": "a best-before date",
    "16": "a sell-by date",
    "17": "an expiry date",
}
DEFAULT_SEPARATORS = ("\x1d",)


@dataclass(frozen=True)
class ScanResult:
    """One scan, parsed. `gtin` is always the 14-digit form; text fields are "" when absent."""

    kind: str
    raw: str
    gtin: str = ""
    lot: str = ""
    expiry: date | None = None
    serial: str = ""
    sscc: str = ""
    rma_number: str = ""
    tracking_number: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def identifies_parcel(self) -> bool:
        return self.kind in (ScanKind.RMA, ScanKind.TRACKING) or bool(self.sscc)

    @property
    def identifies_item(self) -> bool:
        return bool(self.gtin)


def scan_parse(code: str) -> ScanResult:
    """Parse one scanned or typed code.

    Raises ValidationError with a message a person can act on for a GTIN or GS1 element
    string that cannot be right: a bad check digit, a wrong length, an impossible date, an
    unknown application identifier. Anything else that is not a product or parcel code comes
    back as kind "unknown" (the caller decides; the bench treats it as a serial number).
    """
    text = code.strip().strip("\r\n")
    if not text:
        raise ValidationError("Nothing was scanned.", code="empty_scan")
    if RMA_PATTERN.match(text):
        return ScanResult(kind=ScanKind.RMA, raw=code, rma_number=text.upper())
    symbology = text[:3] if text.startswith("]") else ""
    if text.startswith("("):
        return _from_message(code, _parse_hri(text))
    if text.isdigit() and len(text) in GTIN_LENGTHS:
        return ScanResult(kind=ScanKind.GTIN, raw=code, gtin=_gtin(text))
    if symbology in GS1_SYMBOLOGIES or _separators_in(text) or GS1_START.match(text):
        return _from_message(code, _parse_gs1(text))
    if text.isdigit() and len(text) < max(GTIN_LENGTHS) and not _is_tracking(text):
        raise ValidationError(_gtin_message(text, None), code="invalid_gtin")
    if text.isdigit() and not _is_tracking(text):
        return _from_message(code, _parse_gs1(text))
    if _is_tracking(text.upper()):
        return ScanResult(kind=ScanKind.TRACKING, raw=code, tracking_number=text.upper())
    return ScanResult(kind=ScanKind.UNKNOWN, raw=code)


def _separators() -> tuple[str, ...]:
    # Some keyboard-wedge scanners send GS as another character; the site configures which.
    return tuple(getattr(settings, "WAREHOUSE_SCAN_SEPARATORS", DEFAULT_SEPARATORS))


def _separators_in(text: str) -> bool:
    return any(separator in text for separator in _separators())


def _is_tracking(text: str) -> bool:
    return any(pattern.match(text) for pattern in TRACKING_PATTERNS)


def _gtin(digits: str) -> str:
    result = parse(digits)
    if result.gtin is None:
        raise ValidationError(_gtin_message(digits, result.gtin_error), code="invalid_gtin")
    return result.gtin.as_gtin_14()


def _gtin_message(digits: str, error: str | None) -> str:
    if len(digits) not in GTIN_LENGTHS:
        return (
            f"{digits} has {len(digits)} digits: a GTIN/UPC/EAN has 8, 12, 13 or 14. "
            "Rescan, or type the number printed under the barcode."
        )
    expected = _check_digit(digits[:-1])
    if str(expected) != digits[-1]:
        return (
            f"Check digit wrong on {digits}: expected {expected}, got {digits[-1]}. The label is "
            "damaged or was misread — rescan, or type the number under the barcode."
        )
    return f"{digits} is not a valid GTIN: {error}"


def _check_digit(body: str) -> int:
    """GS1 mod-10: weights 3,1,3,1… from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _parse_gs1(text: str) -> GS1Message:
    config = ParseConfig(separator_chars=list(_separators()))
    try:
        result = parse(text, config=config)
    except ParseError as error:
        raise ValidationError(_gs1_message(text, str(error)), code="invalid_gs1") from error
    if result.gs1_message is None:
        raise ValidationError(
            _gs1_message(text, result.gs1_message_error or "no element string found"),
            code="invalid_gs1",
        )
    return result.gs1_message


def _parse_hri(text: str) -> GS1Message:
    try:
        return GS1Message.parse_hri(text)
    except ParseError as error:
        raise ValidationError(_gs1_message(text, str(error)), code="invalid_gs1") from error


def _gs1_message(text: str, error: str) -> str:
    shown = text.replace("\x1d", "<GS>")
    return f"{shown} is not a valid GS1 barcode ({error}). Rescan, or key in the fields."


def _from_message(raw: str, message: GS1Message) -> ScanResult:
    values: dict[str, str] = {}
    expiry = None
    for element in message.element_strings:
        values.setdefault(element.ai.ai, element.value)
        if element.ai.ai == "17":
            expiry = element.date
    gtin = values.get("01", "") or values.get("02", "")
    if gtin:
        gtin = _gtin(gtin)
    lot, serial = values.get("10", ""), values.get("21", "")
    warnings = tuple(
        warning
        for name, value in (("Lot", lot), ("Serial", serial))
        if (warning := _swallowed_warning(name, value))
    )
    return ScanResult(
        kind=ScanKind.GS1,
        raw=raw,
        gtin=gtin,
        lot=lot,
        expiry=expiry,
        serial=serial,
        sscc=values.get("00", ""),
        warnings=warnings,
    )


def _swallowed_warning(name: str, value: str) -> str:
    """A warning when `value` holds a date element after its first character."""
    match = SWALLOWED_DATE.search(value, 1)
    if match is None:
        return ""
    ai, digits = match.groups()
    return (
        f"{name} “{value}” looks like it swallowed {DATE_AI_NAMES[ai]} ({ai}){digits}: the "
        f"scanner may have dropped the GS separator. Check the label; the {name.lower()} is "
        f"probably “{value[: match.start()]}”."
    )
