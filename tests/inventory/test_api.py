"""The stock API: what each endpoint returns equals the ledger, its filters, its 4xx answers,
who may read it, and query counts that do not grow with the movements."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from erp.roles import Role
from inventory.models import CauseType, StockBalance, StockMovement
from inventory.models import StockState as S
from tests.factories import ProductFactory

from .stock_data import (
    GROWN_STEPS,
    post_ledger,
    post_stocked,
    receive,
    start_ledger,
    unit_round_trip,
)


@pytest.fixture
def stocked(world):
    return post_stocked(world)


BALANCES = reverse("inventory_api_balances")
AVAILABILITY = reverse("inventory_api_availability")
MOVEMENTS = reverse("inventory_api_movements")
UNITS = reverse("inventory_api_units")


def unit_url(serial: str) -> str:
    return reverse("inventory_api_unit", kwargs={"serial": serial})


@pytest.fixture
def api(operations_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(operations_user)
    return client


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# ---- Balances ------------------------------------------------------------------------------


def test_balances_equal_the_ledger(api, world, stocked):
    rows = results(api.get(BALANCES, {"sku": "PLAIN"}))

    shown = {(r["location"]["code"], r["state"], r["lot"]): r["qty"] for r in rows}
    ledger = {
        (b.location.code, b.state, b.lot): b.qty
        for b in StockBalance.objects.filter(product=world.plain, qty__gt=0)
    }
    assert shown == ledger
    assert rows[0]["location"]["warehouse"] == "main"
    assert {r["sku"] for r in rows} == {"PLAIN"}


def test_balance_filters(api, world, stocked):
    receive(world, world.lotted, 4, "lot-1", lot="L1")
    receive(world, world.lotted, 6, "lot-2", lot="L2", location=world.shelf_b)

    by_state = results(api.get(BALANCES, {"state": S.QUARANTINED}))
    by_location = results(api.get(BALANCES, {"location": world.shelf_b.pk}))
    by_lot = results(api.get(BALANCES, {"sku": "LOTTED", "lot": "L1"}))

    assert [(r["sku"], r["qty"]) for r in by_state] == [("PLAIN", 2)]
    assert [(r["sku"], r["lot"], r["qty"]) for r in by_location] == [("LOTTED", "L2", 6)]
    assert [(r["location"]["code"], r["qty"]) for r in by_lot] == [("A-01", 4)]


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (BALANCES, {"state": "lost"}, "state"),
        (BALANCES, {"location": "shelf"}, "location"),
        (MOVEMENTS, {"since": "yesterday"}, "since"),
        (MOVEMENTS, {"until": "2026-13-01"}, "until"),
        (MOVEMENTS, {"cause_type": "gift"}, "cause_type"),
        (MOVEMENTS, {"state": "outside"}, "state"),
        (MOVEMENTS, {"location": "1.5"}, "location"),
        (UNITS, {"state": "sold"}, "state"),
    ],
)
def test_a_bad_filter_value_is_a_400_naming_the_field(api, world, url, params, field):
    response = api.get(url, params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == [field]


# ---- Availability --------------------------------------------------------------------------


def test_availability_per_channel_excludes_what_may_not_be_sold(api, world, stocked):
    rows = results(api.get(AVAILABILITY, {"sku": "PLAIN"}))
    outlet_only = results(api.get(AVAILABILITY, {"sku": "PLAIN", "channel": "outlet"}))

    # 7 available (+1 refurbished for the outlet); the 2 reserved, 1 pending inspection and
    # 2 quarantined count nowhere; the storefront holds back 2.
    assert {r["channel"]: r["ats"] for r in rows} == {"outlet": 8, "store": 5}
    assert [(r["channel"], r["ats"]) for r in outlet_only] == [("outlet", 8)]
    assert all(r["push_pending"] and r["last_pushed_version"] == 0 for r in rows)


# ---- Movements -----------------------------------------------------------------------------


def test_movements_newest_first_with_their_sides(api, world, stocked):
    rows = results(api.get(MOVEMENTS, {"sku": "PLAIN"}))

    assert [r["kind"] for r in rows] == ["ship", "reserve", "move", "move", "receive", "receive"]
    ship = rows[0]
    assert ship["from_location"]["code"] == "A-01"
    assert (ship["from_state"], ship["to_location"], ship["to_state"]) == (S.RESERVED, None, None)
    assert (ship["cause_type"], ship["cause_id"]) == (CauseType.ORDER_SHIPMENT, str(stocked.pk))


def test_movement_filters(api, world, stocked):
    keys = {m.pk: m.idempotency_key for m in StockMovement.objects.all()}

    def listed(**params) -> list[str]:
        return [keys[r["id"]] for r in results(api.get(MOVEMENTS, params))]

    first = StockMovement.objects.get(idempotency_key="in-pending")
    assert listed(state=S.QUARANTINED) == ["to-cage"]
    assert listed(location=world.cage.pk) == ["to-cage"]
    assert listed(cause_type=CauseType.INSPECTION, cause_id="77") == ["to-cage"]
    assert listed(sku="PLAIN", since=first.occurred_at.isoformat())[-1] == "in-pending"
    assert listed(sku="PLAIN", until=first.occurred_at.isoformat()) == ["in-avail"]
    assert listed(sku="LOTTED") == []


def test_movement_pages_follow_a_cursor(api, world):
    for i in range(5):
        receive(world, world.plain, 1, f"in-{i}")

    first = api.get(MOVEMENTS, {"page_size": 3}).json()
    second = api.get(first["next"]).json()

    assert len(first["results"]) == 3
    assert len(second["results"]) == 2
    assert second["next"] is None


def test_movements_of_one_serial(api, world):
    unit_round_trip(world, "SN-1", world.order_line(world.serialized, 1))

    rows = results(api.get(MOVEMENTS, {"serial": "SN-1"}))

    assert [r["kind"] for r in rows] == ["unit_transition", "receive", "ship", "receive"]
    assert {r["serial"] for r in rows} == {"SN-1"}


# ---- Units ---------------------------------------------------------------------------------


def test_unit_by_serial_lists_its_life_in_order(api, world):
    unit_round_trip(world, "SN-1", world.order_line(world.serialized, 1))

    body = api.get(unit_url("SN-1")).json()

    assert (body["sku"], body["state"], body["location"]["code"]) == (
        "SERIAL",
        S.QUARANTINED,
        "Q-01",
    )
    assert [m["kind"] for m in body["movements"]] == [
        "receive",
        "ship",
        "receive",
        "unit_transition",
    ]
    assert [m["cause_type"] for m in body["movements"]][-2:] == ["return_case", "inspection"]


def test_units_filter_by_serial(api, world):
    receive(world, world.serialized, 2, "in", serials=["SN-1", "SN-2"])

    rows = results(api.get(UNITS, {"serial": "SN-2"}))

    assert [(r["serial"], r["state"], r["location"]["code"]) for r in rows] == [
        ("SN-2", S.AVAILABLE, "A-01")
    ]


def test_unknown_serial_is_a_json_404(api, world):
    response = api.get(unit_url("NOPE"))

    assert response.status_code == 404
    assert "detail" in response.json()


def test_a_serial_two_skus_share_needs_the_sku(api, world):
    other = ProductFactory(sku="SERIAL-2", tracking=world.serialized.tracking)
    receive(world, world.serialized, 1, "a", serials=["DUP"])
    receive(world, other, 1, "b", serials=["DUP"])

    ambiguous = api.get(unit_url("DUP"))
    picked = api.get(unit_url("DUP"), {"sku": "SERIAL-2"})
    wrong = api.get(unit_url("DUP"), {"sku": "PLAIN"})

    assert (ambiguous.status_code, list(ambiguous.json())) == (400, ["sku"])
    assert picked.json()["sku"] == "SERIAL-2"
    assert wrong.status_code == 404


# ---- Permissions ---------------------------------------------------------------------------


def test_customer_service_reads_units_and_availability_only(make_user, world, stocked):
    client = APIClient()
    client.force_authenticate(make_user(Role.CUSTOMER_SERVICE))

    assert client.get(UNITS).status_code == 200
    assert client.get(AVAILABILITY).status_code == 200
    for url in (BALANCES, MOVEMENTS):
        response = client.get(url)
        assert response.status_code == 403
        assert "detail" in response.json()


def test_anonymous_clients_are_refused(world):
    for url in (BALANCES, AVAILABILITY, MOVEMENTS, UNITS):
        assert APIClient().get(url).status_code == 403


# ---- Query counts --------------------------------------------------------------------------


def test_api_list_query_counts_do_not_grow_with_the_number_of_movements(api, world):
    line = start_ledger(world)
    urls = [BALANCES, AVAILABILITY, MOVEMENTS, UNITS, unit_url("SN-Q")]

    def counts() -> list[int]:
        found = []
        for url in urls:
            with CaptureQueriesContext(connection) as ctx:
                assert api.get(url).status_code == 200
            found.append(len(ctx.captured_queries))
        return found

    counts()  # the client keeps its user, whose permissions load on the first request
    small = counts()
    post_ledger(world, line, 1, GROWN_STEPS)
    assert StockMovement.objects.count() > 200

    assert counts() == small
