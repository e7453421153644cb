"""An operations manager opens the disposition rules from the operations home, previews which rule
decides a unit and edits one, at 1280 x 800; and the bench's match screen says what came in
place of a missing unit, on a tablet either way up. Screenshots go to
test-artifacts/screenshots/disposition-rules-*.png and warehouse-3-stand-in-*.png."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from erp.roles import Role
from tests.e2e.browser import screenshot, sign_in
from tests.factories.warehouse import case_in_transit, product_in, returns_warehouse, shipped_order
from warehouse.models import DispositionRule, DispositionRuleEdit

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TABLETS = [(768, 1024), (1024, 768)]


def test_a_manager_reaches_the_rules_from_the_operations_home_and_edits_one(page, make_user):
    manager = make_user(Role.OPERATIONS_MANAGER, username="olga")
    sign_in(page, manager.username)

    page.locator('nav[aria-label="Rules"]').get_by_role("link", name="Disposition rules").click()
    expect(page.get_by_role("heading", name="Disposition rules")).to_be_visible()
    # The top bar stays on one line at a laptop's width
    nav = page.locator('nav[aria-label="Main"]')
    tops = nav.locator("a").evaluate_all("els => els.map(el => el.getBoundingClientRect().top)")
    assert max(tops) - min(tops) < 5, tops
    screenshot(page, "disposition-rules-list")

    rule = DispositionRule.objects.order_by("-priority", "id").first()
    page.goto(reverse("warehouse_rule_edit", args=[rule.pk]))
    page.get_by_label("Priority").fill(str(rule.priority + 1))
    page.get_by_label("Why (kept in the rule's history)").fill("Raised above the grade rules")
    screenshot(page, "disposition-rules-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"Rule “{rule.name}” saved.")).to_be_visible()
    assert DispositionRuleEdit.objects.get(rule=rule).edited_by == manager
    assert page.errors == []


@pytest.mark.parametrize("size", TABLETS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_match_screen_says_what_came_instead_of_the_missing_unit(
    browser, live_server, make_user, size
):
    agent = make_user(Role.CUSTOMER_SERVICE, username="cara")
    manager = make_user(Role.OPERATIONS_MANAGER, username="olga")
    packer = make_user(Role.WAREHOUSE, username="pat")
    site = returns_warehouse(code="reno", name="Reno returns center")
    navy = product_in("apparel", sku="TEE-NAVY-M", name="Merino crew tee, navy, M")
    red = product_in("apparel", sku="TEE-RED-M", name="Merino crew tee, red, M")
    case = case_in_transit(
        shipped_order((navy, 1, "39.00", ()), warehouse=site), agent=agent, manager=manager
    )
    width, height = size
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": height}, has_touch=True
    )
    page = context.new_page()
    try:
        sign_in(page, packer.username)
        url = reverse("warehouse_receive_case", args=[site.pk, case.pk])
        page.goto(f"{url}?scans={red.gtin}")
        expect(page.locator("form .alert-warn")).to_have_text(
            "Expected 1 × TEE-NAVY-M; scanned TEE-RED-M instead — received into quarantine "
            "as a SKU mismatch, with the refund held."
        )
        screenshot(page, "warehouse-3-stand-in", size)
    finally:
        context.close()
