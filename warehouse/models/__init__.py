"""Receipts and return units, inspections and their checklists, disposition rules and
decisions, put-away tasks and quarantine records."""

from .counts import (
    AbcClass,
    CountApproval,
    CountEntry,
    CountLine,
    CountLocation,
    CountPlan,
    CountState,
    CycleCount,
    LineStatus,
    PlanKind,
    SerialOutcome,
)
from .disposition import (
    Disposition,
    DispositionRule,
    DispositionRuleEdit,
    Outcome,
    PutawayTask,
    RecoveryBasis,
)
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
    "AbcClass",
    "ChecklistTemplate",
    "CountApproval",
    "CountEntry",
    "CountLine",
    "CountLocation",
    "CountPlan",
    "CountState",
    "CycleCount",
    "Disposition",
    "DispositionRule",
    "DispositionRuleEdit",
    "Grade",
    "Inspection",
    "InspectionPhoto",
    "ItemKind",
    "LineStatus",
    "MatchResult",
    "MismatchKind",
    "Outcome",
    "PlanKind",
    "PutawayTask",
    "QuarantineRecord",
    "Receipt",
    "RecoveryBasis",
    "ReturnUnit",
    "SerialOutcome",
    "UnitState",
]
