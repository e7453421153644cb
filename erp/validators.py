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


def validate_photo(photo, *, field: str = "photos") -> None:
    """Refuse an upload that is not an image or is larger than MAX_UPLOAD_BYTES.

    The browser's content type is what the tablet camera or the file picker said; the size is
    what arrived. Raises ValidationError on `field`, naming the file.
    """
    if not (photo.content_type or "").startswith("image/"):
        raise ValidationError({field: f"{photo.name} is not an image."})
    if photo.size > settings.MAX_UPLOAD_BYTES:
        limit = settings.MAX_UPLOAD_BYTES // (1024 * 1024)
        raise ValidationError({field: f"{photo.name} is larger than {limit} MB."})
