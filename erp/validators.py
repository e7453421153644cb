"""Validation of identifiers that come off labels and channel feeds."""

from biip import ParseError
from biip.gtin import Gtin
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
