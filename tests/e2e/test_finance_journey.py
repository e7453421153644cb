"""A finance clerk works the refund approval queue in real Chromium: reads the evidence beside
each refund, sees which are beyond their limit, bulk-approves the rest, and opens a refund's
page with its history. Screenshots: test-artifacts/screenshots/finance-*-1280x800.png."""

import struct
import zlib

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
