"""Inbox events as a webhook would have stored them."""

import factory

from erp.models import InboundEvent


class InboundEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundEvent

    source = InboundEvent.Source.SHOPIFY
    account = "shop-us"
    external_id = factory.Sequence(lambda n: f"webhook-{n}")
    topic = "returns/close"
    body = b'{"id": 1, "status": "closed"}'
    headers = factory.LazyFunction(lambda: {"X-Shopify-Topic": "returns/close"})
    status = InboundEvent.Status.PARKED
    last_error = (
        "No handler is registered for Shopify 'returns/close'; replay the event once one is."
    )
