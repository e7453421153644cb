"""Writes of the warehouse: receiving, inspection, disposition, quarantine, put-away.
Import from here."""

from .disposition import (
    disposition_record,
    disposition_rule_preview,
    disposition_rule_save,
    unit_suggestion,
)
from .inspection import checklist_for, checklist_template_revise, inspection_record
from .putaway import putaway_task_complete
from .quarantine import quarantine_release
from .receiving import (
    ExpectedLine,
    ParcelCase,
    ParcelPreview,
    receipt_by_token,
    receipt_preview,
    receipt_record,
)

__all__ = [
    "ExpectedLine",
    "ParcelCase",
    "ParcelPreview",
    "checklist_for",
    "checklist_template_revise",
    "disposition_record",
    "disposition_rule_preview",
    "disposition_rule_save",
    "inspection_record",
    "putaway_task_complete",
    "quarantine_release",
    "receipt_by_token",
    "receipt_preview",
    "receipt_record",
    "unit_suggestion",
]
