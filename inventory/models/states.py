"""The canonical inventory states (DESIGN.md) and which changes between them are allowed.

One table serves both quantity stock (`stock_move`) and serialized units (`InventoryUnit`'s
transitions), so a unit and a pallet of the same SKU follow the same flow.
"""

from django.db import models


class StockState(models.TextChoices):
    IN_TRANSIT_RETURN = "in_transit_return", "In transit (return)"
    RECEIVED_PENDING_INSPECTION = "received_pending_inspection", "Received, pending inspection"
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    QUARANTINED = "quarantined", "Quarantined"
    REFURBISH = "refurbish", "Refurbish"
    AWAITING_VENDOR_RETURN = "awaiting_vendor_return", "Awaiting vendor return"
    LIQUIDATION = "liquidation", "Liquidation"
    DAMAGED = "damaged", "Damaged"
    DISPOSED = "disposed", "Disposed"
    VENDOR_RETURNED = "vendor_returned", "Returned to vendor"


# A serialized unit that is not in our stock (shipped to a customer, written off) is in this
# state with no location; its movements say why. It is not a stock state: no balance holds it.
OUTSIDE = "outside"
UNIT_STATE_CHOICES = [*StockState.choices, (OUTSIDE, "Outside our stock")]

S = StockState
# TextChoices.values builds a new list at each access; the hot paths check membership here.
STATE_VALUES = frozenset(StockState.values)

# Terminal states leave stock: their balances record what went (at the disposal or vendor
# location) and are never counted as on hand; nothing moves out of them.
TERMINAL_STATES = frozenset({S.DISPOSED, S.VENDOR_RETURNED})

# No channel rule can make these sellable (DESIGN.md: received-but-not-inspected stock is
# never in ATS; a quarantined unit is sellable nowhere).
NEVER_SELLABLE_STATES = frozenset(
    {
        S.IN_TRANSIT_RETURN,
        S.RECEIVED_PENDING_INSPECTION,
        S.RESERVED,
        S.QUARANTINED,
        S.DAMAGED,
        *TERMINAL_STATES,
    }
)

# The states an inspection may put a received unit in.
_INSPECTION_OUTCOMES = frozenset(
    {
        S.AVAILABLE,
        S.QUARANTINED,
        S.REFURBISH,
        S.AWAITING_VENDOR_RETURN,
        S.LIQUIDATION,
        S.DAMAGED,
        S.DISPOSED,
        S.VENDOR_RETURNED,
    }
)

# from state → the states it may change to (a location change within one state is always
# allowed for non-terminal states). Reserved is reached only from available (a reservation is
# for sellable stock); leaving quarantine for available also needs `release_quarantine`.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.IN_TRANSIT_RETURN: frozenset({S.RECEIVED_PENDING_INSPECTION}),
    S.RECEIVED_PENDING_INSPECTION: _INSPECTION_OUTCOMES,
    S.AVAILABLE: frozenset(
        {
            S.RESERVED,
            S.QUARANTINED,
            S.REFURBISH,
            S.AWAITING_VENDOR_RETURN,
            S.LIQUIDATION,
            S.DAMAGED,
            S.DISPOSED,
        }
    ),
    S.RESERVED: frozenset({S.AVAILABLE}),
    S.QUARANTINED: _INSPECTION_OUTCOMES - {S.QUARANTINED},
    S.REFURBISH: frozenset(
        {S.AVAILABLE, S.AWAITING_VENDOR_RETURN, S.LIQUIDATION, S.DAMAGED, S.DISPOSED}
    ),
    S.AWAITING_VENDOR_RETURN: frozenset({S.VENDOR_RETURNED, S.LIQUIDATION, S.DISPOSED}),
    S.LIQUIDATION: frozenset({S.DISPOSED}),
    S.DAMAGED: frozenset({S.REFURBISH, S.AWAITING_VENDOR_RETURN, S.LIQUIDATION, S.DISPOSED}),
    S.DISPOSED: frozenset(),
    S.VENDOR_RETURNED: frozenset(),
    # A unit comes back into stock as a return (in transit, or straight onto the dock).
    OUTSIDE: frozenset({S.IN_TRANSIT_RETURN, S.RECEIVED_PENDING_INSPECTION}),
}

# States stock may enter from outside by a receipt (suppliers, returns).
RECEIVABLE_STATES = frozenset({S.IN_TRANSIT_RETURN, S.RECEIVED_PENDING_INSPECTION, S.AVAILABLE})
# States stock may leave to a customer from.
SHIPPABLE_STATES = frozenset({S.AVAILABLE, S.RESERVED})


def sources_of(target: str) -> list[str]:
    """The states allowed to change to `target`, for the FSM transition declarations."""
    return sorted(source for source, targets in ALLOWED_TRANSITIONS.items() if target in targets)


def is_allowed_change(from_state: str, to_state: str) -> bool:
    if from_state == to_state:
        return from_state not in TERMINAL_STATES and from_state != OUTSIDE
    return to_state in ALLOWED_TRANSITIONS.get(from_state, frozenset())


# A location's kind (erp.Location.Kind) says what it is for, and so which states its stock may
# be in. Sellable stock (available, reserved) never sits on a receiving dock, an inspection
# bench, in quarantine or in a location set aside to leave (refurbishment excepted: a unit is
# made sellable again there before it is put away); ATS would otherwise count stock nobody has
# inspected, released or meant to sell. A quarantine location holds what is held back
# (quarantined or damaged stock) and what leaves from there (disposed, returned to vendor).
# Other kinds take any state, so corrections and counts can still say what is really there.
_SELLABLE = frozenset({S.AVAILABLE, S.RESERVED})
_HELD_BACK = frozenset({S.QUARANTINED, S.DAMAGED, *TERMINAL_STATES})
STATES_REFUSED_BY_LOCATION_KIND: dict[str, frozenset[str]] = {
    "receiving": _SELLABLE,
    "inspection": _SELLABLE,
    "quarantine": STATE_VALUES - _HELD_BACK,
    "vendor_return": _SELLABLE,
    "liquidation": _SELLABLE,
    "disposal": _SELLABLE,
}


def kinds_refusing(state: str | None) -> list[str]:
    """The location kinds where stock may not be in `state` (sorted; none for outside)."""
    return sorted(k for k, refused in STATES_REFUSED_BY_LOCATION_KIND.items() if state in refused)
