"""The integrations screen, the raw payload view and the replay button; the admin's replay."""

import json

import pytest
from django.urls import reverse

from erp.models import InboundEvent, OutboxMessage
from erp.roles import Role
from erp.services import outbox_enqueue
from tests.factories import InboundEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client, make_user):
    client.force_login(make_user(Role.OPERATIONS_MANAGER))
    return client


def test_the_screen_counts_events_per_source_and_the_outbox_backlog(ops_client):
    InboundEventFactory(status="processed")
    InboundEventFactory(status="parked")
    InboundEventFactory(
        source="easypost",
        account="ep",
        topic="tracker.updated",
        status="failed",
        last_error="RuntimeError: boom",
    )
    outbox_enqueue(topic="availability.changed", payload={"sku": "A"}, dedupe_key="a")
    dead = outbox_enqueue(topic="availability.changed", payload={"sku": "B"}, dedupe_key="b")
    OutboxMessage.objects.filter(pk=dead.pk).update(
        attempts=8, dead_lettered_at="2026-01-01T00:00Z", last_error="HTTP 500"
    )

    response = ops_client.get(reverse("integration_dashboard"))

    assert response.status_code == 200
    context = response.context
    assert context["totals"] == {
        "received": 0,
        "processed": 1,
        "parked": 1,
        "rejected": 0,
        "failed": 1,
    }
    summaries = {s.source: (s.backlog, s.needs_attention) for s in context["summaries"]}
    assert summaries == {"shopify": (0, 1), "easypost": (0, 1)}
    [backlog] = context["backlog"]
    assert (backlog.topic, backlog.pending, backlog.dead) == ("availability.changed", 1, 1)
    html = response.content.decode()
    assert "RuntimeError: boom" in html
    assert "Dead letter" in html


def test_the_screen_filters_by_source_and_status(ops_client):
    InboundEventFactory(status="processed")
    parked = InboundEventFactory(status="parked")

    response = ops_client.get(
        reverse("integration_dashboard"), {"status": "parked", "source": "shopify"}
    )

    assert [e.pk for e in response.context["events"]] == [parked.pk]


def test_the_screen_is_a_fixed_number_of_queries(ops_client, django_assert_max_num_queries):
    InboundEventFactory.create_batch(30, status="processed")

    with django_assert_max_num_queries(12):
        ops_client.get(reverse("integration_dashboard"))


def test_the_payload_view_masks_secret_looking_fields(ops_client):
    event = InboundEventFactory(
        body=json.dumps({"id": 1, "api_key": "abc", "nested": {"token": "t0k"}}).encode(),
        headers={"X-Shopify-Topic": "returns/close"},
    )

    response = ops_client.get(reverse("inbound_event_detail", args=[event.pk]))

    html = response.content.decode()
    assert "abc" not in html
    assert "t0k" not in html
    assert "••••••" in html
    assert "X-Shopify-Topic" in html


def test_replay_from_the_screen_queues_the_event(ops_client, django_capture_on_commit_callbacks):
    event = InboundEventFactory(status="parked")

    with django_capture_on_commit_callbacks() as callbacks:
        response = ops_client.post(reverse("inbound_event_replay", args=[event.pk]))

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == "received"
    assert len(callbacks) == 1


def test_replaying_a_processed_event_says_why_not(ops_client):
    event = InboundEventFactory(status="processed", last_error="")

    response = ops_client.post(reverse("inbound_event_replay", args=[event.pk]), follow=True)

    assert "Only parked or failed events can be replayed" in response.content.decode()
    event.refresh_from_db()
    assert event.status == "processed"


def test_customer_service_cannot_replay(client, make_user):
    client.force_login(make_user(Role.CUSTOMER_SERVICE))
    event = InboundEventFactory(status="parked")

    response = client.post(reverse("inbound_event_replay", args=[event.pk]))

    assert response.status_code == 403
    event.refresh_from_db()
    assert event.status == "parked"


def test_the_admin_lists_events_read_only_and_replays_them(client, make_user):
    admin_user = make_user(Role.ADMINISTRATOR)
    client.force_login(admin_user)
    parked = InboundEventFactory(status="parked")
    processed = InboundEventFactory(status="processed")

    listing = client.get(reverse("admin:erp_inboundevent_changelist"), {"q": parked.external_id})
    detail = client.get(reverse("admin:erp_inboundevent_change", args=[parked.pk]))
    client.post(
        reverse("admin:erp_inboundevent_changelist"),
        {"action": "replay", "_selected_action": [parked.pk, processed.pk]},
    )

    assert listing.status_code == 200
    assert parked.external_id in listing.content.decode()
    assert detail.status_code == 200
    assert dict(InboundEvent.objects.values_list("pk", "status")) == {
        parked.pk: "received",
        processed.pk: "processed",
    }


def test_the_admin_replays_a_dead_letter(client, make_user):
    client.force_login(make_user(Role.ADMINISTRATOR))
    message = outbox_enqueue(topic="availability.changed", payload={}, dedupe_key="dead-1")
    OutboxMessage.objects.filter(pk=message.pk).update(
        attempts=8, dead_lettered_at="2026-01-01T00:00Z", next_attempt_at="2026-01-01T00:00Z"
    )

    client.post(
        reverse("admin:erp_outboxmessage_changelist"),
        {"action": "replay", "_selected_action": [message.pk]},
    )

    message.refresh_from_db()
    assert (message.status, message.dead_lettered_at, message.next_attempt_at) == (
        "retrying",
        None,
        None,
    )
