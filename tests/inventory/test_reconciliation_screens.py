"""The control tower screens: what they show, their actions, and query counts that do not grow
with the number of variances, snapshots, runs or movements."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.models import (
    ExternalLocation,
    ReconciliationRun,
    ReconciliationVariance,
    RunStatus,
    StockMovement,
    VarianceCorrection,
)
from inventory.reconciliation import run_full_execute, run_full_start, run_incremental
from tests.factories import ProductFactory
from tests.inventory.test_reconciliation import T0, make_3pl_world, report, stock_in
from tests.inventory.test_reconciliation_amazon import AFN_REPORT


@pytest.fixture
def tpl(db):
    return make_3pl_world()


def grow(world, count: int, tag: str) -> None:
    """`count` more SKUs whose 3PL count differs from ours, reconciled twice (two runs, two
    trend points, a movement after each snapshot)."""
    products = [
        ProductFactory(sku=f"{tag}-{i}", category=world.cream.category) for i in range(count)
    ]
    for i, product in enumerate(products):
        stock_in(world, product, 5 + i, f"{tag}-in-{i}")
    report(
        f"{tag}-a", T0, *[(p.sku, 7 + i, 7 + i) for i, p in enumerate(products)], scope="partial"
    )
    run_incremental(product_ids=[p.pk for p in products], now=T0 + timedelta(hours=1))
    for i, product in enumerate(products):
        stock_in(world, product, 1, f"{tag}-more-{i}", at=T0 + timedelta(hours=2))
    report(
        f"{tag}-b",
        T0 + timedelta(hours=1),
        *[(p.sku, 9 + i, 8 + i) for i, p in enumerate(products)],
        scope="partial",
    )
    run_full_execute(run_id=run_full_start().pk, now=T0 + timedelta(hours=3))


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_control_tower_shows_sources_top_variances_aging_runs_and_charts(
    tpl, client, operations_user
):
    grow(tpl, 3, "A")
    client.force_login(operations_user)
    page = client.get(reverse("reconciliation_control_tower")).content.decode()
    assert "ShipBob" in page
    assert "Top unexplained variances" in page
    assert "A-0" in page
    assert "Under a day" in page
    assert 'data-chart-source="recon-units-data"' in page
    assert "recon-value-data" in page
    assert "Run full reconciliation" in page
    assert "Import Amazon report" in page


def test_finance_reads_the_control_tower_without_its_actions(tpl, client, finance_user):
    grow(tpl, 2, "A")
    client.force_login(finance_user)
    page = client.get(reverse("reconciliation_control_tower")).content.decode()
    assert "Top unexplained variances" in page
    assert "Run full reconciliation" not in page
    assert "Import Amazon report" not in page


def test_screen_query_counts_do_not_grow_with_data(tpl, client, operations_user):
    client.force_login(operations_user)
    grow(tpl, 2, "A")
    first = ReconciliationVariance.objects.filter(product__sku="A-0").first()
    run = ReconciliationRun.objects.filter(kind="full").first()
    urls = [
        reverse("reconciliation_control_tower"),
        reverse("reconciliation_variance", args=[first.pk]),
        reverse("reconciliation_run", args=[run.pk]),
    ]
    small = [queries(client, url) for url in urls]
    # when there are ten times more SKUs, variances, runs and movements
    grow(tpl, 20, "B")
    for i in range(5):
        stock_in(tpl, first.product, 1, f"late-{i}", at=T0 + timedelta(hours=4))
    run_incremental(product_ids=[first.product_id], now=T0 + timedelta(hours=5))
    # then every screen makes the same number of queries
    assert [queries(client, url) for url in urls] == small


def test_the_drill_down_shows_the_events_behind_a_variance(tpl, client, operations_user):
    # given 6 returns waiting for the 3PL's disposition, counted as available by it
    stock_in(tpl, tpl.cream, 50, "opening")
    stock_in(
        tpl, tpl.cream, 6, "rcpt-77", state="received_pending_inspection", where=tpl.dock, at=T0
    )
    report("sb-1", T0 + timedelta(hours=1), ("CURL-CREAM", 56, 56))
    run_incremental(product_ids=[tpl.cream.pk], now=T0 + timedelta(hours=2))
    variance = ReconciliationVariance.objects.get(product=tpl.cream, bucket="sellable")
    client.force_login(operations_user)
    page = client.get(reverse("reconciliation_variance", args=[variance.pk])).content.decode()
    assert "Receipts waiting for the 3PL&#x27;s disposition" in page
    assert "Received, pending inspection" in page
    assert "Explained" in page
    # nothing unexplained: nothing to accept
    assert "Post the correction" not in page


def test_accepting_a_variance_from_the_screen(tpl, client, operations_user):
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 8, 8))
    run_incremental(product_ids=[tpl.cream.pk], now=T0 + timedelta(hours=1))
    variance = ReconciliationVariance.objects.get(product=tpl.cream, bucket="sellable")
    client.force_login(operations_user)
    url = reverse("reconciliation_variance", args=[variance.pk])
    assert "Post the correction" in client.get(url).content.decode()
    response = client.post(
        reverse("reconciliation_variance_accept", args=[variance.pk]), {"reason": "Recount"}
    )
    assert response.status_code == 302
    assert response["Location"] == url
    correction = VarianceCorrection.objects.get()
    assert correction.qty_delta == -2
    assert correction.accepted_by == operations_user
    assert StockMovement.objects.filter(cause_id=str(variance.pk)).count() == 1


def test_accepting_without_a_reason_posts_nothing(tpl, client, operations_user):
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 8, 8))
    run_incremental(product_ids=[tpl.cream.pk], now=T0 + timedelta(hours=1))
    variance = ReconciliationVariance.objects.get(product=tpl.cream, bucket="sellable")
    client.force_login(operations_user)
    movements = StockMovement.objects.count()
    client.post(reverse("reconciliation_variance_accept", args=[variance.pk]), {"reason": ""})
    assert StockMovement.objects.count() == movements
    assert not VarianceCorrection.objects.exists()


def test_starting_a_run_shows_its_progress_polled_by_htmx(
    tpl, client, operations_user, django_capture_on_commit_callbacks, monkeypatch
):
    from inventory.reconciliation import runs

    sent = []
    monkeypatch.setattr(runs, "run_send", lambda *, run_id: sent.append(run_id))
    client.force_login(operations_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reconciliation_run_start"))
    run = ReconciliationRun.objects.get()
    assert response["Location"] == reverse("reconciliation_run", args=[run.pk])
    assert sent == [run.pk]
    assert run.requested_by == operations_user
    # while queued, the progress fragment polls itself
    fragment = client.get(
        reverse("reconciliation_run", args=[run.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert 'hx-trigger="every 2s"' in fragment
    assert "<html" not in fragment
    # once done, it stops polling and shows the outcome
    run_full_execute(run_id=run.pk, now=T0)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    page = client.get(reverse("reconciliation_run", args=[run.pk])).content.decode()
    assert "Succeeded" in page
    assert "every 2s" not in page


def test_the_amazon_upload_lists_row_errors(tpl, client, operations_user):
    ExternalLocation.objects.create(source="amazon_fba", external_code="", warehouse=tpl.warehouse)
    client.force_login(operations_user)
    upload = SimpleUploadedFile("afn.tsv", AFN_REPORT, content_type="text/tab-separated-values")
    page = client.post(reverse("reconciliation_amazon_import"), {"report": upload}).content.decode()
    assert "Rows not imported" in page
    assert "Quantity Available" in page
    assert "GHOST" in page
    assert "GET_AFN_INVENTORY_DATA" in page


def test_the_amazon_upload_refuses_a_file_that_is_no_report(tpl, client, operations_user):
    client.force_login(operations_user)
    upload = SimpleUploadedFile("x.tsv", b"hello\tworld\n")
    page = client.post(reverse("reconciliation_amazon_import"), {"report": upload}).content.decode()
    assert "Not an FBA inventory report" in page
