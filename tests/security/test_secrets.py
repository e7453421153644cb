"""Secrets are never shown or logged: channel webhook secrets, integration credentials,
outbound signing secrets and the payment provider's API key. Checked on the admin's change and
history pages, the integrations event page, every log record (caplog) and every history row."""

import json
import logging
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.urls import reverse

from erp.models import Channel, IntegrationCredential, OutboundEndpoint
from erp.roles import Role
from erp.security import history_tables
from finance.providers import ProviderError
from finance.providers.stripe_like import StripeLikeProvider
from tests.factories import ChannelFactory, InboundEventFactory
from tests.integrations.conftest import shopify_headers

pytestmark = pytest.mark.django_db

CHANNEL_SECRET = "whsec-CHANNEL-7f3a9c"
PREVIOUS_SECRET = "whsec-PREVIOUS-1b2c3d"
CREDENTIAL_SECRET = "cred-CARRIER-88aa11"
ENDPOINT_SECRET = "out-SIGNING-55ee22"
API_KEY = "sk_live_PROVIDER_0c9d8e7f"
SECRETS = (CHANNEL_SECRET, PREVIOUS_SECRET, CREDENTIAL_SECRET, ENDPOINT_SECRET, API_KEY)


@pytest.fixture
def stored_secrets():
    channel = ChannelFactory(
        code="shop-us", webhook_secret=CHANNEL_SECRET, previous_webhook_secret=PREVIOUS_SECRET
    )
    credential = IntegrationCredential.objects.create(
        source="easypost", account="main", secret=CREDENTIAL_SECRET
    )
    endpoint = OutboundEndpoint.objects.create(
        topic="returns.case_closed", url="https://hooks.example.com/in", secret=ENDPOINT_SECRET
    )
    return channel, credential, endpoint


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_admin_change_and_history_pages_never_show_a_secret(client, make_user, stored_secrets):
    channel, credential, endpoint = stored_secrets
    # A rotation, so the channel's history has rows to show.
    channel.webhook_secret = "whsec-ROTATED"
    channel.save()
    channel.webhook_secret = CHANNEL_SECRET
    channel.save()
    client.force_login(make_user(Role.ADMINISTRATOR))
    pages = [
        reverse("admin:erp_channel_change", args=[channel.pk]),
        reverse("admin:erp_channel_history", args=[channel.pk]),
        reverse("admin:erp_channel_changelist"),
        reverse("admin:erp_integrationcredential_change", args=[credential.pk]),
        reverse("admin:erp_integrationcredential_changelist"),
        reverse("admin:erp_outboundendpoint_change", args=[endpoint.pk]),
        reverse("admin:erp_outboundendpoint_changelist"),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert leaked(response.content.decode()) == [], page
    # The secret fields are there, as empty password inputs (blank keeps the stored value)
    form = client.get(pages[0]).content.decode()
    assert 'type="password" name="webhook_secret"' in form


def test_the_integrations_event_page_masks_signatures_and_secret_fields(client, make_user):
    body = {"id": 7, "api_key": API_KEY, "nested": {"client_secret": CHANNEL_SECRET}}
    event = InboundEventFactory(
        body=json.dumps(body).encode(),
        headers={"X-Shopify-Topic": "returns/close", "Authorization": f"Bearer {API_KEY}"},
    )
    client.force_login(make_user(Role.OPERATIONS_MANAGER))

    for page in (
        reverse("inbound_event_detail", args=[event.pk]),
        reverse("integration_dashboard"),
    ):
        response = client.get(page)
        assert response.status_code == 200
        assert leaked(response.content.decode()) == [], page


def test_webhooks_log_no_secret_or_signature(client, stored_secrets, caplog):
    body = json.dumps({"id": 1, "status": "closed"}).encode()
    headers = shopify_headers(body, topic="returns/close", webhook_id="w-1", secret=CHANNEL_SECRET)
    forged = shopify_headers(body, topic="returns/close", webhook_id="w-2", secret="guess")
    url = reverse("webhook_shopify", kwargs={"account": "shop-us"})

    with caplog.at_level(logging.DEBUG):
        ok = client.post(url, body, content_type="application/json", **headers)
        refused = client.post(url, body, content_type="application/json", **forged)

    assert (ok.status_code, refused.status_code) == (202, 401)
    text = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert leaked(text) == []
    assert headers["HTTP_X_SHOPIFY_HMAC_SHA256"] not in text


def test_history_rows_never_hold_a_secret(stored_secrets):
    channel, _credential, _endpoint = stored_secrets
    channel.webhook_secret = "whsec-ROTATED-AGAIN"
    channel.previous_webhook_secret = CHANNEL_SECRET
    channel.save()
    # Credentials and endpoints keep no history; the channel's excludes its secrets.
    assert not hasattr(IntegrationCredential, "history")
    assert not hasattr(OutboundEndpoint, "history")
    assert not {"webhook_secret", "previous_webhook_secret"} & {
        field.name for field in Channel.history.model._meta.get_fields()
    }
    with connection.cursor() as cursor:
        for table in history_tables():
            if table not in connection.introspection.table_names(cursor):
                continue
            cursor.execute(f"SELECT COALESCE(string_agg(t::text, ''), '') FROM \"{table}\" t")
            assert leaked(cursor.fetchone()[0]) == [], table


class EchoingProvider(BaseHTTPRequestHandler):
    """A provider that refuses the key and, carelessly, repeats the Authorization header."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps(
            {"error": {"type": "invalid_request_error", "message": "Invalid API key."}}
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", self.headers["Authorization"])
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_provider_key_is_sent_but_never_logged_nor_in_the_error(caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        provider = StripeLikeProvider(
            base_url=f"http://127.0.0.1:{server.server_port}", secret_key=API_KEY, timeout=5
        )
        with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as refused:
            provider.refund_create(
                amount=Decimal("12.50"),
                currency="USD",
                payment_reference="ch_1",
                idempotency_key="k-1",
                metadata={"refund": "1"},
            )
    finally:
        server.shutdown()
        server.server_close()
    assert leaked(str(refused.value)) == []
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert leaked(text) == []
