"""The only write path to stock: each change is a ledger movement, posted in one transaction
with the balances, the serialized units and the channel availability it changes. Import from
here; the modules split it by job (posting, units, quantities, batch, availability,
channel rules).

Idempotency: every call carries a key. A call that posts n movements stores them under `key`,
`key#1` … `key#<n-1>`, each with the hash of the whole request. The same key with the same
payload returns those movements and writes nothing; a different payload under a used key is a
ValidationError. The actor, and occurred_at when left to default, are not part of the payload
(a retry is the same request whoever sends it, whenever).

Balances never go negative in this pass, whatever the location kind (the database refuses it
too); a shortfall is a ValidationError naming what is there.

On PostgreSQL a quantity post (no serials) and the ATS recompute each run as one call of a SQL
function (migration 0004) holding the same rules and locks; anything that function declines
comes back to the Python path here, which SQLite always uses. Batches COPY their lines.

Perpetual inventory: whichever path wrote a request's movements hands them to `_value_post`,
which posts their value change to the journal (finance.valuation: the rules, at standard cost)
in the same transaction. Moves that change no account's value (available ⇄ reserved, between
locations, …) cost a cached dictionary look-up there and nothing else.
"""

from ._common import (
    ADJUSTABLE_IN_STATES,
    AVAILABILITY_TOPIC,
    CAUSE_TYPES,
    IN_STOCK_STATES,
    S,
)
from .availability import availability_recompute
from .batch import MOVEMENT_COLUMNS, BatchLine, BatchResult, movements_copy, stock_post_batch
from .channel_rules import (
    channel_rule_delete,
    channel_rule_save,
    safety_stock_delete,
    safety_stock_save,
)
from .posting import (
    stock_adjust,
    stock_move,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_ship,
)
from .quantities import QuantityPost, stock_post_quantities
from .units import unit_grade, unit_transition

__all__ = [
    "ADJUSTABLE_IN_STATES",
    "AVAILABILITY_TOPIC",
    "CAUSE_TYPES",
    "IN_STOCK_STATES",
    "MOVEMENT_COLUMNS",
    "BatchLine",
    "BatchResult",
    "QuantityPost",
    "S",
    "availability_recompute",
    "channel_rule_delete",
    "channel_rule_save",
    "movements_copy",
    "safety_stock_delete",
    "safety_stock_save",
    "stock_adjust",
    "stock_move",
    "stock_post_batch",
    "stock_post_quantities",
    "stock_receive",
    "stock_release",
    "stock_reserve",
    "stock_ship",
    "unit_grade",
    "unit_transition",
]
