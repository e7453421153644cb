"""The send side of `availability.changed`: push each ATS version to its channel and record the
version the channel acknowledged on `ChannelAvailability.last_pushed_version`.

Registered as the outbox sender of the topic in `InventoryConfig.ready()`. The outbox keeps
each (channel, SKU) in order (its ordering key) and retries with backoff; this module only
picks the channel's adapter (erp.services.availability_push) and records the acknowledgement.
"""

import logging

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from erp.models import ChannelListing, OutboundEndpoint, OutboxMessage
from erp.services.availability_push import (
    TOPIC,
    AvailabilityUpdate,
    availability_endpoint_for,
    availability_push,
)
from erp.services.outbox_dispatch import OutboxSendError, signed_webhook_send

from .models import ChannelAvailability

logger = logging.getLogger(__name__)


@transaction.atomic
def channel_availability_acknowledge(*, channel_id: int, product_id: int, version: int) -> int:
    """Record that the channel holds ATS `version` of the SKU.

    Effects: raises `last_pushed_version` to `version`, never lowers it (a late or replayed
    acknowledgement of an older version changes nothing); returns the rows updated (0 when
    the SKU has no availability row on the channel)."""
    return ChannelAvailability.objects.filter(channel_id=channel_id, product_id=product_id).update(
        last_pushed_version=Greatest(F("last_pushed_version"), Value(version))
    )


def availability_message_send(message: OutboxMessage) -> None:
    """Outbox sender for `availability.changed` (called in the dispatcher's transaction).

    Effects: with a channel endpoint (`availability.changed:<code>`), pushes the message's
    ATS through the channel platform's adapter and records the acknowledged version; skips a
    version the channel already acknowledged (a replay). Without one, the topic's generic
    signed-webhook endpoint (if any) receives it; with neither, the channel takes no pushes
    and the message is done with nothing sent (its version stays unacknowledged, visible on
    the SKU page). Raises OutboxSendError for a retry when the channel refuses or is down.
    """
    payload = message.payload
    channel_id, product_id = payload.get("channel_id"), payload.get("product_id")
    version = int(payload.get("version") or 0)
    row = (
        ChannelAvailability.objects.select_related("channel")
        .filter(channel_id=channel_id, product_id=product_id)
        .first()
        if channel_id and product_id
        else None
    )
    endpoint = availability_endpoint_for(channel=row.channel) if row else None
    if endpoint is None:
        if OutboundEndpoint.objects.filter(topic=TOPIC, is_active=True).exists():
            signed_webhook_send(message)
            if row:
                channel_availability_acknowledge(
                    channel_id=channel_id, product_id=product_id, version=version
                )
        else:
            logger.info("No availability endpoint for message %s; nothing sent", message.pk)
        return
    if row.last_pushed_version >= version:
        return
    listing = (
        ChannelListing.objects.filter(channel_id=channel_id, product_id=product_id, is_active=True)
        .order_by("pk")
        .first()
    )
    if listing is None:
        raise OutboxSendError(
            f"{row.channel.code} lists no active SKU for product {product_id}: list it, "
            "then replay the message."
        )
    availability_push(
        update=AvailabilityUpdate(
            channel_code=row.channel.code,
            platform=row.channel.platform,
            channel_sku=listing.channel_sku,
            listing_id=listing.listing_id,
            available=int(payload.get("ats", 0)),
            version=version,
            message_id=message.dedupe_key,
        ),
        endpoint=endpoint,
    )
    channel_availability_acknowledge(channel_id=channel_id, product_id=product_id, version=version)
