"""Webhook endpoints: verify first (401, nothing written), store second, answer fast."""

import json

import pytest
from django.urls import reverse

from erp.models import InboundEvent
from erp.roles import Role
from tests.factories import ChannelFactory

from .conftest import b64_hmac, sample, shopify_headers, vector_header

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return ChannelFactory(code="shop-us", webhook_secret="hush")


def post(client, url, body: bytes, **headers):
    return client.post(url, data=body, content_type="application/json", **headers)


def shopify_url(code="shop-us"):
    return reverse("webhook_shopify", kwargs={"account": code})


def test_the_shopify_test_vector_is_accepted_and_stored_raw(
    client, shop, django_capture_on_commit_callbacks
):
    # Given the shipped vector: its exact body and header, signed with "hush"
    body = sample("shopify_webhook_returns_request.json")
    signature = vector_header("shopify_hmac_test_vector.txt", "X-Shopify-Hmac-Sha256")

    # When Shopify delivers it
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(
            client,
            shopify_url(),
            body,
            HTTP_X_SHOPIFY_HMAC_SHA256=signature,
            HTTP_X_SHOPIFY_TOPIC="returns/request",
            HTTP_X_SHOPIFY_WEBHOOK_ID="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        )

    # Then it is accepted, stored byte for byte, and processing waits for the commit
    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert response.json() == {"status": "accepted", "event": event.pk}
    assert bytes(event.body) == body
    assert (event.source, event.account, event.topic, event.status) == (
        "shopify",
        "shop-us",
        "returns/request",
        "received",
    )
    assert event.external_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert event.subject_ref == "return:123134564567890"
    # The signature is a credential: it is not kept.
    assert "X-Shopify-Topic" in event.headers
    assert not [name for name in event.headers if "hmac" in name.lower()]
    assert len(callbacks) == 1


def test_the_previous_secret_is_accepted_while_a_rotation_settles(client):
    ChannelFactory(code="shop-us", webhook_secret="new-one", previous_webhook_secret="hush")
    body = sample("shopify_webhook_returns_close.json")

    old = post(
        client, shopify_url(), body, **shopify_headers(body, topic="returns/close", webhook_id="a")
    )
    new = post(
        client,
        shopify_url(),
        body,
        **shopify_headers(body, topic="returns/close", webhook_id="b", secret="new-one"),
    )
    retired = post(
        client,
        shopify_url(),
        body,
        **shopify_headers(body, topic="returns/close", webhook_id="c", secret="older-still"),
    )

    assert (old.status_code, new.status_code, retired.status_code) == (202, 202, 401)
    assert sorted(InboundEvent.objects.values_list("external_id", flat=True)) == ["a", "b"]


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "missing_header", "body_changed", "unknown_channel", "inactive_channel"],
)
def test_a_bad_or_missing_signature_is_401_and_nothing_is_stored(client, shop, tamper):
    body = sample("shopify_webhook_returns_request.json")
    headers = shopify_headers(body, topic="returns/request", webhook_id="w1")
    url = shopify_url()
    if tamper == "wrong_secret":
        headers = shopify_headers(body, topic="returns/request", webhook_id="w1", secret="nope")
    elif tamper == "missing_header":
        del headers["HTTP_X_SHOPIFY_HMAC_SHA256"]
    elif tamper == "body_changed":
        body = body.replace(b"requested", b"approved!")
    elif tamper == "unknown_channel":
        url = shopify_url("no-such-shop")
    else:
        shop.is_active = False
        shop.save()

    response = post(client, url, body, **headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert not InboundEvent.objects.exists()


def test_a_malformed_body_is_400_with_the_reason_and_kept_as_rejected(
    client, shop, django_capture_on_commit_callbacks
):
    body = b'{"id": 1, "status": '

    with django_capture_on_commit_callbacks() as callbacks:
        response = post(
            client,
            shopify_url(),
            body,
            **shopify_headers(body, topic="returns/request", webhook_id="bad-1"),
        )

    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]
    event = InboundEvent.objects.get()
    assert (event.status, event.external_id, bytes(event.body)) == ("rejected", "bad-1", body)
    assert "not JSON" in event.last_error
    # A rejected event is never sent for processing.
    assert callbacks == []


def test_a_missing_webhook_id_is_malformed(client, shop):
    body = sample("shopify_webhook_returns_close.json")
    headers = shopify_headers(body, topic="returns/close", webhook_id="x")
    del headers["HTTP_X_SHOPIFY_WEBHOOK_ID"]

    response = post(client, shopify_url(), body, **headers)

    assert response.status_code == 400
    assert InboundEvent.objects.get().status == "rejected"


def test_a_redelivery_is_200_and_has_no_second_effect(
    client, shop, django_capture_on_commit_callbacks
):
    body = sample("shopify_webhook_returns_approve.json")
    headers = shopify_headers(body, topic="returns/approve", webhook_id="same")

    with django_capture_on_commit_callbacks() as callbacks:
        first = post(client, shopify_url(), body, **headers)
        again = [post(client, shopify_url(), body, **headers) for _ in range(3)]

    event = InboundEvent.objects.get()
    assert first.status_code == 202
    assert [r.status_code for r in again] == [200, 200, 200]
    assert again[0].json() == {"status": "duplicate", "event": event.pk}
    assert len(callbacks) == 1


def test_only_post_is_accepted(client, shop):
    assert client.get(shopify_url()).status_code == 405
    assert not InboundEvent.objects.exists()


def test_easypost_official_vector_through_the_endpoint(client, credential):
    credential("easypost", account="carrier-main", secret="sécret")
    body = sample("easypost_event_tracker_updated.raw_body.txt")
    signature = vector_header("easypost_hmac_test_vector.txt", "X-Hmac-Signature")
    url = reverse("webhook_easypost", kwargs={"account": "carrier-main"})

    accepted = post(client, url, body, HTTP_X_HMAC_SIGNATURE=signature)
    forged = post(client, url, body, HTTP_X_HMAC_SIGNATURE="hmac-sha256-hex=" + "0" * 64)

    assert (accepted.status_code, forged.status_code) == (202, 401)
    event = InboundEvent.objects.get()
    assert (event.external_id, event.topic, event.subject_ref) == (
        "evt_1",
        "tracker.updated",
        "tracker:trk_1",
    )


def test_easypost_previous_secret_is_accepted(client, credential):
    credential("easypost", account="ep", secret="fresh", previous="sécret")
    body = sample("easypost_event_tracker_updated.raw_body.txt")
    signature = vector_header("easypost_hmac_test_vector.txt", "X-Hmac-Signature")

    response = post(
        client,
        reverse("webhook_easypost", kwargs={"account": "ep"}),
        body,
        HTTP_X_HMAC_SIGNATURE=signature,
    )

    assert response.status_code == 202


def test_aftership_and_shiphero_sign_with_base64_hmac(client, credential):
    credential("aftership", secret="as-key")
    credential("shiphero", secret="sh-key")
    tracking = sample("aftership_webhook_tracking_update.json")
    stock = sample("shiphero_webhook_inventory_update.json")

    ok_tracking = post(
        client,
        reverse("webhook_aftership", kwargs={"account": "main"}),
        tracking,
        HTTP_AFTERSHIP_HMAC_SHA256=b64_hmac("as-key", tracking),
    )
    ok_stock = post(
        client,
        reverse("webhook_shiphero", kwargs={"account": "main"}),
        stock,
        HTTP_X_SHIPHERO_HMAC_SHA256=b64_hmac("sh-key", stock),
    )
    swapped = post(
        client,
        reverse("webhook_shiphero", kwargs={"account": "main"}),
        stock,
        HTTP_X_SHIPHERO_HMAC_SHA256=b64_hmac("as-key", stock),
    )

    assert (ok_tracking.status_code, ok_stock.status_code, swapped.status_code) == (202, 202, 401)
    topics = dict(InboundEvent.objects.values_list("source", "topic"))
    assert topics == {"aftership": "tracking_update", "shiphero": "Inventory Update"}
    assert InboundEvent.objects.get(source="aftership").external_id == (
        "94dadd60-ed26-46d0-aa52-3ced925a50ff"
    )


def test_shippo_authenticates_with_its_query_token_which_is_never_stored(client, credential):
    credential("shippo", secret="tok-123")
    body = sample("shippo_webhook_track_updated.json")
    url = reverse("webhook_shippo", kwargs={"account": "main"})

    accepted = post(client, f"{url}?token=tok-123", body)
    wrong = post(client, f"{url}?token=tok-999", body)
    missing = post(client, url, body)
    redelivered = post(client, f"{url}?token=tok-123", body)

    assert [r.status_code for r in (accepted, wrong, missing, redelivered)] == [202, 401, 401, 200]
    event = InboundEvent.objects.get()
    assert event.external_id.startswith("sha256:")
    assert "tok-123" not in json.dumps(event.headers)


@pytest.mark.parametrize("role", [None, *Role])
def test_a_session_is_no_substitute_for_a_signature(client, make_user, shop, role):
    # Whoever is signed in, an unsigned delivery is refused the same way.
    client.force_login(make_user(*([role] if role else [])))
    body = sample("shopify_webhook_returns_request.json")

    response = post(client, shopify_url(), body, HTTP_X_SHOPIFY_TOPIC="returns/request")

    assert response.status_code == 401
    assert not InboundEvent.objects.exists()


def test_cached_secrets_take_a_new_secret_at_once_and_drop_the_old_one(
    client, shop, settings, django_assert_num_queries
):
    from erp.webhooks import views

    settings.ERP_WEBHOOK_SECRETS_TTL = 60
    views._secrets_cache.clear()
    body = sample("shopify_webhook_returns_close.json")

    def deliver(webhook_id: str, secret: str):
        return post(
            client,
            shopify_url(),
            body,
            **shopify_headers(body, topic="returns/close", webhook_id=webhook_id, secret=secret),
        ).status_code

    assert deliver("a", "hush") == 202
    # A second delivery reads no secrets: only the insert runs.
    with django_assert_num_queries(1):
        assert deliver("b", "hush") == 202
    shop.webhook_secret = "brand-new"
    shop.save()

    # The cache refuses the new secret's signature, so fresh secrets are read and accept it;
    # then the replaced secret is refused.
    assert deliver("c", "brand-new") == 202
    assert deliver("d", "hush") == 401
    assert set(InboundEvent.objects.values_list("external_id", flat=True)) == {"a", "b", "c"}
    views._secrets_cache.clear()
