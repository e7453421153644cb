"""What an operations manager sets up for reconciliation: how each source names our warehouses
(source → warehouse mappings) and how much unexplained variance is acceptable (tolerances).

The admin and the operations screen refuse the same things, because both end in the model's
`full_clean` (its `clean`, validators and unique constraints); here a change also needs a note
saying why (kept in the history with who) and a client token, so a form sent twice saves once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction

from erp.history import save_with_history

from ..models import ExternalLocation, ReconciliationTolerance

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

MAPPING_FIELDS = ("source", "external_code", "warehouse")
TOLERANCE_FIELDS = ("source", "category", "units", "percent", "value")


def _save(
    model: type[models.Model],
    *,
    pk: int | None,
    fields: tuple[str, ...],
    values: dict,
    note: str,
    client_token: str,
    actor: User,
    what: str,
) -> models.Model:
    """Create (`pk` None) or change one row of `model`: the shared rules of both services."""
    client_token = (client_token or "").strip()
    if not client_token:
        raise ValidationError("The form has no submission token; reload it and try again.")
    replayed = model.history.filter(client_token=client_token).values_list("id", flat=True).first()
    if replayed is not None:
        # The same form sent again (a double click, a retried POST): it was saved once.
        return model.objects.get(pk=replayed)
    verb = "add" if pk is None else "change"
    if not actor.has_perm(f"inventory.{verb}_{model._meta.model_name}"):
        raise PermissionDenied(f"You may not {verb} {what}.")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what changed and why."})
    row = model() if pk is None else model.objects.select_for_update().get(pk=pk)
    for name in fields:
        if name in values:
            setattr(row, name, values[name])
    row.client_token = client_token
    row.full_clean()
    save_with_history(row, actor=actor, why=note)
    return row


@transaction.atomic
def external_location_save(
    *, mapping_id: int | None, values: dict, note: str, client_token: str, actor: User
) -> ExternalLocation:
    """Create a source → warehouse mapping (`mapping_id` None) or change one.

    Effects: returns the mapping already saved under `client_token`, writing nothing (a form
    sent twice). Otherwise refuses without `inventory.add_externallocation` /
    `change_externallocation` (PermissionDenied), and with a ValidationError naming the field
    — writing nothing — without a note, for the storefront (it reports per channel), a 3PL
    mapped to a warehouse it does not operate, or a source and code already mapped. Saves the
    mapping (locked when it exists) with a history row naming the manager and the note; the
    next snapshot of that source is read with it.
    """
    return _save(
        ExternalLocation,
        pk=mapping_id,
        fields=MAPPING_FIELDS,
        values=values,
        note=note,
        client_token=client_token,
        actor=actor,
        what="source → warehouse mappings",
    )


@transaction.atomic
def tolerance_save(
    *, tolerance_id: int | None, values: dict, note: str, client_token: str, actor: User
) -> ReconciliationTolerance:
    """Create a reconciliation tolerance (`tolerance_id` None) or change one.

    Effects: returns the tolerance already saved under `client_token`, writing nothing.
    Otherwise refuses without `inventory.add_reconciliationtolerance` /
    `change_reconciliationtolerance` (PermissionDenied), and with a ValidationError naming
    the field — writing nothing — without a note, for negative allowances, a percentage over
    100, a value with more than two decimals, or a second row for the same source and
    category. Saves it (locked when it exists) with a history row naming the manager and the
    note; the next run applies it.
    """
    return _save(
        ReconciliationTolerance,
        pk=tolerance_id,
        fields=TOLERANCE_FIELDS,
        values=values,
        note=note,
        client_token=client_token,
        actor=actor,
        what="reconciliation tolerances",
    )
