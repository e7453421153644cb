"""A 3PL's returns receipt and disposition report into the inbox, one event per row, from an
upload or the management command (docs/3pl_returns_report.md).

The inbox makes a row idempotent (its canonical body is its identity) and parks what master
data cannot place; `returns` applies each row through its registered handler, which posts the
receipt and the disposition through the warehouse services.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from erp.adapters.amazon import RowError
from erp.adapters.base import MalformedPayload
from erp.adapters.threepl_returns import (
    REPORT_FILE_HEADER,
    REPORT_ROW_HEADER,
    ThreePLReturnsReport,
    returns_report_parse,
)
from erp.models import Warehouse

from .inbox import REPLAY_PERMISSION, inbound_event_record

# Importing a report feeds the inbox, as a replay does: the same people may do it.
IMPORT_PERMISSION = REPLAY_PERMISSION


@dataclass(frozen=True)
class ThreePLReturnsImport:
    report: ThreePLReturnsReport
    recorded: int
    duplicates: int
    event_ids: tuple[int, ...]

    @property
    def errors(self) -> tuple[RowError, ...]:
        return self.report.errors


def threepl_warehouses():
    """The active warehouses a 3PL operates: the only ones a returns report may be for."""
    return Warehouse.objects.filter(operator=Warehouse.Operator.THIRD_PARTY, is_active=True)


@transaction.atomic
def threepl_returns_report_import(
    *, body: bytes, warehouse_code: str, actor: AbstractBaseUser | None, filename: str = ""
) -> ThreePLReturnsImport:
    """Record every readable row of a 3PL returns report for the 3PL warehouse
    `warehouse_code` as an inbound event of its provider (source shiphero / shipbob /
    extensiv, account = the warehouse code, topic returns_report).

    Effects: refuses a person without `erp.replay_inboundevent` (PermissionDenied; None is
    the system); an unknown warehouse, one we operate ourselves, or a file that is no returns
    report is a ValidationError and writes nothing. Otherwise records one InboundEvent per
    readable row, queued for processing after commit; a row already recorded, from this file
    or an earlier one, records nothing. Unreadable rows come back as errors (row, column,
    why) and are skipped.
    """
    if actor is not None and not actor.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied("You may not import 3PL reports.")
    warehouse = threepl_warehouses().filter(code=warehouse_code).first()
    if warehouse is None:
        raise ValidationError(
            f"No active 3PL warehouse has the code {warehouse_code!r}.", code="warehouse"
        )
    try:
        report = returns_report_parse(body)
    except MalformedPayload as error:
        raise ValidationError(str(error), code="not_a_report") from error
    recorded, ids = 0, []
    for row in report.rows:
        headers = {REPORT_ROW_HEADER: str(row.row)}
        if filename:
            headers[REPORT_FILE_HEADER] = filename[:200]
        outcome = inbound_event_record(
            source=warehouse.provider, account=warehouse.code, body=row.as_body(), headers=headers
        )
        recorded += outcome.created
        ids.append(outcome.event.pk)
    return ThreePLReturnsImport(report, recorded, len(report.rows) - recorded, tuple(ids))
