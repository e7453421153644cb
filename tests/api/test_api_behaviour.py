"""What the API does beyond access: transitions through the services with their refusals as
JSON (409 for a state that does not allow it, 400 for a rule, nothing changed), filters,
snapshot uploads, the refund approval trail, KPIs, and both kinds of authentication."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from erp.history import save_with_history
from erp.models import ExceptionCase
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.roles import Role
from erp.services import exception_open
from finance.services import refund_reject
from inventory.models import ExternalSnapshot, ExternalSnapshotLine
from reporting.models import KpiSnapshot
from returns.models import ReturnCase
from tests.api.objects import api_schema, case_in, refund, snapshot
from tests.factories import ExceptionCaseFactory, ReturnCaseFactory


@pytest.fixture
def ops(api_as):
    return api_as("operations")


def test_a_transition_goes_through_the_service_and_answers_with_the_case(ops):
    # Given a parcel delivered to the warehouse
    case = case_in("delivered")
    history = ReturnCase.history.filter(id=case.pk).count()

    # When the manager's tool records the receipt
    response = ops.post(reverse("returns_api_case_receive", args=[case.rma_number]))

    # Then the case is received, with a history row naming who did it
    assert response.status_code == 200
    assert response.json()["state"] == "received"
    case.refresh_from_db()
    assert case.state == "received"
    latest = ReturnCase.history.filter(id=case.pk).latest("history_date")
    assert ReturnCase.history.filter(id=case.pk).count() == history + 1
    assert latest.history_user == ops.user


def test_a_transition_the_state_does_not_allow_is_409_with_the_reason_and_changes_nothing(ops):
    case = case_in("in_transit")
    history = ReturnCase.history.count()

    response = ops.post(
        reverse("returns_api_case_cancel", args=[case.rma_number]),
        {"reason": "Changed my mind"},
        format="json",
    )

    assert response.status_code == 409
    assert "in transit" in response.json()["detail"].lower()
    case.refresh_from_db()
    assert (case.state, ReturnCase.history.count()) == ("in_transit", history)


def test_a_rule_of_the_service_is_a_400_and_changes_nothing(ops):
    # Given an inspected case with an exception still open on it
    case = case_in("inspected")
    exception_open(
        kind=ExceptionKind.SKU_MISMATCH,
        subject_type=SubjectType.RETURN_CASE,
        subject_id=case.pk,
        summary="Wrong colour received",
    )
    history = ReturnCase.history.count()

    # When someone tries to close it
    response = ops.post(reverse("returns_api_case_close", args=[case.rma_number]), format="json")

    # Then the service's reason comes back and the case stays open
    assert response.status_code == 400
    assert "open exceptions" in response.json()["detail"]
    case.refresh_from_db()
    assert (case.state, ReturnCase.history.count()) == ("inspected", history)


def test_a_blank_reason_is_refused_before_the_service(ops):
    case = case_in("pending_review")
    response = ops.post(
        reverse("returns_api_case_reject", args=[case.rma_number]), {"reason": ""}, format="json"
    )
    assert response.status_code == 400
    assert "reason" in response.json()
    case.refresh_from_db()
    assert case.state == "pending_review"


def test_cases_filter_by_state_and_channel(ops):
    held = ReturnCaseFactory(state="pending_review")
    ReturnCaseFactory(state="closed")

    by_state = ops.get(reverse("returns_api_cases"), {"state": "pending_review"}).json()
    by_channel = ops.get(reverse("returns_api_cases"), {"channel": held.channel.code}).json()

    assert [row["rma_number"] for row in by_state["results"]] == [held.rma_number]
    assert [row["rma_number"] for row in by_channel["results"]] == [held.rma_number]
    assert ops.get(reverse("returns_api_cases"), {"state": "lost"}).status_code == 400


def test_a_moment_with_any_offset_python_reads_filters_without_a_server_error(ops):
    # PostgreSQL refuses offsets beyond ±15:59; the API converts every moment to UTC first.
    response = ops.get(
        reverse("returns_api_cases"), {"requested_since": "2026-03-06T13:05:35+17:24"}
    )
    assert response.status_code == 200
    too_early = ops.get(
        reverse("finance_api_refunds"), {"proposed_since": "0001-01-01T00:00+05:00"}
    )
    assert too_early.status_code == 400
    assert "proposed_since" in too_early.json()


def test_a_snapshot_with_an_unknown_sku_is_refused_whole_and_writes_nothing(ops):
    body = snapshot({})
    body["lines"].append({"sku": "NOT-OURS", "on_hand": 1})

    response = ops.post(reverse("inventory_api_snapshots"), body, format="json")

    assert response.status_code == 400
    assert "line 2: Unknown SKU 'NOT-OURS'" in response.json()["detail"]
    assert ExternalSnapshot.objects.count() == ExternalSnapshotLine.objects.count() == 0


def test_a_snapshot_is_recorded_once_and_its_replay_returns_it(ops):
    body = snapshot({})

    first = ops.post(reverse("inventory_api_snapshots"), body, format="json")
    again = ops.post(reverse("inventory_api_snapshots"), body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    recorded = ExternalSnapshot.objects.get()
    assert (recorded.line_count, recorded.recorded_by) == (1, ops.user)
    line = ExternalSnapshotLine.objects.get()
    assert (line.on_hand, line.sellable) == (3, 2)


def test_a_body_that_is_not_json_is_a_documented_415_and_writes_nothing(ops):
    # Given a well-formed snapshot, sent as CSV instead of JSON
    url = reverse("inventory_api_snapshots")
    csv = "sku,on_hand\nTEE,3\n"

    response = ops.post(url, csv, content_type="text/csv")

    # Then it is refused as JSON, in the words the schema documents, and nothing is recorded
    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"
    assert 'Unsupported media type "text/csv"' in response.json()["detail"]
    assert ExternalSnapshot.objects.count() == ExternalSnapshotLine.objects.count() == 0
    documented = api_schema()["paths"]["/api/v1/inventory/snapshots/"]["post"]["responses"]
    assert documented["415"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_a_refund_reads_with_its_approval_trail(api_as, make_user):
    finance = make_user(Role.FINANCE, username="controller")
    paid = refund()
    paid.submit()
    save_with_history(paid, actor=None, why="Sent for approval")
    refund_reject(refund_id=paid.pk, actor=finance, reason="Item never came back")

    data = api_as("cs").get(reverse("finance_api_refund", args=[paid.pk])).json()

    assert data["state"] == "rejected"
    assert [step["state"] for step in data["approval_trail"]] == [
        "proposed",
        "pending_approval",
        "rejected",
    ]
    last = data["approval_trail"][-1]
    assert (last["by"], last["reason"]) == ("controller", "Rejected: Item never came back")


def test_an_exception_is_resolved_through_the_service(ops):
    exception = ExceptionCaseFactory()

    listed = ops.get(reverse("exceptions_api_list"), {"kind": "sku_mismatch"}).json()
    response = ops.post(
        reverse("exceptions_api_resolve", args=[exception.pk]),
        {"reason": "Re-shelved"},
        format="json",
    )

    assert [row["id"] for row in listed["results"]] == [exception.pk]
    assert response.status_code == 200
    exception.refresh_from_db()
    assert (exception.state, exception.resolution_reason) == ("resolved", "Re-shelved")
    assert exception.resolved_by == ops.user
    assert ExceptionCase.history.filter(id=exception.pk).latest("history_date").history_user == (
        ops.user
    )


def test_an_exception_is_assigned_only_to_its_owner_role_or_oneself(ops, make_user):
    exception = ExceptionCaseFactory()  # owned by the warehouse
    make_user(Role.FINANCE, username="someone_else")

    refused = ops.post(
        reverse("exceptions_api_assign", args=[exception.pk]),
        {"assignee": "someone_else"},
        format="json",
    )

    assert refused.status_code == 400
    assert "assignee" in refused.json()
    exception.refresh_from_db()
    assert (exception.state, exception.assignee) == ("open", None)


def test_kpis_read_the_dashboards_figures_and_the_daily_snapshots(api_as):
    KpiSnapshot.objects.create(
        day=datetime(2026, 11, 1, tzinfo=UTC).date(), metric="cases_requested", value=4, count=4
    )
    client = api_as("warehouse")

    overview = client.get(
        reverse("kpis_api_overview"), {"start": "2026-11-01", "end": "2026-11-26"}
    )
    daily = client.get(reverse("kpis_api_daily"), {"metric": "cases_requested"})

    assert overview.status_code == 200
    assert overview.json()["cycle_times"][0]["stage"] == "total"
    assert overview.json()["quarantine"]["on_hand"] == 0
    assert overview.json()["refund_latency"] == {
        "count": 0,
        "median_hours": None,
        "p90_hours": None,
    }
    assert overview.json()["refund_accuracy"]["rate"] is None
    assert [(row["day"], row["value"]) for row in daily.json()["results"]] == [
        ("2026-11-01", "4.0000")
    ]
    too_long = client.get(
        reverse("kpis_api_overview"), {"start": "2025-01-01", "end": "2026-11-26"}
    )
    assert too_long.status_code == 400


def test_kpis_read_the_stored_open_pipeline_and_count_live_when_it_is_stale(api_as):
    # Given an authorized case, the 5-minute pipeline job has run, then a second case comes in
    from django.utils import timezone

    from reporting.snapshots import PIPELINE, PIPELINE_MAX_AGE, pipeline_snapshot_build
    from tests.factories import ProductFactory
    from tests.reporting.builders import return_case, shipped_line

    now = timezone.now()
    line = shipped_line(product=ProductFactory(), qty=2, shipped_at=now - timezone.timedelta(7))
    return_case(line=line, state="authorized", requested_at=now)
    pipeline_snapshot_build()
    stored_at = KpiSnapshot.objects.get(metric=PIPELINE, dimension="").computed_at
    return_case(line=line, state="authorized", requested_at=now)
    client = api_as("finance")

    def authorized(response) -> tuple[int, str]:
        body = response.json()
        (row,) = [row for row in body["open_pipeline"] if row["state"] == "authorized"]
        return row["cases"], body["open_pipeline_as_of"]

    # When the KPIs are read
    stored = client.get(reverse("kpis_api_overview"))
    # Then the pipeline is the stored one, and says when it was counted
    assert stored.status_code == 200
    assert authorized(stored) == (1, stored_at.isoformat().replace("+00:00", "Z"))

    # When the stored pipeline is older than the dashboards accept
    KpiSnapshot.objects.filter(metric=PIPELINE).update(
        computed_at=now - PIPELINE_MAX_AGE - timezone.timedelta(minutes=1)
    )
    live = client.get(reverse("kpis_api_overview"))
    # Then it is counted live, both cases, as of the request
    cases, as_of = authorized(live)
    assert cases == 2
    assert datetime.fromisoformat(as_of) >= now


def test_session_authentication_reads_too(client, make_user):
    client.force_login(make_user(Role.CUSTOMER_SERVICE))
    assert client.get(reverse("returns_api_cases")).status_code == 200


def test_an_unknown_api_path_is_a_json_404_and_a_page_stays_html(client):
    api = client.get("/api/v1/nothing-here/")
    page = client.get("/nothing-here/")
    assert (api.status_code, api.json()) == (404, {"detail": "Not found."})
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("exceptions_api_list", {"state": "nope"}),
        ("finance_api_journal_entries", {"period": "abc"}),
        ("returns_api_cases", {"state": "nope"}),
        ("kpis_api_daily", {"since": "nope"}),
    ],
)
def test_a_refused_caller_hears_403_whatever_it_asked(api_as, name, query):
    response = api_as("no_role").get(reverse(name), query)
    assert response.status_code == 403
