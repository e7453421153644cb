"""Browser journeys: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright's sync API runs an event loop in the test's thread, and Django refuses ORM calls
from a thread with a running loop unless told it is safe; here it is, since the loop only
drives the browser and the test's own DB work happens between browser calls. The switch is
on only while a module's browser runs, so it never leaks into other tests or the processes
they start.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import sync_playwright

from erp.models import Category, Channel, Customer, Location, Product, Warehouse, WorkerHeartbeat
from erp.services import reason_mappings_load_platform_defaults
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

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """Chromium for one module's journeys; the test database exists before it starts."""
    # Between its calls, Playwright's sync API leaves its event loop marked as running in this
    # thread. Django's connections are thread-critical, so from then on it would hand out a
    # second set of them, without the serialized rollback data set up on the first; and that
    # second connection would still be open when the test database is dropped. Keep one set.
    sync_connections = {alias: connections[alias] for alias in connections}
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        for alias, connection in sync_connections.items():
            connections[alias] = connection
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    # Script errors and failed requests (a missing stylesheet, script or icon) land in
    # `page.errors`, which a journey asserts is empty.
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and page.errors.append(f"{response.status} {response.url}")
        ),
    )
    yield page
    context.close()


@pytest.fixture
def shop_data(db):
    """A small but lifelike shop: three channels, a dozen orders over the last weeks, serial-
    and lot-tracked SKUs, a bundle, and two warehouses with their locations."""
    store_us = ChannelFactory(
        code="store-us", name="Storefront US", platform=Channel.Platform.SHOPIFY
    )
    amazon_us = ChannelFactory(
        code="amazon-us",
        name="Amazon US",
        kind=Channel.Kind.MARKETPLACE,
        platform=Channel.Platform.AMAZON,
    )
    store_eu = ChannelFactory(
        code="store-eu", name="Storefront EU", region="EU", currency="EUR", platform="shopify"
    )
    for channel in (store_us, amazon_us, store_eu):
        reason_mappings_load_platform_defaults(channel=channel)

    tops = CategoryFactory()
    phones = CategoryFactory(
        code="phones", name="Phones", department=Category.Department.ELECTRONICS
    )
    skincare = CategoryFactory(
        code="skincare", name="Skincare", department=Category.Department.HEALTH_BEAUTY
    )
    tee = ProductFactory(sku="TEE-NAVY-M", name="Merino crew tee, navy, M", category=tops)
    hoodie = ProductFactory(
        sku="HOOD-GRY-L", name="Loopback hoodie, grey, L", category=tops, list_price=Decimal("79")
    )
    phone = ProductFactory(
        sku="PH-AUR-128",
        name="Aurora X2 smartphone 128 GB",
        category=phones,
        tracking=Product.Tracking.SERIAL,
        is_high_value=True,
        unit_cost=Decimal("412.40"),
        list_price=Decimal("799.00"),
        warranty_months=24,
    )
    cream = ProductFactory(
        sku="CRM-HYD-50",
        name="Hydra face cream 50 ml",
        category=skincare,
        tracking=Product.Tracking.LOT,
        unit_cost=Decimal("6.15"),
        list_price=Decimal("24.90"),
    )
    case = ProductFactory(sku="PH-CASE-CLR", name="Clear phone case", category=phones, gtin=None)
    kit = ProductFactory(
        sku="KIT-AUR-STARTER",
        name="Aurora starter kit",
        category=phones,
        list_price=Decimal("829.00"),
        unit_cost=Decimal("420.00"),
    )
    BundleComponentFactory(bundle=kit, component=phone)
    BundleComponentFactory(bundle=kit, component=case)
    for product in (tee, hoodie, phone, cream):
        ChannelListingFactory(channel=store_us, product=product, channel_sku=product.sku)
    ChannelListingFactory(channel=amazon_us, product=phone, channel_sku="AMZ-AUR-128")

    customers = [
        CustomerFactory(name="Maria Gonzales", email="maria.gonzales@example.test"),
        CustomerFactory(name="Tom Becker", email="tom.becker@example.test"),
        CustomerFactory(
            name="Aiko Tanaka", email="aiko@example.test", segment=Customer.Segment.VIP
        ),
        CustomerFactory(name="Lena Novak", email="lena.novak@example.test"),
    ]
    now = timezone.now()
    catalogue = [(tee, "39.00"), (phone, "799.00"), (cream, "24.90"), (hoodie, "79.00")]
    for n in range(12):
        channel = (store_us, amazon_us, store_eu)[n % 3]
        placed = now - timedelta(days=26 - 2 * n, hours=n)
        order = SalesOrderFactory(
            channel=channel,
            number=str(51200 + n) if channel != amazon_us else f"113-{4400000 + n}-7",
            customer=customers[n % len(customers)],
            placed_at=placed,
            shipped_at=placed + timedelta(days=1),
            delivered_at=placed + timedelta(days=3) if n < 10 else None,
        )
        product, price = catalogue[n % len(catalogue)]
        line = OrderLineFactory(
            order=order, line_number=1, product=product, unit_price=Decimal(price)
        )
        if product.tracking == Product.Tracking.SERIAL:
            ShippedItemFactory(line=line, serial_number=f"35{n:013d}")
        elif product.tracking == Product.Tracking.LOT:
            expiry = timezone.localdate() + timedelta(days=300)
            ShippedItemFactory(line=line, serial_number="", lot_number="L2406A", lot_expiry=expiry)
        OrderLineFactory(order=order, line_number=2, product=tee, unit_price=Decimal("39.00"))

    reno = WarehouseFactory(code="reno", name="Reno returns center")
    chicago = WarehouseFactory(
        code="chi-3pl",
        name="Chicago fulfilment (ShipBob)",
        operator=Warehouse.Operator.THIRD_PARTY,
        provider=Warehouse.Provider.SHIPBOB,
    )
    for warehouse, locations in {
        reno: [
            ("RCV-DOCK-1", "Dock door 1", Location.Kind.RECEIVING),
            ("RCV-DOCK-2", "Dock door 2", Location.Kind.RECEIVING),
            ("INS-BENCH-1", "Inspection bench 1", Location.Kind.INSPECTION),
            ("INS-BENCH-2", "Inspection bench 2", Location.Kind.INSPECTION),
            ("QUA-CAGE", "Quarantine cage", Location.Kind.QUARANTINE),
            ("A-01-01", "Aisle A, bay 1", Location.Kind.STOCK),
            ("A-01-02", "Aisle A, bay 2", Location.Kind.STOCK),
            ("REF-1", "Refurb station", Location.Kind.REFURBISHMENT),
            ("RTV-1", "Return to vendor", Location.Kind.VENDOR_RETURN),
        ],
        chicago: [
            ("RECV", "Receiving", Location.Kind.RECEIVING),
            ("STOCK", "Pickable stock", Location.Kind.STOCK),
            ("DMG", "Damaged", Location.Kind.DISPOSAL),
        ],
    }.items():
        for code, name, kind in locations:
            LocationFactory(warehouse=warehouse, code=code, name=name, kind=kind)

    WorkerHeartbeat.objects.create(hostname="celery@worker-1", last_seen_at=now)
