"""An operations manager works the exception queue in real Chromium: finds an overdue
exception, takes it, and resolves it with a reason. Screenshots go to
test-artifacts/screenshots/exceptions-*-1280x800.png."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from erp import services
from erp.models import ExceptionCase, Product, SalesOrder
from erp.models.exceptions import ExceptionKind, ExceptionState, SubjectType
from erp.roles import Role
from erp.security import history_rewrite_allowed
from tests.e2e.browser import screenshot, sign_in
from tests.factories import ExceptionCaseFactory, ExceptionNoteFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

Kind = ExceptionKind


@pytest.fixture
def exception_queue(shop_data, make_user):
    """A morning's queue: an overdue SKU mismatch reported twice, an escalated fraud review,
    a failed refund, a carrier damage claim and a reconciliation variance."""
    now = timezone.now()
    wes = make_user(Role.WAREHOUSE, username="wes.parker")
    make_user(Role.FINANCE, username="fay.okafor")
    tee = Product.objects.get(sku="TEE-NAVY-M")
    order = SalesOrder.objects.get(number="51200")
    report = {
        "kind": Kind.SKU_MISMATCH,
        "subject_type": SubjectType.RETURN_CASE,
        "subject_id": 100231,
        "subject_label": "RMA-100231",
        "product": tee,
        "sales_order": order,
    }
    mismatch = services.exception_open(
        **report,
        summary="Received a size L where the RMA says M",
        details="Unit scanned at Reno dock 1; the label on the bag reads TEE-NAVY-M.",
        evidence={"expected_sku": "TEE-NAVY-M", "scanned_sku": "TEE-NAVY-L", "dock": "RCV-DOCK-1"},
    )
    services.exception_open(
        **report,
        summary="Inspection confirms a size L",
        evidence={"photo": "inspection/100231-1.jpg"},
    )
    # Aged as if it came in yesterday morning, so it is past its 24-hour SLA.
    aged = {"opened_at": now - timedelta(hours=27), "sla_due_at": now - timedelta(hours=3)}
    ExceptionCase.objects.filter(pk=mismatch.pk).update(**aged)
    with transaction.atomic(), history_rewrite_allowed():  # history is append-only
        mismatch.history.update(**aged, history_date=aged["opened_at"])
    mismatch.notes.update(created_at=now - timedelta(hours=22))
    fraud = ExceptionCaseFactory(
        kind=Kind.FRAUD_REVIEW,
        subject_id="100245",
        subject_label="RMA-100245",
        summary="Third high-value return on this account in 30 days",
        state=ExceptionState.ESCALATED,
        assignee=wes,
        opened_at=now - timedelta(hours=13),
        sla_due_at=now - timedelta(hours=1),
        escalated_at=now - timedelta(hours=1),
    )
    ExceptionNoteFactory(exception=fraud, author=wes, body="Box weighed 180 g; a phone is 410 g.")
    ExceptionCaseFactory(
        kind=Kind.REFUND_FAILURE,
        subject_type=SubjectType.REFUND,
        subject_id="5512",
        subject_label="Refund R-5512",
        summary="Card issuer declined the refund (expired card)",
        opened_at=now - timedelta(hours=2),
        sla_due_at=now + timedelta(hours=6),
    )
    ExceptionCaseFactory(
        kind=Kind.DAMAGED_IN_TRANSIT,
        subject_type=SubjectType.ORDER,
        subject_id=str(SalesOrder.objects.get(number="51203").pk),
        subject_label="Order #51203",
        summary="Carrier scan shows the parcel crushed in transit",
        opened_at=now - timedelta(hours=5),
        sla_due_at=now + timedelta(hours=43),
    )
    ExceptionCaseFactory(
        kind=Kind.RECONCILIATION_VARIANCE,
        subject_type=SubjectType.VARIANCE,
        subject_id="88",
        subject_label="PH-AUR-128 @ chi-3pl",
        summary="3PL reports 2 fewer available units than the ledger",
        opened_at=now - timedelta(days=1, hours=4),
        sla_due_at=now + timedelta(hours=20),
    )
    return mismatch


def test_operations_manager_takes_and_resolves_an_overdue_exception(
    page, live_server, make_user, exception_queue
):
    # Given an operations manager and a queue with an overdue SKU mismatch at its top
    make_user(Role.OPERATIONS_MANAGER, username="olivia.chen")
    sign_in(page, "olivia.chen")

    # When they open the queue from the navigation
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exceptions").click()
    page.wait_for_load_state("load")

    # Then the overdue ones come first, marked as such
    assert page.url == live_server.url + reverse("exception_list")
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("RMA-100231")
    expect(page.locator("tr.row-overdue")).to_have_count(2)
    screenshot(page, "exceptions-queue")

    # And the "overdue only" filter narrows the table in place, keeping the URL shareable
    page.get_by_label("Overdue only").check()
    expect(rows).to_have_count(2)
    assert "overdue=on" in page.url
    page.get_by_label("Overdue only").uncheck()
    expect(rows).to_have_count(5)

    # When they open the SKU mismatch
    page.get_by_role("link", name="SKU mismatch").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("SKU mismatch: RMA-100231")
    expect(page.locator("ol.timeline > li")).to_have_count(2)
    screenshot(page, "exceptions-detail")

    # And assign it to themself (the form offers them first)
    assignee = page.get_by_label("Assignee")
    expect(assignee.locator("option:checked")).to_have_text("Me (olivia.chen)")
    page.get_by_role("button", name="Assign").click()
    expect(page.locator(".messages")).to_contain_text("Assigned.")
    expect(page.locator("h1 .badge").first).to_have_text("Assigned")

    # And resolve it with a reason
    page.get_by_label("Reason").fill(
        "Customer sent a size L by mistake. Re-labelled as TEE-NAVY-L and restocked."
    )
    page.get_by_role("button", name="Resolve").click()

    # Then it is resolved, with the reason and every step on its timeline
    expect(page.locator(".messages")).to_contain_text("Resolved.")
    expect(page.locator("h1 .badge").first).to_have_text("Resolved")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Assigned to olivia.chen")
    expect(timeline).to_contain_text("Customer sent a size L by mistake.")
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
    screenshot(page, "exceptions-resolved")

    exception_queue.refresh_from_db()
    assert exception_queue.state == ExceptionState.RESOLVED
    assert exception_queue.resolved_by.username == "olivia.chen"
    assert page.errors == []
