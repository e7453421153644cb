"""Carrier milestones and channel reports on the CS case timeline: at the carrier's time, with
the ETA and what they changed, at a constant number of queries."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from erp.models.inbox import InboundSource
from returns import services
from returns.models import ExternalEventKind, ReturnCaseEvent
from returns.selectors import return_case_get, return_case_timeline
from tests.returns.conftest import delivered_order, open_case

pytestmark = pytest.mark.django_db


def milestone(case, kind, at: datetime, **fields) -> ReturnCaseEvent:
    return ReturnCaseEvent.objects.create(
        case=case,
        source=fields.pop("source", InboundSource.EASYPOST),
        kind=kind,
        dedupe_key=f"{kind}:{at.isoformat()}",
        occurred_at=at,
        **fields,
    )


def test_carrier_milestones_show_on_the_timeline_with_their_times_and_eta(cs_user):
    # given: a case in transit with two carrier milestones and a channel refund
    case = open_case(delivered_order(), cs_user)
    services.return_case_ship(case_id=case.pk, actor=cs_user, carrier="UPS", tracking_number="1Z1")
    transit_at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    milestone(
        case,
        ExternalEventKind.IN_TRANSIT,
        transit_at,
        carrier="UPS",
        tracking_number="1Z1",
        eta=datetime(2026, 11, 23, tzinfo=UTC),
        detail="in_transit · arrived_at_facility",
        applied="Case moved to in transit",
    )
    delivered_at = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
    milestone(case, ExternalEventKind.DELIVERED, delivered_at, carrier="UPS", tracking_number="1Z1")
    milestone(
        case,
        ExternalEventKind.CHANNEL_REFUND,
        datetime(2026, 11, 24, tzinfo=UTC),
        source=InboundSource.SHOPIFY,
        detail="30.00 USD refunded on Shopify",
    )

    # when
    case = return_case_get(pk=case.pk)
    timeline = return_case_timeline(case=case, exceptions=[])

    # then: each milestone at the carrier's time, who reported it, the ETA and its effect
    carrier = [entry for entry in timeline if entry.kind == "carrier"]
    assert [(e.title, e.at, e.who) for e in carrier] == [
        ("Carrier: in transit", transit_at, "EasyPost"),
        ("Carrier: delivered", delivered_at, "EasyPost"),
    ]
    assert carrier[0].items == ("UPS 1Z1", "ETA 23 Nov 2026", "Case moved to in transit")
    assert carrier[0].body == "in_transit · arrived_at_facility"
    channel = [entry for entry in timeline if entry.kind == "channel"]
    assert [(e.title, e.who, e.body) for e in channel] == [
        ("Channel: refund issued", "Shopify", "30.00 USD refunded on Shopify")
    ]
    # and the timeline stays in time order
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)


def test_the_case_page_shows_milestones_at_a_constant_query_count(client, cs_user):
    client.force_login(cs_user)
    few = open_case(delivered_order(), cs_user)
    many = open_case(delivered_order(), cs_user)
    milestone(few, ExternalEventKind.IN_TRANSIT, datetime(2026, 11, 20, tzinfo=UTC))
    for day in range(1, 21):
        milestone(many, ExternalEventKind.TRACKING, datetime(2026, 11, day, tzinfo=UTC))

    def queries(case) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("return_detail", args=[case.pk]))
        assert response.status_code == 200
        return len(captured)

    assert queries(few) == queries(many)
    html = client.get(reverse("return_detail", args=[many.pk])).content.decode()
    assert html.count("Carrier: tracking update") == 20
