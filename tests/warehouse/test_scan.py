"""Scan parsing: every sample of tests/fixtures/samples/gs1_barcode_examples.json, the parcel
labels, and round trips of generated element strings."""

import json
from datetime import date
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.scan import scan_parse

SAMPLES = json.loads(
    (Path(__file__).parents[1] / "fixtures/samples/gs1_barcode_examples.json").read_text()
)
GS = "\x1d"

# What each valid sample must parse to: (kind, gtin, lot, expiry, serial, sscc).
EXPECTED = {
    "96385074": ("gtin", "00000096385074", "", None, "", ""),
    "036000291452": ("gtin", "00036000291452", "", None, "", ""),
    "4006381333931": ("gtin", "04006381333931", "", None, "", ""),
    "5901234123457": ("gtin", "05901234123457", "", None, "", ""),
    "10614141000415": ("gtin", "10614141000415", "", None, "", ""),
    "010703206980498815210526100329": ("gs1", "07032069804988", "0329", None, "", ""),
    f"0107032069804988100329{GS}15210526": ("gs1", "07032069804988", "0329", None, "", ""),
    f"01095060001343521725123110ABC123{GS}21SN0001": (
        "gs1",
        "09506000134352",
        "ABC123",
        date(2025, 12, 31),
        "SN0001",
        "",
    ),
    f"]d201095060001343521725123110ABC123{GS}21SN0001": (
        "gs1",
        "09506000134352",
        "ABC123",
        date(2025, 12, 31),
        "SN0001",
        "",
    ),
    f"]C101095060001343521725123110ABC123{GS}21SN0001": (
        "gs1",
        "09506000134352",
        "ABC123",
        date(2025, 12, 31),
        "SN0001",
        "",
    ),
    "01095060001343521726020010LOT42": (
        "gs1",
        "09506000134352",
        "LOT42",
        date(2026, 2, 28),
        "",
        "",
    ),
    "00157035381410375177": ("gs1", "", "", None, "", "157035381410375177"),
}
# What each invalid sample's message must say.
REFUSED = {
    "4006381333932": "expected 1, got 2",
    "036000291453": "expected 2, got 3",
    "03600029145": "8, 12, 13 or 14",
    "01095060001343531725123110ABC123": "expected 2, got 3",
    "01095060001343521725130110X": "(17)",
    "2309506000134352": "Application Identifier",
}


def test_the_samples_are_all_covered():
    raws = {sample["raw"] for sample in SAMPLES}
    swallowed = "010703206980498810032915210526"
    assert raws == set(EXPECTED) | set(REFUSED) | {swallowed}
    assert {s["raw"] for s in SAMPLES if s["valid"]} == set(EXPECTED)


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s["valid"]], ids=lambda s: s["label"])
def test_every_valid_sample_parses_to_its_fields(sample):
    result = scan_parse(sample["raw"])
    assert (
        result.kind,
        result.gtin,
        result.lot,
        result.expiry,
        result.serial,
        result.sscc,
    ) == EXPECTED[sample["raw"]]
    assert result.warnings == ()


@pytest.mark.parametrize("raw", REFUSED)
def test_every_invalid_sample_is_refused_with_a_specific_message(raw):
    with pytest.raises(ValidationError) as refused:
        scan_parse(raw)
    assert REFUSED[raw] in refused.value.messages[0]


def test_a_bad_check_digit_names_the_digit_expected_and_what_to_do():
    with pytest.raises(ValidationError) as refused:
        scan_parse("4006381333932")
    assert refused.value.messages == [
        "Check digit wrong on 4006381333932: expected 1, got 2. The label is damaged or was "
        "misread — rescan, or type the number under the barcode."
    ]


def test_a_lot_that_swallowed_a_date_when_the_gs_was_dropped_is_parsed_with_a_warning():
    result = scan_parse("010703206980498810032915210526")
    assert (result.gtin, result.lot) == ("07032069804988", "032915210526")
    [warning] = result.warnings
    assert "best-before date (15)210526" in warning
    assert "probably “0329”" in warning


def test_a_lot_that_swallowed_an_expiry_is_flagged_too():
    result = scan_parse("]Q3010950600013435210ABC1717250101")
    assert result.lot == "ABC1717250101"
    assert "expiry date (17)250101" in result.warnings[0]
    assert "probably “ABC17”" in result.warnings[0]


@pytest.mark.parametrize(
    ("code", "kind", "field", "value"),
    [
        ("RMA-ABCD2345", "rma", "rma_number", "RMA-ABCD2345"),
        ("rma-abcd2345\n", "rma", "rma_number", "RMA-ABCD2345"),
        ("1Z999AA10123456784", "tracking", "tracking_number", "1Z999AA10123456784"),
        ("9400111899223100012345", "tracking", "tracking_number", "9400111899223100012345"),
        ("(01)09506000134352(10)ABC123", "gs1", "lot", "ABC123"),
        ("hello", "unknown", "raw", "hello"),
    ],
)
def test_parcel_labels_and_typed_codes(code, kind, field, value):
    result = scan_parse(code)
    assert (result.kind, getattr(result, field)) == (kind, value)


def test_a_site_may_configure_what_its_scanners_send_for_gs(settings):
    settings.WAREHOUSE_SCAN_SEPARATORS = ["|"]
    result = scan_parse("0107032069804988100329|15210526")
    assert (result.lot, result.warnings) == ("0329", ())


def test_an_empty_scan_is_refused():
    with pytest.raises(ValidationError, match="Nothing was scanned"):
        scan_parse("  \n")


def _with_check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


gtin14 = st.from_regex(r"\A0[0-9]{12}\Z").map(_with_check_digit)
text_value = st.from_regex(r"\A[A-Z0-9]{1,12}\Z").filter(lambda v: not v.startswith("1"))
expiry = st.dates(min_value=date(2000, 1, 1), max_value=date(2049, 12, 31))


@settings(max_examples=50, deadline=None)
@given(
    gtin=gtin14,
    lot=text_value,
    serial=text_value,
    expires=expiry,
    prefix=st.sampled_from(["", "]C1", "]d2", "]Q3"]),
)
def test_element_strings_round_trip(gtin, lot, serial, expires, prefix):
    code = f"{prefix}01{gtin}17{expires:%y%m%d}10{lot}{GS}21{serial}"
    result = scan_parse(code)
    assert (result.kind, result.gtin, result.lot, result.serial, result.expiry) == (
        "gs1",
        gtin,
        lot,
        serial,
        expires,
    )


@settings(max_examples=50, deadline=None)
@given(gtin=gtin14, length=st.sampled_from([8, 12, 13, 14]))
def test_gtins_of_every_length_round_trip_and_a_changed_check_digit_is_refused(gtin, length):
    body = gtin[-length:-1]
    if length == 8 and body[0] in "01":
        # Eight digits starting 0 or 1 are also read as a zero-suppressed UPC-E, so a changed
        # check digit can make another valid code (00001039 is UPC-A 000000000109).
        body = "5" + body[1:]
    short = _with_check_digit(body) if length < 14 else gtin
    assert scan_parse(short).gtin == short.zfill(14)
    wrong = short[:-1] + str((int(short[-1]) + 1) % 10)
    with pytest.raises(ValidationError, match="Check digit wrong"):
        scan_parse(wrong)
