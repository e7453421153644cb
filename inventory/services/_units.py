"""Serialized units inside a posting: lock them, check each is where the request says, run
their transitions; each unit becomes a movement line of qty 1."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from simple_history.utils import bulk_create_with_history

from erp.models import Product

from .. import locks
from ..models import OUTSIDE, InventoryUnit, StockState
from ..models.states import is_allowed_change
from ._checks import _describe
from ._common import _Line


def _unit_lines(
    product: Product,
    *,
    serials: Sequence[str],
    lot: str,
    from_side: tuple[int | None, str | None],
    to_side: tuple[int | None, str | None],
    create_units: bool,
    reason: str,
) -> list[_Line]:
    """Lock the units, check each is where the request says, and move them (qty 1 each)."""
    units = locks.units_lock(product_id=product.pk, serials=serials)
    new_units, lines = [], []
    to_location_id, to_state = to_side
    for serial in serials:
        unit = units.get(serial)
        if unit is None:
            if not create_units:
                raise ValidationError(
                    f"{product.sku} has no unit with serial {serial}.", code="unknown_serial"
                )
            unit = InventoryUnit(
                product=product, serial=serial, lot=lot, location_id=to_location_id, state=to_state
            )
            new_units.append(unit)
            lines.append(_Line(1, lot, None, None, to_location_id, to_state, unit))
            continue
        where = (None, None) if unit.state == OUTSIDE else (unit.location_id, unit.state)
        if where != from_side:
            raise ValidationError(
                f"Serial {serial} is {_describe(where)}, not {_describe(from_side)}.",
                code="unit_elsewhere",
            )
        if lot and unit.lot != lot:
            raise ValidationError(f"Serial {serial} is of lot {unit.lot!r}, not {lot!r}.")
        if unit.state == OUTSIDE and not is_allowed_change(OUTSIDE, to_state):
            raise ValidationError(
                f"Serial {serial} comes back into stock as a return (in transit or pending "
                "inspection), not straight into "
                f"{StockState(to_state).label.lower()}.",
                code="transition_not_allowed",
            )
        lines.append(
            _unit_apply(unit, to_location_id=to_location_id, to_state=to_state, reason=reason)
        )
    if new_units:
        bulk_create_with_history(new_units, InventoryUnit)
    return lines


def _unit_apply(
    unit: InventoryUnit, *, to_location_id: int | None, to_state: str | None, reason: str
) -> _Line:
    """Run the locked unit's transition and save it; the movement line it calls for."""
    from_location_id = unit.location_id
    from_state = None if unit.state == OUTSIDE else unit.state
    if from_state == to_state and from_location_id == to_location_id:
        raise ValidationError(
            f"Serial {unit.serial} is already {_describe((to_location_id, to_state))}.",
            code="no_change",
        )
    if to_state is None:
        unit.to_outside()
    elif to_state != unit.state:
        getattr(unit, f"to_{to_state}")()
    unit.location_id = to_location_id
    unit._change_reason = reason
    unit.save()
    return _Line(1, unit.lot, from_location_id, from_state, to_location_id, to_state, unit)
