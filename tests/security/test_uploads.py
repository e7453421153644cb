"""Uploads are bounded in size and checked by content (erp.validators): return photos,
inspection photos and the Amazon inventory report. A refused file is a form error, and
nothing is written."""

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook
from PIL import Image

from erp.validators import validate_image_upload, validate_report_upload
from inventory.models import ExternalSnapshot
from returns.models import ReturnPhoto
from tests.returns.conftest import counts, delivered_order
from warehouse.forms import InspectForm


def image_bytes(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 120, 200)).save(buffer, kind)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    book = Workbook()
    book.active.append(["sku", "quantity"])
    book.save(buffer)
    return buffer.getvalue()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


PNG = image_bytes("PNG")


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP", "GIF"])
def test_real_images_pass(kind):
    validate_image_upload(upload(f"photo.{kind.lower()}", image_bytes(kind), "image/png"))


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("notes.png", b"hello, not an image", "image/png"),  # the name and type lie
        ("cut.png", PNG[: len(PNG) // 2], "image/png"),  # a truncated image
        ("page.png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "image/png"),
        ("script.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "image/svg+xml"),
    ],
)
def test_anything_else_is_not_an_image(name, content, content_type):
    with pytest.raises(ValidationError, match="is not an image"):
        validate_image_upload(upload(name, content, content_type))


def test_an_image_over_the_limit_is_refused(settings):
    settings.MAX_UPLOAD_BYTES = len(PNG) - 1
    with pytest.raises(ValidationError, match="larger than"):
        validate_image_upload(upload("big.png", PNG, "image/png"))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("afn.tsv", b"sku\tfnsku\tquantity\nTEE-1\tX001\t3\n"),
        ("afn.csv", b"\xef\xbb\xbfsku,quantity\nTEE-1,3\n"),
        ("summaries.json", b'{"inventorySummaries": []}'),
        ("counts.txt", b"sku\tquantity\n"),
        ("counts.xlsx", xlsx_bytes()),
    ],
)
def test_reports_of_the_known_formats_pass(name, content):
    validate_report_upload(upload(name, content))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("report.exe", b"sku,quantity\n"),  # an extension we do not take
        ("report.csv", b"MZ\x90\x00\x03\x00\x00\x00"),  # a Windows executable, renamed
        ("report.tsv", PNG),  # an image, renamed
        ("report.csv", b"sku\x00qty\x00"),  # binary
        ("report.csv", b"PK\x03\x04rest-of-a-zip"),
        ("report.xlsx", b"sku,quantity\n"),  # not a zip at all
    ],
)
def test_anything_else_is_not_a_report(name, content):
    with pytest.raises(ValidationError, match="is not a CSV, TSV, JSON or XLSX report"):
        validate_report_upload(upload(name, content))


def test_a_zip_that_is_not_a_workbook_is_not_a_report():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("evil.sh", "echo hi")
    with pytest.raises(ValidationError, match="is not a CSV"):
        validate_report_upload(upload("report.xlsx", buffer.getvalue()))


def test_a_report_over_the_limit_is_refused(settings):
    settings.MAX_UPLOAD_BYTES = 10
    with pytest.raises(ValidationError, match="larger than 10 bytes"):
        validate_report_upload(upload("afn.tsv", b"sku\tquantity\nTEE-1\t3\n"))


# --- Through the screens --------------------------------------------------------------------


@pytest.fixture
def cs_client(client, cs_user):
    client.force_login(cs_user)
    return client


def open_return(cs_client, photo):
    order = delivered_order()
    line = order.lines.get()
    return cs_client.post(
        reverse("return_create", args=[order.pk]),
        {
            f"qty_{line.pk}": "1",
            f"reason_{line.pk}": "SIZE_TOO_SMALL",
            "resolution": "refund",
            "open": "",
            "photos": [photo],
        },
    )


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (upload("front.png", b"GIF89a but not really", "image/png"), "front.png is not an image."),
        (upload("front.png", PNG, "image/png"), "front.png is larger than 10 bytes."),
    ],
)
def test_a_return_with_a_bad_photo_is_a_form_error_and_writes_nothing(
    cs_client, settings, tmp_path, photo, message
):
    settings.MEDIA_ROOT = tmp_path
    if "larger" in message:
        settings.MAX_UPLOAD_BYTES = 10
    before = counts()

    response = open_return(cs_client, photo)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert counts() == before
    assert not ReturnPhoto.objects.exists()
    assert not any(tmp_path.rglob("*.png"))


def test_the_inspection_form_refuses_a_file_that_is_not_an_image():
    form = InspectForm(
        data={"client_token": "t", "grade": "A"},
        files={"photos": upload("cam.jpg", b"\xff\xd8\xff but cut", "image/jpeg")},
    )
    assert not form.is_valid()
    assert form.errors["photos"] == ["cam.jpg is not an image."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("report", "message"),
    [
        (upload("afn.tsv", PNG, "text/tab-separated-values"), "afn.tsv is not a CSV"),
        (upload("afn.pdf", b"%PDF-1.7", "application/pdf"), "afn.pdf is not a CSV"),
        (upload("afn.tsv", b"sku\tquantity\n" * 8, "text/plain"), "afn.tsv is larger than"),
    ],
)
def test_the_amazon_import_refuses_a_bad_file_and_writes_nothing(
    client, operations_user, settings, report, message
):
    settings.MAX_UPLOAD_BYTES = 100
    client.force_login(operations_user)

    response = client.post(reverse("reconciliation_amazon_import"), {"report": report})

    assert response.status_code in (200, 422)
    assert message in response.content.decode()
    assert not ExternalSnapshot.objects.exists()


def test_request_bodies_are_bounded(client, settings):
    # Django refuses a body above DATA_UPLOAD_MAX_MEMORY_SIZE before any view reads it.
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 5 * 1024 * 1024
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(reverse("login"), {"username": "x" * 2000, "password": "y"})
    assert response.status_code == 400
