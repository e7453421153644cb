"""Webhook endpoints, one per source. They are not session-authenticated: each delivery proves
itself with a signature (or Shippo's token) made with the channel's or account's secret.

Verify first (401, nothing written), store second (400 for a body that cannot be read, kept
as `rejected`; 200 for a redelivery; 202 for a new event), and leave processing to a worker.
"""

import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from erp.adapters import adapter_for
from erp.models import Channel, IntegrationCredential
from erp.models.inbox import InboundSource
from erp.services import inbound_event_record

SHIPPO_TOKEN_HEADER = "X-Shippo-Token"


def _secrets_read(source: str, account: str) -> list[str]:
    """The secrets accepted for this URL: current and previous (a rotation settling)."""
    if source == InboundSource.SHOPIFY:
        secrets = (
            Channel.objects.filter(code=account, platform=Channel.Platform.SHOPIFY, is_active=True)
            .values_list("webhook_secret", "previous_webhook_secret")
            .first()
        )
        return [s for s in secrets or () if s]
    credential = IntegrationCredential.objects.filter(
        source=source, account=account, is_active=True
    ).first()
    return credential.secrets if credential else []


# {(source, account): (read at, secrets)}: a burst of deliveries for one account reads its
# secrets once per ERP_WEBHOOK_SECRETS_TTL seconds instead of once per request.
_secrets_cache: dict[tuple[str, str], tuple[float, list[str]]] = {}


def _verified(source: str, account: str, body: bytes, headers: dict) -> bool:
    """Whether the delivery is signed with a secret of the account. Secrets are cached per
    process for ERP_WEBHOOK_SECRETS_TTL seconds; a signature the cached secrets refuse is
    checked again against fresh ones, so a new or rotated secret works at once. A revoked
    secret keeps working at most that long."""
    verify = adapter_for(source).verify
    ttl = getattr(settings, "ERP_WEBHOOK_SECRETS_TTL", 10.0)
    cached = _secrets_cache.get((source, account))
    fresh = ttl > 0 and cached and time.monotonic() - cached[0] < ttl
    if fresh and cached[1] and verify(body, headers, cached[1]):
        return True
    secrets = _secrets_read(source, account)
    if ttl > 0:
        _secrets_cache[(source, account)] = (time.monotonic(), secrets)
    return bool(secrets) and verify(body, headers, secrets)


def unauthorized() -> JsonResponse:
    # The same answer for an unknown account, a missing signature and a wrong one.
    return JsonResponse(
        {"error": "invalid_signature", "detail": "The request is not signed with a valid secret."},
        status=401,
    )


@csrf_exempt
@require_POST
def webhook_receive(request: HttpRequest, *, source: str, account: str) -> JsonResponse:
    body = request.body
    headers = dict(request.headers)
    if source == InboundSource.SHIPPO:
        # Shippo authenticates with the ?token= it was registered with.
        headers[SHIPPO_TOKEN_HEADER] = request.GET.get("token", "")
    if not _verified(source, account, body, headers):
        return unauthorized()
    recorded = inbound_event_record(source=source, account=account, body=body, headers=headers)
    event = recorded.event
    if recorded.rejected_reason:
        return JsonResponse(
            {"error": "malformed", "detail": recorded.rejected_reason, "event": event.pk},
            status=400,
        )
    if not recorded.created:
        return JsonResponse({"status": "duplicate", "event": event.pk}, status=200)
    return JsonResponse({"status": "accepted", "event": event.pk}, status=202)
