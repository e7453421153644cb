"""The playbook's three scenarios (../shared/seed, "Realistic operational scenarios") driven
through the real UI in Chromium, each role signing in through the login form: customer service,
the carrier (a signed webhook to the live server), the warehouse on a tablet, the operations
manager and finance. Screenshots: test-artifacts/screenshots/journey-<scenario>-<step>-<w>x<h>
.png; each tablet step in both orientations (1024x768 and 768x1024).

Each scenario runs its background work on a real Celery worker on a private queue of the test
Redis broker: the carrier event's inbox processing and the refunds' payment (outbox dispatch)
in (a) and (b); the 3PL stock feed's inbox processing and the incremental reconciliation it
asks for in (c). Only (c)'s second reconciliation runs in this process, as the worker would
30 hours later: a worker's clock cannot be moved."""

import base64
import hashlib
import hmac
import json
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from erp.models import (
    ExceptionCase,
    InboundEvent,
    IntegrationCredential,
    Location,
    Product,
    Warehouse,
)
from erp.models.exceptions import ACTIVE_STATES
from erp.roles import Role
from finance.models import Refund, RefundState
from inventory.models import CauseType, ExternalLocation, ReconciliationVariance, StockBalance
from inventory.models import StockState as S
from inventory.reconciliation import run_incremental
from inventory.selectors import channel_ats_list
from inventory.services import stock_receive
from returns.models import ReturnCase
from tests.e2e.browser import SCREENSHOTS, sign_in
from tests.factories import ChannelFactory, LocationFactory, WarehouseFactory
from tests.factories.finance import refund_policy
from tests.factories.warehouse import (
    case_in_transit,
    gs1,
    product_in,
    returns_warehouse,
    shipped_order,
)
from tests.finance.provider_server import SECRET, running_provider
from tests.integrations.conftest import easypost_body, easypost_signature, sample_json
from tests.worker import running_worker, wait_for
from warehouse.models import QuarantineRecord

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TABLET = (1024, 768)
TABLET_PORTRAIT = (768, 1024)
DESKTOP = (1280, 800)
CARRIER_SECRET = "carrier-webhook-secret"
SHIPHERO_SECRET = "shiphero-webhook-secret"


def shot(page, scenario: str, step: str, size=DESKTOP) -> None:
    """The viewport and the full page; a tablet step also held upright, then the journey goes
    on in landscape."""
    for width, height in [TABLET_PORTRAIT, TABLET] if size == TABLET else [size]:
        page.set_viewport_size({"width": width, "height": height})
        path = SCREENSHOTS / f"journey-{scenario}-{step}-{width}x{height}.png"
        page.screenshot(path=path)
        page.screenshot(path=path.with_stem(f"{path.stem}-full"), full_page=True)


@contextmanager
def session(browser, live_server, user, size=DESKTOP):
    """A fresh browser context for one person (touch on a tablet), signed in through the
    login form; failed requests and script errors are collected in `page.errors`."""
    width, height = size
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": width, "height": height},
        has_touch=size == TABLET,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and response.status != 422
            and page.errors.append(f"{response.status} {response.url}")
        ),
    )
    try:
        sign_in(page, user.username)
        yield page
        assert page.errors == []
    finally:
        context.close()


def on_hand(product) -> dict:
    rows = StockBalance.objects.filter(product=product, qty__gt=0).select_related("location")
    return {(b.location.code, b.state): b.qty for b in rows}


def ats(product) -> dict:
    return {row.channel.code: row.ats for row in channel_ats_list(product_id=product.pk)}


def open_kinds(case) -> set[str]:
    return set(
        ExceptionCase.objects.filter(
            subject_type="return_case", subject_id=str(case.pk), state__in=ACTIVE_STATES
        ).values_list("kind", flat=True)
    )


def scan(page, code: str) -> None:
    """What a keyboard-wedge scanner does: type into the focused scan field, then Enter."""
    field = page.locator("#scan-code")
    expect(field).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def post_carrier_event(live_server, *, tracking: str, status: str, at: str) -> dict:
    """EasyPost delivers a tracker.updated event to our webhook, signed as EasyPost signs."""
    body = easypost_body(
        event_id=f"evt_{tracking}_{status}", status=status, at=at, tracking=tracking
    )
    signature = easypost_signature(CARRIER_SECRET, body)
    request = urllib.request.Request(
        live_server.url + reverse("webhook_easypost", kwargs={"account": "carrier-main"}),
        data=body,
        headers={"Content-Type": "application/json", "X-Hmac-Signature": signature},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        return json.loads(response.read())


@pytest.fixture
def provider(settings):
    with running_provider() as provider:
        settings.PAYMENT_PROVIDER_URL = provider.url
        settings.PAYMENT_PROVIDER_SECRET_KEY = SECRET
        settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS = 5
        yield provider


@pytest.fixture
def worker(provider, settings):
    """A real Celery worker on a private queue of the test Redis broker, paying through the
    provider server; the live server (this process) and the worker send their tasks (inbox,
    outbox, reconciliation) to that queue."""
    queue = f"journey-{uuid.uuid4().hex[:12]}"
    env = {
        "ERP_INTEGRATION_QUEUE": queue,
        "ERP_RECONCILIATION_QUEUE": queue,
        "PAYMENT_PROVIDER_URL": provider.url,
        "PAYMENT_PROVIDER_SECRET_KEY": SECRET,
        "PAYMENT_PROVIDER_TIMEOUT_SECONDS": "5",
    }
    with running_worker(env=env, queue=queue):
        settings.ERP_INTEGRATION_QUEUE = queue
        settings.ERP_RECONCILIATION_QUEUE = queue
        yield queue


@pytest.fixture
def people(make_user):
    return {
        "cs": make_user(Role.CUSTOMER_SERVICE, username="cara.jones"),
        "warehouse": make_user(Role.WAREHOUSE, username="wes.parker"),
        "manager": make_user(Role.OPERATIONS_MANAGER, username="olivia.chen"),
        "finance": make_user(Role.FINANCE, username="fay.okafor"),
    }


# ---- a. Apparel bought on a marketplace, back without packaging and with the wrong label ----


@pytest.fixture
def apparel(db):
    refund_policy(trigger="on_authorization")
    IntegrationCredential.objects.create(
        source="easypost", account="carrier-main", secret=CARRIER_SECRET
    )
    site = returns_warehouse(code="reno", name="Reno returns center")
    jacket = product_in("apparel", sku="JKT-BLU-M", name="Rain jacket, blue, M", list_price="89.00")
    red = product_in("apparel", sku="JKT-RED-M", name="Rain jacket, red, M", list_price="89.00")
    order = shipped_order(
        (jacket, 1, "89.00", ()), channel_kind="marketplace", warehouse=site, days_ago=6
    )
    return {"site": site, "jacket": jacket, "red": red, "order": order}


@pytest.mark.worker
def test_a_marketplace_apparel_return_with_a_wrong_label_is_held_until_resolved_then_paid(
    browser, live_server, people, apparel, provider, worker
):
    site, jacket, red, order = (apparel[k] for k in ("site", "jacket", "red", "order"))
    tracking = "1ZJOURNEYA0000001"

    # Given customer service opens the return from the marketplace order
    with session(browser, live_server, people["cs"]) as page:
        page.goto(reverse("cs_home"))
        page.get_by_label("RMA, order number, customer e-mail, tracking number or serial").fill(
            order.number
        )
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="Start a return").click()
        page.get_by_label("Quantity to return, line 1").fill("1")
        page.get_by_label("Reason, line 1").select_option(label="Size too small")
        page.get_by_label("Claimed condition, line 1").select_option(label="Unopened")
        page.get_by_role("button", name="Check the policy").click()
        expect(
            page.get_by_role("heading", name="3. Decision: Authorized automatically")
        ).to_be_visible()
        page.get_by_role("button", name="Open the return").click()
        case = ReturnCase.objects.get()
        expect(page.get_by_role("heading", name="What happens next")).to_be_visible()
        # and records the shipment the customer reports
        page.get_by_label("Carrier (required)").fill("UPS")
        page.get_by_label("Tracking number (required)").fill(tracking)
        page.get_by_role("button", name="Record shipment").click()
        expect(page.locator("ol.timeline")).to_contain_text("Shipped with UPS")
        shot(page, "a", "1-case-shipped")
    refund = Refund.objects.get(case=case)
    assert refund.state == RefundState.PENDING_APPROVAL  # 89.00 is above auto-approval
    ats_before = (ats(jacket), ats(red))

    # When the carrier reports the parcel delivered (a signed EasyPost webhook)
    accepted = post_carrier_event(
        live_server, tracking=tracking, status="delivered", at="2026-11-22T15:00:00Z"
    )
    # Then the worker processes the event once, and the case is delivered
    wait_for(
        lambda: InboundEvent.objects.get(pk=accepted["event"]).status == "processed",
        timeout=30,
        what="the worker to process the carrier event",
    )
    assert InboundEvent.objects.get(pk=accepted["event"]).attempts == 1
    case.refresh_from_db()
    assert case.state == ReturnCase.State.DELIVERED

    # When the warehouse receives it on a tablet: the label says red, the packaging is gone
    with session(browser, live_server, people["warehouse"], TABLET) as page:
        page.goto(reverse("warehouse_queue", args=[site.pk]))
        expect(page.get_by_text(case.rma_number)).to_be_visible()
        shot(page, "a", "2-queue", TABLET)
        scan(page, case.rma_number)
        expect(page.get_by_role("heading", name=f"Receive {case.rma_number}")).to_be_visible()
        scan(page, red.gtin)
        expect(page.locator(".scanned")).to_contain_text("Flagged")
        page.get_by_label("Original packaging came back").uncheck()
        expect(
            page.get_by_text("received into quarantine as a SKU mismatch, with the refund held")
        ).to_be_visible()
        shot(page, "a", "3-mismatch", TABLET)
        page.get_by_role("button", name="Receive 1 unit").tap()
        expect(page.get_by_role("heading", name=f"Received {case.rma_number}")).to_be_visible()
        shot(page, "a", "4-received", TABLET)

    # Then the unit is in quarantine, exceptions are open, the refund is held, ATS unchanged
    assert on_hand(red) == {("CAGE", S.QUARANTINED): 1}
    assert on_hand(jacket) == {}
    assert open_kinds(case) == {"sku_mismatch", "packaging_missing"}
    refund.refresh_from_db()
    assert refund.state == RefundState.ON_HOLD
    assert (ats(jacket), ats(red)) == ats_before

    # And finance sees it on hold, with no way to approve it
    with session(browser, live_server, people["finance"]) as page:
        page.goto(reverse("refund_queue") + "?state=on_hold")
        expect(page.locator(f"#refund-{refund.pk}")).to_contain_text("SKU mismatch")
        shot(page, "a", "5-finance-on-hold")
        page.goto(reverse("refund_detail", args=[refund.pk]))
        expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    assert Refund.objects.get(pk=refund.pk).state == RefundState.ON_HOLD

    # When the operations manager resolves both exceptions with a reason
    with session(browser, live_server, people["manager"]) as page:
        for exception in ExceptionCase.objects.filter(
            subject_id=str(case.pk), state__in=ACTIVE_STATES
        ).order_by("pk"):
            page.goto(reverse("exception_detail", args=[exception.pk]))
            page.get_by_label("Reason").fill(
                "Customer returned the red jacket they also bought; re-labelled, refund due."
            )
            page.get_by_role("button", name="Resolve").click()
            expect(page.locator(".messages")).to_contain_text("Resolved.")
        shot(page, "a", "6-exception-resolved")
    assert open_kinds(case) == set()
    refund.refresh_from_db()
    assert refund.state == RefundState.PENDING_APPROVAL

    # Then finance approves it, and the worker pays it through the provider
    with session(browser, live_server, people["finance"]) as page:
        page.goto(reverse("refund_detail", args=[refund.pk]))
        page.get_by_role("button", name="Approve").click()
        expect(page.locator(".messages")).to_contain_text("approved")
        wait_for(
            lambda: Refund.objects.get(pk=refund.pk).state == RefundState.ISSUED,
            timeout=30,
            what="the worker to pay the refund",
        )
        assert provider.refund_requests() == 1
        page.reload()
        expect(page.locator("main")).to_contain_text("Issued")
        shot(page, "a", "7-refund-issued")
        # and the journal shows the refund's entry of 89.00
        page.goto(reverse("journal_list"))
        journal = page.locator("#journal-table tbody tr")
        expect(journal.filter(has_text="89.00").first).to_be_visible()
        shot(page, "a", "8-journal")
    refund.refresh_from_db()
    assert refund.state == RefundState.ISSUED
    assert (ats(jacket), ats(red)) == ats_before

    # And customer service's case page says where the refund is
    with session(browser, live_server, people["cs"]) as page:
        page.goto(reverse("return_detail", args=[case.pk]))
        expect(page.locator("ol.timeline")).to_contain_text("Delivered by carrier")
        shot(page, "a", "9-case-refunded")


# ---- b. High-value electronics: quarantined for serial verification and fraud review ---------


@pytest.fixture
def electronics(db, people):
    refund_policy(trigger="on_inspection")
    site = returns_warehouse(code="reno", name="Reno returns center")
    laptop = product_in(
        "electronics",
        sku="LAPTOP-15",
        name="Aurora 15 laptop",
        tracking=Product.Tracking.SERIAL,
        is_high_value=True,
        list_price="899.00",
        unit_cost="610.00",
    )
    order = shipped_order((laptop, 1, "899.00", ["LT-1001"]), warehouse=site)
    case = case_in_transit(order, agent=people["cs"], manager=people["manager"])
    return {"site": site, "laptop": laptop, "case": case}


@pytest.mark.worker
def test_b_a_high_value_unit_stays_quarantined_until_another_manager_releases_it(
    browser, live_server, people, electronics, make_user, provider, worker
):
    site, laptop, case = (electronics[k] for k in ("site", "laptop", "case"))

    # Given the warehouse receives the laptop on a tablet, scanning its GS1 label with serial
    with session(browser, live_server, people["warehouse"], TABLET) as page:
        page.goto(reverse("warehouse_queue", args=[site.pk]))
        scan(page, case.rma_number)
        expect(page.get_by_role("heading", name=f"Receive {case.rma_number}")).to_be_visible()
        scan(page, gs1(laptop, serial="LT-1001"))
        expect(page.locator(".scanned")).to_contain_text("Matched")
        expect(page.locator(".scanned")).to_contain_text("SN LT-1001")
        shot(page, "b", "1-match", TABLET)
        page.get_by_role("button", name="Receive 1 unit").tap()
        page.get_by_role("link", name="Next: inspect").tap()

        # When it is inspected as grade A and the bench accepts the suggested disposition
        for question, answer in [
            ("Powers on", "Yes"),
            ("Serial on the device matches the label", "Yes"),
            ("All accessories present", "Yes"),
            ("Factory reset done", "Yes"),
            ("Screen or casing damage", "No"),
        ]:
            page.get_by_role("group", name=question).get_by_text(answer, exact=True).tap()
        page.locator(".grades label").filter(has_text="A").first.tap()
        shot(page, "b", "2-inspect", TABLET)
        page.get_by_role("button", name="Save inspection").tap()
        expect(page.locator(".suggestion")).to_contain_text("uarantine")
        shot(page, "b", "3-disposition", TABLET)
        page.get_by_role("button", name="Accept: Quarantine").tap()
        expect(page.locator("main")).to_contain_text("uarantine")

        # Then it is in quarantine, and the receiver has no way to release it
        page.goto(reverse("warehouse_quarantine"))
        expect(page.locator("table.data")).to_contain_text("fraud_review_resolved")
        expect(page.get_by_role("button", name="Release")).to_have_count(0)
        shot(page, "b", "4-quarantine-receiver", TABLET)

    assert on_hand(laptop) == {("CAGE", S.QUARANTINED): 1}
    assert set(ats(laptop).values()) <= {0}
    assert "fraud_review" in open_kinds(case)
    refund = Refund.objects.get(case=case)
    assert refund.state == RefundState.ON_HOLD

    # When the operations manager tries to release it while the fraud review is open
    with session(browser, live_server, people["manager"]) as page:
        page.goto(reverse("warehouse_quarantine"))
        page.get_by_label("Release to").select_option(label="Restock")
        page.get_by_label("Why release it?").fill("Looks fine")
        page.get_by_role("button", name="Release").click()
        # Then it is refused and the unit stays in quarantine
        expect(page.get_by_role("alert")).to_contain_text("Refused")
        shot(page, "b", "5-release-refused")
        assert on_hand(laptop) == {("CAGE", S.QUARANTINED): 1}

        # When they clear the fraud review with a reason, then release the unit with a reason
        review = ExceptionCase.objects.get(
            kind="fraud_review", subject_id=str(case.pk), state__in=ACTIVE_STATES
        )
        page.goto(reverse("exception_detail", args=[review.pk]))
        page.get_by_label("Reason").fill("Serial LT-1001 matches the order; account history clean.")
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator(".messages")).to_contain_text("Resolved.")
        page.goto(reverse("warehouse_quarantine"))
        page.get_by_label("Release to").select_option(label="Restock")
        page.get_by_label("Why release it?").fill("Serial verified, fraud review clear")
        page.get_by_role("button", name="Release").click()
        expect(page.get_by_text("Nothing is in quarantine.")).to_be_visible()
        shot(page, "b", "6-released")

    # Then it is available, counted in ATS, and the release names who and why
    assert on_hand(laptop) == {("A-01", S.AVAILABLE): 1}
    assert set(ats(laptop).values()) == {1}
    record = QuarantineRecord.objects.get(unit__case=case)
    assert (record.state, record.released_by) == ("released", people["manager"])
    assert record.release_reason == "Serial verified, fraud review clear"

    # And only now finance approves the refund (over the clerk's limit: a controller does)
    refund.refresh_from_db()
    assert refund.state == RefundState.PENDING_APPROVAL
    controller = make_user(Role.FINANCE, username="carl.controller")
    controller.user_permissions.add(Permission.objects.get(codename="approve_refund_unlimited"))
    with session(browser, live_server, controller) as page:
        page.goto(reverse("refund_detail", args=[refund.pk]))
        page.get_by_role("button", name="Approve").click()
        expect(page.locator(".messages")).to_contain_text("approved")
        shot(page, "b", "7-refund-approved")
        # and the worker pays it through the provider, once
        wait_for(
            lambda: Refund.objects.get(pk=refund.pk).state == RefundState.ISSUED,
            timeout=30,
            what="the worker to pay the refund",
        )
        assert provider.refund_requests() == 1
        page.reload()
        expect(page.locator("main")).to_contain_text("Issued")
        shot(page, "b", "8-refund-issued")
    assert Refund.objects.get(pk=refund.pk).approved_by == controller


# ---- c. Health & beauty at a 3PL: the disposition arrives late -------------------------------


@pytest.fixture
def three_pl(db, people):
    IntegrationCredential.objects.create(source="shiphero", account="main", secret=SHIPHERO_SECRET)
    site = WarehouseFactory(
        code="hb-3pl",
        name="Columbus fulfilment (ShipHero)",
        operator=Warehouse.Operator.THIRD_PARTY,
        provider="shiphero",
    )
    ExternalLocation.objects.create(source="shiphero", external_code="12345", warehouse=site)
    shelf = LocationFactory(warehouse=site, code="STOCK", kind=Location.Kind.STOCK)
    dock = LocationFactory(warehouse=site, code="DOCK", kind=Location.Kind.RECEIVING)
    cream = product_in(
        "health_beauty", sku="CRM-HYD-50", name="Hydra face cream 50 ml", unit_cost="6.15"
    )
    ChannelFactory(code="store")
    stock_receive(
        product_id=cream.pk,
        location_id=shelf.pk,
        qty=50,
        idempotency_key="cream-po",
        occurred_at=timezone.now() - timedelta(days=5),
    )
    return {"site": site, "dock": dock, "cream": cream}


def post_shiphero_inventory(live_server, *, sku: str, on_hand: int, available: int) -> dict:
    """ShipHero's "Inventory Update" webhook, signed with the account's secret."""
    data = sample_json("shiphero_webhook_inventory_update.json")
    item = data["inventory"][0]
    item.update(sku=sku, on_hand=str(on_hand), inventory=str(available), reserve=0)
    item["non_sellable"] = 0
    item["updated_warehouse"].update(
        on_hand=str(on_hand), inventory=str(available), reserve=0, non_sellable=0
    )
    body = json.dumps(data).encode()
    signature = base64.b64encode(
        hmac.new(SHIPHERO_SECRET.encode(), body, hashlib.sha256).digest()
    ).decode()
    request = urllib.request.Request(
        live_server.url + reverse("webhook_shiphero", kwargs={"account": "main"}),
        data=body,
        headers={"Content-Type": "application/json", "X-ShipHero-Hmac-SHA256": signature},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        return json.loads(response.read())


@pytest.mark.worker
def test_c_a_3pl_receipt_without_disposition_is_explained_then_late(
    browser, live_server, people, three_pl, settings, worker
):
    settings.RECONCILIATION_3PL_DISPOSITION_SLA_HOURS = 24
    cream, dock = three_pl["cream"], three_pl["dock"]
    now = timezone.now()

    # Given the 3PL reports it received 6 returned jars (pending its inspection)
    stock_receive(
        product_id=cream.pk,
        location_id=dock.pk,
        qty=6,
        to_state=S.RECEIVED_PENDING_INSPECTION,
        idempotency_key="shiphero-rma-receipt-1",
        cause_type=CauseType.RETURN_CASE,
        cause_id="RMA-3PL-0001",
        occurred_at=now - timedelta(hours=1),
    )
    # and its stock feed (a signed webhook) already counts them as on hand and available
    accepted = post_shiphero_inventory(live_server, sku=cream.sku, on_hand=56, available=56)

    # Then the worker records the feed once, and its incremental reconciliation of the SKU
    # explains the +6 by the pending disposition
    wait_for(
        lambda: InboundEvent.objects.get(pk=accepted["event"]).status == "processed",
        timeout=30,
        what="the worker to process the stock feed",
    )
    assert InboundEvent.objects.get(pk=accepted["event"]).attempts == 1
    wait_for(
        lambda: ReconciliationVariance.objects.filter(product=cream, bucket="sellable").exists(),
        timeout=30,
        what="the worker to reconcile the SKU",
    )
    sellable = ReconciliationVariance.objects.get(product=cream, bucket="sellable")
    assert (sellable.difference, sellable.explained, sellable.unexplained) == (6, 6, 0)
    # and the storefront still sells 50
    assert set(ats(cream).values()) == {50}

    with session(browser, live_server, people["manager"]) as page:
        page.goto(reverse("reconciliation_control_tower"))
        expect(page.get_by_role("heading", name="Reconciliation control tower")).to_be_visible()
        top = page.get_by_role("region", name="Top unexplained variances")
        expect(top).not_to_contain_text("CRM-HYD-50")
        shot(page, "c", "1-control-tower")
        page.goto(reverse("reconciliation_variance", args=[sellable.pk]))
        expect(
            page.get_by_role("region", name="Receipts waiting for the 3PL's disposition")
        ).to_contain_text("RMA-3PL-0001")
        shot(page, "c", "2-variance-explained")
        assert not ExceptionCase.objects.filter(kind="late_3pl_disposition").exists()

        # When the disposition is still missing past its SLA at the next reconciliation (run
        # here, as the worker's would run 30 hours later: its clock cannot be moved)
        run_incremental(product_ids=[cream.pk], now=now + timedelta(hours=30))

        # Then a late_3pl_disposition exception is on the manager's queue; no variance one
        page.goto(reverse("exception_list"))
        rows = page.locator("table.data tbody tr")
        expect(rows.filter(has_text="Late 3PL disposition")).to_have_count(1)
        expect(rows.filter(has_text="CRM-HYD-50")).to_have_count(1)
        shot(page, "c", "3-late-disposition")
    late = ExceptionCase.objects.get(kind="late_3pl_disposition", state__in=ACTIVE_STATES)
    assert late.evidence["pending"][0]["qty"] == 6
    assert not ExceptionCase.objects.filter(kind="reconciliation_variance").exists()
    assert set(ats(cream).values()) == {50}
