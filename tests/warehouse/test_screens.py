"""The bench screens (tablets): inbound queue, receive (scan → match), inspect, disposition,
put-away and quarantine. Each write goes through returns.workflow once per client token;
refusals show next to the field or the button and change nothing; hot screens keep a constant
query count as data grows."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from erp.models import ExceptionCase, Warehouse
from inventory.models import StockState
from returns.models import ReturnCase
from tests.factories.warehouse import case_in_transit, gs1, returns_warehouse, shipped_order
from warehouse.models import (
    ChecklistTemplate,
    Disposition,
    Inspection,
    InspectionPhoto,
    PutawayTask,
    QuarantineRecord,
    Receipt,
    ReturnUnit,
)

from .conftest import inspect, on_hand, receive, token

S = StockState
PNG = (  # a real 1x1 PNG: uploads are checked by their content (erp.validators)
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS"
    b"\xde\x00\x00\x00\x0cIDATx\x9cc8Qa\x03\x00\x03\x88\x01}\xec+\xb0\x9e\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def bench(client, warehouse_user):
    client.force_login(warehouse_user)
    return client


def queries(client, url, status=200) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == status
    return len(captured)


def parcel(warehouse, cs_user, operations_user, *lines, **kwargs):
    """A case shipped by the customer to `warehouse` (one shirt by default)."""
    order = shipped_order(*lines, warehouse=warehouse, **kwargs)
    return case_in_transit(order, agent=cs_user, manager=operations_user)


def receipt_counts() -> dict:
    return {
        "receipts": Receipt.objects.count(),
        "units": ReturnUnit.objects.count(),
        "inspections": Inspection.objects.count(),
        "decisions": Disposition.objects.count(),
        "exceptions": ExceptionCase.objects.count(),
    }


# ---- Inbound queue ---------------------------------------------------------------------------


def test_queue_lists_the_warehouses_returns_most_urgent_first(
    bench, cs_user, operations_user, warehouse, shirt, laptop
):
    # given: an ordinary parcel, an overdue one, and a high-value one, all to this warehouse,
    # and one to another warehouse
    ordinary = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    overdue = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    ReturnCase.objects.filter(pk=overdue.pk).update(shipped_at=timezone.now() - timedelta(days=9))
    valuable = parcel(warehouse, cs_user, operations_user, (laptop, 1, "899.00", ["LT-1"]))
    elsewhere = parcel(
        returns_warehouse(code="other"), cs_user, operations_user, (shirt, 1, "30.00", ())
    )

    # when
    response = bench.get(reverse("warehouse_queue", args=[warehouse.pk]))

    # then: high value first, then overdue, then the rest; not the other warehouse's
    assert [case.pk for case in response.context["cases"]] == [valuable.pk, overdue.pk, ordinary.pk]
    html = response.content.decode()
    assert elsewhere.rma_number not in html
    assert "High value" in html
    assert "Overdue" in html
    assert reverse("warehouse_receive_case", args=[warehouse.pk, valuable.pk]) in html
    assert "autofocus" in html


def test_queue_keeps_a_constant_query_count(bench, cs_user, operations_user, warehouse, shirt):
    def add(n):
        for _ in range(n):
            parcel(warehouse, cs_user, operations_user, (shirt, 2, "30.00", ()))

    url, home = reverse("warehouse_queue", args=[warehouse.pk]), reverse("warehouse_home")
    add(2)
    few = (queries(bench, url), queries(bench, home))
    add(6)
    assert (queries(bench, url), queries(bench, home)) == few


def test_a_3pl_warehouse_shows_the_same_queue_without_receiving(
    bench, cs_user, operations_user, shirt
):
    # given: a parcel on its way to a ShipBob warehouse
    site = returns_warehouse(
        code="chi", operator=Warehouse.Operator.THIRD_PARTY, provider=Warehouse.Provider.SHIPBOB
    )
    case = parcel(site, cs_user, operations_user, (shirt, 1, "30.00", ()))

    response = bench.get(reverse("warehouse_queue", args=[site.pk]))

    html = response.content.decode()
    assert case.rma_number in html
    assert "ShipBob feed" in html
    assert reverse("warehouse_receive_case", args=[site.pk, case.pk]) not in html


# ---- Receive: scan the parcel, then each unit -----------------------------------------------


@pytest.mark.parametrize("key", ["rma", "tracking"])
def test_scanning_the_parcel_opens_its_case(bench, cs_user, operations_user, warehouse, shirt, key):
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    code = case.rma_number.lower() if key == "rma" else case.tracking_number

    response = bench.get(reverse("warehouse_receive", args=[warehouse.pk]), {"code": code})

    assert response.status_code == 302
    assert response["Location"] == reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])


@pytest.mark.parametrize(
    ("code", "message"),
    [
        pytest.param("4006381333932", "Check digit wrong on 4006381333932: expected 1", id="check"),
        pytest.param(
            "4006381333931", "That is a product barcode. Scan the parcel first", id="gtin"
        ),
        pytest.param("RMA-NOPE1234", "No return has the RMA or tracking number", id="unknown"),
    ],
)
def test_a_bad_parcel_scan_says_what_is_wrong_next_to_the_field(bench, warehouse, code, message):
    response = bench.get(reverse("warehouse_receive", args=[warehouse.pk]), {"code": code})

    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="scan-error"' in html
    assert message in html
    assert 'aria-invalid="true"' in html
    assert "autofocus" in html


def test_each_unit_scan_is_added_to_the_parcel_and_matched(
    bench, cs_user, operations_user, warehouse, shirt, other_shirt
):
    # given: a case for one blue shirt
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])

    # when: the blue shirt, then a red one are scanned (each scan redirects to the list)
    first = bench.get(url, {"code": shirt.gtin})
    scans = parse_qs(urlsplit(first["Location"]).query)["scans"]
    second = bench.get(url, {"code": other_shirt.gtin, "scans": scans})
    page = bench.get(second["Location"])

    # then: the first matches, the second is flagged as the wrong SKU, nothing is written
    rows = page.context["scanned"]
    assert [(row.product, row.flag) for row in rows] == [
        (shirt, ""),
        (other_shirt, f"Wrong SKU: {other_shirt.sku} is not on this return."),
    ]
    assert "It will be received into quarantine." in page.content.decode()
    assert Receipt.objects.count() == 0


def test_htmx_scans_swap_the_panel_and_push_the_url(
    bench, cs_user, operations_user, warehouse, shirt
):
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])

    response = bench.get(url, {"code": shirt.gtin}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Push-Url"] == f"{url}?scans={shirt.gtin}"
    assert 'id="receive-panel"' in response.content.decode()


def test_a_bad_unit_scan_is_refused_and_the_list_kept(
    bench, cs_user, operations_user, warehouse, shirt
):
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])

    response = bench.get(url, {"code": "036000291453", "scans": [shirt.gtin]})

    assert response.status_code == 422
    assert "Check digit wrong on 036000291453: expected 2, got 3" in response.content.decode()
    assert [row.product for row in response.context["scanned"]] == [shirt]


def test_a_gs1_label_that_swallowed_its_expiry_warns(
    bench, cs_user, operations_user, warehouse, shirt
):
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])
    # a lot followed by (17) without the GS separator
    code = f"01{shirt.gtin}10LOT4217261231"

    page = bench.get(url, {"code": code}, HTTP_HX_REQUEST="true")

    assert "looks like it swallowed an expiry date" in page.content.decode()


def test_receive_screen_keeps_a_constant_query_count(
    bench, cs_user, operations_user, warehouse, shirt, headphones
):
    # given: a case of two lines, one serial-tracked
    case = parcel(
        warehouse,
        cs_user,
        operations_user,
        (shirt, 3, "30.00", ()),
        (headphones, 2, "120.00", ["HP-1", "HP-2"]),
    )
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])
    one = f"{url}?scans={headphones.gtin}&scans=HP-1"
    many = one + f"&scans={shirt.gtin}" * 3 + f"&scans={headphones.gtin}&scans=HP-2"

    # then: the same queries for 2 scans (one unit with its serial) as for 6, and a case page
    # however many cases exist (a parcel with a serial looks it up in stock: one query more)
    assert queries(bench, one) == queries(bench, many)
    for _ in range(5):
        parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    assert queries(bench, many) == queries(bench, one)


def test_receiving_posts_once_per_client_token(bench, cs_user, operations_user, warehouse, shirt):
    # given: the parcel with its shirt scanned, and the form's token
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])
    form = bench.get(url, {"scans": [shirt.gtin]}).context["form"]
    data = {
        "client_token": form["client_token"].value(),
        "scans": [shirt.gtin],
        "packaging_ok": "on",
    }

    # when: "Receive" is tapped twice (a double tap, or a resubmit after a dropped connection)
    first = bench.post(url, data)
    second = bench.post(url, data)

    # then: one receipt, and both land on it
    receipt = Receipt.objects.get()
    assert (
        first["Location"] == second["Location"] == reverse("warehouse_receipt", args=[receipt.pk])
    )
    assert receipt.units.count() == 1
    assert on_hand(shirt) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 1}
    case.refresh_from_db()
    assert case.state == ReturnCase.State.RECEIVED
    # and a second tablet (another token) is refused with the reason, nothing posted
    again = bench.post(url, {**data, "client_token": token()})
    assert again.status_code == 422
    assert "was already received by" in again.content.decode()
    assert Receipt.objects.count() == 1


def test_a_boosted_receive_answers_with_the_receipt_page_and_pushes_its_address(
    bench, cs_user, operations_user, warehouse, shirt
):
    # given: the parcel with its shirt scanned, its receive form boosted by htmx
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])
    page = bench.get(url, {"scans": [shirt.gtin]})
    assert f'<form method="post" action="{url}" class="card" hx-boost="true">' in (
        page.content.decode()
    )
    data = {
        "client_token": page.context["form"]["client_token"].value(),
        "scans": [shirt.gtin],
        "packaging_ok": "on",
    }

    # when: "Receive" is tapped (htmx sends the form)
    with CaptureQueriesContext(connection) as boosted:
        response = bench.post(url, data, headers={"HX-Request": "true", "HX-Boosted": "true"})

    # then: the receipt's page in the same answer, its address pushed, no redirect to follow
    receipt = Receipt.objects.get()
    receipt_url = reverse("warehouse_receipt", args=[receipt.pk])
    assert response.status_code == 200
    assert response["HX-Push-Url"] == receipt_url
    assert f'Received <span class="mono">{case.rma_number}</span>' in response.content.decode()
    assert receipt.units.count() == 1
    # and it costs fewer statements than the plain form's post and the page it redirects to
    other = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    other_url = reverse("warehouse_receive_case", args=[warehouse.pk, other.pk])
    token_value = bench.get(other_url).context["form"]["client_token"].value()
    with CaptureQueriesContext(connection) as plain:
        response = bench.post(other_url, {**data, "client_token": token_value}, follow=True)
    assert response.redirect_chain[0][1] == 302
    assert len(boosted) < len(plain)


def test_receiving_needs_the_permission_and_changes_nothing_without_it(
    client, cs_user, operations_user, warehouse, shirt
):
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    before = receipt_counts()
    client.force_login(cs_user)

    response = client.post(
        reverse("warehouse_receive_case", args=[warehouse.pk, case.pk]),
        {"client_token": token(), "scans": [shirt.gtin], "packaging_ok": "on"},
    )

    assert response.status_code == 403
    assert receipt_counts() == before
    case.refresh_from_db()
    assert case.state == ReturnCase.State.IN_TRANSIT


def test_receiving_a_serial_item_without_its_serial_is_refused_in_place(
    bench, cs_user, operations_user, warehouse, headphones
):
    case = parcel(warehouse, cs_user, operations_user, (headphones, 1, "120.00", ["HP-1"]))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])
    page = bench.get(url, {"scans": [headphones.gtin]})
    assert page.context["scanned"][0].pending == "Now scan its serial number."

    response = bench.post(url, {"client_token": token(), "scans": [headphones.gtin]})

    assert response.status_code == 422
    assert "is serial-tracked: scan its serial number after it" in response.content.decode()
    assert Receipt.objects.count() == 0


# ---- Inspect, disposition, put-away ---------------------------------------------------------


@pytest.fixture
def received_shirt(cs_user, operations_user, warehouse_user, warehouse, shirt):
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    return receive(case, warehouse, warehouse_user, shirt.gtin).units.get()


def test_inspection_shows_the_checklist_and_posts_once(bench, received_shirt, settings):
    url = reverse("warehouse_unit_inspect", args=[received_shirt.pk])
    page = bench.get(url)
    html = page.content.decode()
    # the apparel checklist as big yes/no buttons, grades A to F, the camera input
    for label in ("Tags attached", "Worn or washed", "Stains", "Odour"):
        assert label in html
    assert html.count('name="grade"') == 6
    assert 'accept="image/*"' in html
    assert 'capture="environment"' in html
    data = {
        "client_token": page.context["form"]["client_token"].value(),
        "item_tags_attached": "yes",
        "item_worn_or_washed": "no",
        "item_stains": "no",
        "item_odour": "no",
        "grade": "A",
        "notes": "As new",
    }

    first = bench.post(url, {**data, "photos": SimpleUploadedFile("a.png", PNG, "image/png")})
    second = bench.post(url, data)

    inspection = Inspection.objects.get()
    assert (
        first["Location"]
        == second["Location"]
        == reverse("warehouse_unit_disposition", args=[received_shirt.pk])
    )
    assert (inspection.grade, inspection.notes, inspection.answers["tags_attached"]) == (
        "A",
        "As new",
        True,
    )
    assert InspectionPhoto.objects.filter(inspection=inspection).count() == 1


def test_inspection_without_a_grade_is_refused_in_place(bench, received_shirt):
    url = reverse("warehouse_unit_inspect", args=[received_shirt.pk])

    response = bench.post(url, {"client_token": token(), "item_tags_attached": "yes"})

    assert response.status_code == 422
    assert "Pick a grade from A to F." in response.content.decode()
    assert Inspection.objects.count() == 0


def test_accepting_the_suggestion_shows_where_to_put_the_unit(
    bench, warehouse_user, received_shirt
):
    inspect(received_shirt, warehouse_user, grade="A")
    url = reverse("warehouse_unit_disposition", args=[received_shirt.pk])
    page = bench.get(url)
    html = page.content.decode()
    assert "Grade A is as new: restock" in html
    assert "Accept: Restock" in html
    # a warehouse user may not override: no override form, a hint instead
    assert 'value="override"' not in html
    token_value = page.context["form"]["client_token"].value()

    first = bench.post(url, {"client_token": token_value, "decision": "accept"})
    bench.post(url, {"client_token": token_value, "decision": "accept"})

    decision = Disposition.objects.get()
    assert (decision.outcome, decision.overridden) == ("restock", False)
    assert on_hand(received_shirt.product) == {("A-01", S.AVAILABLE): 1}
    task = PutawayTask.objects.get()
    done = bench.get(first["Location"]).content.decode()
    assert "Take it to" in done
    assert task.to_location.code in done

    # when: the put-away is confirmed (twice)
    confirm = reverse("warehouse_putaway_confirm", args=[task.pk])
    bench.post(confirm)
    bench.post(confirm)
    task.refresh_from_db()
    assert (task.state, task.completed_by) == ("done", warehouse_user)


def test_hold_decides_later(bench, warehouse_user, received_shirt):
    inspect(received_shirt, warehouse_user, grade="C")
    url = reverse("warehouse_unit_disposition", args=[received_shirt.pk])

    bench.post(url, {"client_token": token(), "decision": "hold"})

    assert Disposition.objects.get().outcome == "hold"
    page = bench.get(url).content.decode()
    assert "On hold since" in page
    assert "Accept:" in page
    assert received_shirt.pk in [
        u.pk for u, _url in bench.get(reverse("warehouse_units")).context["units"]
    ]


def test_an_override_needs_the_permission_and_changes_nothing_without_it(
    bench, client, warehouse_user, operations_user, received_shirt
):
    inspect(received_shirt, warehouse_user, grade="A")
    url = reverse("warehouse_unit_disposition", args=[received_shirt.pk])
    override = {"decision": "override", "outcome": "liquidation", "override_reason": "Smells"}

    refused = bench.post(url, {**override, "client_token": token()})

    assert refused.status_code == 403
    assert Disposition.objects.count() == 0
    assert on_hand(received_shirt.product) == {("DOCK", S.RECEIVED_PENDING_INSPECTION): 1}

    # an operations manager overrides, and must say why
    client.force_login(operations_user)
    no_reason = client.post(url, {**override, "override_reason": " ", "client_token": token()})
    assert no_reason.status_code == 422
    assert "Say why you override the suggestion." in no_reason.content.decode()
    client.post(url, {**override, "client_token": token()})
    decision = Disposition.objects.get()
    assert (decision.outcome, decision.overridden, decision.override_reason) == (
        "liquidation",
        True,
        "Smells",
    )


# ---- Quarantine ------------------------------------------------------------------------------


def test_quarantine_shows_aging_and_refuses_the_quarantiner_clearly(
    client, cs_user, warehouse_user, operations_user, warehouse, laptop
):
    # given: a high-value laptop the manager on the bench quarantined (forced suggestion)
    case = parcel(warehouse, cs_user, operations_user, (laptop, 1, "899.00", ["LT-9"]))
    unit = receive(case, warehouse, warehouse_user, gs1(laptop, serial="LT-9")).units.get()
    inspect(unit, operations_user, grade="A")
    client.force_login(operations_user)
    client.post(
        reverse("warehouse_unit_disposition", args=[unit.pk]),
        {"client_token": token(), "decision": "accept"},
    )
    record = QuarantineRecord.objects.get(unit=unit)
    QuarantineRecord.objects.filter(pk=record.pk).update(
        quarantined_at=timezone.now() - timedelta(days=8)
    )

    page = client.get(reverse("warehouse_quarantine"))
    html = page.content.decode()
    assert "8 days" in html
    assert "You quarantined it" in html

    # when: the same manager tries to release it
    response = client.post(
        reverse("warehouse_quarantine_release", args=[unit.pk]),
        {
            f"u{unit.pk}-client_token": token(),
            f"u{unit.pk}-to_outcome": "restock",
            f"u{unit.pk}-reason": "Fine",
        },
    )

    # then: refused, with the rule, next to the unit; nothing moved
    assert response.status_code == 422
    assert "Refused: You quarantined this unit: someone else must release it" in (
        response.content.decode()
    )
    record.refresh_from_db()
    assert record.state == "held"
    assert on_hand(laptop) == {("CAGE", S.QUARANTINED): 1}


def test_the_bench_sees_quarantine_but_may_not_release(bench, warehouse_user, received_shirt):
    html = bench.get(reverse("warehouse_quarantine")).content.decode()
    assert "Release to" not in html
    response = bench.post(reverse("warehouse_quarantine_release", args=[received_shirt.pk]), {})
    assert response.status_code == 403


# ---- Checklists ------------------------------------------------------------------------------


def test_an_operations_manager_publishes_a_new_checklist_version(client, operations_user):
    client.force_login(operations_user)
    url = reverse("warehouse_checklist_edit", args=["apparel"])
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data = {k: v for k, v in data.items() if v is not False}
    # the manager rewords one question, drops another and adds one
    data["label_0"] = "Tags attached and intact"
    data["label_3"] = ""
    data["label_4"] = "Zip works"
    data["note"] = "Zips fail often"

    response = client.post(url, data)

    assert response.status_code == 302
    current = ChecklistTemplate.objects.get(department="apparel", is_current=True)
    assert current.version == 2
    assert [(item["key"], item["label"]) for item in current.items] == [
        ("tags_attached", "Tags attached and intact"),
        ("worn_or_washed", "Worn or washed"),
        ("stains", "Stains"),
        ("zip_works", "Zip works"),
    ]
    assert "Zip works" in client.get(reverse("warehouse_checklists")).content.decode()


def test_the_bench_may_read_checklists_but_not_change_them(bench):
    before = list(ChecklistTemplate.objects.values_list("pk", "version", "is_current"))

    assert bench.get(reverse("warehouse_checklists")).status_code == 200
    response = bench.post(
        reverse("warehouse_checklist_edit", args=["apparel"]), {"label_0": "X", "note": "no"}
    )

    assert response.status_code == 403
    assert list(ChecklistTemplate.objects.values_list("pk", "version", "is_current")) == before


def test_a_wrong_sku_in_place_of_the_expected_unit_is_said_as_such(
    bench, cs_user, operations_user, warehouse, shirt, other_shirt
):
    # given: a case for one blue shirt; the parcel holds a red one instead
    case = parcel(warehouse, cs_user, operations_user, (shirt, 1, "30.00", ()))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])

    # when: the red shirt is scanned
    page = bench.get(url, {"scans": [other_shirt.gtin]})

    # then: the screen says what came instead of what, not that a unit is still to come
    text = " ".join(page.content.decode().split())
    assert (
        f"Expected 1 × {shirt.sku}; scanned {other_shirt.sku} instead — received into "
        "quarantine as a SKU mismatch, with the refund held."
    ) in text
    assert "not scanned yet" not in text
    assert "flagged unit" not in text
    # and: the receipt does what the screen said: the case is complete, the unit quarantined
    response = bench.post(
        url,
        {"client_token": token(), "scans": [other_shirt.gtin], "packaging_ok": "on"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    unit = case.receipts.get().units.get()
    assert (case.state, unit.stock_state) == ("received", StockState.QUARANTINED)


def test_a_unit_still_missing_beside_a_wrong_one_waits_for_the_next_parcel(
    bench, cs_user, operations_user, warehouse, shirt, other_shirt
):
    # given: a case for two blue shirts; one red shirt is scanned
    case = parcel(warehouse, cs_user, operations_user, (shirt, 2, "30.00", ()))
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])

    page = bench.get(url, {"scans": [other_shirt.gtin]})

    # then: it cannot stand in for both, so the screen says what is still to come
    text = " ".join(page.content.decode().split())
    assert "2 expected units not scanned yet" in text
    assert "1 flagged unit" in text
    assert "instead" not in text
