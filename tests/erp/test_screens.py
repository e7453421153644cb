"""The foundation's screens: what they find, what they show, and that their query counts do not
grow with the rows on them."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from erp.models import Category, Location, Product, ReasonCode, ReasonCodeMapping, WorkerHeartbeat
from erp.roles import Role
from tests.factories import (
    BundleComponentFactory,
    CategoryFactory,
    ChannelFactory,
    ChannelListingFactory,
    CustomerFactory,
    LocationFactory,
    OrderLineFactory,
    ProductFactory,
    SalesOrderFactory,
    ShippedItemFactory,
    WarehouseFactory,
)


def order_numbers(response) -> list[str]:
    return [order.number for order in response.context["object_list"]]


def skus(response) -> list[str]:
    return [product.sku for product in response.context["object_list"]]


@pytest.fixture
def cs_client(client, cs_user):
    client.force_login(cs_user)
    return client


# ---- Order search --------------------------------------------------------------------


@pytest.fixture
def orders(db):
    alice = CustomerFactory(name="Alice Martin", email="alice@example.test")
    bob = CustomerFactory(name="Bob Stone", email="bob@example.test")
    first = SalesOrderFactory(number="1001", customer=alice)
    second = SalesOrderFactory(number="2002", customer=bob, channel=ChannelFactory(code="amz-us"))
    ShippedItemFactory(line=OrderLineFactory(order=second), serial_number="SN-4711")
    return first, second


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("1001", ["1001"], id="order number"),
        pytest.param("#2002", ["2002"], id="order number with #"),
        pytest.param("ALICE@example.test", ["1001"], id="e-mail, any case"),
        pytest.param("stone", ["2002"], id="part of the name"),
        pytest.param("SN-4711", ["2002"], id="shipped serial"),
        pytest.param("SN-47", [], id="no partial serial"),
        pytest.param("", ["2002", "1001"], id="empty lists all"),
    ],
)
def test_order_search(cs_client, orders, query, expected):
    response = cs_client.get(reverse("order_list"), {"q": query})

    assert response.status_code == 200
    assert sorted(order_numbers(response)) == sorted(expected)


def test_order_list_filters_by_channel(cs_client, orders):
    response = cs_client.get(reverse("order_list"), {"channel": "amz-us"})

    assert order_numbers(response) == ["2002"]
    assert '<option value="amz-us" selected>' in response.content.decode()


def test_order_search_says_when_nothing_matches(cs_client, orders):
    response = cs_client.get(reverse("order_list"), {"q": "nobody@example.test"})

    assert order_numbers(response) == []
    assert "No order matches your search." in response.content.decode()


def test_order_list_pages_keep_the_search(cs_client):
    customer = CustomerFactory(name="Pat Many")
    SalesOrderFactory.create_batch(51, customer=customer)

    first = cs_client.get(reverse("order_list"), {"q": "many"})
    second = cs_client.get(reverse("order_list"), {"q": "many", "page": 2})

    assert len(order_numbers(first)) == 50
    assert 'href="?q=many&amp;page=2" rel="next"' in first.content.decode()
    assert len(order_numbers(second)) == 1
    assert 'href="?q=many&amp;page=1" rel="prev"' in second.content.decode()


def test_cs_home_lists_recently_delivered_orders_only(cs_client):
    SalesOrderFactory(number="3003")
    SalesOrderFactory(number="4004", delivered_at=None)

    response = cs_client.get(reverse("cs_home"))

    assert [order.number for order in response.context["recent_orders"]] == ["3003"]
    # One search box finds returns and orders alike (returns.views.ReturnSearchView).
    assert f'action="{reverse("return_search")}"' in response.content.decode()


# ---- Order detail --------------------------------------------------------------------


def test_order_detail_shows_lines_serials_lots_and_totals(cs_client):
    # Given an order with a serialized line and a lot-tracked line
    order = SalesOrderFactory(number="5005", channel=ChannelFactory(currency="EUR"))
    phone = OrderLineFactory(
        order=order,
        line_number=1,
        product=ProductFactory(sku="PHONE-1", tracking=Product.Tracking.SERIAL),
        quantity=2,
        unit_price=Decimal("1234.50"),
    )
    cream = OrderLineFactory(
        order=order,
        line_number=2,
        product=ProductFactory(sku="CREAM-1", tracking=Product.Tracking.LOT),
        quantity=3,
        unit_price=Decimal("0.10"),
    )
    ShippedItemFactory(line=phone, serial_number="IMEI-111")
    ShippedItemFactory(line=phone, serial_number="IMEI-222")
    ShippedItemFactory(
        line=cream, serial_number="", lot_number="L-77", lot_expiry=date(2027, 3, 31), quantity=3
    )

    # When customer service opens it
    response = cs_client.get(reverse("order_detail", args=[order.pk]))

    # Then it shows each line with its total, the serials, the lot with its expiry and the total
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("PHONE-1", "CREAM-1", "IMEI-111", "IMEI-222", "L-77", "expires 31 Mar 2027"):
        assert text in html
    assert "2,469.00 EUR" in html  # 2 x 1,234.50
    assert "0.30 EUR" in html  # 3 x 0.10, exact in Decimal
    assert html.count("2,469.30 EUR") == 2  # in the facts and the lines' footer


def test_order_detail_of_a_missing_order_is_404(cs_client):
    assert cs_client.get(reverse("order_detail", args=[999_999])).status_code == 404


# ---- Product list and detail ----------------------------------------------------------


@pytest.fixture
def catalog(db):
    tops = CategoryFactory()
    phones = CategoryFactory(
        code="phones", name="Phones", department=Category.Department.ELECTRONICS
    )
    shirt = ProductFactory(sku="TEE-RED-M", name="Red tee", category=tops, gtin="04006381333931")
    phone = ProductFactory(sku="PH-PRO", name="Phone Pro", category=phones, is_high_value=True)
    kit = ProductFactory(sku="KIT-1", name="Starter kit", category=phones)
    BundleComponentFactory(bundle=kit, component=phone)
    return shirt, phone, kit


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"department": "electronics"}, ["KIT-1", "PH-PRO"], id="department"),
        pytest.param({"department": "apparel"}, ["TEE-RED-M"], id="other department"),
        pytest.param({"q": "tee"}, ["TEE-RED-M"], id="name"),
        pytest.param({"q": "ph-"}, ["PH-PRO"], id="part of the SKU"),
        # A scanner reads the EAN-13; the GTIN is stored as 14 digits.
        pytest.param({"q": "4006381333931"}, ["TEE-RED-M"], id="scanned EAN-13"),
        pytest.param({"q": "kit", "department": "apparel"}, [], id="both filters"),
    ],
)
def test_product_list_filters(cs_client, catalog, params, expected):
    response = cs_client.get(reverse("product_list"), params)

    assert skus(response) == expected


def test_product_list_shows_high_value_and_bundle_badges(cs_client, catalog):
    html = cs_client.get(reverse("product_list")).content.decode()

    assert html.count("High value</span>") == 1
    assert "Bundle of 1</span>" in html


def test_product_detail_shows_components_bundles_and_listings(client, make_user, catalog):
    _shirt, phone, kit = catalog
    ChannelListingFactory(product=phone, channel_sku="AMZ-PHONE-PRO")
    client.force_login(make_user(Role.OPERATIONS_MANAGER))

    phone_html = client.get(reverse("product_detail", args=[phone.pk])).content.decode()
    kit_html = client.get(reverse("product_detail", args=[kit.pk])).content.decode()

    assert "KIT-1" in phone_html  # part of the kit
    assert "AMZ-PHONE-PRO" in phone_html
    assert "PH-PRO" in kit_html  # its component


def test_product_detail_hides_listings_from_roles_without_channel_access(
    client, warehouse_user, catalog
):
    _shirt, phone, _kit = catalog
    ChannelListingFactory(product=phone, channel_sku="AMZ-PHONE-PRO")
    client.force_login(warehouse_user)

    html = client.get(reverse("product_detail", args=[phone.pk])).content.decode()

    assert "AMZ-PHONE-PRO" not in html
    assert "Channel listings" not in html


# ---- Role homes ----------------------------------------------------------------------


def test_finance_home_totals_delivered_sales_per_channel_and_currency(client, finance_user):
    shop = ChannelFactory(name="Shop EU", currency="EUR")
    for price in ("1234.50", "0.10"):
        OrderLineFactory(order=SalesOrderFactory(channel=shop), unit_price=Decimal(price))
    OrderLineFactory(
        order=SalesOrderFactory(
            channel=shop, placed_at=timezone.now() - timedelta(days=60), delivered_at=None
        )
    )
    client.force_login(finance_user)

    response = client.get(reverse("finance_home"))

    rows = list(response.context["delivered_sales"])
    assert rows == [
        {"channel__name": "Shop EU", "currency": "EUR", "orders": 2, "value": Decimal("1234.60")}
    ]
    assert "1,234.60 EUR" in response.content.decode()


def test_warehouse_home_groups_locations_in_flow_order(client, warehouse_user):
    site = WarehouseFactory(name="Reno")
    for code, kind in [
        ("S-01", Location.Kind.STOCK),
        ("Q-01", Location.Kind.QUARANTINE),
        ("R-01", Location.Kind.RECEIVING),
        ("S-00", Location.Kind.STOCK),
    ]:
        LocationFactory(warehouse=site, code=code, kind=kind)
    LocationFactory(warehouse=site, code="OLD", is_active=False)
    client.force_login(warehouse_user)

    response = client.get(reverse("warehouse_home"))

    [warehouse] = response.context["warehouses"]
    assert [loc.code for loc in warehouse.locations.all()] == ["R-01", "Q-01", "S-00", "S-01"]
    html = response.content.decode()
    assert html.index("<h3>Receiving</h3>") < html.index("<h3>Quarantine</h3>")
    assert html.index("<h3>Quarantine</h3>") < html.index("<h3>Stock</h3>")
    assert "OLD" not in html


def test_operations_counts_each_channels_mappings_and_listings_once(client, operations_user):
    # Given a channel with 2 reason mappings and 3 listings (joined together they make 6 rows)
    channel = ChannelFactory(name="Amazon US")
    reason = ReasonCode.objects.first()
    for raw in ("DEFECTIVE", "TOO_SMALL"):
        ReasonCodeMapping.objects.create(channel=channel, raw_code=raw, reason=reason)
    for _ in range(3):
        ChannelListingFactory(channel=channel)
    client.force_login(operations_user)

    response = client.get(reverse("operations_home"))

    [row] = response.context["summary"]["channels"]
    assert (row.mapping_count, row.listing_count) == (2, 3)


@pytest.mark.parametrize(
    ("seen_minutes_ago", "warned"),
    [
        pytest.param(None, True, id="never seen"),
        pytest.param(1, False, id="fresh"),
        pytest.param(6, True, id="stale"),
    ],
)
def test_operations_warns_when_no_worker_is_alive(
    client, operations_user, seen_minutes_ago, warned
):
    if seen_minutes_ago is not None:
        WorkerHeartbeat.objects.create(
            hostname="celery@box", last_seen_at=timezone.now() - timedelta(minutes=seen_minutes_ago)
        )
    client.force_login(operations_user)

    html = client.get(reverse("operations_home")).content.decode()

    assert ('class="alert alert-warn" role="alert"' in html) is warned


def test_operations_chart_has_a_point_for_every_day(client, operations_user):
    SalesOrderFactory(placed_at=timezone.now() - timedelta(days=2))
    SalesOrderFactory(placed_at=timezone.now() - timedelta(days=2))
    client.force_login(operations_user)

    response = client.get(reverse("operations_home"))

    chart = response.context["orders_chart"]
    assert len(chart["labels"]) == len(chart["values"]) == 31
    assert chart["labels"][-1] == timezone.now().date().isoformat()
    assert chart["values"][-3] == 2
    assert sum(chart["values"]) == 2
    assert '<script id="orders-chart-data" type="application/json">' in response.content.decode()


# ---- Query counts --------------------------------------------------------------------


def make_orders(count: int) -> None:
    for _ in range(count):
        order = SalesOrderFactory()
        line = OrderLineFactory(order=order)
        ShippedItemFactory(line=line)


def make_products(count: int) -> None:
    for _ in range(count):
        kit = ProductFactory()
        BundleComponentFactory(bundle=kit)


def make_master_data(count: int) -> None:
    reason = ReasonCode.objects.first()
    for n in range(count):
        channel = ChannelFactory()
        ReasonCodeMapping.objects.create(channel=channel, raw_code=f"R{n}", reason=reason)
        ChannelListingFactory(channel=channel)
        SalesOrderFactory(channel=channel)


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("url_name", "role", "make_rows"),
    [
        pytest.param("order_list", Role.CUSTOMER_SERVICE, make_orders, id="order list"),
        pytest.param("cs_home", Role.CUSTOMER_SERVICE, make_orders, id="cs home"),
        pytest.param("product_list", Role.WAREHOUSE, make_products, id="product list"),
        pytest.param("operations_home", Role.OPERATIONS_MANAGER, make_master_data, id="ops home"),
    ],
)
def test_query_count_does_not_grow_with_rows(client, make_user, url_name, role, make_rows):
    client.force_login(make_user(role))
    url = reverse(url_name)

    make_rows(5)
    with_5 = queries_for(client, url)
    make_rows(45)
    with_50 = queries_for(client, url)

    assert with_50 == with_5


def test_order_detail_query_count_does_not_grow_with_lines(cs_client):
    order = SalesOrderFactory()

    def add_lines(count: int) -> None:
        start = order.lines.count()
        for n in range(count):
            ShippedItemFactory(line=OrderLineFactory(order=order, line_number=start + n + 1))

    url = reverse("order_detail", args=[order.pk])
    add_lines(2)
    with_2 = queries_for(cs_client, url)
    add_lines(20)
    with_22 = queries_for(cs_client, url)

    assert with_22 == with_2
