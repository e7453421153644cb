"""A customer-service agent finds an order, opens a return, sees the policy's decision and
the case's timeline, in real Chromium. Screenshots go to
test-artifacts/screenshots/returns-*-1280x800.png."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from erp.roles import Role
from returns.models import ReturnCase
from tests.e2e.browser import screenshot, sign_in

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_an_agent_opens_a_return_from_an_order(page, shop_data, make_user):
    agent = make_user(Role.CUSTOMER_SERVICE, username="cara.jones")
    sign_in(page, agent.username)
    page.goto(reverse("cs_home"))
    expect(page.get_by_role("heading", name="Find a return or an order")).to_be_visible()
    screenshot(page, "returns-1-home")

    # Lena calls about order 51203 (a hoodie, delivered 17 days ago)
    page.get_by_label("RMA, order number, customer e-mail, tracking number or serial").fill("51203")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="Orders")).to_be_visible()
    expect(page.get_by_text("No return matches.")).to_be_visible()
    screenshot(page, "returns-2-search")

    page.get_by_role("link", name="Start a return").click()
    expect(page.get_by_role("heading", name="Return from order #51203")).to_be_visible()
    page.get_by_label("Quantity to return, line 1").fill("1")
    page.get_by_label("Reason, line 1").select_option(label="Size too small")
    page.get_by_label("Claimed condition, line 1").select_option(label="Unopened")
    page.get_by_role("button", name="Check the policy").click()
    expect(
        page.get_by_role("heading", name="3. Decision: Authorized automatically")
    ).to_be_visible()
    expect(
        page.get_by_role("cell", name="Standard: 30 days, authorized automatically")
    ).to_be_visible()
    assert ReturnCase.objects.count() == 0
    screenshot(page, "returns-3-decision")

    page.get_by_role("button", name="Open the return").click()
    case = ReturnCase.objects.get()
    expect(page).to_have_url(
        f"{page.url.split('/cs/')[0]}{reverse('return_detail', args=[case.pk])}"
    )
    expect(page.get_by_role("heading", name="What happens next")).to_be_visible()
    expect(
        page.get_by_text("Not yet due: the refund is released once the warehouse")
    ).to_be_visible()
    timeline = page.locator("ol.timeline")
    expect(timeline.get_by_text("Requested via customer service")).to_be_visible()
    expect(timeline.get_by_text("Policy v1:")).to_be_visible()
    expect(
        timeline.get_by_text("Customer message queued: Return authorized, with instructions")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Record shipment")).to_be_visible()
    screenshot(page, "returns-4-case")

    # the RMA now finds the case from the one search box
    page.get_by_role("link", name="Customer service").first.click()
    page.get_by_label("RMA, order number, customer e-mail, tracking number or serial").fill(
        case.rma_number
    )
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=case.rma_number)).to_be_visible()
    assert page.errors == []
