"""Receipts and return units, inspections and their checklists, disposition rules and
decisions, put-away tasks and quarantine records."""

from .disposition import Disposition, DispositionRule, Outcome, PutawayTask, RecoveryBasis
from .inspection import (
    GENERAL,
    ChecklistTemplate,
    Grade,
    Inspection,
    InspectionPhoto,
    ItemKind,
)
from .quarantine import QuarantineRecord
from .receiving import MatchResult, MismatchKind, Receipt, ReturnUnit, UnitState

__all__ = [
    "GENERAL",
    "ChecklistTemplate",
    "Disposition",
    "DispositionRule",
    "Grade",
    "Inspection",
    "InspectionPhoto",
    "ItemKind",
    "MatchResult",
    "MismatchKind",
    "Outcome",
    "PutawayTask",
    "QuarantineRecord",
    "Receipt",
    "RecoveryBasis",
    "ReturnUnit",
    "UnitState",
]
