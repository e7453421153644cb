"""An adapter for a Stripe-like refunds API.

POST {base_url}/v1/refunds, form-encoded: amount (minor units), currency (lower case),
payment_intent (a "pi_…" reference) or charge (anything else), metadata[key]=value; headers
`Authorization: Bearer <secret key>` and `Idempotency-Key`. The answer is a JSON refund object
({"id": "re_…", "status": "succeeded" | "pending" | "failed" | …}) or, on an error, a JSON
{"error": {"type", "code", "message"}} with a 4xx/5xx status.

Retryable: a connection failure or timeout, 409 (the same key is being processed), 429 and
5xx. Anything else the provider refused; repeating it would be refused again.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

from .base import ProviderError, ProviderRefund, minor_units

RETRYABLE_STATUSES = frozenset({409, 429})
# A refund object the provider says did not go through.
FAILED_STATUSES = frozenset({"failed", "canceled"})


class StripeLikeProvider:
    name = "stripe_like"

    def __init__(self, *, base_url: str, secret_key: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.secret_key = secret_key
        self.timeout = timeout

    def _form(
        self, *, amount: Decimal, currency: str, payment_reference: str, metadata: dict[str, str]
    ) -> bytes:
        source = "payment_intent" if payment_reference.startswith("pi_") else "charge"
        fields = [
            ("amount", str(minor_units(amount, currency))),
            ("currency", currency.lower()),
            (source, payment_reference),
        ]
        fields += [(f"metadata[{key}]", str(value)) for key, value in sorted(metadata.items())]
        return urllib.parse.urlencode(fields).encode("ascii")

    def refund_create(
        self,
        *,
        amount: Decimal,
        currency: str,
        payment_reference: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ProviderRefund:
        request = urllib.request.Request(
            f"{self.base_url}/v1/refunds",
            data=self._form(
                amount=amount,
                currency=currency,
                payment_reference=payment_reference,
                metadata=metadata,
            ),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.secret_key}",
                "Idempotency-Key": idempotency_key,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = _json(response.read())
        except urllib.error.HTTPError as error:
            raise _error(error.code, _json(error.read())) from error
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            raise ProviderError(
                f"The payment provider could not be reached: {error}",
                code="provider_unreachable",
                retryable=True,
            ) from error
        refund_id, status = body.get("id"), body.get("status")
        if not refund_id or not status:
            raise ProviderError(
                "The payment provider's answer has no refund id or status.",
                code="provider_bad_response",
                retryable=True,
            )
        if status in FAILED_STATUSES:
            raise ProviderError(
                f"The payment provider answered refund {refund_id} with status {status}: "
                f"{body.get('failure_reason') or 'no reason given'}.",
                code=f"refund_{status}",
                retryable=False,
            )
        return ProviderRefund(id=refund_id, status=status, raw=body)


def _json(raw: bytes) -> dict:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, body: dict) -> ProviderError:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = error.get("code") or error.get("type") or f"http_{status}"
    message = error.get("message") or f"The payment provider answered HTTP {status}."
    retryable = status in RETRYABLE_STATUSES or status >= 500
    return ProviderError(message, code=code, retryable=retryable, status=status)
