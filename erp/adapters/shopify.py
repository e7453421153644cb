"""Shopify webhooks: HMAC over the raw body, returns / refunds / orders payloads.

Ids are kept as strings and taken from `admin_graphql_api_id` where present: numeric ids
exceed float precision and Shopify's own sample fixtures already lost digits.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from .base import (
    Envelope,
    MalformedPayload,
    Unsupported,
    base64_hmac_matches,
    header,
    load_json_object,
    parse_datetime,
    quantity,
    require,
)

SIGNATURE_HEADER = "X-Shopify-Hmac-SHA256"
RETURN_TOPICS = {
    "returns/request",
    "returns/approve",
    "returns/decline",
    "returns/cancel",
    "returns/close",
    "returns/reopen",
}
REVERSE_DELIVERY_TOPIC = "reverse_deliveries/attach_deliverable"
RETURN_UPDATE_TOPIC = "returns/update"
DISPOSE_TOPIC = "reverse_fulfillment_orders/dispose"


@dataclass(frozen=True)
class ShopifyReturnUpdate:
    """returns/update: a delta. `removals` are (return line item id, units taken off)."""

    return_id: str
    removals: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ShopifyDisposition:
    rfo_line_item_id: str
    type: str
    quantity: int
    location_id: str


@dataclass(frozen=True)
class ShopifyDisposal:
    """reverse_fulfillment_orders/dispose: what the merchant did with returned items."""

    reverse_fulfillment_order_id: str
    dispositions: tuple[ShopifyDisposition, ...]


@dataclass(frozen=True)
class ReturnLine:
    return_line_item_id: str
    line_item_id: str
    quantity: int
    reason_code: str
    reason_note: str
    customer_note: str


@dataclass(frozen=True)
class ShopifyReturn:
    topic: str
    return_id: str
    order_id: str
    status: str
    name: str
    lines: tuple[ReturnLine, ...]
    decline_reason: str = ""
    decline_note: str = ""


@dataclass(frozen=True)
class RefundLine:
    line_item_id: str
    sku: str
    quantity: int
    restock_type: str
    subtotal: Decimal


@dataclass(frozen=True)
class RefundTransaction:
    kind: str
    status: str
    amount: Decimal
    currency: str
    gateway: str


@dataclass(frozen=True)
class ShopifyRefund:
    refund_id: str
    order_id: str
    return_id: str
    created_at: datetime | None
    lines: tuple[RefundLine, ...]
    transactions: tuple[RefundTransaction, ...]


@dataclass(frozen=True)
class ShopifyReverseDelivery:
    """A return label attached to a Shopify return: the parcel will travel under it."""

    delivery_id: str
    return_id: str
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class OrderLineItem:
    line_item_id: str
    sku: str
    variant_id: str
    title: str
    quantity: int
    current_quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class ShopifyCustomer:
    customer_id: str
    email: str
    name: str


@dataclass(frozen=True)
class ShopifyOrder:
    order_id: str
    name: str
    currency: str
    created_at: datetime
    updated_at: datetime | None
    cancelled_at: datetime | None
    financial_status: str
    fulfillment_status: str
    customer: ShopifyCustomer | None
    lines: tuple[OrderLineItem, ...]
    # The gateway's id of the payment (a Stripe payment intent, say), when the payload
    # carries the order's transactions; "" when it does not.
    payment_reference: str = ""


def shopify_id(obj: Mapping | None) -> str:
    """The object's id as text: the tail of its GraphQL gid, else its `id`."""
    if not obj:
        return ""
    gid = obj.get("admin_graphql_api_id") or ""
    if isinstance(gid, str) and gid.startswith("gid://"):
        return gid.rsplit("/", 1)[-1]
    value = obj.get("id")
    return "" if value is None else str(value)


def _text(value) -> str:
    return "" if value is None else str(value)


def _money(value, *, field: str) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation as error:
        raise MalformedPayload(f"{field} is not an amount: {value!r}") from error


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """True when the base64 HMAC-SHA256 of the raw body matches one of the secrets."""
    return base64_hmac_matches(body, header(headers, SIGNATURE_HEADER), secrets)


def envelope(body: bytes, headers: Mapping[str, str]) -> Envelope:
    data = load_json_object(body)
    topic = header(headers, "X-Shopify-Topic")
    if not topic:
        raise MalformedPayload("The X-Shopify-Topic header is missing.")
    external_id = header(headers, "X-Shopify-Webhook-Id") or header(headers, "X-Shopify-Event-Id")
    if not external_id:
        raise MalformedPayload("The X-Shopify-Webhook-Id header is missing.")
    if topic.startswith("orders/"):
        subject = f"order:{shopify_id(data)}"
        occurred_at = parse_datetime(data.get("updated_at"))
    elif topic.startswith("returns/"):
        subject = f"return:{shopify_id(data)}"
        occurred_at = parse_datetime(header(headers, "X-Shopify-Triggered-At") or None)
    else:
        subject = ""
        occurred_at = parse_datetime(header(headers, "X-Shopify-Triggered-At") or None)
    return Envelope(external_id, topic, subject, occurred_at)


def parse(
    topic: str, body: bytes
) -> (
    ShopifyReturn
    | ShopifyRefund
    | ShopifyOrder
    | ShopifyReverseDelivery
    | ShopifyReturnUpdate
    | ShopifyDisposal
):
    data = load_json_object(body)
    if topic in RETURN_TOPICS:
        return parse_return(topic, data)
    if topic == "refunds/create":
        return parse_refund(data)
    if topic == "orders/updated":
        return parse_order(data)
    if topic == REVERSE_DELIVERY_TOPIC:
        return parse_reverse_delivery(data)
    if topic == RETURN_UPDATE_TOPIC:
        return parse_return_update(data)
    if topic == DISPOSE_TOPIC:
        return parse_disposal(data)
    raise Unsupported(f"Shopify topic {topic!r} is not parsed.")


def parse_return(topic: str, data: Mapping) -> ShopifyReturn:
    require(data, "id")
    order = data.get("order") or {}
    order_id = shopify_id(order) or _text(data.get("order_id"))
    lines = []
    for raw in data.get("return_line_items") or []:
        if not isinstance(raw, Mapping):
            raise MalformedPayload("A return line item is not an object.")
        line_item = (raw.get("fulfillment_line_item") or {}).get("line_item") or {}
        line_item_id = shopify_id(line_item)
        if not line_item_id:
            raise MalformedPayload("A return line item names no line item.")
        lines.append(
            ReturnLine(
                return_line_item_id=shopify_id(raw),
                line_item_id=line_item_id,
                quantity=quantity(raw.get("quantity"), field="quantity"),
                reason_code=_text(raw.get("return_reason")).upper() or "UNKNOWN",
                reason_note=_text(raw.get("return_reason_note")),
                customer_note=_text(raw.get("customer_note")),
            )
        )
    decline = data.get("decline") or {}
    return ShopifyReturn(
        topic=topic,
        return_id=shopify_id(data),
        order_id=order_id,
        status=_text(data.get("status")).upper(),
        name=_text(data.get("name")),
        lines=tuple(lines),
        decline_reason=_text(decline.get("reason")),
        decline_note=_text(decline.get("note")),
    )


def parse_refund(data: Mapping) -> ShopifyRefund:
    require(data, "id")
    lines = tuple(
        RefundLine(
            line_item_id=shopify_id(raw.get("line_item")) or _text(raw.get("line_item_id")),
            sku=_text((raw.get("line_item") or {}).get("sku")),
            quantity=quantity(raw.get("quantity"), field="quantity"),
            restock_type=_text(raw.get("restock_type")).upper(),
            subtotal=_money(raw.get("subtotal"), field="subtotal"),
        )
        for raw in data.get("refund_line_items") or []
    )
    transactions = tuple(
        RefundTransaction(
            kind=_text(raw.get("kind")),
            status=_text(raw.get("status")),
            amount=_money(raw.get("amount"), field="amount"),
            currency=_text(raw.get("currency")),
            gateway=_text(raw.get("gateway")),
        )
        for raw in data.get("transactions") or []
    )
    return ShopifyRefund(
        refund_id=shopify_id(data),
        order_id=_text(data.get("order_id")),
        return_id=shopify_id(data.get("return")),
        created_at=parse_datetime(data.get("created_at")),
        lines=lines,
        transactions=transactions,
    )


def parse_return_update(data: Mapping) -> ShopifyReturnUpdate:
    return_id = shopify_id(data)
    if not return_id:
        raise MalformedPayload("The return update names no return.")
    removals = []
    for raw in (data.get("return_line_items") or {}).get("removals") or []:
        line_id = shopify_id(raw)
        if not line_id:
            raise MalformedPayload("A return line item removal names no return line item.")
        removals.append((line_id, quantity(raw.get("delta"), field="delta")))
    return ShopifyReturnUpdate(return_id=return_id, removals=tuple(removals))


def parse_disposal(data: Mapping) -> ShopifyDisposal:
    rfo_id = shopify_id(data)
    if not rfo_id:
        raise MalformedPayload("The disposal names no reverse fulfillment order.")
    dispositions = []
    for raw in data.get("dispositions") or []:
        line_id = shopify_id(raw.get("reverse_fulfillment_order_line_item"))
        if not line_id:
            raise MalformedPayload("A disposition names no reverse fulfillment order line item.")
        dispositions.append(
            ShopifyDisposition(
                rfo_line_item_id=line_id,
                type=_text(raw.get("type")).upper(),
                quantity=quantity(raw.get("quantity"), field="quantity"),
                location_id=shopify_id(raw.get("location")),
            )
        )
    return ShopifyDisposal(reverse_fulfillment_order_id=rfo_id, dispositions=tuple(dispositions))


def parse_reverse_delivery(data: Mapping) -> ShopifyReverseDelivery:
    require(data, "id")
    tracking = (data.get("shipping_deliverable") or {}).get("tracking") or {}
    return ShopifyReverseDelivery(
        delivery_id=shopify_id(data),
        return_id=shopify_id(data.get("return")),
        carrier=_text(tracking.get("carrier_name")),
        tracking_number=_text(tracking.get("tracking_number")),
    )


def parse_order(data: Mapping) -> ShopifyOrder:
    require(data, "id")
    created_at = parse_datetime(require(data, "created_at"))
    customer = data.get("customer") or None
    lines = []
    for raw in data.get("line_items") or []:
        lines.append(
            OrderLineItem(
                line_item_id=shopify_id(raw),
                sku=_text(raw.get("sku")),
                variant_id=_text(raw.get("variant_id")),
                title=_text(raw.get("title") or raw.get("name")),
                quantity=quantity(raw.get("quantity"), field="quantity"),
                current_quantity=quantity(
                    raw.get("current_quantity", raw.get("quantity")), field="current_quantity"
                ),
                unit_price=_money(raw.get("price"), field="price"),
            )
        )
    name = " ".join(
        part
        for part in (
            _text((customer or {}).get("first_name")),
            _text((customer or {}).get("last_name")),
        )
        if part
    )
    return ShopifyOrder(
        order_id=shopify_id(data),
        name=_text(data.get("name")),
        currency=_text(data.get("currency")).upper(),
        created_at=created_at,
        updated_at=parse_datetime(data.get("updated_at")),
        cancelled_at=parse_datetime(data.get("cancelled_at")),
        financial_status=_text(data.get("financial_status")),
        fulfillment_status=_text(data.get("fulfillment_status")),
        customer=ShopifyCustomer(
            customer_id=shopify_id(customer),
            email=_text(customer.get("email") or data.get("email")),
            name=name,
        )
        if customer
        else None,
        lines=tuple(lines),
        payment_reference=payment_reference(data.get("transactions")),
    )


PAYMENT_KINDS = ("sale", "capture", "authorization")


def payment_reference(transactions) -> str:
    """The gateway's id of the order's payment: the `authorization` (or the receipt's or the
    transaction's `payment_id`) of its first successful sale, capture or authorization."""
    for raw in transactions or []:
        if not isinstance(raw, Mapping):
            continue
        if _text(raw.get("kind")).lower() not in PAYMENT_KINDS:
            continue
        if _text(raw.get("status")).lower() != "success":
            continue
        receipt = raw.get("receipt") if isinstance(raw.get("receipt"), Mapping) else {}
        for value in (raw.get("authorization"), receipt.get("payment_id"), raw.get("payment_id")):
            if _text(value).strip():
                return _text(value).strip()[:120]
    return ""
