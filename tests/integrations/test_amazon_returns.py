"""Amazon FBA customer returns (and MFN returns) reports → one inbox event per row → the return
case of that unit: the sample parsed, each row applied once however often and in whatever
order it arrives, unknown orders and SKUs parked, the upload screen, the command, and the
scheduled SP-API pull against a real HTTP server on 127.0.0.1."""

import gzip
import io
import json
import random
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from erp.adapters.amazon import (
    FBA_RETURNS,
    MFN_RETURNS,
    customer_returns_parse,
    returns_envelope,
)
from erp.models import Category, Channel, ChannelListing, ExceptionCase, InboundEvent
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.models.inbox import InboundEventStatus
from erp.services import inbound_event_process, inbound_event_replay
from erp.services.amazon_reports import amazon_returns_report_import
from erp.tasks import amazon_returns_pull
from returns import services as return_services
from returns.models import ChannelReturn, ExternalEventKind, ReturnCase, ReturnCaseEvent
from tests.factories import (
    CategoryFactory,
    ChannelFactory,
    OrderLineFactory,
    ProductFactory,
    SalesOrderFactory,
    WarehouseFactory,
)

from .conftest import sample

pytestmark = pytest.mark.django_db

REPORT = "amazon_fba_customer_returns.tsv"
HEADER = sample(REPORT).decode().splitlines()[0]


def rows_of(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def sample_row(index: int) -> str:
    """Row `index` (1-based) of the shipped sample."""
    return sample(REPORT).decode().splitlines()[index]


@pytest.fixture
def amazon():
    return ChannelFactory(code="amz-us", platform=Channel.Platform.AMAZON, currency="USD")


def amazon_order(channel, *, number: str, sku: str, listed: bool = True, quantity: int = 2):
    """A delivered Amazon order of one apparel line whose product Amazon lists under `sku`."""
    delivered = timezone.now() - timedelta(days=4)
    category = Category.objects.filter(code="cat-apparel").first() or CategoryFactory(
        code="cat-apparel", name="Apparel", department=Category.Department.APPAREL
    )
    order = SalesOrderFactory(
        channel=channel,
        number=number,
        ship_from=WarehouseFactory(),
        placed_at=delivered - timedelta(days=3),
        shipped_at=delivered - timedelta(days=2),
        delivered_at=delivered,
    )
    product = ProductFactory(category=category)
    if listed:
        ChannelListing.objects.create(channel=channel, product=product, channel_sku=sku)
    OrderLineFactory(
        order=order, line_number=1, quantity=quantity, unit_price=Decimal("30.00"), product=product
    )
    return order


def process_all() -> None:
    for pk in InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED).values_list(
        "pk", flat=True
    ):
        inbound_event_process(event_id=pk)


# ---- The report -----------------------------------------------------------------------------


def test_the_sample_report_parses_every_row_with_raw_codes_kept():
    report = customer_returns_parse(sample(REPORT))

    assert report.report_type == FBA_RETURNS
    assert report.errors == ()
    assert [r.order_id for r in report.rows] == [
        "114-2962899-5762619",
        "406-111",
        "406-222",
        "113-2355691-4739435",
        "111-0000001-0000001",
        "111-0000002-0000002",
    ]
    first = report.rows[0]
    assert first.returned_at == datetime(2025, 6, 5, 15, 31, 40, tzinfo=UTC)
    assert (first.disposition, first.canonical_disposition) == (
        "CUSTOMER_DAMAGED",
        "UNSELLABLE_CUSTOMER_DAMAGED",
    )
    assert (first.reason, first.status, first.license_plate) == (
        "NOT_COMPATIBLE",
        "IMMEDIATE_DONATION",
        "LPNNC5N165ZVR",
    )
    assert report.rows[4].comments == "Not Compatible|Wifi"
    assert report.rows[5].canonical_disposition == "DAMAGED_MARKETPLACE_LIABLE"


def test_amazon_order_id_header_day_first_dates_and_unknown_dispositions_are_accepted():
    header = HEADER.replace("order-id", "amazon-order-id")
    line = (
        sample_row(2)
        .replace("2026-07-31T17:51:42+00:00", "31-07-2026")
        .replace("SELLABLE", "WAREHOUSE_DAMAGED_NEW")
    )

    (row,) = customer_returns_parse(rows_of(line, header=header)).rows

    assert row.order_id == "406-111"
    assert row.returned_at == datetime(2026, 7, 31, tzinfo=UTC)
    assert (row.disposition, row.canonical_disposition) == ("WAREHOUSE_DAMAGED_NEW", "UNKNOWN")


def test_unreadable_rows_are_reported_by_row_and_column_and_the_rest_still_count():
    bad_quantity = sample_row(2).replace("\t1\tBLR5", "\ttwo\tBLR5")
    bad_date = sample_row(3).replace("2026-07-31T17:51:42+00:00", "31st July")
    no_sku = sample_row(4).replace("FPS0028-FBA", "")

    report = customer_returns_parse(rows_of(bad_quantity, bad_date, no_sku, sample_row(5)))

    assert [(e.row, e.column) for e in report.errors] == [
        (2, "quantity"),
        (3, "return-date"),
        (4, "sku"),
    ]
    assert "not a number" in report.errors[0].why
    assert [r.row for r in report.rows] == [5]


def test_a_file_that_is_no_returns_report_is_refused():
    with pytest.raises(ValueError, match="Not an Amazon returns report"):
        customer_returns_parse(b"sku\tqty\nA\t1\n")


def test_the_mfn_returns_report_is_read_with_the_same_code():
    header = sample("amazon_mfn_returns_by_return_date_header.tsv").decode().splitlines()[0]
    columns = header.split("\t")
    values = dict.fromkeys(columns, "")
    values.update(
        {
            "Order ID": "406-333",
            "Return request date": "05/09/2026",
            "Return request status": "Approved",
            "Amazon RMA ID": "DQrYxB1RRMA",
            "Merchant SKU": "SKU-C",
            "Return quantity": "1",
            "Return Reason": "UNWANTED_ITEM",
            "Resolution": "StandardRefund",
        }
    )

    (row,) = customer_returns_parse(
        rows_of("\t".join(values[c] for c in columns), header=header)
    ).rows

    assert row.report_type == MFN_RETURNS
    assert row.topic == "mfn_returns"
    assert row.returned_at == datetime(2026, 9, 5, tzinfo=UTC)
    assert (row.rma, row.return_ref, row.resolution) == (
        "DQrYxB1RRMA",
        "rma:DQrYxB1RRMA",
        "StandardRefund",
    )


def test_a_row_is_the_same_event_wherever_it_sits_in_a_report():
    alone = customer_returns_parse(rows_of(sample_row(3))).rows[0]
    among = customer_returns_parse(sample(REPORT)).rows[2]

    assert alone.row != among.row
    assert returns_envelope(alone.as_body(), {}) == returns_envelope(among.as_body(), {})


# ---- Applying rows to cases -----------------------------------------------------------------


def test_each_known_row_opens_one_case_linked_to_its_unit_and_on_its_timeline(amazon):
    amazon_order(amazon, number="406-111", sku="SKU-A")
    amazon_order(amazon, number="406-222", sku="SKU-B")

    result = amazon_returns_report_import(
        body=rows_of(sample_row(2), sample_row(3)), account="amz-us", actor=None
    )
    process_all()

    assert (result.recorded, result.duplicates) == (2, 0)
    links = {link.external_id: link for link in ChannelReturn.objects.select_related("case")}
    assert set(links) == {"lpn:LPN001", "lpn:LPN002"}
    case = links["lpn:LPN002"].case
    assert case.order.number == "406-222"
    assert case.source == "api"
    line = case.lines.get()
    assert (line.quantity, line.reason.code, line.claimed_condition) == (
        1,
        "DEFECTIVE_OR_DAMAGED",
        "damaged",
    )
    assert line.customer_comment == "Defect in fabric"
    event = ReturnCaseEvent.objects.get(case=case)
    assert (event.kind, event.source) == (ExternalEventKind.CHANNEL_REPORTED, "amazon")
    assert event.applied.startswith(f"Opened {case.rma_number}")
    assert event.data["canonical_disposition"] == "UNSELLABLE_CUSTOMER_DAMAGED"
    assert "BOM5" in event.detail
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_each_row_delivered_eight_times_out_of_order_has_one_effect(amazon):
    amazon_order(amazon, number="406-111", sku="SKU-A")
    amazon_order(amazon, number="406-222", sku="SKU-B")
    lines = [sample_row(2), sample_row(3)]
    rng = random.Random(7)

    for _ in range(8):
        rng.shuffle(lines)
        amazon_returns_report_import(body=rows_of(*lines), account="amz-us", actor=None)
        process_all()

    assert InboundEvent.objects.filter(source="amazon").count() == 2
    assert ReturnCase.objects.count() == 2
    assert ReturnCaseEvent.objects.count() == 2


def test_a_back_updated_row_updates_the_same_case_and_reimporting_changes_nothing(amazon):
    amazon_order(amazon, number="406-111", sku="SKU-A")
    amazon_returns_report_import(body=rows_of(sample_row(2)), account="amz-us", actor=None)
    process_all()
    updated = sample_row(2).replace("Unit returned to inventory", "Reimbursed")

    first = amazon_returns_report_import(body=rows_of(updated), account="amz-us", actor=None)
    process_all()
    again = amazon_returns_report_import(body=rows_of(updated), account="amz-us", actor=None)
    process_all()

    assert (first.recorded, again.recorded, again.duplicates) == (1, 0, 1)
    case = ReturnCase.objects.get()
    events = list(ReturnCaseEvent.objects.filter(case=case).order_by("pk"))
    assert [e.data["status"] for e in events] == ["Unit returned to inventory", "Reimbursed"]
    assert events[1].applied == "Recorded: Reimbursed"
    assert ChannelReturn.objects.get().status == "Reimbursed"


def test_a_unit_already_returned_through_customer_service_is_linked_not_opened_again(
    amazon, cs_user
):
    order = amazon_order(amazon, number="406-111", sku="SKU-A")
    existing = return_services.return_case_create(
        order_id=order.pk,
        requests=[
            return_services.LineRequest(
                order_line_id=order.lines.get().pk,
                quantity=1,
                reason_code="UNDELIVERABLE",
                claimed_condition="unopened",
            )
        ],
        resolution="refund",
        actor=cs_user,
    )

    amazon_returns_report_import(body=rows_of(sample_row(2)), account="amz-us", actor=None)
    process_all()

    assert ReturnCase.objects.get() == existing
    assert ChannelReturn.objects.get().case == existing
    assert ReturnCaseEvent.objects.get().applied == f"Linked to {existing.rma_number}"


def test_unknown_orders_and_skus_park_with_an_exception_and_apply_after_a_replay(
    amazon, operations_user
):
    amazon_order(amazon, number="406-222", sku="SKU-B", listed=False)

    amazon_returns_report_import(
        body=rows_of(sample_row(2), sample_row(3)), account="amz-us", actor=None
    )
    process_all()

    unknown_order = InboundEvent.objects.get(subject_ref="lpn:LPN001")
    unknown_sku = InboundEvent.objects.get(subject_ref="lpn:LPN002")
    assert unknown_order.status == unknown_sku.status == InboundEventStatus.PARKED
    assert "Unknown order 406-111" in unknown_order.last_error
    assert "SKU 'SKU-B'" in unknown_sku.last_error
    kinds = dict(
        ExceptionCase.objects.filter(subject_type=SubjectType.INBOUND_EVENT).values_list(
            "subject_id", "kind"
        )
    )
    assert kinds == {
        str(unknown_order.pk): ExceptionKind.CHANNEL_DISPUTE,
        str(unknown_sku.pk): ExceptionKind.INVESTIGATE_SKU,
    }
    assert not ReturnCase.objects.exists()

    order = amazon.orders.get(number="406-222")
    ChannelListing.objects.create(
        channel=amazon, product=order.lines.get().product, channel_sku="SKU-B"
    )
    inbound_event_replay(event_id=unknown_sku.pk, actor=operations_user)
    process_all()

    unknown_sku.refresh_from_db()
    assert unknown_sku.status == InboundEventStatus.PROCESSED
    assert ReturnCase.objects.get().order == order


def test_an_import_by_someone_without_the_permission_or_for_no_channel_writes_nothing(
    amazon, cs_user
):
    with pytest.raises(PermissionDenied):
        amazon_returns_report_import(body=sample(REPORT), account="amz-us", actor=cs_user)
    with pytest.raises(ValidationError, match="No Amazon channel"):
        amazon_returns_report_import(body=sample(REPORT), account="nope", actor=None)
    with pytest.raises(ValidationError, match="Not an Amazon returns report"):
        amazon_returns_report_import(body=b"a\tb\n1\t2\n", account="amz-us", actor=None)

    assert not InboundEvent.objects.exists()


# ---- Screen and command ---------------------------------------------------------------------


def test_the_upload_screen_lists_each_row_and_each_unreadable_row(client, amazon, operations_user):
    bad = sample_row(3).replace("\t1\tBOM5", "\t-\tBOM5")
    client.force_login(operations_user)
    upload = SimpleUploadedFile("returns.tsv", rows_of(sample_row(2), bad))

    response = client.post(
        reverse("amazon_returns_import"), {"channel": "amz-us", "report": upload}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "LPN001" in page
    assert "406-111" in page
    assert "Rows not imported" in page
    assert "not a number" in page
    assert InboundEvent.objects.filter(source="amazon").count() == 1


def test_the_upload_screen_refuses_a_file_that_is_no_report_and_writes_nothing(
    client, amazon, operations_user
):
    client.force_login(operations_user)
    upload = SimpleUploadedFile("stock.tsv", b"sku\tqty\nA\t1\n")

    response = client.post(
        reverse("amazon_returns_import"), {"channel": "amz-us", "report": upload}
    )

    assert response.status_code == 200
    assert "Not an Amazon returns report" in response.content.decode()
    assert not InboundEvent.objects.exists()


def test_the_management_command_imports_a_file_once(amazon, tmp_path):
    path = tmp_path / REPORT
    path.write_bytes(sample(REPORT))
    out = io.StringIO()

    call_command("import_amazon_returns", str(path), "--channel", "amz-us", stdout=out)
    call_command("import_amazon_returns", str(path), "--channel", "amz-us", stdout=out)

    assert "6 new row(s), 0 already imported" in out.getvalue()
    assert "0 new row(s), 6 already imported" in out.getvalue()
    assert InboundEvent.objects.filter(source="amazon").count() == 6


# ---- Scheduled pull from the SP-API reports flow --------------------------------------------


class FakeReportsApi:
    """createReport → getReport (IN_PROGRESS once, then DONE or `final`) → getReportDocument
    → a gzip document, as the Selling Partner API documents the flow."""

    def __init__(self, document: bytes, *, final: str = "DONE"):
        self.document = document
        self.final = final
        self.polls = 0
        self.calls: list[tuple[str, str, dict | None]] = []


@contextmanager
def reports_api(fake: FakeReportsApi, token: str = "Atza|token"):
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorized(self) -> bool:
            if self.headers.get("x-amz-access-token") == token:
                return True
            self._send(403, b'{"errors":[{"code":"Unauthorized"}]}')
            return False

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.calls.append(("POST", self.path, body))
            if self._authorized() and self.path == "/reports/2021-06-30/reports":
                self._send(202, b'{"reportId":"ID323"}')

        def do_GET(self):
            fake.calls.append(("GET", self.path, None))
            if self.path == "/download/doc.gz":
                self._send(200, gzip.compress(fake.document), "application/octet-stream")
                return
            if not self._authorized():
                return
            if self.path == "/reports/2021-06-30/reports/ID323":
                fake.polls += 1
                status = "IN_PROGRESS" if fake.polls == 1 else fake.final
                answer = {"reportId": "ID323", "processingStatus": status}
                if status == "DONE":
                    answer["reportDocumentId"] = "DOC-1"
                self._send(200, json.dumps(answer).encode())
            elif self.path == "/reports/2021-06-30/documents/DOC-1":
                url = f"http://127.0.0.1:{server.server_port}/download/doc.gz"
                answer = {"reportDocumentId": "DOC-1", "url": url, "compressionAlgorithm": "GZIP"}
                self._send(200, json.dumps(answer).encode())
            else:
                self._send(404, b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def amazon_credential(credential, amazon):
    return credential("amazon", account="amz-us", secret="Atza|token")


def test_the_scheduled_pull_speaks_the_reports_flow_and_records_each_row_once(
    settings, amazon_credential
):
    fake = FakeReportsApi(sample(REPORT))
    settings.ERP_AMAZON_REPORT_POLL_SECONDS = 0
    with reports_api(fake) as url:
        settings.ERP_AMAZON_SPAPI_BASE_URL = url
        first = amazon_returns_pull()
        second = amazon_returns_pull()

    assert first == {"amz-us": "6 new rows, 0 already seen"}
    assert second == {"amz-us": "0 new rows, 6 already seen"}
    created = fake.calls[0]
    assert created[1] == "/reports/2021-06-30/reports"
    assert created[2]["reportType"] == FBA_RETURNS
    assert created[2]["marketplaceIds"] == ["ATVPDKIKX0DER"]
    start = datetime.fromisoformat(created[2]["dataStartTime"])
    end = datetime.fromisoformat(created[2]["dataEndTime"])
    assert end - start == timedelta(days=30)
    assert [c[1] for c in fake.calls[1:5]] == [
        "/reports/2021-06-30/reports/ID323",
        "/reports/2021-06-30/reports/ID323",
        "/reports/2021-06-30/documents/DOC-1",
        "/download/doc.gz",
    ]
    events = InboundEvent.objects.filter(source="amazon", account="amz-us")
    assert events.count() == 6
    assert set(events.values_list("topic", flat=True)) == {"fba_customer_returns"}


def test_a_report_amazon_fails_records_nothing_and_is_reported(settings, amazon_credential):
    fake = FakeReportsApi(sample(REPORT), final="FATAL")
    settings.ERP_AMAZON_REPORT_POLL_SECONDS = 0
    with reports_api(fake) as url:
        settings.ERP_AMAZON_SPAPI_BASE_URL = url
        outcome = amazon_returns_pull()

    assert outcome["amz-us"].startswith("failed: Amazon ended report ID323 as FATAL")
    assert not InboundEvent.objects.exists()


def test_the_beat_schedule_pulls_amazon_returns(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["amazon-returns-pull"]
    assert entry["task"] == "erp.tasks.amazon_returns_pull"
