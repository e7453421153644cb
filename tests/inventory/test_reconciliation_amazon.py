"""Amazon FBA inventory reports → snapshots: every sample file, row-level errors, re-import."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from erp.adapters.amazon import AFN, MYI, SPAPI, inventory_report_parse
from erp.adapters.base import MalformedPayload
from inventory.models import ExternalLocation, ExternalSnapshot, ReconciliationVariance
from inventory.reconciliation import run_incremental
from inventory.reconciliation.reports import amazon_inventory_import
from tests.factories import ChannelFactory, ChannelListingFactory
from tests.inventory.test_reconciliation import T0, make_3pl_world, stock_in

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
AMAZON_INVENTORY_SAMPLES = sorted(
    p.name
    for p in SAMPLES.glob("amazon_*")
    if "inventory" in p.name or p.name.startswith("amazon_afn")
)

AFN_REPORT = (
    b"seller-sku\tfulfillment-channel-sku\tasin\tcondition-type\tWarehouse-Condition-code\t"
    b"Quantity Available\n"
    b"CURL-CREAM\tX001\tB001\tNewItem\tSELLABLE\t40\n"
    b"CURL-CREAM\tX001\tB001\tNewItem\tUNSELLABLE\t2\n"
    b'AMZ-SERUM\tX002\tB002\tNewItem\tSELLABLE\t"7"\n'
    b"CURL-CREAM\tX001\tB001\tNewItem\tSELLABLE\tlots\n"
    b"GHOST\tX009\tB009\tNewItem\tSELLABLE\t3\n"
)


@pytest.fixture
def fba(db):
    world = make_3pl_world()
    ExternalLocation.objects.create(
        source="amazon_fba", external_code="", warehouse=world.warehouse
    )
    ChannelListingFactory(
        channel=ChannelFactory(code="amazon-us"), product=world.serum, channel_sku="AMZ-SERUM"
    )
    return world


@pytest.mark.parametrize("name", AMAZON_INVENTORY_SAMPLES)
def test_every_amazon_inventory_sample_is_ingested(fba, name):
    # when each sample file is imported
    result = amazon_inventory_import(body=(SAMPLES / name).read_bytes(), actor=None)
    # then it is recorded as a snapshot, and every row it could not use is reported
    assert result.snapshot.source == "amazon_fba"
    assert result.imported + len({e.row for e in result.errors}) == len(result.report.rows) + len(
        {e.row for e in result.report.errors}
    )
    assert all(e.row >= 1 and e.column and e.why for e in result.errors)


def test_the_samples_cover_each_report_kind():
    kinds = {
        inventory_report_parse((SAMPLES / n).read_bytes()).kind for n in AMAZON_INVENTORY_SAMPLES
    }
    assert kinds == {AFN, MYI, SPAPI}


def test_the_afn_placeholder_rows_are_reported_row_by_row():
    report = inventory_report_parse(
        (SAMPLES / "amazon_afn_inventory_data_airbyte_fixture.tsv").read_bytes()
    )
    assert report.rows == ()
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "Warehouse-Condition-code"),
        (3, "Warehouse-Condition-code"),
    ]


def test_an_afn_report_becomes_sellable_and_on_hand_per_sku_with_row_errors(fba):
    # when the report is imported
    result = amazon_inventory_import(body=AFN_REPORT, actor=None, taken_at=T0)
    # then sellable and unsellable rows add up per SKU, listings map seller SKUs to ours
    lines = {
        line.product.sku: (line.on_hand, line.sellable)
        for line in result.snapshot.lines.select_related("product")
    }
    assert lines == {"CURL-CREAM": (42, 40), "HAIR-SERUM": (7, 7)}
    # and the unreadable quantity and the unknown SKU are named by row, column and why
    assert [(e.row, e.column) for e in result.errors] == [(5, "Quantity Available"), (6, "sku")]
    assert "lots" in result.errors[0].why
    assert "GHOST" in result.errors[1].why


def test_reimporting_the_same_file_changes_nothing(fba):
    first = amazon_inventory_import(body=AFN_REPORT, actor=None, taken_at=T0)
    again = amazon_inventory_import(body=AFN_REPORT, actor=None, taken_at=T0 + timedelta(days=1))
    assert again.already_imported
    assert again.snapshot.pk == first.snapshot.pk
    assert ExternalSnapshot.objects.count() == 1
    assert [e.row for e in again.errors] == [e.row for e in first.errors]


def test_imported_stock_is_reconciled(fba):
    # given we hold 40 sellable curl cream at the FBA warehouse and Amazon counts 40 + 2 unsellable
    stock_in(fba, fba.cream, 40, "cream-in")
    amazon_inventory_import(body=AFN_REPORT, actor=None, taken_at=T0)
    run_incremental(product_ids=[fba.cream.pk], now=T0 + timedelta(hours=1))
    # then sellable matches and on hand differs by the 2 unsellable units
    rows = dict(
        ReconciliationVariance.objects.filter(product=fba.cream, source="amazon_fba")
        .exclude(difference=0)
        .values_list("bucket", "difference")
    )
    assert rows == {"on_hand": 2}


def test_a_file_that_is_no_report_is_refused(fba):
    with pytest.raises(ValidationError, match="Not an FBA inventory report"):
        amazon_inventory_import(body=b"order-id\tsku\n1\t2\n", actor=None)
    with pytest.raises(MalformedPayload):
        inventory_report_parse(b"")
    assert not ExternalSnapshot.objects.exists()


def test_importing_needs_the_permission(fba, warehouse_user):
    with pytest.raises(PermissionDenied):
        amazon_inventory_import(body=AFN_REPORT, actor=warehouse_user)
    assert not ExternalSnapshot.objects.exists()


def test_the_management_command_imports_and_reports_row_errors(fba, tmp_path, capsys):
    path = tmp_path / "afn.tsv"
    path.write_bytes(AFN_REPORT)
    call_command("import_amazon_inventory", str(path), "--taken-at", "2026-09-01T10:00:00+00:00")
    call_command("import_amazon_inventory", str(path))
    out = capsys.readouterr().out
    assert "Imported GET_AFN_INVENTORY_DATA" in out
    assert "2 line(s), 2 row error(s)" in out
    assert "row 6, column sku" in out
    assert "Already imported" in out
    assert ExternalSnapshot.objects.get().taken_at == T0
