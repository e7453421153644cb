"""Where refund money goes: the payment-provider adapter interface and its implementations.

`payment_provider()` returns the configured adapter (settings.PAYMENT_PROVIDER_URL and
PAYMENT_PROVIDER_SECRET_KEY; a Stripe-like HTTP API). Store credit is issued in our own
database instead (`finance.providers.store_credit`).
"""

from django.conf import settings

from .base import PaymentProvider, ProviderError, ProviderRefund
from .stripe_like import StripeLikeProvider


def payment_provider() -> PaymentProvider:
    return StripeLikeProvider(
        base_url=settings.PAYMENT_PROVIDER_URL,
        secret_key=settings.PAYMENT_PROVIDER_SECRET_KEY,
        timeout=settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS,
    )


__all__ = [
    "PaymentProvider",
    "ProviderError",
    "ProviderRefund",
    "StripeLikeProvider",
    "payment_provider",
]
