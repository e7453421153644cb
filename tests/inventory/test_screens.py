"""The stock screens: the overview and its look-up, a SKU's stock, a serial's life; what they
show equals the ledger, and their query counts do not grow with the movements."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from erp.roles import Role
from inventory.models import SafetyStock, StockBalance, StockMovement
from inventory.models import StockState as S
from tests.factories import ProductFactory

from .conftest import ats
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


@pytest.fixture
def ops_client(client, operations_user):
    client.force_login(operations_user)
    return client


# ---- Overview ------------------------------------------------------------------------------


def test_overview_lists_stocked_skus_by_key_state(ops_client, world, stocked):
    ProductFactory(sku="NEVER-STOCKED")

    response = ops_client.get(reverse("inventory_overview"))

    assert response.status_code == 200
    [row] = response.context["products"]
    assert row.sku == "PLAIN"
    assert (
        row.qty_available,
        row.qty_reserved,
        row.qty_received_pending_inspection,
        row.qty_quarantined,
        row.qty_damaged,
        row.qty_other,
        row.on_hand,
    ) == (7, 2, 1, 2, 0, 1, 13)
    on_hand = sum(StockBalance.objects.filter(product=world.plain).values_list("qty", flat=True))
    assert row.on_hand == on_hand
    assert "NEVER-STOCKED" not in response.content.decode()


@pytest.mark.parametrize(
    ("query", "url_name", "key"),
    [
        ("plain", "inventory_sku", "PLAIN"),  # a SKU, whatever its case
        ("SN-9", "inventory_unit", "SN-9"),  # a serial number
    ],
)
def test_search_opens_the_page_of_an_exact_match(ops_client, world, query, url_name, key):
    receive(world, world.serialized, 1, "unit-in", serials=["SN-9"])

    response = ops_client.get(reverse("inventory_overview"), {"q": query})

    assert response.status_code == 302
    kwarg = "key" if url_name == "inventory_sku" else "serial"
    assert response["Location"] == reverse(url_name, kwargs={kwarg: key})


def test_search_by_gtin_opens_the_sku(ops_client, world):
    world.plain.gtin = "00012345678905"
    world.plain.save()

    # A 12-digit UPC is the same GTIN as its 14-digit form.
    response = ops_client.get(reverse("inventory_overview"), {"q": "012345678905"})

    assert response["Location"] == reverse("inventory_sku", kwargs={"key": "PLAIN"})


def test_search_that_matches_nothing_exactly_narrows_the_table(ops_client, world, stocked):
    receive(world, world.lotted, 4, "lot-in", lot="L1")

    response = ops_client.get(reverse("inventory_overview"), {"q": "LOT"})

    assert response.status_code == 200
    assert [p.sku for p in response.context["products"]] == ["LOTTED"]
    assert "1 SKU matches" in response.content.decode()


# ---- Stock by SKU --------------------------------------------------------------------------


def test_sku_page_shows_balances_as_locations_by_states_with_totals(ops_client, world, stocked):
    response = ops_client.get(reverse("inventory_sku", kwargs={"key": "PLAIN"}))

    assert response.status_code == 200
    matrix = response.context["matrix"]
    assert matrix.states == [
        S.RECEIVED_PENDING_INSPECTION,
        S.AVAILABLE,
        S.RESERVED,
        S.QUARANTINED,
        S.REFURBISH,
    ]
    rows = {row.location.code: row.cells for row in matrix.rows}
    assert rows == {"A-01": [1, 7, 2, 0, 1], "Q-01": [0, 0, 0, 2, 0]}
    assert matrix.totals == [1, 7, 2, 2, 1]
    # The matrix is the ledger's balances, cell for cell.
    ledger = {
        (b.location.code, b.state): b.qty
        for b in StockBalance.objects.filter(product=world.plain, qty__gt=0)
    }
    shown = {
        (row.location.code, state): qty
        for row in matrix.rows
        for state, qty in zip(matrix.states, row.cells, strict=True)
        if qty
    }
    assert shown == ledger
    assert matrix.total == sum(ledger.values()) == 13


def test_sku_page_explains_ats_per_channel(ops_client, world, stocked):
    response = ops_client.get(reverse("inventory_sku", kwargs={"key": world.plain.pk}))

    by_channel = {row.channel.code: row for row in response.context["channels"]}
    outlet, store = by_channel["outlet"], by_channel["store"]
    # The outlet sells available and refurbished stock; the storefront (no rule) available
    # only, minus its safety stock. Pending, reserved and quarantined stock counts nowhere.
    assert (outlet.states, outlet.sellable, outlet.safety_stock, outlet.ats) == (
        [S.AVAILABLE, S.REFURBISH],
        8,
        0,
        8,
    )
    assert (store.states, store.sellable, store.safety_stock, store.ats) == ([S.AVAILABLE], 7, 2, 5)
    assert outlet.ats == ats(world.plain, world.outlet)
    assert store.ats == ats(world.plain, world.storefront)
    assert not outlet.is_stale
    assert not store.is_stale
    html = response.content.decode()
    assert "All warehouses" in html  # the storefront's rule: no warehouse restriction
    assert "− 2" in html  # its safety stock


def test_sku_page_movements_link_to_their_causes(ops_client, world, stocked):
    response = ops_client.get(reverse("inventory_sku", kwargs={"key": "PLAIN"}))

    rows = response.context["movements"]
    assert [row.movement.idempotency_key for row in rows] == [
        "ship",
        "r",
        "to-refurb",
        "to-cage",
        "in-pending",
        "in-avail",
    ]
    order_url = reverse("order_detail", kwargs={"pk": world.order.pk})
    shipment = rows[0]
    assert shipment.cause_url == order_url
    assert shipment.cause_label == f"Order store #{world.order.number}, line {stocked.line_number}"
    # A cause without a page of its own is shown as its typed reference.
    assert (rows[3].cause_label, rows[3].cause_url) == ("Inspection 77", "")
    html = response.content.decode()
    assert f'href="{order_url}"' in html
    assert "Inspection 77" in html


def test_sku_page_paginates_the_ledger(ops_client, world):
    for i in range(30):
        receive(world, world.plain, 1, f"in-{i}")

    first = ops_client.get(reverse("inventory_sku", kwargs={"key": "PLAIN"}))
    second = ops_client.get(reverse("inventory_sku", kwargs={"key": "PLAIN"}), {"page": 2})

    assert [r.movement.idempotency_key for r in first.context["movements"]][:2] == [
        "in-29",
        "in-28",
    ]
    assert len(first.context["movements"]) == 25
    assert [r.movement.idempotency_key for r in second.context["movements"]] == [
        f"in-{i}" for i in range(4, -1, -1)
    ]
    assert "Page 1 of 2" in first.content.decode()


def test_sku_page_charts_on_hand_by_state(ops_client, world, stocked):
    response = ops_client.get(reverse("inventory_sku", kwargs={"key": "PLAIN"}))

    chart = response.context["chart"]
    assert len(chart["labels"]) == 30
    today = {series["label"]: series["values"][-1] for series in chart["datasets"]}
    assert today["Available"] == 7
    assert today["Quarantined"] == 2
    # Everything arrived today: the day before, nothing was on hand.
    assert all(series["values"][-2] == 0 for series in chart["datasets"])
    assert 'id="stock-chart-data"' in response.content.decode()


def test_unknown_sku_is_404(ops_client, world):
    assert ops_client.get(reverse("inventory_sku", kwargs={"key": "NOPE"})).status_code == 404


def test_warehouse_gets_the_touch_layout(client, make_user, world):
    client.force_login(make_user(Role.WAREHOUSE))

    html = client.get(reverse("inventory_sku", kwargs={"key": "PLAIN"})).content.decode()

    assert re.search(r'<body class="touch"', html)


# ---- A serial's life -----------------------------------------------------------------------


def test_unit_page_tells_a_serials_whole_life(ops_client, world):
    line = world.order_line(world.serialized, 1)
    unit_round_trip(world, "SN-1", line)

    response = ops_client.get(reverse("inventory_unit", kwargs={"serial": "SN-1"}))

    assert response.status_code == 200
    life = response.context["life"]
    keys = [row.movement.idempotency_key for row in response.context["movements"]]
    assert keys == ["SN-1-in", "SN-1-ship", "SN-1-back", "SN-1-inspect"]
    assert (life.unit.state, life.unit.location) == (S.QUARANTINED, world.cage)
    assert [item.line for item in life.shipments] == [line]
    assert life.last_return.idempotency_key == "SN-1-back"
    assert life.last_inspection.idempotency_key == "SN-1-inspect"
    html = response.content.decode()
    order_url = reverse("order_detail", kwargs={"pk": world.order.pk})
    assert f'<a href="{order_url}">Storefront #{world.order.number}</a>' in html
    assert "Return case RMA-1" in html
    # Oldest first on the page too.
    life_table = html[html.index('id="unit-life"') :]
    kinds = re.findall(r"<td>(Receive|Ship|Unit transition)</td>", life_table)
    assert kinds == ["Receive", "Ship", "Receive", "Unit transition"]


def test_unit_page_for_a_serial_two_skus_share_asks_which(ops_client, world):
    other = ProductFactory(sku="SERIAL-2", tracking=world.serialized.tracking)
    receive(world, world.serialized, 1, "a", serials=["DUP"])
    receive(world, other, 1, "b", serials=["DUP"])

    choose = ops_client.get(reverse("inventory_unit", kwargs={"serial": "DUP"}))
    picked = ops_client.get(
        reverse("inventory_unit", kwargs={"serial": "DUP"}), {"sku": "SERIAL-2"}
    )

    assert [u.product.sku for u in choose.context["units"]] == ["SERIAL", "SERIAL-2"]
    assert picked.context["unit"].product == other


def test_unknown_serial_is_404(ops_client, world):
    assert ops_client.get(reverse("inventory_unit", kwargs={"serial": "NOPE"})).status_code == 404


def test_customer_service_sees_a_unit_without_links_to_stock_pages(client, make_user, world):
    receive(world, world.serialized, 1, "in", serials=["SN-CS"])
    client.force_login(make_user(Role.CUSTOMER_SERVICE))

    html = client.get(reverse("inventory_unit", kwargs={"serial": "SN-CS"})).content.decode()

    assert reverse("inventory_sku", kwargs={"key": "SERIAL"}) not in html


# ---- Query counts --------------------------------------------------------------------------


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_stock_screen_query_count_does_not_grow_with_the_number_of_movements(ops_client, world):
    # Given a short ledger (the serial shipped once, so its page links an order)
    SafetyStock.objects.create(channel=world.storefront, product=world.plain, qty=1)
    receive(world, world.lotted, 5, "lot", lot="L1")
    line = start_ledger(world)
    urls = [
        reverse("inventory_overview"),
        reverse("inventory_overview") + "?q=A",
        reverse("inventory_sku", kwargs={"key": "PLAIN"}),
        reverse("inventory_unit", kwargs={"serial": "SN-Q"}),
    ]
    small = [queries(ops_client, url) for url in urls]

    # When the ledger grows past 200 movements
    post_ledger(world, line, 1, GROWN_STEPS)
    assert StockMovement.objects.count() > 200
    large = [queries(ops_client, url) for url in urls]

    # Then every screen costs the same number of queries
    assert large == small


# ---- The admin -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "search"),
    [("stockmovement", "PLAIN"), ("stockbalance", "PLAIN"), ("inventoryunit", "SN-ADM")],
)
def test_admin_lists_the_ledger_read_only(
    client, administrator_user, world, stocked, model, search
):
    receive(world, world.serialized, 1, "unit", serials=["SN-ADM"])
    client.force_login(administrator_user)
    changelist = reverse(f"admin:inventory_{model}_changelist")

    found = client.get(changelist, {"q": search})
    add = client.get(reverse(f"admin:inventory_{model}_add"))

    assert found.status_code == 200
    assert found.context["cl"].result_count > 0
    assert add.status_code == 403
    if model != "stockmovement":
        in_warehouse = client.get(
            changelist, {"location__warehouse__id__exact": world.shelf_a.warehouse_id}
        )
        assert in_warehouse.context["cl"].result_count > 0
