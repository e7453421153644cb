"""The checks a request passes before anything is written, and the errors that say why not."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError

from erp.models import Location, Product

from .. import locks
from ..models import StockState
from ..models.states import RECEIVABLE_STATES, STATE_VALUES, is_allowed_change, kinds_refusing
from ._common import IN_STOCK_STATES, S

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User


def _check_qty(qty: int) -> None:
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        raise ValidationError(
            f"Quantity must be a whole number of at least 1 (got {qty!r}).", code="bad_qty"
        )


def _product(product_id: int) -> Product:
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise ValidationError(f"Unknown SKU: no product with id {product_id}.", "unknown_sku")
    return product


def _check_tracking(product: Product, *, lot: str, serials: Sequence[str], qty: int) -> None:
    tracking = product.tracking
    if tracking == Product.Tracking.SERIAL:
        if not serials:
            raise ValidationError(
                f"{product.sku} is serial-tracked: give the serial of each unit.",
                code="serial_required",
            )
        if len(serials) != qty or len(set(serials)) != len(serials) or not all(serials):
            raise ValidationError(
                f"Give {qty} different serial(s) for {qty} unit(s) of {product.sku}.",
                code="serial_count",
            )
    elif serials:
        raise ValidationError(
            f"{product.sku} is not serial-tracked: it takes no serial.",
            code="serial_not_tracked",
        )
    if tracking == Product.Tracking.LOT and not lot:
        raise ValidationError(f"{product.sku} is lot-tracked: give the lot.", "lot_required")
    if tracking == Product.Tracking.NONE and lot:
        raise ValidationError(
            f"{product.sku} is not lot-tracked: it takes no lot.", "lot_not_tracked"
        )


def _check_locations(
    *, from_ids: Iterable[int | None], to_sides: Iterable[tuple[int | None, str | None]]
) -> None:
    """Every location exists; stock goes only to active ones, in a state their kind holds."""
    to_sides = [(pk, state) for pk, state in to_sides if pk is not None]
    sources = {pk for pk in from_ids if pk is not None}
    destinations = {pk for pk, _ in to_sides}
    found = {
        pk: (is_active, kind)
        for pk, is_active, kind in Location.objects.filter(pk__in=sources | destinations)
        .order_by()
        .values_list("pk", "is_active", "kind")
    }
    unknown = (sources | destinations) - found.keys()
    if unknown:
        raise ValidationError(
            f"Unknown location: no location with id {', '.join(map(str, sorted(unknown)))}.",
            code="unknown_location",
        )
    inactive = sorted(pk for pk in destinations if not found[pk][0])
    if inactive:
        raise ValidationError(
            f"Location {', '.join(map(str, inactive))} is inactive: stock cannot go there.",
            code="inactive_location",
        )
    for pk, state in to_sides:
        _check_fits(pk, found[pk][1], state)


def _check_fits(location_id: int, kind: str, state: str | None) -> None:
    """Refuse stock in a state its location's kind does not hold (states.py says which)."""
    if kind in kinds_refusing(state):
        location = Location.objects.select_related("warehouse").get(pk=location_id)
        raise ValidationError(
            f"{location} is a {Location.Kind(kind).label.lower()} location: it holds no "
            f"{StockState(state).label.lower()} stock.",
            code="state_unfit_for_location",
        )


def _check_change(
    from_state: str | None,
    to_state: str | None,
    *,
    actor: User | None,
    reason: str,
    entries: frozenset[str] = RECEIVABLE_STATES,
    exits: frozenset[str] = IN_STOCK_STATES,
) -> None:
    for state in (from_state, to_state):
        if state is not None and state not in STATE_VALUES:
            raise ValidationError(f"Unknown stock state {state!r}.", code="unknown_state")
    if from_state is None and to_state not in entries:
        raise ValidationError(
            f"Stock cannot enter as {StockState(to_state).label.lower()}; it enters as one of "
            f"{', '.join(sorted(entries))}.",
            code="transition_not_allowed",
        )
    if to_state is None and from_state not in exits:
        raise ValidationError(
            f"Stock cannot leave from {StockState(from_state).label.lower()}; it leaves from "
            f"one of {', '.join(sorted(exits))}.",
            code="transition_not_allowed",
        )
    if from_state and to_state and not is_allowed_change(from_state, to_state):
        raise ValidationError(
            f"Stock cannot go from {StockState(from_state).label.lower()} to "
            f"{StockState(to_state).label.lower()}.",
            code="transition_not_allowed",
        )
    if from_state == S.QUARANTINED and to_state == S.AVAILABLE:
        _require_perm(actor, "inventory.release_quarantine", "release stock from quarantine")
        if not reason.strip():
            raise ValidationError("Releasing quarantine needs a reason.", code="reason_required")


def _require_perm(actor: User | None, perm: str, what: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise PermissionDenied(f"You may not {what}.")


def _insufficient(key: locks.BalanceKey, *, have: int, needed: int) -> ValidationError:
    product_id, location_id, state, lot = key
    sku = Product.objects.values_list("sku", flat=True).get(pk=product_id)
    location = Location.objects.select_related("warehouse").get(pk=location_id)
    lot_text = f" (lot {lot})" if lot else ""
    return ValidationError(
        f"Not enough stock: {location} holds {have} {StockState(state).label.lower()} "
        f"{sku}{lot_text}, {needed} needed.",
        code="insufficient_stock",
    )


def _describe(side: tuple[int | None, str | None]) -> str:
    location_id, state = side
    if location_id is None:
        return "outside our stock"
    location = Location.objects.select_related("warehouse").filter(pk=location_id).first()
    return f"{StockState(state).label.lower()} at {location or location_id}"
