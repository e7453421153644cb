"""The reconciliation control tower in real Chromium: an operations manager reads the variance
trend per source, drills down from the top unexplained variance to the events behind it,
accepts it as a correction, and follows a full run's progress. Screenshots go to
test-artifacts/screenshots/reconciliation-*.png."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from erp.models import Location, Product
from erp.roles import Role
from inventory import services
from inventory.models import (
    CauseType,
    ExternalLocation,
    ReconciliationRun,
    ReconciliationVariance,
    StockMovement,
)
from inventory.models import StockState as S
from inventory.reconciliation import (
    SnapshotLineIn,
    run_full_execute,
    run_incremental,
    snapshot_record,
)
from tests.e2e.browser import screenshot, sign_in

TABLET = (1024, 768)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def reconciled(shop_data):
    """A week of ShipBob summaries for the Chicago 3PL: tees it counts two short of us, face
    cream whose returns wait for the 3PL's disposition, hoodies that agree; reconciled after
    each summary, so the trend has a point per day."""
    now = timezone.now()
    loc = {location.code: location for location in Location.objects.all()}
    chicago = loc["STOCK"].warehouse
    ExternalLocation.objects.create(source="shipbob", external_code="CHI-1", warehouse=chicago)
    tee = Product.objects.get(sku="TEE-NAVY-M")
    hoodie = Product.objects.get(sku="HOOD-GRY-L")
    products = [tee, hoodie]

    def receive(product, qty, key, days, location="STOCK", **extra):
        services.stock_receive(
            product_id=product.pk,
            location_id=loc[location].pk,
            qty=qty,
            idempotency_key=key,
            occurred_at=now - timedelta(days=days),
            **extra,
        )

    receive(tee, 60, "tee-po", 10)
    receive(hoodie, 25, "hoodie-po", 10)
    for day in range(7, 0, -1):
        if day == 3:
            receive(
                hoodie,
                4,
                "hoodie-returns",
                3,
                location="RECV",
                to_state=S.RECEIVED_PENDING_INSPECTION,
                cause_type=CauseType.RETURN_CASE,
                cause_id="RMA-100377",
            )
        taken = now - timedelta(days=day, hours=-1)
        short = 2 if day <= 4 else 0
        returns = 4 if day <= 3 else 0
        snapshot_record(
            source="shipbob",
            taken_at=taken,
            external_ref=f"chi-{day}",
            lines=[
                SnapshotLineIn(
                    sku="TEE-NAVY-M",
                    external_location="CHI-1",
                    on_hand=60 - short,
                    available=60 - short,
                ),
                SnapshotLineIn(
                    sku="HOOD-GRY-L",
                    external_location="CHI-1",
                    on_hand=25 + returns,
                    available=25 + returns,
                ),
            ],
        )
        run_incremental(product_ids=[p.pk for p in products], now=taken + timedelta(minutes=5))
    return {"tee": tee, "hoodie": hoodie}


def test_operations_manager_drills_down_and_accepts_a_variance(
    page, live_server, make_user, reconciled
):
    # Given an operations manager on the control tower
    manager = make_user(Role.OPERATIONS_MANAGER)
    sign_in(page, manager.username)
    page.goto(live_server.url + reverse("reconciliation_control_tower"))
    expect(page.get_by_role("heading", name="Reconciliation control tower")).to_be_visible()
    # Then ShipBob's unexplained units are charted and the tee tops the unexplained list
    expect(page.locator('canvas[data-chart-source="recon-units-data"]')).to_be_visible()
    top = page.get_by_role("region", name="Top unexplained variances")
    expect(top.get_by_role("link", name="TEE-NAVY-M").first).to_be_visible()
    expect(top).not_to_contain_text("HOOD-GRY-L")
    page.wait_for_timeout(300)  # the charts draw after DOMContentLoaded
    screenshot(page, "reconciliation-control-tower")
    screenshot(page, "reconciliation-control-tower", size=TABLET)
    page.set_viewport_size({"width": 1280, "height": 800})

    # When they open the hoodie's explained variance from the list of variances they reach
    hoodie = ReconciliationVariance.objects.get(product=reconciled["hoodie"], bucket="sellable")
    page.goto(live_server.url + reverse("reconciliation_variance", args=[hoodie.pk]))
    # Then the returns waiting for the 3PL's disposition explain it, with their receipt
    expect(
        page.get_by_role("region", name="Receipts waiting for the 3PL's disposition")
    ).to_contain_text("RMA-100377")
    screenshot(page, "reconciliation-variance-explained")

    # When they open the tee's variance from the control tower and accept it
    page.goto(live_server.url + reverse("reconciliation_control_tower"))
    top.get_by_role("link", name="TEE-NAVY-M").first.click()
    expect(page.get_by_role("heading", name="Accept the external figure")).to_be_visible()
    screenshot(page, "reconciliation-variance-unexplained")
    page.get_by_label("Reason").fill("Recount at Chicago confirmed 2 tees missing.")
    page.get_by_role("button", name="Post the correction").click()
    # Then an adjustment caused by the variance is posted
    expect(page.locator(".messages")).to_contain_text("Posted an adjustment of -2")
    assert StockMovement.objects.filter(cause_type=CauseType.SNAPSHOT_CORRECTION).count() == 1


def test_a_full_run_shows_its_progress_until_it_succeeds(page, live_server, make_user, reconciled):
    manager = make_user(Role.OPERATIONS_MANAGER)
    sign_in(page, manager.username)
    page.goto(live_server.url + reverse("reconciliation_control_tower"))
    # When they start a full run, its page polls the progress
    page.get_by_role("button", name="Run full reconciliation").click()
    expect(page.get_by_role("heading", name="Full run")).to_be_visible()
    expect(page.locator("#run-progress")).to_contain_text("Queued")
    screenshot(page, "reconciliation-run-queued")
    # and when a worker runs it, the page shows the outcome by itself
    run_full_execute(run_id=ReconciliationRun.objects.get(kind="full").pk)
    expect(page.locator("#run-progress")).to_contain_text("Succeeded", timeout=10_000)
    screenshot(page, "reconciliation-run-done")


def test_operations_manager_sets_a_tolerance_from_the_control_tower(
    page, live_server, make_user, reconciled
):
    # Given an operations manager on the control tower
    manager = make_user(Role.OPERATIONS_MANAGER)
    sign_in(page, manager.username)
    page.goto(live_server.url + reverse("reconciliation_control_tower"))
    # When they open the mappings and tolerances
    page.get_by_role("link", name="Mappings and tolerances").click()
    expect(page.get_by_role("heading", name="Mappings and tolerances")).to_be_visible()
    mappings = page.get_by_role("region", name="Source → warehouse mappings")
    expect(mappings).to_contain_text("CHI-1")
    # and add a ShipBob tolerance with a percentage over 100
    page.get_by_role("link", name="Add tolerance").click()
    page.get_by_label("Source").select_option("shipbob")
    page.get_by_label("Units").fill("2")
    page.get_by_label("Percent").fill("150")
    page.get_by_label("Why (kept in the history)").fill("Two units of slack during the recount")
    page.get_by_role("button", name="Save").click()
    # Then the form says why beside the field, and nothing is saved
    expect(page.get_by_role("alert")).to_contain_text("at most 100")
    screenshot(page, "reconciliation-tolerance-refused")
    # When they correct it and save
    page.get_by_label("Percent").fill("5")
    page.get_by_role("button", name="Save").click()
    # Then the list shows it and the change, with who and why
    expect(page.locator(".messages")).to_contain_text("Saved")
    history = page.get_by_role("region", name="Recent changes")
    expect(history).to_contain_text("Two units of slack during the recount")
    expect(history).to_contain_text(manager.username)
    screenshot(page, "reconciliation-setup")
    screenshot(page, "reconciliation-setup", size=TABLET)
    # the refusal answered 422 on purpose; nothing else failed to load
    assert [error for error in page.errors if not error.startswith("422 ")] == []
