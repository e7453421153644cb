"""The payment-provider adapter interface: one call, refund an amount of a payment, made safe
to repeat by an idempotency key."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

# ISO 4217 currencies without minor units; every other currency has two decimals here.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)


def minor_units(amount: Decimal, currency: str) -> int:
    """An amount in the currency's smallest unit, as payment APIs take it (12.34 USD → 1234)."""
    exponent = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    scaled = Decimal(amount).scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} has more decimals than the currency allows.")
    return int(scaled)


@dataclass(frozen=True)
class ProviderRefund:
    """The provider's refund: its id and status (succeeded, pending…) and the raw answer."""

    id: str
    status: str
    raw: dict = field(default_factory=dict, compare=False)


class ProviderError(Exception):
    """The provider did not refund. `retryable`: it was down, busy or rate limiting, so the
    same request (same idempotency key) may succeed later; otherwise it refused the request
    and a person must look (card closed, amount over the charge…)."""

    def __init__(self, message: str, *, code: str, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.status = status


class PaymentProvider(Protocol):
    name: str

    def refund_create(
        self,
        *,
        amount: Decimal,
        currency: str,
        payment_reference: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ProviderRefund:
        """Refund `amount` of the payment `payment_reference`. Repeating the call with the
        same `idempotency_key` returns the first refund and moves no money again. Raises
        ProviderError."""
        ...
