"""Inspecting a received unit against its department's checklist, and revising checklists."""

from collections.abc import Sequence
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone
from django_fsm import can_proceed

from erp.history import create_with_history
from erp.models import Product
from erp.validators import validate_photo
from inventory import services as inventory

from ..models import (
    GENERAL,
    ChecklistTemplate,
    Grade,
    Inspection,
    InspectionPhoto,
    ItemKind,
    ReturnUnit,
)
from ._support import require_perm, required_text, save

INSPECT_PERMISSION = "warehouse.inspect_unit"
CHECKLIST_PERMISSION = "warehouse.change_checklist"
# Answers that prove the serial on the device is the one on the label (electronics).
SERIAL_CHECK = "serial_matches"


def checklist_for(unit: ReturnUnit) -> ChecklistTemplate:
    """The current checklist of the unit's department, else the general one."""
    department = unit.product.category.department if unit.product_id else GENERAL
    templates = {
        t.department: t
        for t in ChecklistTemplate.objects.filter(
            department__in=[department, GENERAL], is_current=True
        )
    }
    template = templates.get(department) or templates.get(GENERAL)
    if template is None:
        raise ValidationError("No inspection checklist is set up; an operations manager adds one.")
    return template


def answers_clean(template: ChecklistTemplate, answers: dict) -> dict:
    """The answers the checklist asks for, typed; a missing required answer or a wrong type is
    a ValidationError naming the item."""
    cleaned, errors = {}, {}
    for item in template.items:
        key, label, kind = item["key"], item["label"], item["kind"]
        value = answers.get(key)
        if value in (None, ""):
            if item.get("required"):
                errors[key] = f"Answer “{label}”."
            continue
        if kind == ItemKind.YES_NO:
            if isinstance(value, str) and value.lower() in ("yes", "true", "on", "1"):
                value = True
            elif isinstance(value, str) and value.lower() in ("no", "false", "off", "0"):
                value = False
            if not isinstance(value, bool):
                errors[key] = f"“{label}” is yes or no."
                continue
        elif kind == ItemKind.DATE:
            try:
                value = date.fromisoformat(str(value)).isoformat()
            except ValueError:
                errors[key] = f"“{label}” is a date (YYYY-MM-DD)."
                continue
        else:
            value = str(value).strip()[:200]
        cleaned[key] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic(savepoint=False)
def inspection_record(
    *,
    unit_id: int,
    answers: dict,
    grade: str,
    notes: str,
    photos: Sequence[UploadedFile],
    client_token: str,
    actor: AbstractBaseUser,
    checklist: ChecklistTemplate | None = None,
) -> Inspection:
    """Record the inspection of a received unit. The caller holds the lock of the unit's case
    (`returns.workflow`), so the inspection a token made is committed before the unit is read.
    `checklist`: the one the caller built its form from (`checklist_for` the unit), so that
    the answers are kept against the version the inspector saw; None reads it here.

    Effects: refuses without `warehouse.inspect_unit`; the same client token returns the
    inspection it made; locks the unit and refuses one not waiting for inspection, a grade
    outside A to F, answers the checklist refuses and photos that are not images or too large —
    writing nothing. Otherwise stores the answers against the exact checklist version, the
    grade, notes and photos (Django storage), marks the serial verified when the unit matched
    its case and the checklist confirmed its serial, and moves the unit to inspecting with a
    history row naming the inspector. `inspection.replayed` says whether it was a replay.
    Opens no savepoint: every refusal raises before anything is written.
    """
    require_perm(actor, INSPECT_PERMISSION, "inspect returned units")
    unit = (
        ReturnUnit.objects.select_for_update(of=("self",))
        .select_related("product__category")
        .annotate(token_inspection_id=_made_by(client_token))
        .get(pk=unit_id)
    )
    if unit.token_inspection_id is not None:
        replay = Inspection.objects.get(pk=unit.token_inspection_id)
        replay.replayed = True
        return replay
    if not can_proceed(unit.inspect):
        raise ValidationError(
            f"This unit is {unit.get_state_display().lower()}: inspected already."
        )
    if grade not in Grade.values:
        raise ValidationError({"grade": "Pick a grade from A to F."})
    for photo in photos:
        validate_photo(photo)
    template = checklist if _checklist_of(checklist, unit) else checklist_for(unit)
    cleaned = answers_clean(template, answers)
    inspection = Inspection(
        unit=unit,
        template=template,
        answers=cleaned,
        grade=grade,
        notes=notes.strip(),
        inspector=actor,
        inspected_at=timezone.now(),
        client_token=client_token,
    )
    create_with_history(inspection, actor=actor, why=f"Graded {grade}")
    for photo in photos:
        # Written to storage now; a rollback leaves an orphan file, never a row without one.
        InspectionPhoto.objects.create(
            inspection=inspection, image=photo, content_type=photo.content_type, size=photo.size
        )
    unit.serial_verified = (
        bool(unit.serial) and unit.is_matched and cleaned.get(SERIAL_CHECK) is True
    )
    unit.inspect()
    save(unit, actor=actor, why=f"Inspected: grade {grade}")
    _stock_unit_grade(unit, grade=grade, actor=actor)
    inspection.replayed = False
    return inspection


def _made_by(client_token: str) -> Subquery:
    """The inspection `client_token` made, if any: read in the statement that locks the unit."""
    return Subquery(Inspection.objects.filter(client_token=client_token).values("pk")[:1])


def _checklist_of(checklist: ChecklistTemplate | None, unit: ReturnUnit) -> bool:
    """Whether `checklist` is a current checklist that may serve this unit's department."""
    department = unit.product.category.department if unit.product_id else GENERAL
    return (
        checklist is not None
        and checklist.is_current
        and checklist.department in (department, GENERAL)
    )


# A serial's grade decides which channels may sell it once it is restocked (inventory's
# channel rules), so the ledger's unit carries the grade its inspection gave.
UNGRADABLE = frozenset({"unknown_serial", "unit_outside"})


def _stock_unit_grade(unit: ReturnUnit, *, grade: str, actor) -> None:
    if not (unit.product_id and unit.serial and unit.product.tracking == Product.Tracking.SERIAL):
        return
    try:
        inventory.unit_grade(
            product_id=unit.product_id,
            serial=unit.serial,
            grade=grade,
            actor=actor,
            reason=f"Inspected: grade {grade}",
        )
    except ValidationError as refusal:
        # A foreign serial was received as a mismatch, not as one of our units: its grade
        # stays on the inspection. The refusal wrote nothing.
        if refusal.code not in UNGRADABLE:
            raise


@transaction.atomic
def checklist_template_revise(
    *, department: str, items: list[dict], note: str, actor: AbstractBaseUser
) -> ChecklistTemplate:
    """Publish a new version of a department's checklist.

    Effects: refuses without `warehouse.change_checklist`, without a note, or with items that
    lack a key, a label or a known kind, or repeat a key; retires the current version and
    creates the next one. Inspections keep pointing at the version they used.
    """
    require_perm(actor, CHECKLIST_PERMISSION, "change inspection checklists")
    note = required_text(note, field="note", message="Say what changed and why.")
    keys = [item.get("key") for item in items]
    if not items or len(set(keys)) != len(keys):
        raise ValidationError({"items": "List each question once, with its own key."})
    for item in items:
        if not item.get("key") or not item.get("label") or item.get("kind") not in ItemKind.values:
            raise ValidationError({"items": f"Item {item!r} needs a key, a label and a kind."})
    versions = list(
        ChecklistTemplate.objects.select_for_update()
        .filter(department=department)
        .order_by("version")
    )
    for current in versions:
        if current.is_current:
            current.is_current = False
            save(current, actor=actor, why=f"Replaced: {note}")
    template = ChecklistTemplate(
        department=department,
        version=(versions[-1].version + 1) if versions else 1,
        items=[
            {
                "key": item["key"],
                "label": item["label"],
                "kind": item["kind"],
                "required": bool(item.get("required", True)),
            }
            for item in items
        ],
        note=note,
        created_by=actor,
    )
    save(template, actor=actor, why=note)
    return template
