"""The Stripe-like HTTP adapter against a real provider on 127.0.0.1: what it sends, how it
reads answers and errors, and idempotency keys as the provider honours them."""

import socket
from decimal import Decimal

import pytest

from finance.providers import ProviderError, StripeLikeProvider
from finance.providers.base import minor_units
from tests.finance.provider_server import SECRET, running_provider


@pytest.fixture
def provider():
    with running_provider() as provider:
        yield provider


def adapter(provider, secret: str = SECRET) -> StripeLikeProvider:
    return StripeLikeProvider(base_url=provider.url, secret_key=secret, timeout=5)


def refund(client, key: str = "key-1", amount: str = "12.34", currency: str = "USD", ref="pi_1"):
    return client.refund_create(
        amount=Decimal(amount),
        currency=currency,
        payment_reference=ref,
        idempotency_key=key,
        metadata={"refund_id": "7", "rma_number": "RMA-ABC"},
    )


def test_a_refund_is_posted_as_a_form_with_the_key_and_the_secret(provider):
    # when a refund of 12.34 USD of a payment intent is sent
    paid = refund(adapter(provider))

    # then the provider got minor units, the lower-case currency, the intent and metadata,
    # the Bearer secret and the idempotency key; the adapter returns its id and status
    assert (paid.id, paid.status) == ("re_000001", "succeeded")
    request = provider.requests[0]
    assert request["form"] == {
        "amount": "1234",
        "currency": "usd",
        "payment_intent": "pi_1",
        "metadata[refund_id]": "7",
        "metadata[rma_number]": "RMA-ABC",
    }
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert request["headers"]["Idempotency-Key"] == "key-1"


def test_a_charge_reference_is_sent_as_a_charge(provider):
    refund(adapter(provider), ref="ch_42")
    assert provider.requests[0]["form"]["charge"] == "ch_42"
    assert "payment_intent" not in provider.requests[0]["form"]


def test_the_same_key_returns_the_first_refund_and_moves_no_money_again(provider):
    client = adapter(provider)
    first = refund(client)
    again = refund(client)
    assert again == first
    assert len(provider.executed) == 1
    assert provider.refund_requests() == 2


def test_the_same_key_with_other_parameters_is_refused_for_good(provider):
    client = adapter(provider)
    refund(client)
    with pytest.raises(ProviderError) as error:
        refund(client, amount="99.00")
    assert error.value.code == "idempotency_key_in_use"
    assert not error.value.retryable
    assert len(provider.executed) == 1


def test_a_provider_that_is_down_is_retryable(provider):
    provider.mode = "down"
    with pytest.raises(ProviderError) as error:
        refund(adapter(provider))
    assert (error.value.status, error.value.retryable) == (503, True)
    assert provider.executed == []


def test_an_unreachable_provider_is_retryable():
    # a port nobody listens on
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = StripeLikeProvider(base_url=f"http://127.0.0.1:{port}", secret_key=SECRET, timeout=2)
    with pytest.raises(ProviderError) as error:
        refund(client)
    assert error.value.code == "provider_unreachable"
    assert error.value.retryable


def test_a_declined_refund_and_a_wrong_key_are_not_retried(provider):
    provider.mode = "decline"
    with pytest.raises(ProviderError) as declined:
        refund(adapter(provider))
    assert (declined.value.code, declined.value.retryable) == ("charge_expired_for_refund", False)
    assert "too old" in declined.value.message

    provider.mode = "ok"
    with pytest.raises(ProviderError) as unauthorized:
        refund(adapter(provider, secret="sk_wrong"), key="key-2")
    assert (unauthorized.value.status, unauthorized.value.retryable) == (401, False)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.34", "USD", 1234), ("0.05", "EUR", 5), ("1500", "JPY", 1500), ("100.00", "usd", 10000)],
)
def test_minor_units(amount, currency, minor):
    assert minor_units(Decimal(amount), currency) == minor


def test_minor_units_refuse_fractions_the_currency_does_not_have():
    with pytest.raises(ValueError, match="more decimals"):
        minor_units(Decimal("10.5"), "JPY")
