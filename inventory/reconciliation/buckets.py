"""Which of our stock states each compared figure (bucket) counts."""

from ..models.states import TERMINAL_STATES, StockState

S = StockState

# Physically in the warehouse: every state in stock but a return still on its way.
PHYSICAL_STATES = frozenset(S.values) - TERMINAL_STATES - {S.IN_TRANSIT_RETURN}
SELLABLE_STATES = frozenset({S.AVAILABLE})
