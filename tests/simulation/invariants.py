"""What must hold after every step of the fault simulation, each checked in one SQL statement
(one snapshot of the database, so a worker committing meanwhile cannot tear a check).
"No event had two effects" needs to know what was sent, so the simulation checks it itself.

Each check returns a list of offending rows; an empty list means it holds."""

from django.db import connection

from finance.models import RefundState
from inventory.models.states import NEVER_SELLABLE_STATES

_BALANCES_EQUAL_LEDGER = """
WITH net AS (
    SELECT product_id, location_id, state, lot, SUM(qty) AS qty FROM (
        SELECT product_id, to_location_id AS location_id, to_state AS state, lot, qty
          FROM inventory_stockmovement WHERE to_location_id IS NOT NULL
        UNION ALL
        SELECT product_id, from_location_id, from_state, lot, -qty
          FROM inventory_stockmovement WHERE from_location_id IS NOT NULL
    ) AS sides GROUP BY 1, 2, 3, 4
)
SELECT COALESCE(n.product_id, b.product_id), COALESCE(n.location_id, b.location_id),
       COALESCE(n.state, b.state), COALESCE(n.lot, b.lot), n.qty AS ledger, b.qty AS balance
  FROM net n FULL OUTER JOIN inventory_stockbalance b
    ON b.product_id = n.product_id AND b.location_id = n.location_id
   AND b.state = n.state AND b.lot = n.lot
 WHERE COALESCE(n.qty, 0) <> COALESCE(b.qty, 0) OR COALESCE(b.qty, 0) < 0
"""

# A serial-tracked SKU's balance per (location, state) is exactly its units there: each
# serial is counted in one place, never two, never none.
_SERIALS_IN_ONE_PLACE = """
WITH units AS (
    SELECT product_id, location_id, state, COUNT(*) AS qty FROM inventory_inventoryunit
     WHERE location_id IS NOT NULL GROUP BY 1, 2, 3
), held AS (
    SELECT b.product_id, b.location_id, b.state, SUM(b.qty) AS qty
      FROM inventory_stockbalance b JOIN erp_product p ON p.id = b.product_id
     WHERE p.tracking = 'serial' AND b.qty <> 0 GROUP BY 1, 2, 3
)
SELECT COALESCE(u.product_id, h.product_id), COALESCE(u.location_id, h.location_id),
       COALESCE(u.state, h.state), u.qty AS units, h.qty AS balance
  FROM units u FULL OUTER JOIN held h
    ON h.product_id = u.product_id AND h.location_id = u.location_id AND h.state = u.state
 WHERE COALESCE(u.qty, 0) <> COALESCE(h.qty, 0)
"""

# ATS never counts more than the channel's sellable states hold in its warehouses (it may be
# less: safety stock), and no channel may sell a state that is never sellable.
_ATS_WITHIN_SELLABLE = """
SELECT a.channel_id, a.product_id, a.ats, COALESCE(SUM(b.qty), 0) AS sellable
  FROM inventory_channelavailability a
  JOIN inventory_channelrule r ON r.channel_id = a.channel_id
  LEFT JOIN inventory_channelrule_warehouses rw ON rw.channelrule_id = r.id
  LEFT JOIN erp_location l ON l.warehouse_id = rw.warehouse_id
  LEFT JOIN inventory_stockbalance b ON b.product_id = a.product_id AND b.location_id = l.id
       AND r.sellable_states ? b.state
 GROUP BY a.channel_id, a.product_id, a.ats
HAVING a.ats < 0 OR a.ats > COALESCE(SUM(b.qty), 0)
"""

_RULES_SELLING_THE_UNSELLABLE = """
SELECT channel_id, sellable_states FROM inventory_channelrule
 WHERE sellable_states ?| %s
"""

_UNBALANCED_ENTRIES = """
SELECT e.id, SUM(l.debit), SUM(l.credit) FROM finance_journalentry e
  JOIN finance_journalline l ON l.entry_id = e.id
 GROUP BY e.id HAVING SUM(l.debit) <> SUM(l.credit)
"""

# What a case's live refunds promise never exceeds what was paid for its returned lines.
_REFUNDS_OVER_PAID = """
WITH paid AS (
    SELECT rl.case_id, SUM(ol.unit_price * rl.quantity) AS paid
      FROM returns_returnline rl JOIN erp_orderline ol ON ol.id = rl.order_line_id
     GROUP BY rl.case_id
), promised AS (
    SELECT case_id, SUM(amount) AS promised FROM finance_refund
     WHERE NOT (state = ANY(%s)) GROUP BY case_id
)
SELECT p.case_id, p.promised, paid.paid FROM promised p JOIN paid ON paid.case_id = p.case_id
 WHERE p.promised > paid.paid
"""

# A failed refund paid nothing yet but still may (a retry reuses its key), so it counts.
_DEAD_REFUND_STATES = (RefundState.REJECTED, RefundState.WITHDRAWN)


def _rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def violations() -> dict[str, list[tuple]]:
    """Every invariant that does not hold, with its offending rows."""
    found = {
        "balance differs from the ledger or is negative": _rows(_BALANCES_EQUAL_LEDGER),
        "serial counted in no place or two": _rows(_SERIALS_IN_ONE_PLACE),
        "ATS negative or above sellable stock": _rows(_ATS_WITHIN_SELLABLE),
        "a channel sells a never-sellable state": _rows(
            _RULES_SELLING_THE_UNSELLABLE, [sorted(NEVER_SELLABLE_STATES)]
        ),
        "journal entry does not balance": _rows(_UNBALANCED_ENTRIES),
        "refunds exceed what was paid": _rows(_REFUNDS_OVER_PAID, [list(_DEAD_REFUND_STATES)]),
    }
    return {name: rows for name, rows in found.items() if rows}
