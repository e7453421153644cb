"""Perpetual inventory: the journal entries stock movements post, at standard cost.

Valuation model
---------------
Every unit is valued at its SKU's standard cost (`erp.Product.unit_cost`), in the book currency
(`settings.FINANCE_BOOK_CURRENCY`; products carry one cost, channels sell in their own
currencies, so stock is valued in one). A stock state's value sits in one account:

==========================================================  =================================
state                                                       account its value sits in
==========================================================  =================================
available, reserved, quarantined, refurbish, liquidation,   Inventory
awaiting_vendor_return
in_transit_return, received_pending_inspection              Cost of goods sold (a returned
                                                            unit's cost stays where its sale
                                                            put it until inspection says
                                                            what it is worth)
damaged, disposed                                           Returns write-off
disposed, coming from liquidation                           Liquidation recovery (so the
                                                            account nets proceeds and cost)
vendor_returned                                             Vendor receivable (RTV credit)
==========================================================  =================================

Outside our stock, the account depends on why stock crosses the boundary:

- into stock for a return (cause return_case, inspection, disposition) and out of stock to a
  customer (a shipment, or any other exit that is not an adjustment): Cost of goods sold;
- an adjustment, count or snapshot correction, either way: Inventory adjustments;
- into stock for any other cause (supplier receipts, opening balances, imports, transfers
  from other systems): not booked here — purchasing books what it buys.

A movement of `qty` from state A to state B posts `qty * unit_cost` Dr account(B) / Cr
account(A), and nothing when both accounts are the same. So, for example:

- a return inspected into sellable stock (received_pending_inspection → available):
  Dr Inventory / Cr Cost of goods sold;
- inspected as damaged, or disposed of: Dr Returns write-off / Cr Cost of goods sold (or
  Cr Inventory when it was in stock);
- shipped back to the vendor (awaiting_vendor_return → vendor_returned):
  Dr Vendor receivable / Cr Inventory;
- a liquidation lot disposed of (liquidation → disposed): Dr Liquidation recovery /
  Cr Inventory, and the proceeds, when they come in: Dr Cash clearing / Cr Liquidation
  recovery (`liquidation_proceeds_post`);
- a shipment to a customer: Dr Cost of goods sold / Cr Inventory;
- a count finding 2 more: Dr Inventory / Cr Inventory adjustments.

Moves that stay in one account (available ⇄ reserved, between locations, into quarantine or
refurbishment, into liquidation) post nothing, and cost nothing more than a dictionary look-up
on the ledger's hot path. A SKU whose standard cost is 0 posts nothing either.

`inventory.services` calls `stock_value_post` once per stock request, after its movements are
written, inside the same transaction: the entry commits or rolls back with the movements. Its
key is `stock:<the request's key>:<its payload hash>` (`stock_entry_key`), so a replayed
request never posts twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db import transaction

from erp.models import Product
from finance.models import AccountPurpose, JournalEntry
from finance.services import Posting, journal_entry_post

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

P = AccountPurpose

# The stock states' accounts (inventory.models.StockState values; finance sits below inventory,
# so the names are written here, and a test checks that every state is covered).
STATE_ACCOUNT: dict[str, str] = {
    "available": P.INVENTORY,
    "reserved": P.INVENTORY,
    "quarantined": P.INVENTORY,
    "refurbish": P.INVENTORY,
    "liquidation": P.INVENTORY,
    "awaiting_vendor_return": P.INVENTORY,
    "in_transit_return": P.COST_OF_GOODS_SOLD,
    "received_pending_inspection": P.COST_OF_GOODS_SOLD,
    "damaged": P.RETURNS_WRITE_OFF,
    "disposed": P.RETURNS_WRITE_OFF,
    "vendor_returned": P.VENDOR_RECEIVABLE,
}
# (from state, to state) pairs whose destination account differs from the table above.
DESTINATION_OVERRIDES: dict[tuple[str, str], str] = {
    ("liquidation", "disposed"): P.LIQUIDATION_RECOVERY,
}
RETURN_CAUSES = frozenset({"return_case", "inspection", "disposition"})
ADJUSTMENT_CAUSES = frozenset({"adjustment", "count", "snapshot_correction"})
ADJUSTMENT_KINDS = frozenset({"adjust", "correction"})


class MovementLike(Protocol):
    """What valuation reads of a stock movement (inventory.StockMovement has all of it)."""

    product_id: int
    qty: int
    from_state: str | None
    to_state: str | None
    kind: str
    cause_type: str
    cause_id: str
    occurred_at: datetime
    idempotency_key: str
    payload_hash: str


def book_currency() -> str:
    return settings.FINANCE_BOOK_CURRENCY


def _outside_account(*, kind: str, cause_type: str, entering: bool) -> str | None:
    if kind in ADJUSTMENT_KINDS or cause_type in ADJUSTMENT_CAUSES:
        return P.INVENTORY_ADJUSTMENT
    if not entering or cause_type in RETURN_CAUSES:
        return P.COST_OF_GOODS_SOLD
    return None


@lru_cache(maxsize=1024)
def movement_accounts(
    from_state: str | None, to_state: str | None, kind: str, cause_type: str
) -> tuple[str, str] | None:
    """(debit purpose, credit purpose) a movement of this shape posts, or None if it changes no
    account's value."""
    if from_state is None:
        credit = _outside_account(kind=kind, cause_type=cause_type, entering=True)
    else:
        credit = STATE_ACCOUNT[from_state]
    if to_state is None:
        debit = _outside_account(kind=kind, cause_type=cause_type, entering=False)
    else:
        debit = DESTINATION_OVERRIDES.get((from_state, to_state), STATE_ACCOUNT[to_state])
    if debit is None or credit is None or debit == credit:
        return None
    return debit, credit


def is_value_change(movement: MovementLike) -> bool:
    return (
        movement_accounts(
            movement.from_state, movement.to_state, movement.kind, movement.cause_type
        )
        is not None
    )


def stock_entry_key(movement: MovementLike) -> str:
    """`stock:<request key>:<12 hex of the request's payload hash>`: a replay of the request
    finds its entry; the same key reused for another request (after a demo reset, say) cannot
    collide with an entry of the old one."""
    return f"stock:{movement.idempotency_key}:{movement.payload_hash[:12]}"


def _state_label(state: str | None) -> str:
    return (state or "outside").replace("_", " ")


@transaction.atomic(savepoint=False)
def stock_value_post(
    *,
    movements: Sequence[MovementLike],
    unit_cost: Decimal | None = None,
    actor: User | None = None,
) -> JournalEntry | None:
    """Post the value change of one stock request (its movements share cause and key root).

    `unit_cost` is the SKU's standard cost when the caller has it at hand; otherwise it is
    read once. Movements of other SKUs in one request are valued each at their own cost.

    Effects: nothing for movements that change no account's value (checked first, with no
    query); else one balanced entry, key `stock_entry_key(first movement)`, cause = the
    movements' cause, Dr/Cr per the module's table at qty * standard cost, in the book
    currency, dated when the movements occurred (a closed month sends it to the next open one).
    """
    valued = [
        (movement, accounts)
        for movement in movements
        if (
            accounts := movement_accounts(
                movement.from_state, movement.to_state, movement.kind, movement.cause_type
            )
        )
    ]
    if not valued:
        return None
    costs = _unit_costs({movement.product_id for movement, _ in valued}, unit_cost)
    amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    quantities: dict[tuple[str, str], int] = defaultdict(int)
    for movement, accounts in valued:
        amounts[accounts] += movement.qty * costs[movement.product_id]
        quantities[accounts] += movement.qty
    postings = []
    for (debit, credit), amount in sorted(amounts.items()):
        if amount:
            memo = f"{quantities[(debit, credit)]} unit(s) at standard cost"
            postings.append(Posting(purpose=debit, debit=amount, memo=memo))
            postings.append(Posting(purpose=credit, credit=amount, memo=memo))
    if not postings:
        return None
    first = valued[0][0]
    return journal_entry_post(
        postings=postings,
        currency=book_currency(),
        cause_type=first.cause_type,
        cause_id=first.cause_id,
        memo=f"Stock {first.kind}: {_state_label(first.from_state)} → "
        f"{_state_label(first.to_state)}",
        idempotency_key=stock_entry_key(first),
        occurred_at=first.occurred_at,
        actor=actor,
    )


def _unit_costs(product_ids: set[int], unit_cost: Decimal | None) -> dict[int, Decimal]:
    if unit_cost is not None and len(product_ids) == 1:
        return {next(iter(product_ids)): unit_cost}
    return dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "unit_cost"))


@transaction.atomic
def liquidation_proceeds_post(
    *,
    amount: Decimal,
    currency: str,
    cause_type: str,
    cause_id: str,
    idempotency_key: str,
    memo: str = "",
    occurred_at: datetime | None = None,
    actor: User | None = None,
) -> JournalEntry:
    """Book what a liquidator paid for liquidated stock.

    Effects: one entry Dr Cash clearing / Cr Liquidation recovery for `amount`, linked to its
    cause (e.g. the liquidation lot or disposition); idempotent on the key.
    """
    return journal_entry_post(
        postings=[
            Posting(purpose=P.CASH_CLEARING, debit=amount, memo=memo),
            Posting(purpose=P.LIQUIDATION_RECOVERY, credit=amount, memo=memo),
        ],
        currency=currency,
        cause_type=cause_type,
        cause_id=cause_id,
        memo=memo or "Liquidation proceeds",
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        actor=actor,
    )
