"""A packer at the bench, on a touch tablet held upright (768 x 1024) and on its side
(1024 x 768), receives a parcel with the scanner, inspects the unit and accepts the suggested
disposition, in real Chromium. Screenshots go to
test-artifacts/screenshots/warehouse-<step>-<w>x<h>.png."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from erp.roles import Role
from returns.models import ReturnCase
from tests.e2e.browser import SCREENSHOTS, sign_in
from tests.factories.warehouse import case_in_transit, product_in, returns_warehouse, shipped_order
from warehouse.models import Disposition, PutawayTask

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TABLETS = [(768, 1024), (1024, 768)]
# The WCAG 2.2 "target size (enhanced)" minimum; the bench's targets are bigger still.
MIN_TARGET = 44
TARGETS = (
    "main button:visible, main .btn:visible, main input[type=text]:visible, "
    "main textarea:visible, main select:visible, .segmented label, .grades label, .toggle"
)


def shot(page, name: str, size: tuple[int, int]) -> None:
    width, height = size
    path = SCREENSHOTS / f"warehouse-{name}-{width}x{height}.png"
    page.screenshot(path=path)
    page.screenshot(path=path.with_stem(f"{path.stem}-full"), full_page=True)


def assert_tablet_friendly(page) -> None:
    """Every target a finger needs is at least 44 px high, nothing spills sideways, and the
    step indicator is in view."""
    heights = page.locator(TARGETS).evaluate_all(
        "els => els.map(el => [el.outerHTML.slice(0, 60), el.getBoundingClientRect().height])"
    )
    small = [(html, h) for html, h in heights if h < MIN_TARGET]
    assert not small, small
    assert not page.evaluate("() => document.documentElement.scrollWidth > innerWidth")
    expect(page.locator("ol.steps")).to_be_in_viewport()


def scan(page, code: str) -> None:
    """What a keyboard-wedge scanner does: type into the focused field, then Enter."""
    field = page.locator("#scan-code")
    expect(field).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


@pytest.fixture
def bench_data(make_user):
    agent = make_user(Role.CUSTOMER_SERVICE, username="cara")
    manager = make_user(Role.OPERATIONS_MANAGER, username="olga")
    packer = make_user(Role.WAREHOUSE, username="pat")
    site = returns_warehouse(code="reno", name="Reno returns center")
    shirt = product_in("apparel", sku="TEE-NAVY-M", name="Merino crew tee, navy, M")
    cases = [
        case_in_transit(
            shipped_order((shirt, 1, "39.00", ()), warehouse=site), agent=agent, manager=manager
        )
        for _ in TABLETS
    ]
    return packer, site, shirt, cases


@pytest.mark.parametrize("size", TABLETS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_packer_receives_inspects_and_dispositions_on_a_tablet(
    browser, live_server, bench_data, size
):
    packer, site, shirt, cases = bench_data
    case = cases[TABLETS.index(size)]
    width, height = size
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": width, "height": height},
        has_touch=True,
        is_mobile=False,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and response.status != 422
            and errors.append(f"{response.status} {response.url}")
        ),
    )
    try:
        sign_in(page, packer.username)
        # The queue: the parcels on their way, the scan field focused
        page.goto(reverse("warehouse_queue", args=[site.pk]))
        expect(page.get_by_role("heading", name="Inbound returns")).to_be_visible()
        expect(page.get_by_text(case.rma_number)).to_be_visible()
        assert_tablet_friendly(page)
        shot(page, "1-queue", size)

        # Scan: a misread label first, then the RMA label
        scan(page, "4006381333932")
        expect(page.locator("#scan-error")).to_contain_text("Check digit wrong")
        shot(page, "2-bad-scan", size)
        scan(page, case.rma_number)
        expect(page.get_by_role("heading", name=f"Receive {case.rma_number}")).to_be_visible()
        expect(page.locator('ol.steps li[aria-current="step"]')).to_have_text("Match")

        # Match: the unit's barcode; the list fills in and the field is ready again
        scan(page, shirt.gtin)
        expect(page.locator(".scanned")).to_contain_text("Matched")
        expect(page.locator(".count").first).to_have_text("1 / 1")
        expect(page.locator("#scan-code")).to_be_focused()  # ready for the next unit
        assert page.url.endswith(f"?scans={shirt.gtin}")  # a reload keeps the list
        assert_tablet_friendly(page)
        shot(page, "3-match", size)
        redirects = []
        page.on("response", lambda r: 300 <= r.status < 400 and redirects.append(r.url))
        page.get_by_role("button", name="Receive 1 unit").tap()

        # Received: the receipt's page in the receive's own answer (htmx), its address in
        # the address bar; on to the inspection
        expect(page.get_by_role("heading", name=f"Received {case.rma_number}")).to_be_visible()
        receipt = case.receipts.get()
        expect(page).to_have_url(
            f"{live_server.url}{reverse('warehouse_receipt', args=[receipt.pk])}"
        )
        expect(page).to_have_title(re.compile(f"Received {case.rma_number}"))
        assert redirects == []
        shot(page, "3b-received", size)
        for other in [(820, 1180), (1440, 900)]:
            page.set_viewport_size({"width": other[0], "height": other[1]})
            shot(page, "3b-received", other)
        page.set_viewport_size({"width": width, "height": height})
        page.get_by_role("link", name="Next: inspect").tap()

        # Inspect: the apparel checklist as big yes/no buttons, grade A
        expect(page.get_by_role("heading", name="Inspect")).to_be_visible()
        for question, answer in [
            ("Tags attached", "Yes"),
            ("Worn or washed", "No"),
            ("Stains", "No"),
            ("Odour", "No"),
        ]:
            group = page.get_by_role("group", name=question)
            group.get_by_text(answer, exact=True).tap()
        page.locator(".grades label").filter(has_text="A").first.tap()
        page.get_by_label("Notes").fill("Tags on, folded")
        assert_tablet_friendly(page)
        shot(page, "4-inspect", size)
        page.get_by_role("button", name="Save inspection").tap()

        # Disposition: the suggestion and its rule; accept in one tap
        expect(page.locator(".suggestion")).to_contain_text("Grade A is as new: restock")
        expect(page.locator('ol.steps li[aria-current="step"]')).to_have_text("Disposition")
        assert_tablet_friendly(page)
        shot(page, "5-disposition", size)
        page.get_by_role("button", name="Accept: Restock").tap()

        # Put away: where the unit goes
        expect(page.locator(".destination")).to_contain_text("Take it to")
        task = PutawayTask.objects.get(unit__case=case)
        expect(page.locator(".destination")).to_contain_text(task.to_location.code)
        expect(page.locator('ol.steps li[aria-current="step"]')).to_have_text("Put away")
        shot(page, "6-putaway", size)

        assert Disposition.objects.get(unit__case=case).outcome == "restock"
        assert ReturnCase.objects.get(pk=case.pk).state == ReturnCase.State.INSPECTED
        assert errors == []
    finally:
        context.close()
