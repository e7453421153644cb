"""Marketplace inventory reports (Amazon FBA) → snapshots, with a row-level error report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from erp.adapters.amazon import InventoryReport, RowError, inventory_report_parse
from erp.adapters.base import MalformedPayload, body_digest

from ..models import ExternalSnapshot, SnapshotScope, SnapshotSource
from .snapshots import SnapshotLineIn, snapshot_record

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

IMPORT_PERMISSION = "inventory.import_inventoryreport"


@dataclass(frozen=True)
class ReportImport:
    snapshot: ExternalSnapshot | None
    report: InventoryReport | None
    errors: tuple[RowError, ...]
    already_imported: bool = False

    @property
    def imported(self) -> int:
        return self.snapshot.line_count if self.snapshot else 0


@transaction.atomic
def amazon_inventory_import(
    *,
    body: bytes,
    actor: User | None,
    taken_at: datetime | None = None,
    filename: str = "",
) -> ReportImport:
    """Import an FBA inventory report (GET_AFN_INVENTORY_DATA, MYI unsuppressed, or the SP-API
    inventory summaries) as an Amazon FBA snapshot.

    Effects: refuses a person without `inventory.import_inventoryreport` (PermissionDenied;
    None is the system); a file that is no such report is a ValidationError. Otherwise
    records one full snapshot keyed by the file's digest (the same file again changes
    nothing), its rows matched to our SKUs (directly or through a channel listing) at the
    warehouse Amazon FBA is mapped to. Returns the snapshot and every row error (row, column,
    why), parse errors and unknown SKUs alike.
    """
    if actor is not None and not actor.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied("You may not import inventory reports.")
    try:
        report = inventory_report_parse(body)
    except MalformedPayload as error:
        raise ValidationError(str(error), code="not_a_report") from error
    ref = body_digest(body)
    existing = ExternalSnapshot.objects.filter(
        source=SnapshotSource.AMAZON_FBA, external_ref=ref
    ).first()
    if existing is not None:
        return ReportImport(existing, report, _errors(report, existing), already_imported=True)
    snapshot = snapshot_record(
        source=SnapshotSource.AMAZON_FBA,
        taken_at=taken_at or timezone.now(),
        external_ref=ref,
        scope=SnapshotScope.FULL,
        actor=actor,
        note=f"{report.kind} {filename}".strip(),
        lines=[
            SnapshotLineIn(
                sku=row.sku,
                on_hand=row.on_hand,
                available=row.sellable,
                allocated=row.reserved,
                on_hold=row.unsellable,
            )
            for row in report.rows
        ],
    )
    return ReportImport(snapshot, report, _errors(report, snapshot))


def _errors(report: InventoryReport, snapshot: ExternalSnapshot) -> tuple[RowError, ...]:
    """Parse errors plus the rows the snapshot could not match, in row order."""
    unmatched = [
        RowError(
            report.rows[u["line"] - 1].row,
            "sku" if "SKU" in u["why"] else "warehouse",
            u["why"],
        )
        for u in snapshot.unmatched
    ]
    return tuple(sorted((*report.errors, *unmatched), key=lambda e: (e.row, e.column)))
