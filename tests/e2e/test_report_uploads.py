"""An operations manager uploads the Amazon returns report and a 3PL returns report in real
Chromium: each screen lists the rows it imported and, row by row, those it could not read.
Screenshots: test-artifacts/screenshots/upload-*-1280x800.png."""

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from erp.models import Channel, InboundEvent, Warehouse
from erp.roles import Role
from tests.e2e.browser import screenshot, sign_in
from tests.factories import ChannelFactory
from tests.factories.warehouse import returns_warehouse

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def upload(page, path: Path, *, name: str, body: bytes) -> None:
    file = path / name
    file.write_bytes(body)
    page.get_by_label("Report file").set_input_files(str(file))
    page.get_by_role("button", name="Import").click()
    page.wait_for_load_state("load")


def test_both_report_uploads_show_imported_and_unreadable_rows(page, make_user, tmp_path):
    manager = make_user(Role.OPERATIONS_MANAGER, username="olga.ops")
    ChannelFactory(code="amz-us", name="Amazon US", platform=Channel.Platform.AMAZON)
    returns_warehouse(
        code="hb-3pl",
        name="Columbus fulfilment (ShipHero)",
        operator=Warehouse.Operator.THIRD_PARTY,
        provider=Warehouse.Provider.SHIPHERO,
    )
    sign_in(page, manager.username)

    amazon = (FIXTURES / "samples" / "amazon_fba_customer_returns.tsv").read_text()
    lines = amazon.splitlines()
    lines[3] = lines[3].replace("\t1\t", "\tone\t", 1)
    page.goto(reverse("amazon_returns_import"))
    upload(page, tmp_path, name="fba-returns.tsv", body=("\n".join(lines) + "\n").encode())
    expect(page.get_by_role("region", name="Rows imported")).to_contain_text("406-111")
    expect(page.get_by_role("region", name="Rows not imported")).to_contain_text("not a number")
    screenshot(page, "upload-amazon-returns")

    report = (FIXTURES / "threepl_returns_report.csv").read_text().splitlines()
    report.append("RMA-3PL00006,,TEE-BLK-M,,,0,2026-11-26,,,,")
    report.append("RMA-3PL00007,,TEE-BLK-M,,,1,last week,,RESTOCKED,,")
    page.goto(reverse("threepl_returns_import"))
    upload(page, tmp_path, name="3pl-returns.csv", body=("\n".join(report) + "\n").encode())
    rows = page.get_by_role("region", name="Rows imported")
    expect(rows).to_contain_text("RMA-3PL00002")
    expect(rows).to_contain_text("not mapped")
    errors = page.get_by_role("region", name="Rows not imported")
    expect(errors).to_contain_text("at least 1")
    expect(errors).to_contain_text("received_at")
    screenshot(page, "upload-3pl-returns")

    assert InboundEvent.objects.filter(source="shiphero", account="hb-3pl").count() == 5
    assert page.errors == []
