"""Writes of the warehouse: receiving, inspection, disposition, quarantine, put-away.
Import from here."""

from .disposition import disposition_record, unit_suggestion
from .inspection import checklist_for, checklist_template_revise, inspection_record
from .putaway import putaway_task_complete
from .quarantine import quarantine_release
from .receiving import ExpectedLine, ParcelCase, receipt_by_token, receipt_record

__all__ = [
    "ExpectedLine",
    "ParcelCase",
    "checklist_for",
    "checklist_template_revise",
    "disposition_record",
    "inspection_record",
    "putaway_task_complete",
    "quarantine_release",
    "receipt_by_token",
    "receipt_record",
    "unit_suggestion",
]
