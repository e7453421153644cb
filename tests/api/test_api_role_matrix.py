"""Who may call each API endpoint, as one table: every endpoint by anonymous, role-less and each
role. An allowed call does what it says; a denied one is a 403 JSON and changes nothing."""

from dataclasses import dataclass, field

import pytest
from django.urls import get_resolver, reverse

from erp.models import ExceptionCase, ExceptionNote, OutboxMessage
from finance.models import JournalEntry, Refund
from inventory.models import ExternalSnapshot, StockMovement
from returns.models import ReturnCase
from tests.api.objects import case_in, new_return, refund, snapshot, variance
from tests.factories import ExceptionCaseFactory
from tests.factories.finance import posted_entry

WHO = ("anonymous", "no_role", "cs", "warehouse", "finance", "operations", "administrator")
EVERY_ROLE = frozenset(WHO[2:])
CS_OPS = frozenset({"cs", "operations", "administrator"})
WH_OPS = frozenset({"warehouse", "operations", "administrator"})
FIN_OPS = frozenset({"finance", "operations", "administrator"})
OPS = frozenset({"operations", "administrator"})


@dataclass(frozen=True)
class Endpoint:
    """`url` builds the path (making what it needs); `allowed` get `status`, others 403."""

    url: object
    allowed: frozenset
    method: str = "get"
    body: object = None
    status: int = 200
    after: object = field(default=None)  # what an allowed call changed, as a check


def rma_url(name: str, state: str):
    def build(objects):
        objects["case"] = case_in(state)
        return reverse(name, args=[objects["case"].rma_number])

    return build


def pk_url(name: str, make):
    def build(objects):
        objects["object"] = make()
        return reverse(name, args=[objects["object"].pk])

    return build


def state_is(state: str):
    def check(objects):
        objects["case"].refresh_from_db()
        assert objects["case"].state == state

    return check


def exception_is(state: str):
    def check(objects):
        objects["object"].refresh_from_db()
        assert objects["object"].state == state

    return check


def returns_action(action: str, state: str, allowed, body=None, to: str = ""):
    return Endpoint(
        rma_url(f"returns_api_case_{action}", state),
        allowed,
        method="post",
        body=body,
        after=state_is(to),
    )


def exception_action(action: str, body, to: str, allowed=OPS, status=200):
    return Endpoint(
        pk_url(f"exceptions_api_{action}", ExceptionCaseFactory),
        allowed,
        method="post",
        body=body,
        status=status,
        after=exception_is(to),
    )


def exception_assignee(objects):
    """Themselves (anyone may be named; only a manager may assign)."""
    return {"assignee": objects["user"].username if objects["user"] else "nobody"}


ENDPOINTS = {
    "returns_api_cases": Endpoint(lambda o: reverse("returns_api_cases"), EVERY_ROLE),
    "returns_api_case": Endpoint(rma_url("returns_api_case", "pending_review"), EVERY_ROLE),
    "returns_api_cases-create": Endpoint(
        lambda o: reverse("returns_api_cases"), CS_OPS, method="post", body=new_return, status=201
    ),
    "returns_api_case_authorize": returns_action(
        "authorize", "pending_review", CS_OPS, to="authorized"
    ),
    "returns_api_case_reject": returns_action(
        "reject", "pending_review", CS_OPS, {"reason": "Outside the window"}, to="rejected"
    ),
    "returns_api_case_cancel": returns_action(
        "cancel", "authorized", CS_OPS, {"reason": "Customer kept it"}, to="cancelled"
    ),
    "returns_api_case_ship": returns_action(
        "ship",
        "authorized",
        CS_OPS,
        {"carrier": "UPS", "tracking_number": "1Z999"},
        to="in_transit",
    ),
    "returns_api_case_deliver": returns_action("deliver", "in_transit", CS_OPS, to="delivered"),
    "returns_api_case_receive": returns_action("receive", "delivered", WH_OPS, to="received"),
    "returns_api_case_inspect": returns_action("inspect", "received", WH_OPS, {}, to="inspected"),
    "returns_api_case_close": returns_action("close", "inspected", OPS, {}, to="closed"),
    "inventory_api_balances": Endpoint(
        lambda o: reverse("inventory_api_balances"), EVERY_ROLE - {"cs"}
    ),
    "inventory_api_availability": Endpoint(
        lambda o: reverse("inventory_api_availability"), EVERY_ROLE
    ),
    "inventory_api_movements": Endpoint(
        lambda o: reverse("inventory_api_movements"), EVERY_ROLE - {"cs"}
    ),
    "inventory_api_units": Endpoint(lambda o: reverse("inventory_api_units"), EVERY_ROLE),
    "inventory_api_unit": Endpoint(
        lambda o: reverse("inventory_api_unit", args=["NO-SUCH-SERIAL"]), EVERY_ROLE, status=404
    ),
    "inventory_api_snapshots": Endpoint(
        lambda o: reverse("inventory_api_snapshots"), OPS, method="post", body=snapshot, status=201
    ),
    "inventory_api_variances": Endpoint(lambda o: reverse("inventory_api_variances"), FIN_OPS),
    "inventory_api_variance": Endpoint(pk_url("inventory_api_variance", variance), FIN_OPS),
    "finance_api_refunds": Endpoint(
        lambda o: reverse("finance_api_refunds"), EVERY_ROLE - {"warehouse"}
    ),
    "finance_api_refund": Endpoint(
        pk_url("finance_api_refund", refund), EVERY_ROLE - {"warehouse"}
    ),
    "finance_api_journal_entries": Endpoint(
        lambda o: reverse("finance_api_journal_entries"), FIN_OPS
    ),
    "finance_api_journal_entry": Endpoint(
        pk_url("finance_api_journal_entry", lambda: posted_entry()), FIN_OPS
    ),
    "exceptions_api_list": Endpoint(lambda o: reverse("exceptions_api_list"), EVERY_ROLE),
    "exceptions_api_detail": Endpoint(
        pk_url("exceptions_api_detail", ExceptionCaseFactory), EVERY_ROLE
    ),
    "exceptions_api_assign": exception_action("assign", exception_assignee, "assigned"),
    "exceptions_api_escalate": exception_action("escalate", {"note": "Over SLA"}, "escalated"),
    "exceptions_api_resolve": exception_action("resolve", {"reason": "Re-shelved"}, "resolved"),
    "exceptions_api_dismiss": exception_action("dismiss", {"reason": "Duplicate"}, "dismissed"),
    "exceptions_api_note": exception_action(
        "note", {"body": "Checked the shelf"}, "open", allowed=EVERY_ROLE, status=201
    ),
    "kpis_api_overview": Endpoint(lambda o: reverse("kpis_api_overview"), EVERY_ROLE),
    "kpis_api_daily": Endpoint(lambda o: reverse("kpis_api_daily"), EVERY_ROLE),
}


def footprint() -> dict:
    """What a denied call must leave as it was."""
    return {
        "cases": list(ReturnCase.objects.order_by("pk").values_list("pk", "state")),
        "case_history": ReturnCase.history.count(),
        "exceptions": list(ExceptionCase.objects.order_by("pk").values_list("pk", "state")),
        "exception_history": ExceptionCase.history.count(),
        "notes": ExceptionNote.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "snapshots": ExternalSnapshot.objects.count(),
        "movements": StockMovement.objects.count(),
        "journal": JournalEntry.objects.count(),
        "refunds": Refund.objects.count(),
    }


def test_every_api_endpoint_is_in_the_matrix():
    names = {
        name
        for name, entries in get_resolver().reverse_dict.lists()
        if isinstance(name, str) and any(route.startswith("api/v1/") for _, route, *_ in entries)
    }
    assert names == {name.split("-")[0] for name in ENDPOINTS}


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_api_access(api_as, name):
    endpoint = ENDPOINTS[name]
    clients = {who: api_as(who) for who in WHO}
    for who, client in clients.items():
        # Given fresh objects for this caller
        objects = {"user": getattr(client, "user", None)}
        path = endpoint.url(objects)
        body = endpoint.body(objects) if callable(endpoint.body) else endpoint.body
        before = footprint()

        # When they call the endpoint
        response = getattr(client, endpoint.method)(path, body, format="json")

        # Then the outcome is the one the table states, and a denial changes nothing
        if who in endpoint.allowed:
            assert response.status_code == endpoint.status, (who, response.json())
            if endpoint.after:
                endpoint.after(objects)
        else:
            assert response.status_code == 403, (who, response.content)
            assert response["Content-Type"] == "application/json"
            assert "detail" in response.json()
            assert footprint() == before, who
