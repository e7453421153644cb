"""/webhooks/<source>/<account>/: the account is the channel code for Shopify, the carrier or
3PL account (an IntegrationCredential) for the others."""

from django.urls import path

from erp.models.inbox import InboundSource

from .views import webhook_receive

WEBHOOK_SOURCES = [
    InboundSource.SHOPIFY,
    InboundSource.EASYPOST,
    InboundSource.AFTERSHIP,
    InboundSource.SHIPPO,
    InboundSource.SHIPHERO,
]

urlpatterns = [
    path(
        f"{source.value}/<slug:account>/",
        webhook_receive,
        {"source": source.value},
        name=f"webhook_{source.value}",
    )
    for source in WEBHOOK_SOURCES
]
