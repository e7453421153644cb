"""Carrier tracking webhooks (EasyPost, AfterShip, Shippo) → one canonical tracking update.

Provider statuses map through `erp/data/carrier_status_canonical_map.tsv`; a status the table
does not know becomes UNKNOWN with the raw value kept.
"""

import hmac
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from .base import (
    Envelope,
    MalformedPayload,
    Unsupported,
    base64_hmac_matches,
    body_digest,
    header,
    load_json_object,
    matches_any,
    parse_datetime,
    require,
)

STATUS_MAP_PATH = (
    Path(__file__).resolve().parent.parent / "data" / "carrier_status_canonical_map.tsv"
)
EASYPOST_SIGNATURE_HEADER = "X-Hmac-Signature"
EASYPOST_SIGNATURE_PREFIX = "hmac-sha256-hex="
AFTERSHIP_SIGNATURE_HEADER = "aftership-hmac-sha256"


@dataclass(frozen=True)
class TrackingUpdate:
    """Where a parcel is, in our words: `status` is canonical, `provider_status` is raw."""

    provider: str
    tracking_number: str
    carrier: str
    status: str
    provider_status: str
    status_detail: str
    occurred_at: datetime | None
    eta: datetime | None
    reference: str
    is_return: bool | None


@cache
def status_map() -> dict[tuple[str, str], str]:
    table = {}
    for line in STATUS_MAP_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        provider, provider_status, canonical, *_ = line.split("\t")
        table[(provider, provider_status)] = canonical
    return table


def canonical_status(provider: str, provider_status: str) -> str:
    return status_map().get((provider, provider_status), "UNKNOWN")


# ---- EasyPost --------------------------------------------------------------------------


def easypost_verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """`X-Hmac-Signature: hmac-sha256-hex=<hex>` keyed with the NFKD-normalised secret."""
    signature = header(headers, EASYPOST_SIGNATURE_HEADER)
    if not signature.startswith(EASYPOST_SIGNATURE_PREFIX):
        return False
    expected = (
        EASYPOST_SIGNATURE_PREFIX
        + hmac.new(unicodedata.normalize("NFKD", s).encode("utf-8"), body, "sha256").hexdigest()
        for s in secrets
        if s
    )
    return matches_any(signature.lower(), expected)


def easypost_envelope(body: bytes, headers: Mapping[str, str]) -> Envelope:
    data = load_json_object(body)
    result = data.get("result") or {}
    if not isinstance(result, Mapping):
        raise MalformedPayload("The event's result is not an object.")
    return Envelope(
        external_id=str(require(data, "id")),
        topic=str(require(data, "description")),
        subject_ref=f"tracker:{result.get('id', '')}" if result.get("id") else "",
        occurred_at=parse_datetime(result.get("updated_at") or data.get("updated_at")),
    )


def easypost_parse(topic: str, body: bytes) -> TrackingUpdate:
    if topic != "tracker.updated" and topic != "tracker.created":
        raise Unsupported(f"EasyPost event {topic!r} is not parsed.")
    data = load_json_object(body)
    tracker = data.get("result") or {}
    raw_status = str(require(tracker, "status", where="tracker"))
    details = tracker.get("tracking_details") or []
    last_at = parse_datetime(details[-1].get("datetime")) if details else None
    carrier_detail = tracker.get("carrier_detail") or {}
    return TrackingUpdate(
        provider="easypost",
        tracking_number=str(require(tracker, "tracking_code", where="tracker")),
        carrier=str(tracker.get("carrier") or ""),
        status=canonical_status("easypost", raw_status),
        provider_status=raw_status,
        status_detail=str(tracker.get("status_detail") or ""),
        occurred_at=last_at or parse_datetime(tracker.get("updated_at")),
        eta=parse_datetime(
            tracker.get("est_delivery_date") or carrier_detail.get("est_delivery_date_local")
        ),
        reference=str(tracker.get("shipment_id") or ""),
        is_return=tracker.get("is_return"),
    )


# ---- AfterShip -------------------------------------------------------------------------


def aftership_verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    return base64_hmac_matches(body, header(headers, AFTERSHIP_SIGNATURE_HEADER), secrets)


def aftership_envelope(body: bytes, headers: Mapping[str, str]) -> Envelope:
    data = load_json_object(body)
    msg = data.get("msg") or {}
    ts = data.get("ts")
    occurred = datetime.fromtimestamp(int(ts), tz=UTC) if ts else None
    return Envelope(
        external_id=str(require(data, "event_id")),
        topic=str(require(data, "event")),
        subject_ref=f"tracking:{msg.get('slug', '')}:{msg.get('tracking_number', '')}",
        occurred_at=occurred,
    )


def aftership_parse(topic: str, body: bytes) -> TrackingUpdate:
    if topic != "tracking_update":
        raise Unsupported(f"AfterShip event {topic!r} is not parsed.")
    msg = load_json_object(body).get("msg") or {}
    tag = str(require(msg, "tag", where="tracking"))
    checkpoints = msg.get("checkpoints") or []
    return TrackingUpdate(
        provider="aftership",
        tracking_number=str(require(msg, "tracking_number", where="tracking")),
        carrier=str(msg.get("slug") or ""),
        status=canonical_status("aftership", tag),
        provider_status=tag,
        status_detail=str(msg.get("subtag") or ""),
        occurred_at=parse_datetime(checkpoints[-1].get("checkpoint_time")) if checkpoints else None,
        eta=parse_datetime(
            msg.get("expected_delivery") or msg.get("courier_estimated_delivery_date")
        ),
        reference=str(msg.get("order_number") or ""),
        is_return=msg.get("return_to_sender"),
    )


# ---- Shippo ----------------------------------------------------------------------------


def shippo_verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """Shippo authenticates with the `?token=` it was registered with; the view passes the
    query token as the `X-Shippo-Token` pseudo-header so this stays a pure function."""
    token = header(headers, "X-Shippo-Token")
    return bool(token) and matches_any(token, [s for s in secrets if s])


def shippo_envelope(body: bytes, headers: Mapping[str, str]) -> Envelope:
    data = load_json_object(body)
    track = data.get("data") or {}
    if not isinstance(track, Mapping):
        raise MalformedPayload("The event's data is not an object.")
    status = track.get("tracking_status") or {}
    # Shippo sends no event id: a redelivery repeats the body, so its digest is the key.
    return Envelope(
        external_id=body_digest(body),
        topic=str(require(data, "event")),
        subject_ref=f"tracking:{track.get('carrier', '')}:{track.get('tracking_number', '')}",
        occurred_at=parse_datetime(status.get("status_date") or status.get("object_updated")),
    )


def shippo_parse(topic: str, body: bytes) -> TrackingUpdate:
    if topic != "track_updated":
        raise Unsupported(f"Shippo event {topic!r} is not parsed.")
    track = load_json_object(body).get("data") or {}
    status = track.get("tracking_status") or {}
    raw_status = str(require(status, "status", where="tracking status"))
    substatus = status.get("substatus") or {}
    return TrackingUpdate(
        provider="shippo",
        tracking_number=str(require(track, "tracking_number", where="data")),
        carrier=str(track.get("carrier") or ""),
        status=canonical_status("shippo", raw_status),
        provider_status=raw_status,
        status_detail=str(substatus.get("code") or ""),
        occurred_at=parse_datetime(status.get("status_date")),
        eta=parse_datetime(track.get("eta")),
        reference=str(track.get("metadata") or ""),
        is_return=None,
    )
