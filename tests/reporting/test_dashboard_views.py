"""The dashboards: each opens for its roles with a query count that does not grow with the
data, exports every table as CSV and XLSX, and drills down to the cases behind a number."""

import csv
import io
from datetime import timedelta
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from erp.models.exceptions import ExceptionKind
from erp.roles import Role
from inventory import services as stock
from inventory.models import StockState
from reporting.dashboards import DASHBOARDS
from reporting.forms import DashboardFilterForm
from reporting.snapshots import kpi_snapshot_build
from reporting.views import tables_of
from tests.factories import (
    ChannelFactory,
    ExceptionCaseFactory,
    LocationFactory,
    ProductFactory,
    WarehouseFactory,
)
from tests.reporting.builders import return_case, shipped_line

keys = count()


def populate(n: int, *, warehouse, channel):
    """n closed cases, n open ones, n exceptions and n restocked units, spread over 20 days."""
    now = timezone.now()
    location = LocationFactory(warehouse=warehouse)
    for i in range(n):
        at = now - timedelta(days=1 + i % 20)
        product = ProductFactory()
        line = shipped_line(
            product=product,
            qty=3,
            shipped_at=at - timedelta(days=5),
            channel=channel,
            ship_from=warehouse,
        )
        return_case(
            line=line,
            expected_warehouse=warehouse,
            requested_at=at - timedelta(days=4),
            authorized_at=at - timedelta(days=4),
            shipped_at=at - timedelta(days=3),
            delivered_at=at - timedelta(days=1),
            received_at=at - timedelta(hours=20),
            inspected_at=at - timedelta(hours=10),
            closed_at=at,
        )
        return_case(
            line=line,
            state="in_transit",
            reason="SIZE_TOO_SMALL",
            expected_warehouse=warehouse,
            requested_at=at,
            authorized_at=at,
            shipped_at=at,
            risk_score=10 + i,
            risk_signals=[{"code": "watchlist", "points": 10, "detail": "On the watchlist."}],
        )
        ExceptionCaseFactory(kind=ExceptionKind.SKU_MISMATCH, opened_at=at)
        stock.stock_receive(
            product_id=product.pk,
            location_id=location.pk,
            qty=1,
            to_state=StockState.RECEIVED_PENDING_INSPECTION,
            idempotency_key=f"v{next(keys)}",
            occurred_at=at - timedelta(hours=5),
        )
        stock.stock_move(
            product_id=product.pk,
            qty=1,
            from_location_id=location.pk,
            from_state=StockState.RECEIVED_PENDING_INSPECTION,
            to_location_id=location.pk,
            to_state=StockState.QUARANTINED if i % 2 else StockState.AVAILABLE,
            idempotency_key=f"v{next(keys)}",
            occurred_at=at,
        )
    kpi_snapshot_build(day=now.date() - timedelta(days=1))


@pytest.fixture
def site(db):
    return {"warehouse": WarehouseFactory(name="Reno"), "channel": ChannelFactory(name="Store")}


def queries_to_open(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("slug", list(DASHBOARDS))
def test_dashboard_query_count_does_not_grow_with_the_data(client, make_user, site, slug):
    # Given an operations manager (who opens every dashboard) and a little data
    client.force_login(make_user(Role.OPERATIONS_MANAGER))
    url = reverse(f"dashboard_{slug}")
    populate(2, **site)
    client.get(url)  # the session and permission caches warm up
    small = queries_to_open(client, url)

    # When there is five times as much
    populate(8, **site)
    large = queries_to_open(client, url)

    # Then the dashboard takes the same number of queries, and not many
    print(f"\n{slug} dashboard: {small} queries with 2 cases per state, {large} with 10")
    assert large == small
    assert small <= 40


@pytest.mark.parametrize(
    ("role", "slug"),
    [
        (Role.CUSTOMER_SERVICE, "cs"),
        (Role.WAREHOUSE, "warehouse"),
        (Role.FINANCE, "finance"),
        (Role.OPERATIONS_MANAGER, "operations"),
        (Role.OPERATIONS_MANAGER, "executive"),
    ],
)
def test_each_role_sees_its_dashboard_with_figures_and_freshness(
    client, make_user, site, role, slug
):
    populate(3, **site)
    client.force_login(make_user(role))
    response = client.get(reverse(f"dashboard_{slug}"))
    body = response.content.decode()
    assert response.status_code == 200
    assert DASHBOARDS[slug].title in body
    # The page says when its figures and its trend snapshots were computed
    assert "computed" in body
    assert "daily snapshots, last built" in body


def test_every_table_exports_as_csv_and_xlsx(client, make_user, site):
    populate(3, **site)
    client.force_login(make_user(Role.OPERATIONS_MANAGER))
    url = reverse("dashboard_warehouse")
    # When the cycle-time table is exported as CSV
    response = client.get(url, {"export": "csv", "table": "cycle-time"})
    # Then it is a CSV attachment whose header and rows are the table's
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Stage", "Cases", "Median (h)", "p90 (h)"]
    assert [row[0] for row in rows[1:]] == ["Transit", "Dock to receipt", "Receipt to inspection"]
    assert rows[1][1] == "3"
    # And as XLSX, with the same cells
    response = client.get(url, {"export": "xlsx", "table": "cycle-time"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [cell.value for cell in sheet[1]] == rows[0]
    assert sheet["B2"].value == 3
    # And every table of every dashboard exports
    for slug, dashboard in DASHBOARDS.items():
        blocks, _ = dashboard.build(DashboardFilterForm().filters())
        for table in tables_of(blocks):
            for fmt in ("csv", "xlsx"):
                got = client.get(reverse(f"dashboard_{slug}"), {"export": fmt, "table": table.slug})
                assert got.status_code == 200, (slug, table.slug, fmt)
    # And an unknown table is a 404
    assert client.get(url, {"export": "csv", "table": "nope"}).status_code == 404


def test_a_number_drills_down_to_its_cases(client, make_user, site):
    populate(3, **site)
    client.force_login(make_user(Role.CUSTOMER_SERVICE))
    # When the "in transit" count is opened
    response = client.get(reverse("dashboard_cases"), {"state": "in_transit"})
    # Then the three in-transit cases are listed, each linking to its case page
    cases = list(response.context["cases"])
    assert len(cases) == 3
    assert {case.state for case in cases} == {"in_transit"}
    body = response.content.decode()
    for case in cases:
        assert reverse("return_detail", args=[case.pk]) in body
    # And the closed cases behind the total cycle time are the three closed ones
    response = client.get(reverse("dashboard_cases"), {"stage": "total"})
    assert {case.state for case in response.context["cases"]} == {"closed"}
    assert len(response.context["cases"]) == 3


def test_a_bad_window_is_explained_and_the_default_shown(client, make_user, site):
    client.force_login(make_user(Role.OPERATIONS_MANAGER))
    response = client.get(
        reverse("dashboard_executive"), {"start": "2026-03-10", "end": "2026-03-01"}
    )
    assert response.status_code == 200
    assert "The window starts after it ends" in response.content.decode()
