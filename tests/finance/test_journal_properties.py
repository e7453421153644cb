"""Property: whatever sequence of refunds, reversals and returned-unit dispositions happens, every
entry balances, the database's commit-time check agrees, a refused posting writes nothing, and
the stock accounts hold exactly the standard cost of the stock in their states."""

from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance.models import AccountPurpose, JournalEntry, JournalLine
from finance.services import Posting, journal_entry_post, journal_entry_reverse
from finance.valuation import STATE_ACCOUNT
from inventory import services
from inventory.models import CauseType, StockState
from inventory.models.states import ALLOWED_TRANSITIONS
from tests.factories import LocationFactory, ProductFactory, WarehouseFactory
from tests.finance.journal_checks import check_deferred_constraints

P = AccountPurpose
S = StockState
COST = Decimal("7.35")
RETURNED = 6
cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)


@pytest.fixture
def stock(db):
    shelf = LocationFactory(warehouse=WarehouseFactory(code="prop"), code="P-01")
    return ProductFactory(sku="PROP-1", unit_cost=COST), shelf


def targets(source: str) -> list[str]:
    """Where a disposition may send stock (leaving quarantine for sale needs a manager and is
    not this test's point)."""
    allowed = ALLOWED_TRANSITIONS[source] - ({S.AVAILABLE} if source == S.QUARANTINED else set())
    return sorted(allowed)


def account_balance(purpose: str) -> Decimal:
    totals = JournalLine.objects.filter(account__purpose=purpose).aggregate(
        debit=Sum("debit"), credit=Sum("credit")
    )
    return (totals["debit"] or Decimal(0)) - (totals["credit"] or Decimal(0))


def post_refund(data, number: int) -> JournalEntry | None:
    """A refund (some of it kept as a restocking fee), sometimes mistyped so it does not balance."""
    amount = data.draw(cents, label="refund")
    fee = data.draw(st.decimals(min_value=0, max_value=amount, places=2), label="fee")
    typo = data.draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("0.01")]), label="typo")
    postings = [
        Posting(P.SALES_RETURNS, debit=amount),
        Posting(P.REFUNDS_PAYABLE, credit=amount - fee + typo),
        Posting(P.RESTOCKING_FEE_INCOME, credit=fee),
    ]
    if data.draw(st.booleans(), label="paid"):
        postings += [
            Posting(P.REFUNDS_PAYABLE, debit=amount - fee),
            Posting(P.CASH_CLEARING, credit=amount - fee),
        ]
    before = (JournalEntry.objects.count(), JournalLine.objects.count())
    try:
        return journal_entry_post(
            postings=postings,
            currency=data.draw(st.sampled_from(["USD", "EUR"]), label="currency"),
            cause_type="refund",
            cause_id=str(number),
            memo="",
            idempotency_key=f"prop-refund-{number}",
        )
    except ValidationError:
        assert typo, "a balanced refund was refused"
        assert (JournalEntry.objects.count(), JournalLine.objects.count()) == before
        return None


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_sequence_of_refunds_and_dispositions_keeps_the_books_balanced(stock, data):
    product, shelf = stock
    with transaction.atomic():
        # given returned units on the dock, pending inspection
        services.stock_receive(
            product_id=product.pk,
            location_id=shelf.pk,
            qty=RETURNED,
            to_state=S.RECEIVED_PENDING_INSPECTION,
            cause_type=CauseType.RETURN_CASE,
            idempotency_key="prop-in",
        )
        on_hand = Counter({S.RECEIVED_PENDING_INSPECTION: RETURNED})
        refunds: list[JournalEntry] = []

        # when any sequence of dispositions, refunds and reversals of refunds happens
        for step in range(data.draw(st.integers(1, 10), label="steps")):
            action = data.draw(st.sampled_from(["dispose", "dispose", "refund", "reverse"]))
            if action == "dispose":
                sources = [s for s, qty in on_hand.items() if qty and targets(s)]
                if not sources:
                    continue
                source = data.draw(st.sampled_from(sorted(sources)), label="from")
                target = data.draw(st.sampled_from(targets(source)), label="to")
                qty = data.draw(st.integers(1, on_hand[source]), label="qty")
                services.stock_move(
                    product_id=product.pk,
                    qty=qty,
                    from_location_id=shelf.pk,
                    from_state=source,
                    to_location_id=shelf.pk,
                    to_state=target,
                    idempotency_key=f"prop-move-{step}",
                    cause_type=CauseType.DISPOSITION,
                    cause_id=str(step),
                )
                on_hand[source] -= qty
                on_hand[target] += qty
            elif action == "refund":
                entry = post_refund(data, step)
                if entry is not None:
                    refunds.append(entry)
            elif refunds:
                entry = refunds.pop(data.draw(st.integers(0, len(refunds) - 1), label="which"))
                journal_entry_reverse(entry_id=entry.pk, reason="property test", actor=None)

        # then every entry balances, in Python and by the database's own commit-time check
        for entry in JournalEntry.objects.prefetch_related("lines"):
            lines = list(entry.lines.all())
            assert len(lines) >= 2
            assert sum(line.debit for line in lines) == sum(line.credit for line in lines)
        check_deferred_constraints()

        # and the stock accounts hold exactly the standard cost of what is in their states
        value = Counter()
        for state, qty in on_hand.items():
            value[STATE_ACCOUNT[state]] += qty * COST
        assert account_balance(P.INVENTORY) == value[P.INVENTORY]
        assert account_balance(P.VENDOR_RECEIVABLE) == value[P.VENDOR_RECEIVABLE]
        written_off = account_balance(P.RETURNS_WRITE_OFF) + account_balance(P.LIQUIDATION_RECOVERY)
        assert written_off == value[P.RETURNS_WRITE_OFF]
        assert account_balance(P.COST_OF_GOODS_SOLD) == -(
            RETURNED * COST - value[P.COST_OF_GOODS_SOLD]
        )
        transaction.set_rollback(True)
