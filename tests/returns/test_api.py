"""The returns API for channels and portals: same policy, same refusals, nothing written on
error."""

import pytest
from django.urls import reverse

from erp.models import ReasonCode, ReasonCodeMapping
from returns.models import ReturnCase
from tests.returns.conftest import counts, delivered_order

URL = "/api/v1/returns/cases/"


def body(order, **line):
    return {
        "channel": order.channel.code,
        "order_number": order.number,
        "resolution": "refund",
        "lines": [
            {
                "line_number": 1,
                "quantity": 1,
                "reason_code": "SIZE_TOO_SMALL",
                "claimed_condition": "unopened",
                **line,
            }
        ],
    }


@pytest.fixture
def api(client, cs_user):
    client.force_login(cs_user)
    return client


def test_a_channel_opens_a_return_and_hears_the_decision(api):
    order = delivered_order()
    ReasonCodeMapping.objects.create(
        channel=order.channel,
        raw_code="UNWANTED",
        reason=ReasonCode.objects.get(code="CHANGED_MIND"),
    )
    response = api.post(URL, body(order, reason_code="unwanted"), content_type="application/json")
    assert response.status_code == 201, response.json()
    data = response.json()
    case = ReturnCase.objects.get()
    assert data["rma_number"] == case.rma_number
    assert (data["state"], data["decision"], data["policy_version"]) == (
        "authorized",
        "Authorized automatically",
        1,
    )
    assert data["lines"][0]["reason_code"] == "CHANGED_MIND"
    assert case.source == "api"
    # and it reads back by RMA number
    again = api.get(reverse("returns_api_case", args=[case.rma_number])).json()
    assert again["rma_number"] == case.rma_number


@pytest.mark.parametrize(
    ("line", "field", "text"),
    [
        ({"quantity": 3}, "quantity", "only 2 of 2"),
        ({"line_number": 9}, "lines", "has no line 9"),
        ({"reason_code": "NOPE"}, "reason", "Unknown or inactive reason code"),
    ],
)
def test_bad_requests_are_400_and_write_nothing(api, line, field, text):
    order = delivered_order()
    before = counts()
    response = api.post(URL, body(order, **line), content_type="application/json")
    assert response.status_code == 400
    assert text in str(response.json()[field])
    assert counts() == before


def test_outside_the_window_is_400_with_the_reason(api):
    order = delivered_order(days_ago=35)
    response = api.post(URL, body(order), content_type="application/json")
    assert response.status_code == 400
    assert "Outside the 30-day return window" in str(response.json())
    assert ReturnCase.objects.count() == 0


def test_an_unknown_order_is_404(api):
    order = delivered_order()
    response = api.post(
        URL, {**body(order), "order_number": "nope"}, content_type="application/json"
    )
    assert response.status_code == 404


def test_a_role_that_may_not_open_returns_is_refused_and_nothing_is_written(client, warehouse_user):
    client.force_login(warehouse_user)
    order = delivered_order()
    before = counts()
    assert client.post(URL, body(order), content_type="application/json").status_code == 403
    assert counts() == before


def test_the_api_is_in_the_openapi_schema(api):
    schema = api.get(reverse("api_schema"), {"format": "json"}).json()
    assert {"/api/v1/returns/cases/", "/api/v1/returns/cases/{rma_number}/"} <= set(schema["paths"])
    assert "post" in schema["paths"]["/api/v1/returns/cases/"]
