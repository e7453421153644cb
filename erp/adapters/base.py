"""What every adapter shares: the envelope of a delivery, errors, signatures, lenient numbers."""

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation


class MalformedPayload(ValueError):
    """The body cannot be read as the documented shape; the message says why."""


class Unsupported(LookupError):
    """The source sent a topic this adapter does not parse."""


@dataclass(frozen=True)
class Envelope:
    """What the inbox needs before any handler runs: identity, topic and ordering."""

    external_id: str
    topic: str
    subject_ref: str = ""
    occurred_at: datetime | None = None


def header(headers: Mapping[str, str], name: str) -> str:
    """A header by case-insensitive name; empty when absent."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip()
    return ""


def hmac_sha256(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()


def matches_any(given: str, expected: Iterable[str]) -> bool:
    """Constant-time comparison against each accepted value; every candidate is compared."""
    given_bytes = given.encode("utf-8")
    matched = False
    for value in expected:
        matched |= hmac.compare_digest(given_bytes, value.encode("utf-8"))
    return matched


def base64_hmac_matches(body: bytes, signature: str, secrets: Iterable[str]) -> bool:
    if not signature:
        return False
    return matches_any(
        signature, (base64.b64encode(hmac_sha256(s, body)).decode() for s in secrets if s)
    )


def body_digest(body: bytes) -> str:
    """An id for senders that have none: a redelivery has the same bytes, hence the same id."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def load_json_object(body: bytes) -> dict:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedPayload(f"The body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise MalformedPayload("The body is JSON but not an object.")
    return data


def parse_datetime(value) -> datetime | None:
    """ISO 8601 (with 'Z', an offset, or UTC implied) or 'YYYY-MM-DD HH:MM:SS'; None if absent."""
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as error:
        raise MalformedPayload(f"{value!r} is not a date and time.") from error
    # A time without an offset is taken as UTC, which every source here documents.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def quantity(value, *, field: str) -> int:
    """A whole quantity that may arrive as a number or a string ("113")."""
    if value in (None, ""):
        return 0
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as error:
        raise MalformedPayload(f"{field} is not a number: {value!r}") from error
    if number != number.to_integral_value():
        raise MalformedPayload(f"{field} is not a whole number: {value!r}")
    return int(number)


def lower_keys(value):
    """The same structure with every object key lower-cased, for feeds whose casing varies."""
    # Scalars are taken as they are without a call each: a 3PL summary has thousands.
    if isinstance(value, dict):
        return {
            str(k).lower(): lower_keys(v) if isinstance(v, dict | list) else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [lower_keys(v) if isinstance(v, dict | list) else v for v in value]
    return value


def require(data: Mapping, key: str, *, where: str = "body"):
    if key not in data or data[key] in (None, ""):
        raise MalformedPayload(f"The {where} has no {key!r}.")
    return data[key]
