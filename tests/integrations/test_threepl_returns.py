"""A 3PL's returns receipt and disposition report (docs/3pl_returns_report.md) → one inbox event
per row → receipts and dispositions through the warehouse services: the documented sample
parsed, unreadable rows named, the receipt pending its disposition (seed scenario 3), the
disposition applied once however often the rows arrive, unknown RMAs and SKUs parked, the
upload screen and the command."""

import io
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from erp.adapters.base import MalformedPayload
from erp.adapters.threepl_returns import returns_report_parse
from erp.models import ExceptionCase, InboundEvent, Warehouse
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.models.inbox import InboundEventStatus
from erp.services import inbound_event_process, inbound_event_record, inbound_event_replay
from erp.services.threepl_reports import threepl_returns_report_import
from inventory.models import ExternalLocation, ReconciliationVariance, StockBalance, StockState
from inventory.reconciliation import run_incremental
from inventory.services import stock_receive
from returns.models import ExternalEventKind, ReturnCase, ReturnCaseEvent, ReturnState
from tests.factories.warehouse import case_in_transit, product_in, returns_warehouse, shipped_order
from warehouse.models import Disposition, Inspection, Outcome, Receipt, ReturnUnit, UnitState

from .conftest import sample_json

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "threepl_returns_report.csv"
HEADER = "rma,order_ref,sku,serial,lot,qty,received_at,condition,disposition,reference,notes"
RECEIVED_AT = "2026-11-26T09:15:00+00:00"


def report(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def row(case, sku: str, *, qty: int = 1, disposition: str = "", condition: str = "") -> str:
    return f"{case.rma_number},,{sku},,,{qty},{RECEIVED_AT},{condition},{disposition},R-1,"


def process_all() -> None:
    for pk in InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED).values_list(
        "pk", flat=True
    ):
        inbound_event_process(event_id=pk)


def balance(product, state: str) -> int:
    return sum(
        StockBalance.objects.filter(product=product, state=state).values_list("qty", flat=True)
    )


@pytest.fixture
def site(db):
    return returns_warehouse(
        code="hb-3pl",
        name="Columbus fulfilment",
        operator=Warehouse.Operator.THIRD_PARTY,
        provider=Warehouse.Provider.SHIPHERO,
    )


@pytest.fixture
def shirt(db):
    return product_in("apparel", sku="TEE-BLK-M", list_price="30.00", unit_cost="12.00")


@pytest.fixture
def case(shirt, site, cs_user, operations_user):
    order = shipped_order((shirt, 2, "30.00", []), warehouse=site)
    return case_in_transit(order, agent=cs_user, manager=operations_user)


def imported(body: bytes, *, warehouse: str = "hb-3pl"):
    result = threepl_returns_report_import(body=body, warehouse_code=warehouse, actor=None)
    process_all()
    return result


# ---- The report -----------------------------------------------------------------------------


def test_the_documented_sample_parses_every_row_with_raw_dispositions_kept():
    parsed = returns_report_parse(SAMPLE.read_bytes())

    assert parsed.errors == ()
    assert [r.return_ref for r in parsed.rows] == [
        "RMA-3PL00001",
        "RMA-3PL00002",
        "RMA-3PL00003",
        "order 4471",
        "RMA-3PL00005",
    ]
    first, restocked, not_restocked, processing, unknown = parsed.rows
    assert (first.quantity, first.lot, first.disposition, first.canonical_disposition) == (
        6,
        "L2311",
        "",
        "",
    )
    assert restocked.canonical_disposition == "SELLABLE"
    assert (not_restocked.canonical_disposition, not_restocked.grade) == ("UNSELLABLE", "F")
    assert not_restocked.received_at == datetime(2026, 11, 26, tzinfo=UTC)
    assert (processing.serial, processing.canonical_disposition) == (
        "SN-000123",
        "PENDING_INSPECTION",
    )
    assert (unknown.disposition, unknown.canonical_disposition) == (
        "RETURN_TO_VENDOR_LATER",
        "UNKNOWN",
    )


def test_unreadable_rows_are_named_by_row_and_column_and_the_rest_still_count():
    parsed = returns_report_parse(
        report(
            f",,TEE-BLK-M,,,1,{RECEIVED_AT},,,,",
            f"RMA-A,,TEE-BLK-M,,,0,{RECEIVED_AT},,,,",
            f"RMA-A,,TEE-BLK-M,SN-1,,2,{RECEIVED_AT},,,,",
            "RMA-A,,TEE-BLK-M,,,1,next tuesday,,,,",
            f"RMA-A,,TEE-BLK-M,,,1,{RECEIVED_AT},shiny,,,",
            f"RMA-A,,TEE-BLK-M,,,1,{RECEIVED_AT},good,RESTOCKED,,",
        )
    )

    assert [(e.row, e.column) for e in parsed.errors] == [
        (2, "rma"),
        (3, "qty"),
        (4, "qty"),
        (5, "received_at"),
        (6, "condition"),
    ]
    assert "at least 1" in parsed.errors[1].why
    assert "serial is one unit" in parsed.errors[2].why
    assert [(r.row, r.grade) for r in parsed.rows] == [(7, "C")]


def test_a_file_that_is_no_returns_report_is_refused():
    with pytest.raises(MalformedPayload, match="no rma \\(or order_ref\\), qty"):
        returns_report_parse(b"sku,received_at\nA,2026-01-01\n")


# ---- Receipt, then disposition ---------------------------------------------------------------


def test_a_receipt_without_disposition_waits_pending_outside_ats(case, shirt, site):
    result = imported(report(row(case, "TEE-BLK-M", qty=2)))

    assert result.recorded == 1
    event = InboundEvent.objects.get()
    assert (event.source, event.account, event.topic, event.status) == (
        "shiphero",
        "hb-3pl",
        "returns_report",
        InboundEventStatus.PROCESSED,
    )
    receipt = Receipt.objects.get(case=case)
    assert (receipt.warehouse, receipt.received_for) == (site, "ShipHero")
    assert receipt.received_by.username == "3pl:hb-3pl"
    assert list(ReturnUnit.objects.values_list("state", flat=True)) == [UnitState.RECEIVED] * 2
    assert balance(shirt, StockState.RECEIVED_PENDING_INSPECTION) == 2
    assert balance(shirt, StockState.AVAILABLE) == 0
    assert ReturnCase.objects.get(pk=case.pk).state == ReturnState.RECEIVED
    reported = ReturnCaseEvent.objects.get(case=case)
    assert reported.kind == ExternalEventKind.CHANNEL_REPORTED
    assert "Received 2 unit(s)" in reported.applied


def test_the_disposition_reported_later_moves_the_units_once_however_often_it_arrives(
    case, shirt, site
):
    imported(report(row(case, "TEE-BLK-M", qty=2)))
    decided = report(row(case, "TEE-BLK-M", qty=2, disposition="RESTOCKED", condition="A"))

    # Delivered eight times, in a shuffled mix with the receipt row again.
    files = [decided] * 8 + [report(row(case, "TEE-BLK-M", qty=2))] * 3
    random.Random(7).shuffle(files)
    for body in files:
        imported(body)

    assert InboundEvent.objects.count() == 2
    assert Receipt.objects.filter(case=case).count() == 1
    assert Disposition.objects.filter(unit__case=case).count() == 2
    assert set(Disposition.objects.values_list("outcome", flat=True)) == {Outcome.RESTOCK}
    assert set(Inspection.objects.values_list("grade", flat=True)) == {"A"}
    assert balance(shirt, StockState.RECEIVED_PENDING_INSPECTION) == 0
    assert balance(shirt, StockState.AVAILABLE) == 2
    assert ReturnCase.objects.get(pk=case.pk).state == ReturnState.INSPECTED
    history = Disposition.history.filter(outcome=Outcome.RESTOCK).first()
    assert "3PL" in history.history_change_reason
    assert (
        ReturnCaseEvent.objects.filter(case=case, kind=ExternalEventKind.CHANNEL_DISPOSED).count()
        == 1
    )


def test_not_restocked_is_damaged_stock_and_processing_required_stays_pending(
    case, shirt, site, cs_user, operations_user
):
    imported(report(row(case, "TEE-BLK-M", qty=1, disposition="PROCESSING_REQUIRED")))
    assert ReturnUnit.objects.get().state == UnitState.RECEIVED
    assert balance(shirt, StockState.RECEIVED_PENDING_INSPECTION) == 1

    imported(report(row(case, "TEE-BLK-M", qty=1, disposition="NOT_RESTOCKED")))

    decision = Disposition.objects.get()
    assert (decision.outcome, decision.unit.inspection.grade) == (Outcome.DISPOSE, "F")
    assert balance(shirt, StockState.DAMAGED) == 1
    assert balance(shirt, StockState.RECEIVED_PENDING_INSPECTION) == 0


def test_an_unmapped_disposition_is_kept_raw_and_decides_nothing(case, shirt):
    imported(report(row(case, "TEE-BLK-M", disposition="GIVE_TO_CHARITY")))

    assert ReturnUnit.objects.get().state == UnitState.RECEIVED
    assert not Disposition.objects.exists()
    recorded = ReturnCaseEvent.objects.get(case=case)
    assert recorded.data["disposition"] == "GIVE_TO_CHARITY"
    assert "not in the map" in recorded.applied


def test_missing_closes_the_case_short_with_an_exception(case, shirt):
    imported(report(row(case, "TEE-BLK-M", qty=2, disposition="MISSING")))

    assert not ReturnUnit.objects.exists()
    assert ReturnCase.objects.get(pk=case.pk).state in (ReturnState.RECEIVED, ReturnState.INSPECTED)
    assert ExceptionCase.objects.filter(
        kind=ExceptionKind.MISSING_COMPONENTS, subject_id=str(case.pk)
    ).exists()


# ---- Parked rows ---------------------------------------------------------------------------


def test_an_unknown_rma_parks_as_a_channel_dispute_and_an_unknown_sku_for_investigation(
    case, shirt
):
    imported(
        report(
            f"RMA-NOSUCH01,,TEE-BLK-M,,,1,{RECEIVED_AT},,,,",
            row(case, "TEE-GONE-XL"),
        )
    )

    parked = {e.subject_label: e.kind for e in ExceptionCase.objects.all()}
    assert parked == {
        "hb-3pl RMA-NOSUCH01": ExceptionKind.CHANNEL_DISPUTE,
        "hb-3pl SKU TEE-GONE-XL": ExceptionKind.INVESTIGATE_SKU,
    }
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundEventStatus.PARKED}
    assert (
        "matches no return case"
        in InboundEvent.objects.get(
            pk=ExceptionCase.objects.get(kind=ExceptionKind.CHANNEL_DISPUTE).subject_id
        ).last_error
    )
    assert all(e.subject_type == SubjectType.INBOUND_EVENT for e in ExceptionCase.objects.all())
    assert not Receipt.objects.exists()


def test_a_parked_row_applies_once_master_data_is_fixed_and_it_is_replayed(case, shirt):
    imported(report(row(case, "TEE-BLK-M-OLD")))
    event = InboundEvent.objects.get()
    assert event.status == InboundEventStatus.PARKED
    shirt.sku = "TEE-BLK-M-OLD"
    shirt.save()

    inbound_event_replay(event_id=event.pk, actor=None)
    inbound_event_process(event_id=event.pk)

    assert InboundEvent.objects.get().status == InboundEventStatus.PROCESSED
    assert ReturnUnit.objects.filter(case=case).count() == 1


def test_a_warehouse_we_operate_or_a_person_without_the_permission_is_refused(
    case, cs_user, warehouse_user
):
    returns_warehouse(code="own-dc")

    with pytest.raises(ValidationError, match="No active 3PL warehouse"):
        threepl_returns_report_import(
            body=report(row(case, "TEE-BLK-M")), warehouse_code="own-dc", actor=None
        )
    with pytest.raises(PermissionDenied):
        threepl_returns_report_import(
            body=report(row(case, "TEE-BLK-M")), warehouse_code="hb-3pl", actor=cs_user
        )
    with pytest.raises(ValidationError, match="Not a 3PL returns report"):
        threepl_returns_report_import(body=b"a,b\n1,2\n", warehouse_code="hb-3pl", actor=None)

    assert not InboundEvent.objects.exists()


# ---- Screen and command ---------------------------------------------------------------------


def test_the_upload_screen_lists_each_row_and_each_unreadable_row(client, case, operations_user):
    client.force_login(operations_user)
    body = report(row(case, "TEE-BLK-M"), f"{case.rma_number},,TEE-BLK-M,,,two,{RECEIVED_AT},,,,")
    upload = SimpleUploadedFile("returns.csv", body)

    response = client.post(
        reverse("threepl_returns_import"), {"warehouse": "hb-3pl", "report": upload}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert case.rma_number in page
    assert "Rows not imported" in page
    assert "not a number" in page
    assert InboundEvent.objects.filter(source="shiphero").count() == 1


def test_the_management_command_imports_a_file_once(case, tmp_path):
    path = tmp_path / "returns.csv"
    path.write_bytes(report(row(case, "TEE-BLK-M")))
    out = io.StringIO()

    call_command("import_3pl_returns", str(path), "--warehouse", "hb-3pl", stdout=out)
    call_command("import_3pl_returns", str(path), "--warehouse", "hb-3pl", stdout=out)

    assert "1 new row(s), 0 already imported" in out.getvalue()
    assert "0 new row(s), 1 already imported" in out.getvalue()
    assert InboundEvent.objects.filter(source="shiphero").count() == 1


# ---- Seed scenario 3: the 3PL received it, its disposition is late ---------------------------


def test_a_3pl_receipt_pending_disposition_explains_the_feed_then_is_reported_late(
    case, shirt, site, settings
):
    settings.RECONCILIATION_3PL_DISPOSITION_SLA_HOURS = 24
    ExternalLocation.objects.create(source="shiphero", external_code="12345", warehouse=site)
    stock_receive(
        product_id=shirt.pk, location_id=site.spot["stock"].pk, qty=10, idempotency_key="po-1"
    )
    # Given the 3PL's report says it received both units, with no disposition yet
    imported(report(row(case, "TEE-BLK-M", qty=2)))
    # and its stock feed already counts them on hand and available
    feed = sample_json("shiphero_webhook_inventory_update.json")
    item = feed["inventory"][0]
    item.update(sku=shirt.sku, on_hand="12", inventory="12", reserve=0, non_sellable=0)
    item["updated_warehouse"].update(on_hand="12", inventory="12", reserve=0, non_sellable=0)
    event = inbound_event_record(
        source="shiphero", account="main", body=json.dumps(feed).encode(), headers={}
    ).event
    inbound_event_process(event_id=event.pk)
    now = timezone.now()

    run_incremental(product_ids=[shirt.pk], now=now)

    # Then the +2 is explained by the receipt pending disposition, and nothing is late yet
    sellable = ReconciliationVariance.objects.get(product=shirt, bucket="sellable")
    assert (sellable.difference, sellable.explained, sellable.unexplained) == (2, 2, 0)
    assert not ExceptionCase.objects.filter(kind=ExceptionKind.LATE_3PL_DISPOSITION).exists()

    # When the disposition is still missing past the SLA
    run_incremental(product_ids=[shirt.pk], now=now + timedelta(hours=30))

    # Then it is reported late; and once the 3PL reports it, the exception clears
    late = ExceptionCase.objects.get(kind=ExceptionKind.LATE_3PL_DISPOSITION)
    assert late.evidence["pending"][0]["qty"] == 2
    imported(report(row(case, "TEE-BLK-M", qty=2, disposition="RESTOCKED")))
    run_incremental(product_ids=[shirt.pk], now=now + timedelta(hours=31))
    late.refresh_from_db()
    assert late.state == "resolved"
