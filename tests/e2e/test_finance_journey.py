"""A finance clerk works the refund approval queue in real Chromium: reads the evidence beside
each refund, sees which are beyond their limit, bulk-approves the rest, and opens a refund's
page with its history; then proposes a partial refund and records a liquidation sale.
Screenshots: test-artifacts/screenshots/finance-*-<w>x<h>.png."""

import struct
import zlib
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from playwright.sync_api import expect

from erp.roles import Role
from erp.services import exception_open
from finance.models import Refund, RefundState
from returns.models import ReturnPhoto
from tests.e2e.browser import screenshot, sign_in
from tests.finance.refund_cases import inspect_all, open_case, receive, refund_of, ship
from warehouse.models import Disposition

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def png(width: int = 8, height: int = 8, rgb=(180, 120, 60)) -> bytes:
    """A small solid-colour PNG, for a case photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def queue(make_user, settings, tmp_path):
    """Four refunds: two the clerk may approve (one inspected, with a photo), one over their
    limit, and one held by an exception on its case."""
    settings.MEDIA_ROOT = tmp_path
    agent = make_user(Role.CUSTOMER_SERVICE, username="carla.cs")
    wes = make_user(Role.WAREHOUSE, username="wes.parker")
    clerk = make_user(Role.FINANCE, username="fay.okafor")

    trusted = refund_of(open_case(agent, quantity=2, price="34.50", trigger="on_authorization"))
    inspected_case = ship(open_case(agent, quantity=2, price="45.00", fee="10"), agent)
    ReturnPhoto.objects.create(
        case=inspected_case,
        image=SimpleUploadedFile("box.png", png()),
        content_type="image/png",
        size=len(png()),
    )
    receive(inspected_case, wes)
    inspect_all(inspected_case, wes, grades=("A", "C"))
    inspected = refund_of(inspected_case)
    big = refund_of(open_case(agent, quantity=3, price="249.00", trigger="on_authorization"))
    held = refund_of(open_case(agent, quantity=2, price="59.00", trigger="on_authorization"))
    exception_open(
        kind="channel_dispute",
        subject_type="return_case",
        subject_id=held.case_id,
        summary="Marketplace claim opened by the customer",
    )
    return {"clerk": clerk, "trusted": trusted, "inspected": inspected, "big": big, "held": held}


def test_a_clerk_bulk_approves_what_they_may_and_sees_why_not_the_rest(page, queue):
    trusted, inspected, big, held = (queue[k] for k in ("trusted", "inspected", "big", "held"))

    # given the clerk signs in and opens the refunds waiting for approval
    sign_in(page, queue["clerk"].username)
    page.goto(reverse("finance_home"))
    expect(page.get_by_text("Refunds to approve")).to_be_visible()
    screenshot(page, "finance-home")
    page.get_by_role("link", name="Refunds to approve").click()
    expect(page.get_by_role("heading", name="Refund approvals")).to_be_visible()

    # then each refund shows its evidence, and the one over the limit says why
    row = page.locator(f"#refund-{inspected.pk}")
    expect(row).to_contain_text("Grade A")
    expect(row).to_contain_text("Grade C")
    expect(row.locator("img")).to_have_count(1)
    expect(page.locator(f"#refund-{big.pk}")).to_contain_text("over your approval limit")
    expect(page.locator(f"#refund-{held.pk}")).to_have_count(0)
    screenshot(page, "finance-approval-queue")

    # when they select every refund they may approve and approve them with a note
    page.get_by_label("Select every refund you may approve").check()
    expect(page.get_by_label(f"Select refund #{trusted.pk}")).to_be_checked()
    expect(page.get_by_label(f"Select refund #{inspected.pk}")).to_be_checked()
    expect(page.get_by_label(f"Select refund #{big.pk}")).not_to_be_checked()
    page.get_by_placeholder("Note for the history (optional)").fill("Morning batch")
    page.get_by_role("button", name="Approve selected").click()

    # then both are approved and the over-limit one still waits for a controller
    expect(page.get_by_text("Approved 2:")).to_be_visible()
    screenshot(page, "finance-approval-queue-after")
    states = dict(Refund.objects.values_list("pk", "state"))
    assert states[trusted.pk] == states[inspected.pk] == RefundState.APPROVED
    assert states[big.pk] == RefundState.PENDING_APPROVAL
    assert states[held.pk] == RefundState.ON_HOLD

    # when they look at the held refunds and open the inspected refund
    page.get_by_role("link", name="On hold").click()
    expect(page.locator(f"#refund-{held.pk}")).to_contain_text("Channel dispute")
    screenshot(page, "finance-refunds-on-hold")
    page.goto(reverse("refund_detail", args=[inspected.pk]))

    # then its lines, deductions and history say why it was paid and who approved it
    expect(page.get_by_role("heading", name="Lines")).to_be_visible()
    expect(page.get_by_role("cell", name="Morning batch")).to_be_visible()
    expect(page.get_by_role("cell", name="fay.okafor").first).to_be_visible()
    screenshot(page, "finance-refund-detail")
    assert page.errors == []


def test_a_clerk_approves_one_refund_from_its_row_and_stays_on_the_queue(page, queue):
    trusted, big = queue["trusted"], queue["big"]
    sign_in(page, queue["clerk"].username)
    page.goto(reverse("refund_queue"))
    redirects = []
    page.on("response", lambda r: 300 <= r.status < 400 and redirects.append(r.url))

    # when the clerk presses one row's Approve
    page.locator(f"#refund-{trusted.pk}").get_by_role("button", name="Approve").click()

    # then that row says it is approved, in place: the same page, no redirect, the other
    # refunds as they were
    row = page.locator(f"#refund-{trusted.pk}")
    expect(row).to_contain_text(f"Refund #{trusted.pk} approved; it is paid in the background.")
    expect(page.locator(f"#refund-{big.pk}")).to_contain_text("over your approval limit")
    # and the tabs count it: two left waiting (one held elsewhere), one approved
    tabs = page.get_by_role("navigation", name="Refund states")
    expect(tabs.get_by_role("link", name="Pending approval")).to_have_text("Pending approval 2")
    expect(tabs.get_by_role("link", name="Approved")).to_have_text("Approved 1")
    # and the page-load count above the queue no longer claims the approved one
    expect(page.locator("#queue-approvable")).to_have_text(
        "Each refund is checked again as it is approved. "
        "Reload the queue to recount those within your limit and duties."
    )
    assert page.url.endswith(reverse("refund_queue"))
    assert redirects == []
    assert Refund.objects.get(pk=trusted.pk).state == RefundState.APPROVED
    screenshot(page, "finance-approval-queue-row-approved", (1440, 900))
    screenshot(page, "finance-approval-queue-row-approved", (820, 1180))
    assert page.errors == []


@pytest.fixture
def desk(make_user):
    """A return finance refunds in part, and a liquidated shirt whose sale comes in."""
    agent = make_user(Role.CUSTOMER_SERVICE, username="carla.cs")
    wes = make_user(Role.WAREHOUSE, username="wes.parker")
    clerk = make_user(Role.FINANCE, username="fay.okafor")
    partial_case = open_case(agent, quantity=2, price="45.00")
    liquidated_case = ship(open_case(agent, quantity=1, price="30.00"), agent)
    receive(liquidated_case, wes)
    inspect_all(liquidated_case, wes, grades=("C",))
    disposition = Disposition.objects.get(unit__case=liquidated_case)
    return {"clerk": clerk, "case": partial_case, "disposition": disposition}


def test_a_clerk_proposes_a_partial_refund_and_records_a_liquidation_sale(page, desk):
    case, disposition = desk["case"], desk["disposition"]
    sign_in(page, desk["clerk"].username)

    # given the clerk finds the return on the partial refund screen
    page.goto(reverse("refund_partial"))
    page.get_by_label("RMA number").fill(case.rma_number)
    page.get_by_role("button", name="Find return").click()
    expect(page.get_by_role("heading", name=case.rma_number, exact=False)).to_be_visible()
    amount = page.get_by_label("Refund for", exact=False)

    # when they type more than is left to refund, then the browser refuses to send it (the
    # server refuses it too: tests/finance/test_partial_refund.py)
    amount.fill("95.00")
    page.get_by_label("Reason").fill("Goodwill: parcel arrived late")
    page.get_by_role("button", name="Propose refund").click()
    assert amount.evaluate("input => input.validity.rangeOverflow")
    screenshot(page, "finance-partial-refund-form")
    assert not Refund.objects.filter(case=case).exists()

    # when they propose 15.00, then it waits for someone else's approval
    page.get_by_label("Refund for", exact=False).fill("15.00")
    page.get_by_label("Reason").fill("Goodwill: parcel arrived late")
    page.get_by_role("button", name="Propose refund").click()
    expect(page.get_by_text("waits for approval by someone else")).to_be_visible()
    refund = Refund.objects.get(case=case)
    assert (refund.state, refund.stage) == (RefundState.PENDING_APPROVAL, "manual")
    screenshot(page, "finance-partial-refund-proposed")

    # when they open realized recovery and record the liquidator's payment
    page.goto(reverse("recovery_list"))
    expect(page.get_by_role("heading", name="Realized recovery")).to_be_visible()
    screenshot(page, "finance-recovery-list")
    page.get_by_role("link", name=f"#{disposition.pk}").click()
    page.get_by_label("Amount").fill("6.40")
    page.get_by_label("Reference").fill("LQ-2026-0412")
    page.get_by_role("button", name="Record").click()

    # then it is recorded with its journal entry, and realized shows beside expected
    expect(page.get_by_text("recorded and posted as JE-")).to_be_visible()
    expect(page.get_by_role("cell", name="LQ-2026-0412")).to_be_visible()
    screenshot(page, "finance-recovery-recorded")
    assert disposition.realized_recoveries.get().amount == Decimal("6.40")
    assert page.errors == []
