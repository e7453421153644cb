"""Every dashboard in real Chromium: charts drawn, a number drilled into, and screenshots at
1280x800 in test-artifacts/screenshots/dashboard-<name>-1280x800.png (the warehouse one, read
on the warehouse's tablets, and the finance one also at 1024x768)."""

import pytest
from django.urls import reverse

from erp.roles import Role
from reporting.dashboards import DASHBOARDS
from tests.e2e.browser import screenshot, sign_in
from tests.reporting.builders import lifelike_history

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_every_dashboard_draws_its_charts_and_drills_down(page, make_user):
    # Given a month of returns and an operations manager, who opens every dashboard
    lifelike_history()
    manager = make_user(Role.OPERATIONS_MANAGER, username="dash-ops")
    sign_in(page, manager.username)

    for slug, dashboard in DASHBOARDS.items():
        # When they open the dashboard
        page.goto(reverse(f"dashboard_{slug}"))
        # Then its title, its freshness line and every chart are on the page
        assert page.get_by_role("heading", level=1).inner_text() == dashboard.title
        assert "daily snapshots, last built" in page.get_by_role("status").inner_text()
        page.wait_for_function(
            "() => [...document.querySelectorAll('canvas')].every(c => Chart.getChart(c))"
        )
        screenshot(page, f"dashboard-{slug}")
    # And the warehouse dashboard reads on a 1024x768 tablet, the finance one on a small laptop
    for slug in ("warehouse", "finance"):
        page.goto(reverse(f"dashboard_{slug}"))
        page.wait_for_function(
            "() => [...document.querySelectorAll('canvas')].every(c => Chart.getChart(c))"
        )
        screenshot(page, f"dashboard-{slug}", size=(1024, 768))
    page.set_viewport_size({"width": 1280, "height": 800})

    # When the manager follows "In transit" on the warehouse dashboard
    page.goto(reverse("dashboard_warehouse"))
    page.get_by_role("link", name="In transit").click()
    # Then the cases behind it are listed, each opening its case page
    assert page.get_by_role("heading", level=1).inner_text() == "Cases behind a number"
    rows = page.locator("table.data tbody tr")
    assert rows.count() > 0
    screenshot(page, "dashboard-drilldown")
    assert page.errors == []


def test_customer_service_opens_only_its_dashboard(page, make_user):
    lifelike_history(days=10)
    agent = make_user(Role.CUSTOMER_SERVICE, username="dash-cs")
    sign_in(page, agent.username)
    page.get_by_role("link", name="Dashboards").click()
    assert page.locator(".dash-index h2").all_inner_texts() == ["Customer service dashboard"]
    page.get_by_role("link", name="Customer service dashboard").click()
    # Filtering to one channel keeps the filter in the page's export links
    page.get_by_label("Channel", exact=True).select_option(label="Amazon US")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("load")
    export = page.get_by_role("link", name="CSV").first.get_attribute("href")
    assert "channel=" in export
    assert "export=csv" in export
    screenshot(page, "dashboard-cs-filtered")
    assert page.errors == []
