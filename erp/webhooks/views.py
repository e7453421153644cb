"""Webhook endpoints, one per source. They are not session-authenticated: each delivery proves
itself with a signature (or Shippo's token) made with the channel's or account's secret.

Verify first (401, nothing written), store second (400 for a body that cannot be read, kept
as `rejected`; 200 for a redelivery; 202 for a new event), and leave processing to a worker.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from erp.adapters import adapter_for
from erp.models import Channel, IntegrationCredential
from erp.models.inbox import InboundSource
from erp.services import inbound_event_record

SHIPPO_TOKEN_HEADER = "X-Shippo-Token"


def _secrets(source: str, account: str) -> list[str]:
    """The secrets accepted for this URL: current and previous (a rotation settling)."""
    if source == InboundSource.SHOPIFY:
        channel = Channel.objects.filter(
            code=account, platform=Channel.Platform.SHOPIFY, is_active=True
        ).first()
        if channel is None:
            return []
        return [s for s in (channel.webhook_secret, channel.previous_webhook_secret) if s]
    credential = IntegrationCredential.objects.filter(
        source=source, account=account, is_active=True
    ).first()
    return credential.secrets if credential else []


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
    secrets = _secrets(source, account)
    if not secrets or not adapter_for(source).verify(body, headers, secrets):
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
