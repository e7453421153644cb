"""Inspection checklists (versioned per department) and the inspections that used them."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from erp.models import Category

from .receiving import ReturnUnit

# The checklist for departments without their own (home, other).
GENERAL = "general"
DEPARTMENT_CHOICES = [*Category.Department.choices, (GENERAL, "General")]


class Grade(models.TextChoices):
    A = "A", "A · as new"
    B = "B", "B · opened, like new"
    C = "C", "C · light wear"
    D = "D", "D · worn or cosmetic damage"
    E = "E", "E · functional defect"
    F = "F", "F · unsaleable"


class ItemKind(models.TextChoices):
    YES_NO = "yes_no", "Yes / no"
    TEXT = "text", "Text"
    DATE = "date", "Date"


class ChecklistTemplate(models.Model):
    """One version of a department's inspection checklist. A change is a new version: an
    inspection keeps the exact version it used. `items` is a list of
    {"key", "label", "kind" (ItemKind), "required" (bool)}."""

    department = models.CharField(max_length=20, choices=DEPARTMENT_CHOICES)
    version = models.PositiveIntegerField()
    items = models.JSONField()
    is_current = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords(excluded_fields=["items"])

    class Meta:
        ordering = ["department", "-version"]
        default_permissions = ("view",)
        permissions = [("change_checklist", "Can change inspection checklists")]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "version"], name="checklist_version_unique"
            ),
            models.UniqueConstraint(
                fields=["department"],
                condition=models.Q(is_current=True),
                name="checklist_one_current_per_department",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_department_display()} checklist v{self.version}"


class Inspection(models.Model):
    unit = models.OneToOneField(ReturnUnit, on_delete=models.PROTECT, related_name="inspection")
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.PROTECT, related_name="+")
    answers = models.JSONField()
    grade = models.CharField(max_length=1, choices=Grade.choices)
    notes = models.TextField(blank=True)
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    inspected_at = models.DateTimeField(default=timezone.now)
    client_token = models.CharField(max_length=64, unique=True)

    history = HistoricalRecords(excluded_fields=["answers"])

    class Meta:
        ordering = ["-inspected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.unit} · grade {self.grade}"


class InspectionPhoto(models.Model):
    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to="warehouse/inspections/%Y/%m/")
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["inspection", "id"]

    def __str__(self) -> str:
        return self.image.name
