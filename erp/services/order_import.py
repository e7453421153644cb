"""Sales orders as Shopify reports them (`orders/updated`), imported into master data.

Registered as the inbox handler for that topic in `ErpConfig.ready()`: orders are master data
of the core app, so erp acts on them itself.
"""

from django.db.models import Max, Q

from erp.adapters.shopify import ShopifyOrder
from erp.models import (
    Channel,
    ChannelListing,
    Customer,
    CustomerChannelAccount,
    InboundEvent,
    OrderLine,
    SalesOrder,
)
from erp.models.exceptions import ExceptionKind

from .inbox import InboundEventParked


def _listing(channel: Channel, *, variant_id: str, sku: str) -> ChannelListing | None:
    match = Q()
    if variant_id:
        match |= Q(listing_id=variant_id)
    if sku:
        match |= Q(channel_sku=sku)
    if not match:
        return None
    return (
        ChannelListing.objects.select_related("product")
        .filter(match, channel=channel, is_active=True)
        .order_by("pk")
        .first()
    )


def _customer(channel: Channel, order: ShopifyOrder) -> Customer:
    info = order.customer
    if info is None or not info.email:
        raise InboundEventParked(
            f"Order {order.name or order.order_id} names no customer e-mail.",
            kind=ExceptionKind.CHANNEL_DISPUTE,
            subject_label=f"{channel.code} order {order.name or order.order_id}",
        )
    if info.customer_id:
        account = (
            CustomerChannelAccount.objects.select_related("customer")
            .filter(channel=channel, external_id=info.customer_id)
            .first()
        )
        if account:
            return account.customer
    customer, _ = Customer.objects.get_or_create(
        email=info.email.lower(), defaults={"name": info.name or info.email}
    )
    if info.customer_id:
        CustomerChannelAccount.objects.get_or_create(
            channel=channel, external_id=info.customer_id, defaults={"customer": customer}
        )
    return customer


def shopify_order_import(*, event: InboundEvent, message: ShopifyOrder) -> SalesOrder:
    """Create or update the sales order a Shopify `orders/updated` event describes.

    Effects: parks the event (InboundEventParked, which opens an `investigate_sku` exception)
    when a line's variant or SKU has no channel listing, before writing anything; creates the
    customer and their channel account when new; creates the order, or locks the existing
    one (recording the payment reference when the event carries one); upserts its lines by
    Shopify line item id (kept as text), with history rows.
    """
    channel = Channel.objects.get(code=event.account)
    products = {}
    for item in message.lines:
        listing = _listing(channel, variant_id=item.variant_id, sku=item.sku)
        if listing is None:
            raise InboundEventParked(
                f"Unknown SKU {item.sku or '—'} (variant {item.variant_id or '—'}) on "
                f"{channel.name}: list it on the channel, then replay the event.",
                kind=ExceptionKind.INVESTIGATE_SKU,
                subject_label=f"{channel.code} order {message.name or message.order_id}",
            )
        products[item.line_item_id] = listing.product
    order = (
        SalesOrder.objects.select_for_update()
        .filter(channel=channel, number=message.order_id)
        .first()
    )
    if order is None:
        order = SalesOrder(
            channel=channel,
            number=message.order_id,
            customer=_customer(channel, message),
            currency=message.currency or channel.currency,
            placed_at=message.created_at,
            payment_reference=message.payment_reference,
        )
        order._change_reason = f"Imported from Shopify event {event.external_id}"
        order.save()
    elif message.payment_reference and order.payment_reference != message.payment_reference:
        order.payment_reference = message.payment_reference
        order._change_reason = f"Payment reference from Shopify event {event.external_id}"
        order.save(update_fields=["payment_reference", "updated_at"])
    lines = {line.channel_line_id: line for line in order.lines.all()}
    next_number = (order.lines.aggregate(top=Max("line_number"))["top"] or 0) + 1
    for item in message.lines:
        if item.quantity < 1:
            continue
        line = lines.get(item.line_item_id)
        if line is None:
            line = OrderLine(
                order=order, line_number=next_number, channel_line_id=item.line_item_id
            )
            next_number += 1
        elif (line.product_id, line.quantity, line.unit_price) == (
            products[item.line_item_id].pk,
            item.quantity,
            item.unit_price,
        ):
            continue
        line.product = products[item.line_item_id]
        line.quantity = item.quantity
        line.unit_price = item.unit_price
        line._change_reason = f"Shopify event {event.external_id}"
        line.save()
    return order
