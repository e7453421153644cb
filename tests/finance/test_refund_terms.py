"""Two refund terms that come from data rather than constants: the return shipping rate per
channel (Decimal, validated) and the payment reference recorded on the order (Shopify's import
stores it; derived only when the order has none)."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from erp.adapters import shopify
from erp.models import SalesOrder
from erp.services.order_import import shopify_order_import
from finance.amounts import RETURN_SHIPPING_FEE
from finance.models import RefundLine, ReturnShippingRate
from returns.refunds import payment_reference
from tests.factories import ChannelFactory, ChannelListingFactory, InboundEventFactory
from tests.finance.refund_cases import open_case, receive, refund_of, ship

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"
STRIPE_SALE = {
    "kind": "sale",
    "status": "success",
    "gateway": "stripe",
    "authorization": "pi_3OpQ2x2eZvKYlo2C1a9bXk7T",
    "receipt": {"payment_id": "ch_3OpQ2x2eZvKYlo2C"},
}


def received_refund(cs_user, warehouse_user, *, rate: str | None):
    """A case refunded on receipt whose customer pays the return shipping, on a channel with
    `rate` (None: no rate of its own)."""
    case = open_case(cs_user, quantity=1, price="40.00", trigger="on_receipt", shipping="customer")
    if rate is not None:
        ReturnShippingRate.objects.create(channel=case.channel, amount=Decimal(rate))
    ship(case, cs_user)
    receive(case, warehouse_user)
    return refund_of(case)


@pytest.mark.parametrize(
    ("rate", "kept"), [(None, RETURN_SHIPPING_FEE), ("3.50", Decimal("3.50")), ("0", Decimal("0"))]
)
def test_the_channel_rate_is_what_the_customer_pays_for_return_shipping(
    cs_user, warehouse_user, rate, kept
):
    # when a case on a channel with `rate` is refunded
    refund = received_refund(cs_user, warehouse_user, rate=rate)

    # then its shipping deduction is the channel's rate (the default without one)
    line = RefundLine.objects.get(refund=refund)
    assert line.shipping_deduction == kept
    assert refund.amount == Decimal("40.00") - kept
    assert refund.evidence["return_shipping_paid_by"] == "customer"


def test_a_negative_rate_is_refused_by_the_form_and_the_database():
    channel = ChannelFactory()
    rate = ReturnShippingRate(channel=channel, amount=Decimal("-1.00"))
    with pytest.raises(ValidationError) as error:
        rate.full_clean()
    assert "amount" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        rate.save()
    assert not ReturnShippingRate.objects.exists()


def test_shopify_reads_the_payment_reference_from_the_orders_transactions():
    data = json.loads((SAMPLES / "shopify_webhook_orders_updated.json").read_text())
    # the published sample carries no transactions: nothing is made up
    assert shopify.parse("orders/updated", json.dumps(data).encode()).payment_reference == ""

    data["transactions"] = [
        {"kind": "authorization", "status": "failure", "authorization": "pi_declined"},
        STRIPE_SALE,
    ]
    message = shopify.parse("orders/updated", json.dumps(data).encode())
    assert message.payment_reference == "pi_3OpQ2x2eZvKYlo2C1a9bXk7T"

    data["transactions"] = [{**STRIPE_SALE, "authorization": None}]
    message = shopify.parse("orders/updated", json.dumps(data).encode())
    assert message.payment_reference == "ch_3OpQ2x2eZvKYlo2C"


def test_the_order_import_records_the_payment_reference_once_known():
    # given a Shopify channel listing the sample's variant
    channel = ChannelFactory(code="shop-pay")
    ChannelListingFactory(channel=channel, channel_sku="IPOD2008PINK", listing_id="808950810")
    data = json.loads((SAMPLES / "shopify_webhook_orders_updated.json").read_text())
    event = InboundEventFactory(source="shopify", account="shop-pay")

    # when the order arrives without transactions, then again with its sale
    order = shopify_order_import(
        event=event, message=shopify.parse("orders/updated", json.dumps(data).encode())
    )
    assert order.payment_reference == ""
    data["transactions"] = [STRIPE_SALE]
    shopify_order_import(
        event=event, message=shopify.parse("orders/updated", json.dumps(data).encode())
    )

    # then the order keeps the payment intent, with a history row saying where it came from
    order.refresh_from_db()
    assert order.payment_reference == "pi_3OpQ2x2eZvKYlo2C1a9bXk7T"
    assert order.history.first().history_change_reason.startswith("Payment reference from")


def test_a_refund_uses_the_orders_payment_reference_and_derives_one_only_without(
    cs_user, warehouse_user
):
    # given a case whose order recorded its payment intent
    case = open_case(cs_user, quantity=1, price="40.00", trigger="on_receipt")
    SalesOrder.objects.filter(pk=case.order_id).update(payment_reference="pi_recorded_123")

    # when it is refunded
    ship(case, cs_user)
    receive(case, warehouse_user)

    # then the refund is made against the recorded payment
    assert refund_of(case).payment_reference == "pi_recorded_123"

    # and an order without one falls back to the derived reference
    case.order.payment_reference = ""
    assert payment_reference(case) == f"pi_{case.channel.code}_{case.order.number}"
