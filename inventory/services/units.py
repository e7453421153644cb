"""A serialized unit's state change along the canonical flow, as a movement; and its grade,
which changes no stock but what the channels may sell of it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from erp.history import save_with_history

from .. import locks
from ..models import OUTSIDE, InventoryUnit, MovementKind, StockMovement
from ..models.states import STATE_VALUES
from ..models.units import GRADES
from ._checks import _check_change, _check_locations, _check_tracking, _product
from ._common import _begin, _request
from ._posting import _post
from ._units import _unit_apply
from .availability import availability_recompute

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User


@transaction.atomic
def unit_transition(
    *,
    product_id: int,
    serial: str,
    to_state: str,
    cause_type: str,
    idempotency_key: str,
    to_location_id: int | None = None,
    actor: User | None = None,
    cause_id: str = "",
    reason: str = "",
    occurred_at: datetime | None = None,
) -> StockMovement:
    """Change a serialized unit's state (and location, if given) along the canonical flow.

    Effects: locks the unit, re-checks its state on the locked row, runs its FSM transition
    (ConcurrentTransitionMixin guards the save), records a history row, and posts one
    movement of qty 1 from where it was to where it is now; balances, ATS and outbox follow.
    """
    request = _request(
        "unit_transition",
        key=idempotency_key,
        kind=MovementKind.UNIT_TRANSITION,
        cause_type=cause_type,
        cause_id=cause_id,
        actor=actor,
        occurred_at=occurred_at,
        reason=reason,
        payload={
            "product_id": product_id,
            "serial": serial,
            "to_state": to_state,
            "to_location_id": to_location_id,
        },
    )
    replay = _begin(request, rows=1)
    if replay is not None:
        return replay[0]
    if to_state not in STATE_VALUES:
        raise ValidationError(f"Unknown stock state {to_state!r}.", code="unknown_state")
    product = _product(product_id)
    _check_tracking(product, lot="", serials=[serial], qty=1)
    unit = locks.units_lock(product_id=product.pk, serials=[serial]).get(serial)
    if unit is None:
        raise ValidationError(f"{product.sku} has no unit with serial {serial}.", "unknown_serial")
    if unit.state == OUTSIDE:
        raise ValidationError(
            f"Serial {serial} is not in our stock; receive it as a return first.",
            code="unit_outside",
        )
    destination = to_location_id or unit.location_id
    _check_change(unit.state, to_state, actor=actor, reason=reason)
    _check_locations(from_ids=[], to_sides=[(destination, to_state)])
    line = _unit_apply(unit, to_location_id=destination, to_state=to_state, reason=reason)
    return _post(request, product=product, lines=[line])[0]


@transaction.atomic
def unit_grade(
    *, product_id: int, serial: str, grade: str, actor: User | None, reason: str = ""
) -> InventoryUnit:
    """Record a serialized unit's grade from its inspection (A as new … F unsaleable).

    Effects: locks the unit; refuses an unknown grade or serial, or a unit outside our stock,
    writing nothing; the same grade again changes nothing. Otherwise sets the grade with a
    history row naming the actor and why, and recomputes the SKU's ATS on every channel
    (a graded unit counts only where the channel's rule sells its grade), with outbox rows
    for the figures that changed. No movement: no quantity changes place or state.
    """
    if grade not in GRADES:
        raise ValidationError(
            f"Unknown grade {grade!r}: one of {', '.join(GRADES)}.", code="unknown_grade"
        )
    product = _product(product_id)
    _check_tracking(product, lot="", serials=[serial], qty=1)
    unit = locks.units_lock(product_id=product.pk, serials=[serial]).get(serial)
    if unit is None:
        raise ValidationError(f"{product.sku} has no unit with serial {serial}.", "unknown_serial")
    if unit.state == OUTSIDE:
        raise ValidationError(
            f"Serial {serial} is not in our stock; receive it as a return first.",
            code="unit_outside",
        )
    if unit.grade == grade:
        return unit
    unit.grade = grade
    save_with_history(unit, actor=actor, why=reason.strip() or f"Graded {grade}")
    availability_recompute(product_ids=[product.pk])
    return unit
