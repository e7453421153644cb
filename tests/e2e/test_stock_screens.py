"""Stock screens in real Chromium: an operations manager looks up a SKU and a serial; the
warehouse reads a SKU's stock on a tablet. Screenshots go to
test-artifacts/screenshots/stock-*.png."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from erp.models import Location, OrderLine, Product
from erp.roles import Role
from inventory import services
from inventory.models import CauseType, ChannelRule, SafetyStock
from inventory.models import StockState as S
from tests.e2e.browser import screenshot, sign_in

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SERIAL = "356938035643809"


@pytest.fixture
def stock(shop_data):
    """Three weeks of a returns centre's ledger: tees received, put away, reserved and
    shipped, returns waiting for inspection or quarantined; a phone sold, returned and
    quarantined for verification (high value)."""
    now = timezone.now()
    loc = {location.code: location for location in Location.objects.all()}
    tee = Product.objects.get(sku="TEE-NAVY-M")
    phone = Product.objects.get(sku="PH-AUR-128")
    store = tee.listings.get().channel
    SafetyStock.objects.create(channel=store, product=tee, qty=5)
    ChannelRule.objects.create(
        channel=phone.listings.get(channel__code="amazon-us").channel,
        sellable_states=[S.AVAILABLE],
    ).warehouses.set([loc["A-01-01"].warehouse])

    def at(days: int):
        return now - timedelta(days=days)

    def receive(product, qty, key, location, days, **extra):
        services.stock_receive(
            product_id=product.pk,
            location_id=loc[location].pk,
            qty=qty,
            idempotency_key=key,
            occurred_at=at(days),
            **extra,
        )

    def move(qty, key, source, target, days, **extra):
        services.stock_move(
            product_id=tee.pk,
            qty=qty,
            from_location_id=loc[source[0]].pk,
            from_state=source[1],
            to_location_id=loc[target[0]].pk,
            to_state=target[1],
            idempotency_key=key,
            occurred_at=at(days),
            **extra,
        )

    receive(tee, 40, "tee-po-1", "A-01-01", 20, cause_id="PO-7781")
    receive(tee, 12, "tee-3pl", "STOCK", 18, cause_id="PO-7790")
    move(8, "tee-putaway", ("A-01-01", S.AVAILABLE), ("A-01-02", S.AVAILABLE), 15)
    receive(
        tee,
        6,
        "tee-returns",
        "RCV-DOCK-1",
        9,
        to_state=S.RECEIVED_PENDING_INSPECTION,
        cause_type=CauseType.RETURN_CASE,
        cause_id="RMA-100231",
    )
    move(
        2,
        "tee-inspect",
        ("RCV-DOCK-1", S.RECEIVED_PENDING_INSPECTION),
        ("QUA-CAGE", S.QUARANTINED),
        4,
        cause_type=CauseType.INSPECTION,
        cause_id="INS-5521",
    )
    services.stock_reserve(
        product_id=tee.pk,
        location_id=loc["A-01-01"].pk,
        qty=4,
        idempotency_key="tee-reserve",
        cause_id="51200",
        occurred_at=at(2),
    )
    tee_line = OrderLine.objects.get(order__number="51200", line_number=2)
    services.stock_ship(
        order_line_id=tee_line.pk,
        location_id=loc["A-01-01"].pk,
        qty=1,
        idempotency_key="tee-ship",
        occurred_at=at(1),
    )

    receive(
        phone, 3, "phone-po", "A-01-01", 21, serials=[SERIAL, "356938035643817", "35693803564382"]
    )
    phone_line = OrderLine.objects.filter(product=phone).order_by("order__placed_at").first()
    services.stock_ship(
        order_line_id=phone_line.pk,
        location_id=loc["A-01-01"].pk,
        qty=1,
        from_state=S.AVAILABLE,
        serials=[SERIAL],
        idempotency_key="phone-ship",
        occurred_at=at(12),
    )
    receive(
        phone,
        1,
        "phone-return",
        "RCV-DOCK-1",
        5,
        to_state=S.RECEIVED_PENDING_INSPECTION,
        serials=[SERIAL],
        cause_type=CauseType.RETURN_CASE,
        cause_id="RMA-100240",
    )
    services.unit_transition(
        product_id=phone.pk,
        serial=SERIAL,
        to_state=S.QUARANTINED,
        to_location_id=loc["QUA-CAGE"].pk,
        cause_type=CauseType.INSPECTION,
        cause_id="INS-5530",
        reason="High value: verify the IMEI before restocking.",
        idempotency_key="phone-inspect",
        occurred_at=at(3),
    )
    return phone_line


def test_operations_manager_looks_up_a_sku_and_a_serial(page, live_server, make_user, stock):
    make_user(Role.OPERATIONS_MANAGER)
    sign_in(page, Role.OPERATIONS_MANAGER)

    # The overview: every stocked SKU by key state
    page.get_by_role("link", name="Stock", exact=True).click()
    expect(page.get_by_role("heading", name="Stock", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name="TEE-NAVY-M")).to_contain_text("57")
    screenshot(page, "stock-overview")

    # A SKU typed into the search opens its page
    page.get_by_label("SKU, name, GTIN or serial number").fill("tee-navy-m")
    page.get_by_role("button", name="Find").click()
    assert page.url == live_server.url + reverse("inventory_sku", kwargs={"key": "TEE-NAVY-M"})
    where = page.locator("section", has=page.get_by_role("heading", name="Where it is"))
    expect(where.locator("tfoot")).to_contain_text("57")
    ats = page.locator("section", has=page.get_by_role("heading", name="Available to sell"))
    expect(ats.get_by_role("row", name="Storefront US")).to_contain_text("43")
    chart = page.evaluate(
        "() => { const c = Chart.getChart('stock-chart-canvas');"
        " return c && c.data.datasets.map(d => d.label); }"
    )
    assert "Available" in chart
    assert "Quarantined" in chart
    ledger = page.locator("section", has=page.get_by_role("heading", name="Movements"))
    expect(ledger.get_by_role("link", name="Order store-us #51200, line 2")).to_be_visible()
    screenshot(page, "stock-sku")

    # A serial typed into the search opens its life
    page.goto(reverse("inventory_overview"))
    page.get_by_label("SKU, name, GTIN or serial number").fill(SERIAL)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{reverse('inventory_unit', kwargs={'serial': SERIAL})}")
    expect(page.get_by_role("heading", name=f"Serial {SERIAL}")).to_be_visible()
    order = stock.order
    expect(page.get_by_role("link", name=f"{order.channel.name} #{order.number}")).to_be_visible()
    kinds = page.locator("#main table.data tbody tr td:nth-child(2)").all_inner_texts()
    assert kinds == ["Receive", "Ship", "Receive", "Unit transition"]
    expect(page.get_by_text("High value: verify the IMEI")).to_be_visible()
    screenshot(page, "stock-unit")
    assert page.errors == []


def test_warehouse_reads_a_skus_stock_on_a_tablet(page, make_user, stock):
    make_user(Role.WAREHOUSE)
    sign_in(page, Role.WAREHOUSE)
    page.set_viewport_size({"width": 1024, "height": 768})

    page.goto(reverse("inventory_sku", kwargs={"key": "TEE-NAVY-M"}))

    assert page.locator("body").get_attribute("class") == "touch"
    expect(page.get_by_role("heading", name="Where it is")).to_be_visible()
    assert_fits(page)
    screenshot(page, "stock-sku-warehouse", (1024, 768))
    page.goto(reverse("inventory_overview"))
    assert_fits(page)
    screenshot(page, "stock-overview-warehouse", (1024, 768))
    assert page.errors == []


def assert_fits(page) -> None:
    """Neither the page nor any of its tables scrolls sideways on the tablet."""
    assert not page.evaluate("() => document.documentElement.scrollWidth > innerWidth")
    overflowing = page.locator(".table-wrap").evaluate_all(
        "els => els.filter(el => el.scrollWidth > el.clientWidth).length"
    )
    assert overflowing == 0
