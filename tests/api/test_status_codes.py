"""Every status code the schema documents is one the API really returns: for each operation,
one request that provokes each documented code, and no documented code without one."""

from dataclasses import dataclass

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from erp.models import Product
from erp.roles import Role
from inventory import services as inventory_services
from tests.api.objects import api_schema, case_in, new_return, refund, snapshot, variance
from tests.factories import (
    ExceptionCaseFactory,
    LocationFactory,
    ProductFactory,
    ReturnCaseFactory,
)
from tests.factories.finance import posted_entry

V1 = "/api/v1"
DOCUMENTED = {
    (method.upper(), path): {int(code) for code in operation["responses"]}
    for path, operations in api_schema()["paths"].items()
    if path.startswith(V1)
    for method, operation in operations.items()
}


@dataclass(frozen=True)
class Call:
    """`path` (a string or a function of the test's objects) called by `who` with `body`."""

    path: object = ""
    body: object = None
    who: str = "all"  # "all": every API permission; "none": signed in, no role
    content_type: str = ""  # empty: the body is sent as JSON


def not_json(path="") -> Call:
    """The body as a form would send it: the API reads JSON only (415)."""
    return Call(path, "note=x", content_type="application/x-www-form-urlencoded")


def denied(path="") -> Call:
    return Call(path, who="none")


def unit(serial: str = "SN-API") -> str:
    product = ProductFactory(tracking=Product.Tracking.SERIAL)
    inventory_services.stock_receive(
        product_id=product.pk,
        location_id=LocationFactory().pk,
        qty=1,
        serials=[serial],
        idempotency_key=f"api-unit-{product.pk}",
    )
    return serial


def closed_exception():
    return ExceptionCaseFactory(state="resolved", resolution_reason="Done")


def rma(state: str):
    return lambda: case_in(state).rma_number


def closed_rma():
    decision = {"summary": "Authorized automatically", "lines": [{"return_window_days": 30}]}
    return ReturnCaseFactory(state="closed", decision=decision).rma_number


def listing(bad_query: str, cursor: bool = False) -> dict:
    codes = {200: Call(), 400: Call(bad_query), 403: denied()}
    if cursor:
        codes[404] = Call("?cursor=nope")
    return codes


def returns_action(state: str, body: dict | None) -> dict:
    codes = {
        200: Call(rma(state), body),
        403: denied(rma(state)),
        404: Call("NOPE", body),
        409: Call(closed_rma, body),
    }
    if body is not None:
        codes[400] = Call(rma(state), {name: ["not text"] for name in body} or {"note": ["x"]})
        codes[415] = not_json(rma(state))
    return codes


def exception_action(body: dict, bad: dict, status: int = 200, conflict: bool = True) -> dict:
    codes = {
        status: Call(lambda: ExceptionCaseFactory().pk, body),
        400: Call(lambda: ExceptionCaseFactory().pk, bad),
        403: denied(lambda: ExceptionCaseFactory().pk),
        404: Call(0, body),
        415: not_json(lambda: ExceptionCaseFactory().pk),
    }
    if conflict:
        codes[409] = Call(lambda: closed_exception().pk, body)
    return codes


def assignee(objects) -> dict:
    return {"assignee": objects["all"].username}


def same_snapshot(objects) -> dict:
    objects.setdefault("snapshot", snapshot(objects))
    return objects["snapshot"]


PROVOKE = {
    ("GET", "/returns/cases/"): listing("?state=nope", cursor=True),
    ("POST", "/returns/cases/"): {
        201: Call("", new_return),
        400: Call("", {}),
        403: denied(),
        404: Call("", lambda o: {**new_return(o), "order_number": "NO-SUCH-ORDER"}),
        415: not_json(),
    },
    ("GET", "/returns/cases/{rma_number}/"): {
        200: Call(rma("pending_review")),
        403: denied(rma("pending_review")),
        404: Call("NOPE"),
    },
    ("POST", "/returns/cases/{rma_number}/authorize/"): returns_action("pending_review", {}),
    ("POST", "/returns/cases/{rma_number}/reject/"): returns_action(
        "pending_review", {"reason": "Outside the window"}
    ),
    ("POST", "/returns/cases/{rma_number}/cancel/"): returns_action(
        "authorized", {"reason": "Kept it"}
    ),
    ("POST", "/returns/cases/{rma_number}/ship/"): returns_action(
        "authorized", {"carrier": "UPS", "tracking_number": "1Z1"}
    ),
    ("POST", "/returns/cases/{rma_number}/deliver/"): returns_action("in_transit", None),
    ("POST", "/returns/cases/{rma_number}/receive/"): returns_action("delivered", None),
    ("POST", "/returns/cases/{rma_number}/inspect/"): returns_action("received", {}),
    ("POST", "/returns/cases/{rma_number}/close/"): returns_action("inspected", {}),
    ("GET", "/inventory/balances/"): listing("?state=nope"),
    ("GET", "/inventory/availability/"): listing("?sku=%00"),
    ("GET", "/inventory/movements/"): listing("?state=nope", cursor=True),
    ("GET", "/inventory/units/"): listing("?state=nope", cursor=True),
    ("GET", "/inventory/units/{serial}/"): {
        200: Call(unit),
        # Two SKUs share the serial: the client must name the SKU.
        400: Call(lambda: unit("SN-TWICE") and unit("SN-TWICE")),
        403: denied(unit),
        404: Call("NO-SUCH-SERIAL"),
    },
    ("POST", "/inventory/snapshots/"): {
        201: Call("", snapshot),
        200: Call("", same_snapshot, who="twice"),
        400: Call("", {}),
        403: denied(),
        415: not_json(),
    },
    ("GET", "/inventory/variances/"): listing("?status=nope"),
    ("GET", "/inventory/variances/{id}/"): {
        200: Call(lambda: variance().pk),
        403: denied(lambda: variance().pk),
        404: Call(0),
    },
    ("GET", "/finance/refunds/"): listing("?state=nope", cursor=True),
    ("GET", "/finance/refunds/{id}/"): {
        200: Call(lambda: refund().pk),
        403: denied(lambda: refund().pk),
        404: Call(0),
    },
    ("GET", "/finance/journal-entries/"): listing("?period=abc", cursor=True),
    ("GET", "/finance/journal-entries/{id}/"): {
        200: Call(lambda: posted_entry().pk),
        403: denied(lambda: posted_entry().pk),
        404: Call(0),
    },
    ("GET", "/exceptions/"): listing("?state=nope"),
    ("GET", "/exceptions/{id}/"): {
        200: Call(lambda: ExceptionCaseFactory().pk),
        403: denied(lambda: ExceptionCaseFactory().pk),
        404: Call(0),
    },
    ("POST", "/exceptions/{id}/assign/"): exception_action(assignee, {}),
    ("POST", "/exceptions/{id}/escalate/"): exception_action({}, {"note": ["x"]}),
    ("POST", "/exceptions/{id}/resolve/"): exception_action({"reason": "Fixed"}, {}),
    ("POST", "/exceptions/{id}/dismiss/"): exception_action({"reason": "Duplicate"}, {}),
    ("POST", "/exceptions/{id}/notes/"): exception_action(
        {"body": "Checked"}, {}, status=201, conflict=False
    ),
    ("GET", "/kpis/"): listing("?start=2026-02-01&end=2026-01-01"),
    ("GET", "/kpis/daily/"): listing("?since=nope"),
}


def test_every_operation_has_a_request_for_each_documented_code():
    provoked = {(method, V1 + path): set(codes) for (method, path), codes in PROVOKE.items()}
    assert provoked == DOCUMENTED


@pytest.fixture
def clients(make_user):
    made = {}
    for who, roles in (("all", [Role.ADMINISTRATOR]), ("none", [])):
        user = make_user(*roles, username=f"codes_{who}")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        made[who], made[f"{who}_client"] = user, client
    return made


@pytest.mark.parametrize(("method", "path"), list(PROVOKE))
def test_each_documented_code_is_real(clients, method, path):
    for status, call in PROVOKE[(method, path)].items():
        objects = dict(clients)
        value = call.path() if callable(call.path) else call.path
        url = V1 + path
        if "{" in url:
            url = url.split("{")[0] + f"{value}/" + url.split("}/")[1]
        else:
            url += value
        body = call.body(objects) if callable(call.body) else call.body
        client = clients["none_client" if call.who == "none" else "all_client"]
        send = getattr(client, method.lower())
        if call.who == "twice":
            send(url, body, format="json")
        if call.content_type:
            response = send(url, body, content_type=call.content_type)
        else:
            response = send(url, body, format="json")
        assert response.status_code == status, (status, url, response.content[:300])
        assert response["Content-Type"] == "application/json", (status, url)
