"""Inspection: the department's checklist (versioned), grade, photos, idempotency, denials."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import InventoryUnit
from tests.factories.warehouse import case_in_transit, gs1, product_in, shipped_order
from warehouse.models import ChecklistTemplate, Inspection, InspectionPhoto, ReturnUnit
from warehouse.services import checklist_for, checklist_template_revise

from .conftest import APPAREL_ANSWERS, inspect, receive

PNG = (  # a real 1x1 PNG: uploads are checked by their content (erp.validators)
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS"
    b"\xde\x00\x00\x00\x0cIDATx\x9cc8Qa\x03\x00\x03\x88\x01}\xec+\xb0\x9e\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def received_shirt(cs_user, operations_user, warehouse_user, warehouse, shirt):
    order = shipped_order((shirt, 1, "30.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    return receive(case, warehouse, warehouse_user, shirt.gtin).units.get()


def test_the_seeded_checklists_ask_what_the_issue_lists(db):
    labels = {
        t.department: [item["label"] for item in t.items]
        for t in ChecklistTemplate.objects.filter(is_current=True)
    }
    assert labels["apparel"] == ["Tags attached", "Worn or washed", "Stains", "Odour"]
    assert labels["electronics"] == [
        "Powers on",
        "Serial on the device matches the label",
        "All accessories present",
        "Factory reset done",
        "Screen or casing damage",
    ]
    assert labels["health_beauty"] == ["Seal intact", "Expiry date", "Lot on the pack"]


def test_an_inspection_keeps_its_answers_grade_photos_and_checklist_version(
    received_shirt, warehouse_user
):
    photo = SimpleUploadedFile("front.png", PNG, content_type="image/png")
    inspection = inspect(
        received_shirt,
        warehouse_user,
        grade="B",
        answers={**APPAREL_ANSWERS, "tags_attached": "no"},
        notes="Tag cut off",
        photos=[photo],
    )
    assert inspection.answers == {**APPAREL_ANSWERS, "tags_attached": False}
    assert (inspection.grade, inspection.notes, inspection.inspector) == (
        "B",
        "Tag cut off",
        warehouse_user,
    )
    assert (inspection.template.department, inspection.template.version) == ("apparel", 1)
    stored = InspectionPhoto.objects.get()
    assert (stored.content_type, stored.size) == ("image/png", len(PNG))
    assert stored.image.read() == PNG
    unit = ReturnUnit.objects.get(pk=received_shirt.pk)
    assert unit.state == "inspecting"
    assert unit.history.latest().history_change_reason == "Inspected: grade B"


@pytest.mark.parametrize(
    ("answers", "grade", "photos", "message"),
    [
        ({}, "A", [], "Answer"),
        ({**APPAREL_ANSWERS, "stains": "maybe"}, "A", [], "yes or no"),
        (APPAREL_ANSWERS, "G", [], "grade from A to F"),
        (
            APPAREL_ANSWERS,
            "A",
            [SimpleUploadedFile("notes.txt", b"hi", content_type="text/plain")],
            "not an image",
        ),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    received_shirt, warehouse_user, answers, grade, photos, message
):
    with pytest.raises(ValidationError, match=message):
        inspect(received_shirt, warehouse_user, grade=grade, answers=answers, photos=photos)
    assert not Inspection.objects.exists()
    assert ReturnUnit.objects.get(pk=received_shirt.pk).state == "received"


def test_a_photo_over_the_size_limit_is_refused(received_shirt, warehouse_user, settings):
    settings.MAX_UPLOAD_BYTES = 10
    photo = SimpleUploadedFile("big.png", PNG, content_type="image/png")
    with pytest.raises(ValidationError, match="larger than"):
        inspect(received_shirt, warehouse_user, photos=[photo])
    assert not InspectionPhoto.objects.exists()


def test_inspecting_needs_the_permission(received_shirt, cs_user):
    with pytest.raises(PermissionDenied):
        inspect(received_shirt, cs_user)
    assert not Inspection.objects.exists()


def test_a_double_submit_records_one_inspection(received_shirt, warehouse_user):
    first = inspect(received_shirt, warehouse_user, client_token="same")
    again = inspect(received_shirt, warehouse_user, client_token="same")
    assert again.pk == first.pk
    assert Inspection.objects.count() == 1
    with pytest.raises(ValidationError, match="inspected already"):
        inspect(received_shirt, warehouse_user)


def test_a_manager_revises_a_checklist_and_old_inspections_keep_their_version(
    received_shirt, warehouse_user, operations_user, cs_user, warehouse, shirt
):
    # given: an inspection on version 1
    first = inspect(received_shirt, warehouse_user)
    items = [
        *ChecklistTemplate.objects.get(department="apparel", is_current=True).items,
        {"key": "pilling", "label": "Pilling", "kind": "yes_no"},
    ]
    # when: warehouse staff try, then a manager revises it
    with pytest.raises(PermissionDenied):
        checklist_template_revise(department="apparel", items=items, note="x", actor=cs_user)
    revised = checklist_template_revise(
        department="apparel", items=items, note="Knitwear pills", actor=operations_user
    )
    # then: version 2 is current; the old inspection still points at version 1
    assert (revised.version, revised.is_current) == (2, True)
    assert ChecklistTemplate.objects.filter(department="apparel", is_current=True).get() == revised
    first.refresh_from_db()
    assert first.template.version == 1
    assert revised.history.latest().history_change_reason == "Knitwear pills"


def test_the_checklist_the_form_was_built_from_is_used_without_reading_it_again(
    received_shirt, warehouse_user
):
    # given: the checklist the inspection form was built from (as the screen reads it)
    current = checklist_for(received_shirt)
    # when: the inspection is posted with it
    with CaptureQueriesContext(connection) as queries:
        inspection = inspect(received_shirt, warehouse_user, checklist=current)
    # then: the answers are kept against it, and no checklist was read again
    assert inspection.template == current
    assert not [q for q in queries if "warehouse_checklisttemplate" in q["sql"]]


def test_a_checklist_of_another_department_is_not_used_for_the_unit(received_shirt, warehouse_user):
    # given: a caller hands over the electronics checklist for a shirt
    wrong = ChecklistTemplate.objects.get(department="electronics", is_current=True)
    # when: the shirt is inspected with apparel answers
    inspection = inspect(received_shirt, warehouse_user, checklist=wrong)
    # then: the shirt's own checklist was read and used
    assert inspection.template.department == "apparel"
    assert inspection.answers == APPAREL_ANSWERS


def test_a_department_without_a_checklist_uses_the_general_one(
    cs_user, operations_user, warehouse_user, warehouse
):
    lamp = product_in("home")
    order = shipped_order((lamp, 1, "40.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    unit = receive(case, warehouse, warehouse_user, lamp.gtin).units.get()
    inspection = inspect(unit, warehouse_user, answers={"complete": True, "damage": False})
    assert inspection.template.department == "general"


def test_a_health_and_beauty_checklist_takes_a_date_and_a_lot(
    cs_user, operations_user, warehouse_user, warehouse
):
    cream = product_in("health_beauty")
    order = shipped_order((cream, 1, "20.00", ()), warehouse=warehouse)
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    unit = receive(case, warehouse, warehouse_user, cream.gtin).units.get()
    with pytest.raises(ValidationError, match="is a date"):
        inspect(
            unit, warehouse_user, answers={"seal_intact": True, "expiry_date": "soon", "lot": "L1"}
        )
    inspection = inspect(
        unit,
        warehouse_user,
        answers={"seal_intact": "yes", "expiry_date": "2027-05-31", "lot": "L1"},
    )
    assert inspection.answers == {"seal_intact": True, "expiry_date": "2027-05-31", "lot": "L1"}


def test_inspecting_a_serial_unit_grades_the_stock_unit_so_channel_rules_can_use_it(
    cs_user, operations_user, warehouse_user, warehouse, headphones
):
    # Given headphones HP-1 shipped, returned and received as the same stock unit
    order = shipped_order((headphones, 1, "120.00", ["HP-1"]), warehouse=warehouse)
    InventoryUnit.objects.create(product=headphones, serial="HP-1", state="outside")
    case = case_in_transit(order, agent=cs_user, manager=operations_user)
    unit = receive(case, warehouse, warehouse_user, gs1(headphones, serial="HP-1")).units.get()
    assert InventoryUnit.objects.get(serial="HP-1").grade == ""

    # When the bench grades it B
    inspect(unit, warehouse_user, grade="B")

    # Then the stock unit carries grade B, and its history says who graded it and why
    stock_unit = InventoryUnit.objects.get(serial="HP-1")
    assert stock_unit.grade == "B"
    latest = stock_unit.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (
        warehouse_user,
        "Inspected: grade B",
    )
