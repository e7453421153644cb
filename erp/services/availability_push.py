"""Availability pushes to sales channels, one adapter per channel platform.

Where a channel's pushes go is an `OutboundEndpoint` with the topic
`availability.changed:<channel code>`:
- a Shopify channel: `url` is the shop's base URL with its inventory location,
  e.g. `https://shop.myshopify.com/?location_id=905684977`, and `secret` is the Admin API
  access token. The listing id is the variant id; its inventory item id is looked up once
  (GET variants/<id>.json) and remembered, then `inventory_levels/set.json` sets the level.
- any other channel: a generic REST adapter PUTs a signed JSON body to `url` (`{sku}` in the
  URL is replaced by the channel SKU; otherwise the SKU is appended), signed like our webhooks
  (`X-ERP-Hmac-SHA256`, base64 HMAC-SHA256 of the raw body with `secret`).
Both raise OutboxSendError on a refusal or an unreachable channel, so the dispatcher retries.
"""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from erp.adapters.base import hmac_sha256
from erp.models import Channel, OutboundEndpoint

from .outbox_dispatch import SIGNATURE_HEADER, OutboxSendError

TOPIC = "availability.changed"
SHOPIFY_API_VERSION = "2024-07"
SHOPIFY_TOKEN_HEADER = "X-Shopify-Access-Token"
# (shop base URL, variant id) → inventory item id: a variant's inventory item never changes.
_inventory_items: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class AvailabilityUpdate:
    """What one channel must be told about one SKU: its ATS at a version."""

    channel_code: str
    platform: str
    channel_sku: str
    listing_id: str
    available: int
    version: int
    message_id: str


def availability_endpoint_topic(channel_code: str) -> str:
    return f"{TOPIC}:{channel_code}"


def availability_endpoint_for(*, channel: Channel) -> OutboundEndpoint | None:
    return OutboundEndpoint.objects.filter(
        topic=availability_endpoint_topic(channel.code), is_active=True
    ).first()


def _call(request: urllib.request.Request, *, timeout: int) -> dict:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode("utf-8", errors="replace")
        raise OutboxSendError(
            f"HTTP {error.code} from {request.get_method()} {request.full_url}: {detail}"
        ) from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise OutboxSendError(f"{request.full_url} unreachable: {error}") from error
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise OutboxSendError(f"{request.full_url} answered with something not JSON.") from error
    return data if isinstance(data, dict) else {}


def _shopify_target(endpoint: OutboundEndpoint) -> tuple[str, str]:
    """(shop base URL, location id) from the endpoint's URL."""
    parts = urllib.parse.urlsplit(endpoint.url)
    location = urllib.parse.parse_qs(parts.query).get("location_id", [""])[0]
    if not location:
        raise OutboxSendError(
            f"The availability endpoint {endpoint.url} names no ?location_id= for Shopify."
        )
    return f"{parts.scheme}://{parts.netloc}", location


def _shopify_inventory_item(base: str, variant_id: str, endpoint: OutboundEndpoint) -> str:
    key = (base, variant_id)
    if key not in _inventory_items:
        url = f"{base}/admin/api/{SHOPIFY_API_VERSION}/variants/{variant_id}.json"
        request = urllib.request.Request(
            url, method="GET", headers={SHOPIFY_TOKEN_HEADER: endpoint.secret}
        )
        variant = _call(request, timeout=endpoint.timeout_seconds).get("variant") or {}
        item = variant.get("inventory_item_id")
        if item in (None, ""):
            raise OutboxSendError(f"Shopify variant {variant_id} has no inventory item.")
        _inventory_items[key] = str(item)
    return _inventory_items[key]


def shopify_inventory_set(*, update: AvailabilityUpdate, endpoint: OutboundEndpoint) -> None:
    """POST inventory_levels/set.json: the level at the location becomes `available`."""
    if not update.listing_id:
        raise OutboxSendError(
            f"{update.channel_code}:{update.channel_sku} has no Shopify variant id to push to."
        )
    base, location = _shopify_target(endpoint)
    item = _shopify_inventory_item(base, update.listing_id, endpoint)
    # Ids go out as JSON integers parsed from text, so no digit is lost on the way.
    body = json.dumps(
        {
            "location_id": int(location),
            "inventory_item_id": int(item),
            "available": update.available,
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/admin/api/{SHOPIFY_API_VERSION}/inventory_levels/set.json",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", SHOPIFY_TOKEN_HEADER: endpoint.secret},
    )
    _call(request, timeout=endpoint.timeout_seconds)


def rest_availability_put(*, update: AvailabilityUpdate, endpoint: OutboundEndpoint) -> None:
    """PUT a signed JSON body; the receiver de-duplicates on X-ERP-Message-Id and may drop a
    version older than one it already holds."""
    sku = urllib.parse.quote(update.channel_sku, safe="")
    url = (
        endpoint.url.replace("{sku}", sku)
        if "{sku}" in endpoint.url
        else f"{endpoint.url.rstrip('/')}/{sku}"
    )
    body = json.dumps(
        {
            "id": update.message_id,
            "sku": update.channel_sku,
            "available": update.available,
            "version": update.version,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="PUT",
        headers={
            "Content-Type": "application/json",
            "X-ERP-Topic": TOPIC,
            "X-ERP-Message-Id": update.message_id,
            SIGNATURE_HEADER: base64.b64encode(hmac_sha256(endpoint.secret, body)).decode(),
        },
    )
    _call(request, timeout=endpoint.timeout_seconds)


def availability_push(*, update: AvailabilityUpdate, endpoint: OutboundEndpoint) -> None:
    """Send one update with the adapter of the channel's platform; raises OutboxSendError."""
    if update.platform == Channel.Platform.SHOPIFY:
        shopify_inventory_set(update=update, endpoint=endpoint)
    else:
        rest_availability_put(update=update, endpoint=endpoint)
