"""3PL stock feeds (ShipHero webhooks, ShipBob and Extensiv stock summaries) → snapshot lines.

Keys are matched case-insensitively and numbers may arrive as strings: both happen in the
wild (FORMATS.md §4).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .base import (
    Envelope,
    MalformedPayload,
    Unsupported,
    base64_hmac_matches,
    body_digest,
    header,
    load_json_object,
    lower_keys,
    parse_datetime,
    quantity,
    require,
)

SHIPHERO_SIGNATURE_HEADER = "x-shiphero-hmac-sha256"


@dataclass(frozen=True)
class StockLine:
    """One SKU at one external warehouse / facility, as the 3PL counts it."""

    sku: str
    external_location: str
    on_hand: int
    available: int
    allocated: int = 0
    on_hold: int = 0
    lot: str = ""


@dataclass(frozen=True)
class StockSnapshot:
    """The 3PL's full view of the SKUs it lists (`is_delta` False) or one change (True)."""

    provider: str
    lines: tuple[StockLine, ...]
    taken_at: datetime | None = None
    is_delta: bool = False
    reason: str = ""


# ---- ShipHero webhooks ------------------------------------------------------------------


def shiphero_verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    return base64_hmac_matches(body, header(headers, SHIPHERO_SIGNATURE_HEADER), secrets)


def shiphero_envelope(body: bytes, headers: Mapping[str, str]) -> Envelope:
    data = lower_keys(load_json_object(body))
    topic = str(require(data, "webhook_type"))
    subject = ""
    if topic == "Inventory Change":
        subject = f"sku:{data.get('warehouse_id', '')}:{data.get('sku', '')}"
    # ShipHero sends no event id: identical bodies are the same delivery.
    return Envelope(
        external_id=body_digest(body),
        topic=topic,
        subject_ref=subject,
        occurred_at=parse_datetime(data.get("timestamp")),
    )


def shiphero_parse(topic: str, body: bytes) -> StockSnapshot:
    data = lower_keys(load_json_object(body))
    if topic == "Inventory Update":
        lines = []
        for item in data.get("inventory") or []:
            warehouse = item.get("updated_warehouse") or {}
            source = warehouse or item
            lines.append(
                StockLine(
                    sku=str(require(item, "sku", where="inventory item")),
                    external_location=str(warehouse.get("warehouse_id", "")),
                    on_hand=quantity(source.get("on_hand"), field="on_hand"),
                    available=quantity(source.get("inventory"), field="inventory"),
                    on_hold=quantity(source.get("non_sellable"), field="non_sellable"),
                    allocated=quantity(source.get("reserve"), field="reserve"),
                )
            )
        return StockSnapshot(provider="shiphero", lines=tuple(lines))
    if topic == "Inventory Change":
        line = StockLine(
            sku=str(require(data, "sku")),
            external_location=str(data.get("warehouse_id", "")),
            on_hand=quantity(data.get("quantity"), field="quantity"),
            available=quantity(data.get("quantity"), field="quantity"),
            lot=str(data.get("lot_id") or ""),
        )
        return StockSnapshot(
            provider="shiphero",
            lines=(line,),
            taken_at=parse_datetime(data.get("timestamp")),
            is_delta=True,
            reason=str(data.get("reason") or ""),
        )
    raise Unsupported(f"ShipHero webhook {topic!r} is not parsed.")


# ---- ShipBob and Extensiv (pulled summaries) --------------------------------------------


def shipbob_parse(body: bytes) -> StockSnapshot:
    """ShipBob 1.0 `GET /inventory` items (or one) and 2.0 `inventory-level/{id}/lots`."""
    data = load_json_object(body) if isinstance(body, bytes | str) else body
    items = data if isinstance(data, list) else [data]
    lines = []
    for item in (lower_keys(i) for i in items):
        if "lots" in item:
            sku = str(require(item, "sku", where="inventory level"))
            for lot in item["lots"] or []:
                for location in lot.get("locations") or []:
                    lines.append(
                        StockLine(
                            sku=sku,
                            external_location=str(location.get("location_id", "")),
                            on_hand=quantity(location.get("on_hand_quantity"), field="on_hand"),
                            available=quantity(
                                location.get("fulfillable_quantity"), field="fulfillable"
                            ),
                            allocated=quantity(
                                location.get("committed_quantity"), field="committed"
                            ),
                            lot=str(lot.get("lot_number") or ""),
                        )
                    )
            continue
        sku = str(item.get("sku") or require(item, "id", where="inventory item"))
        for center in item.get("fulfillable_quantity_by_fulfillment_center") or []:
            lines.append(
                StockLine(
                    sku=sku,
                    external_location=str(center.get("id", "")),
                    on_hand=quantity(center.get("onhand_quantity"), field="onhand"),
                    available=quantity(center.get("fulfillable_quantity"), field="fulfillable"),
                    allocated=quantity(center.get("committed_quantity"), field="committed"),
                )
            )
    return StockSnapshot(provider="shipbob", lines=tuple(lines))


def extensiv_parse(body: bytes) -> StockSnapshot:
    """SecureWMS `GET /inventory/stocksummaries`, whatever the casing of its keys."""
    data = lower_keys(load_json_object(body))
    summaries = data.get("summaries")
    if not isinstance(summaries, list):
        raise MalformedPayload("The body has no list of summaries.")
    lines = []
    for row in summaries:
        item = row.get("itemidentifier") or {}
        lines.append(
            StockLine(
                sku=str(require(item, "sku", where="item identifier")),
                external_location=str(row.get("facilityid", "")),
                on_hand=quantity(row.get("onhand"), field="onHand"),
                available=quantity(row.get("available"), field="available"),
                allocated=quantity(row.get("allocated"), field="allocated"),
                on_hold=quantity(row.get("onhold"), field="onHold"),
            )
        )
    return StockSnapshot(provider="extensiv", lines=tuple(lines))


# ---- Pulled summaries as inbox events ---------------------------------------------------

PULL_ID_HEADER = "X-ERP-Pull-Id"
PULLED_AT_HEADER = "X-ERP-Pulled-At"


def pulled_verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """ShipBob and Extensiv are pulled, never pushed to us: no webhook of theirs is accepted."""
    return False


def _pulled_envelope(topic: str, body: bytes, headers: Mapping[str, str]) -> Envelope:
    """A pull is keyed by its run (the scheduled slot), so re-running the same pull records
    nothing new; without a run id, identical bodies are the same pull."""
    load_json_object(body)
    return Envelope(
        external_id=header(headers, PULL_ID_HEADER) or body_digest(body),
        topic=topic,
        occurred_at=parse_datetime(header(headers, PULLED_AT_HEADER) or None),
    )


def shipbob_envelope(body: bytes, headers: Mapping[str, str]) -> Envelope:
    return _pulled_envelope("inventory", body, headers)


def shipbob_pulled_parse(topic: str, body: bytes) -> StockSnapshot:
    if topic != "inventory":
        raise Unsupported(f"ShipBob {topic!r} is not parsed.")
    items = load_json_object(body).get("items")
    if not isinstance(items, list):
        raise MalformedPayload("The pulled ShipBob body has no list of items.")
    return shipbob_parse(items)


def extensiv_envelope(body: bytes, headers: Mapping[str, str]) -> Envelope:
    return _pulled_envelope("stocksummaries", body, headers)


def extensiv_pulled_parse(topic: str, body: bytes) -> StockSnapshot:
    if topic != "stocksummaries":
        raise Unsupported(f"Extensiv {topic!r} is not parsed.")
    return extensiv_parse(body)
