"""Each role signs in through the real form and lands on its workspace, in real Chromium.

Screenshots of every landing page go to test-artifacts/screenshots/<role>-<w>x<h>.png so a
person can check the screens read well on a desktop and, for the warehouse, on tablets.
"""

import pytest
from django.urls import reverse

from erp.roles import Role
from tests.e2e.browser import DESKTOP, nav_entries, screenshot, sign_in

pytestmark = [
    pytest.mark.e2e,
    # Each test's data must be visible to the live server's thread, so it is committed; the
    # serialized rollback restores the roles and reason codes the migrations created.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TABLETS = [(1024, 768), (768, 1024)]

# Role → (the page it lands on, its navigation, a heading that proves the page has content)
LANDING = {
    Role.CUSTOMER_SERVICE: (
        "cs_home",
        ["Customer service", "Dashboards", "Exceptions", "Orders", "Catalog"],
        "51200",
    ),
    Role.WAREHOUSE: (
        "warehouse_home",
        ["Warehouse", "Dashboards", "Exceptions", "Catalog", "Stock"],
        "Reno returns center",
    ),
    Role.FINANCE: (
        "finance_home",
        ["Finance", "Dashboards", "Exceptions", "Orders", "Catalog", "Stock", "Reconciliation"],
        "Storefront EU",
    ),
    Role.OPERATIONS_MANAGER: (
        "operations_home",
        [
            "Customer service",
            "Operations",
            "Exceptions",
            "Orders",
            "Catalog",
            "Stock",
            "Quarantine",
            "Reconciliation",
            "Integrations",
        ],
        "Amazon US",
    ),
}
ALL_ENTRIES = [
    "Customer service",
    "Warehouse",
    "Finance",
    "Operations",
    "Dashboards",
    "Exceptions",
    "Orders",
    "Catalog",
    "Stock",
    "Quarantine",
    "Reconciliation",
    "Integrations",
    "Admin",
]
# The brand colour of the top bar: proves app.css was served and applied.
TOPBAR_BACKGROUND = "rgb(20, 50, 92)"


@pytest.mark.parametrize("role", list(LANDING), ids=str)
def test_role_signs_in_and_lands_on_its_workspace(page, live_server, make_user, shop_data, role):
    # Given a person in the role
    make_user(role)
    url_name, entries, content = LANDING[role]

    # When they sign in through the form
    sign_in(page, role)

    # Then they land on their workspace, with their navigation, styled, and with content
    assert page.url == live_server.url + reverse(url_name)
    assert nav_entries(page) == entries
    current = page.locator('nav[aria-label="Main"] a[aria-current="page"]')
    assert current.get_attribute("href") == reverse(url_name)
    assert page.locator(".account-role").inner_text() == role.label
    topbar = page.locator(".topbar").evaluate("el => getComputedStyle(el).backgroundColor")
    assert topbar == TOPBAR_BACKGROUND
    assert page.get_by_text(content).first.is_visible()
    assert page.errors == []

    sizes = [DESKTOP, *TABLETS] if role == Role.WAREHOUSE else [DESKTOP]
    for size in sizes:
        assert screenshot(page, str(role), size).stat().st_size > 10_000


def test_operations_chart_is_drawn(page, make_user, shop_data):
    make_user(Role.OPERATIONS_MANAGER)

    sign_in(page, Role.OPERATIONS_MANAGER)

    chart = page.evaluate(
        "() => { const c = Chart.getChart('orders-chart');"
        " return c && {points: c.data.datasets[0].data.length,"
        " total: c.data.datasets[0].data.reduce((a, b) => a + b, 0)}; }"
    )
    assert chart == {"points": 31, "total": 12}
    assert page.errors == []


def test_warehouse_touch_targets_are_large_enough(page, make_user, shop_data):
    make_user(Role.WAREHOUSE)
    sign_in(page, Role.WAREHOUSE)

    for width, height in TABLETS:
        page.set_viewport_size({"width": width, "height": height})
        targets = page.locator("nav[aria-label='Main'] a, .topbar button, main button, main input")
        heights = targets.evaluate_all("els => els.map(el => el.getBoundingClientRect().height)")
        assert min(heights) >= 48, (width, height, heights)
        # Nothing spills sideways: tablets do not scroll horizontally.
        overflow = page.evaluate("() => document.documentElement.scrollWidth > innerWidth")
        assert not overflow, (width, height)


def test_administrator_lands_in_the_admin_and_sees_every_entry(
    page, live_server, make_user, shop_data
):
    make_user(Role.ADMINISTRATOR)

    sign_in(page, Role.ADMINISTRATOR)

    assert page.url == live_server.url + reverse("admin:index")
    assert page.get_by_role("link", name="Returns Back Office · Administration").is_visible()
    screenshot(page, str(Role.ADMINISTRATOR))
    # The back office itself offers them every workspace.
    page.goto(reverse("product_list"))
    assert nav_entries(page) == ALL_ENTRIES
    # Django's admin links no icon, so the browser probes /favicon.ico.
    assert [error for error in page.errors if not error.endswith("/favicon.ico")] == []


def test_signing_out_returns_to_the_sign_in_page(page, live_server, make_user, shop_data):
    make_user(Role.FINANCE)
    sign_in(page, Role.FINANCE)

    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state("load")

    assert page.url == live_server.url + reverse("login")
    assert nav_entries(page) == []
    page.goto(reverse("finance_home"))
    assert page.url.startswith(live_server.url + reverse("login"))
