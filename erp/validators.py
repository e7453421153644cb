"""Validation of identifiers that come off labels and channel feeds."""

from biip import ParseError
from biip.gtin import Gtin
from django.conf import settings
from django.core.exceptions import ValidationError


def normalize_gtin(value: str) -> str:
    """Return `value` as a 14-digit GTIN, the form GS1 element strings carry in AI (01).

    Raises ValidationError naming what is wrong (length, non-digits, check digit).
    """
    try:
        return Gtin.parse(value.strip()).as_gtin_14()
    except ParseError as error:
        raise ValidationError(str(error), code="invalid_gtin") from error


def validate_gtin(value: str) -> None:
    normalize_gtin(value)


IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
REPORT_EXTENSIONS = {".csv", ".tsv", ".txt", ".json", ".xlsx"}
# Binary formats a text report must not start with (executables, archives, PDFs, images).
BINARY_SIGNATURES = (b"MZ", b"\x7fELF", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")


def _size_check(upload) -> None:
    limit = settings.MAX_UPLOAD_BYTES
    if upload.size > limit:
        size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
        raise ValidationError(f"{upload.name} is larger than {size}.", code="file_too_large")


def validate_image_upload(upload) -> None:
    """Refuse a file that is larger than MAX_UPLOAD_BYTES or is not really a JPEG, PNG, WebP
    or GIF image. The content decides, not the name or the browser's content type: Pillow
    reads the header and verifies the image's structure without decoding its pixels."""
    from PIL import Image, UnidentifiedImageError

    _size_check(upload)
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        kind = None
    finally:
        upload.seek(0)
    if kind not in IMAGE_FORMATS:
        raise ValidationError(f"{upload.name} is not an image.", code="not_an_image")


def validate_report_upload(upload) -> None:
    """Refuse a report file larger than MAX_UPLOAD_BYTES or not a CSV/TSV/text, JSON or XLSX
    file by its content: an .xlsx must be a zip holding a workbook; anything else must be text
    (no NUL bytes, not a known binary format)."""
    import zipfile
    from pathlib import PurePath

    _size_check(upload)
    extension = PurePath(upload.name or "").suffix.lower()
    wrong = ValidationError(
        f"{upload.name} is not a CSV, TSV, JSON or XLSX report.", code="not_a_report"
    )
    if extension not in REPORT_EXTENSIONS:
        raise wrong
    upload.seek(0)
    try:
        if extension == ".xlsx":
            try:
                with zipfile.ZipFile(upload) as archive:
                    names = set(archive.namelist())
            except (zipfile.BadZipFile, OSError) as error:
                raise wrong from error
            if not {"[Content_Types].xml", "xl/workbook.xml"} <= names:
                raise wrong
            return
        head = upload.read(64 * 1024)
        if b"\x00" in head or head.startswith(BINARY_SIGNATURES) or head.startswith(b"PK\x03\x04"):
            raise wrong
    finally:
        upload.seek(0)


def validate_photo(photo, *, field: str = "photos") -> None:
    """Refuse an upload that is not an image or is larger than MAX_UPLOAD_BYTES (see
    `validate_image_upload`; the services call this one). Raises ValidationError on `field`,
    naming the file."""
    try:
        validate_image_upload(photo)
    except ValidationError as error:
        raise ValidationError({field: error.messages}) from error
