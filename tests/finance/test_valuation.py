"""Perpetual inventory: each stock movement that changes value posts its entry at standard cost,
through every write path of the ledger (PostgreSQL one-statement path, the step-by-step Python
path of serialized units, batches), and the others post nothing."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from erp.models import Location
from finance.models import AccountPurpose, FiscalPeriod, JournalEntry, JournalLine
from finance.services import fiscal_period_close, fiscal_period_for_date
from finance.valuation import STATE_ACCOUNT, liquidation_proceeds_post, movement_accounts
from inventory import services
from inventory.models import CauseType, StockMovement, StockState
from inventory.services import BatchLine
from tests.factories import (
    LocationFactory,
    OrderLineFactory,
    ProductFactory,
    SalesOrderFactory,
    WarehouseFactory,
)
from tests.finance.journal_checks import check_deferred_constraints, entry_lines

P = AccountPurpose
S = StockState
pytestmark = pytest.mark.django_db

COST = Decimal("12.50")


@pytest.fixture
def shelf(db):
    return LocationFactory(warehouse=WarehouseFactory(code="main"), code="A-01")


@pytest.fixture
def product(db):
    return ProductFactory(sku="VAL-1", unit_cost=COST)


@pytest.fixture
def serialized(db):
    return ProductFactory(sku="VAL-SN", unit_cost=Decimal("80.00"), tracking="serial")


def receive(product, shelf, qty, key, state=S.AVAILABLE, cause=CauseType.RECEIPT, **extra):
    return services.stock_receive(
        product_id=product.pk,
        location_id=shelf.pk,
        qty=qty,
        to_state=state,
        idempotency_key=key,
        cause_type=cause,
        **extra,
    )


def move(product, shelf, qty, key, source, target, cause=CauseType.DISPOSITION, cause_id="D-1"):
    return services.stock_move(
        product_id=product.pk,
        qty=qty,
        from_location_id=shelf.pk,
        from_state=source,
        to_location_id=shelf.pk,
        to_state=target,
        idempotency_key=key,
        cause_type=cause,
        cause_id=cause_id,
    )


def returned(product, shelf, qty):
    """Customer returns on the dock, not inspected yet (their cost still in COGS)."""
    receive(product, shelf, qty, "ret-in", state=S.RECEIVED_PENDING_INSPECTION, cause="return_case")


def test_every_stock_state_has_an_account():
    # the valuation table names each state of the ledger
    assert set(STATE_ACCOUNT) == set(S.values)


def test_a_return_received_for_inspection_posts_nothing(product, shelf):
    # when a customer return lands on the dock
    returned(product, shelf, 3)

    # then its value is not recognized yet
    assert not JournalEntry.objects.exists()


@pytest.mark.parametrize(
    ("target", "debit", "credit"),
    [
        (S.AVAILABLE, P.INVENTORY, P.COST_OF_GOODS_SOLD),
        (S.QUARANTINED, P.INVENTORY, P.COST_OF_GOODS_SOLD),
        (S.REFURBISH, P.INVENTORY, P.COST_OF_GOODS_SOLD),
        (S.AWAITING_VENDOR_RETURN, P.INVENTORY, P.COST_OF_GOODS_SOLD),
        (S.LIQUIDATION, P.INVENTORY, P.COST_OF_GOODS_SOLD),
        (S.DAMAGED, P.RETURNS_WRITE_OFF, P.COST_OF_GOODS_SOLD),
        (S.DISPOSED, P.RETURNS_WRITE_OFF, P.COST_OF_GOODS_SOLD),
        (S.VENDOR_RETURNED, P.VENDOR_RECEIVABLE, P.COST_OF_GOODS_SOLD),
    ],
)
def test_inspection_outcomes_post_at_standard_cost(product, shelf, target, debit, credit):
    # given 3 returned units pending inspection
    returned(product, shelf, 3)

    # when inspection sends 2 of them to `target`
    occurred = timezone.now()
    move(product, shelf, 2, "inspect", S.RECEIVED_PENDING_INSPECTION, target)

    # then one entry of 2 * 12.50, for the disposition, in the book currency
    entry = JournalEntry.objects.get()
    assert (entry.cause_type, entry.cause_id, entry.currency) == ("disposition", "D-1", "USD")
    movement = StockMovement.objects.get(idempotency_key="inspect")
    assert entry.idempotency_key == f"stock:inspect:{movement.payload_hash[:12]}"
    assert entry.posting_date == timezone.localdate(occurred)
    assert entry_lines(entry) == [
        (debit, Decimal("25.00"), Decimal("0.00")),
        (credit, Decimal("0.00"), Decimal("25.00")),
    ]
    check_deferred_constraints()


@pytest.mark.parametrize(
    ("source", "target", "debit", "credit"),
    [
        (S.AVAILABLE, S.DAMAGED, P.RETURNS_WRITE_OFF, P.INVENTORY),
        (S.AVAILABLE, S.DISPOSED, P.RETURNS_WRITE_OFF, P.INVENTORY),
        (S.AWAITING_VENDOR_RETURN, S.VENDOR_RETURNED, P.VENDOR_RECEIVABLE, P.INVENTORY),
        (S.LIQUIDATION, S.DISPOSED, P.LIQUIDATION_RECOVERY, P.INVENTORY),
        (S.DAMAGED, S.REFURBISH, P.INVENTORY, P.RETURNS_WRITE_OFF),
    ],
)
def test_value_changes_within_stock(product, shelf, source, target, debit, credit):
    # given 4 units in `source` that are on the books
    returned(product, shelf, 4)
    move(product, shelf, 4, "setup", S.RECEIVED_PENDING_INSPECTION, source)
    before = set(JournalEntry.objects.values_list("pk", flat=True))

    # when 3 of them move on to `target`
    move(product, shelf, 3, "next", source, target, cause_id="D-2")

    # then one more entry of 3 * 12.50 between the two accounts
    entry = JournalEntry.objects.exclude(pk__in=before).get()
    assert entry.cause_id == "D-2"
    assert entry_lines(entry) == [
        (debit, Decimal("37.50"), Decimal("0.00")),
        (credit, Decimal("0.00"), Decimal("37.50")),
    ]


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.AVAILABLE, S.QUARANTINED),
        (S.AVAILABLE, S.REFURBISH),
        (S.AVAILABLE, S.LIQUIDATION),
        (S.REFURBISH, S.AVAILABLE),
        (S.DAMAGED, S.DISPOSED),
        (S.RECEIVED_PENDING_INSPECTION, S.RECEIVED_PENDING_INSPECTION),
    ],
)
def test_moves_within_one_account_post_nothing(product, shelf, source, target):
    # given stock in `source` (received from the supplier: purchasing books that)
    entering = source if source == S.RECEIVED_PENDING_INSPECTION else S.AVAILABLE
    receive(product, shelf, 5, "in", state=entering)
    if source != entering:
        move(product, shelf, 5, "setup", entering, source)
    other = LocationFactory(warehouse=shelf.warehouse, code="B-01")
    before = JournalEntry.objects.count()

    # when it moves without changing account (or only changes location)
    services.stock_move(
        product_id=product.pk,
        qty=2,
        from_location_id=shelf.pk,
        from_state=source,
        to_location_id=other.pk,
        to_state=target,
        idempotency_key="same-account",
        reason="test",
    )

    # then nothing is posted
    assert JournalEntry.objects.count() == before


def test_reserve_release_and_supplier_receipts_post_nothing(product, shelf):
    # when stock is received from a supplier, reserved and released
    receive(product, shelf, 5, "in")
    services.stock_reserve(product_id=product.pk, location_id=shelf.pk, qty=2, idempotency_key="r")
    services.stock_release(product_id=product.pk, location_id=shelf.pk, qty=1, idempotency_key="l")

    # then the journal is untouched
    assert not JournalEntry.objects.exists()


def test_a_shipment_moves_cost_to_cost_of_goods_sold(product, shelf):
    # given stock reserved for an order line
    receive(product, shelf, 5, "in")
    services.stock_reserve(product_id=product.pk, location_id=shelf.pk, qty=2, idempotency_key="r")
    line = OrderLineFactory(order=SalesOrderFactory(), product=product, quantity=2)

    # when it ships
    services.stock_ship(order_line_id=line.pk, location_id=shelf.pk, qty=2, idempotency_key="s")

    # then Dr COGS / Cr Inventory 2 * 12.50, caused by the shipment of that line
    entry = JournalEntry.objects.get()
    assert (entry.cause_type, entry.cause_id) == ("order_shipment", str(line.pk))
    assert entry_lines(entry) == [
        (P.COST_OF_GOODS_SOLD, Decimal("25.00"), Decimal("0.00")),
        (P.INVENTORY, Decimal("0.00"), Decimal("25.00")),
    ]


def test_adjustments_post_to_inventory_adjustments(product, shelf, operations_user):
    # given 5 on the shelf
    receive(product, shelf, 5, "in")

    # when a count finds 2 more, then another loses 3
    for delta, key in ((2, "found"), (-3, "lost")):
        services.stock_adjust(
            product_id=product.pk,
            location_id=shelf.pk,
            state=S.AVAILABLE,
            qty_delta=delta,
            reason="Cycle count",
            actor=operations_user,
            idempotency_key=key,
        )

    # then gain and loss are booked at cost against inventory adjustments, by the counter
    found, lost = JournalEntry.objects.order_by("id")
    assert found.actor == operations_user
    assert entry_lines(found) == [
        (P.INVENTORY, Decimal("25.00"), Decimal("0.00")),
        (P.INVENTORY_ADJUSTMENT, Decimal("0.00"), Decimal("25.00")),
    ]
    assert entry_lines(lost) == [
        (P.INVENTORY_ADJUSTMENT, Decimal("37.50"), Decimal("0.00")),
        (P.INVENTORY, Decimal("0.00"), Decimal("37.50")),
    ]


def test_serialized_units_post_through_the_python_path(serialized, shelf):
    # given two serials returned by a customer, then inspected one by one
    receive(
        serialized,
        shelf,
        2,
        "sn-in",
        state=S.RECEIVED_PENDING_INSPECTION,
        cause="return_case",
        serials=["SN-1", "SN-2"],
    )
    assert not JournalEntry.objects.exists()

    # when one is restocked and the other found damaged
    for serial, state in (("SN-1", S.AVAILABLE), ("SN-2", S.DAMAGED)):
        services.unit_transition(
            product_id=serialized.pk,
            serial=serial,
            to_state=state,
            cause_type=CauseType.INSPECTION,
            cause_id=f"I-{serial}",
            idempotency_key=f"inspect-{serial}",
        )

    # then one entry each at the unit's cost
    restock, damaged = JournalEntry.objects.order_by("id")
    assert restock.cause_id == "I-SN-1"
    assert entry_lines(restock) == [
        (P.INVENTORY, Decimal("80.00"), Decimal("0.00")),
        (P.COST_OF_GOODS_SOLD, Decimal("0.00"), Decimal("80.00")),
    ]
    assert entry_lines(damaged) == [
        (P.RETURNS_WRITE_OFF, Decimal("80.00"), Decimal("0.00")),
        (P.COST_OF_GOODS_SOLD, Decimal("0.00"), Decimal("80.00")),
    ]


def test_a_multi_serial_request_is_one_entry(serialized, shelf):
    # when two serials come straight back for a return case into sellable stock
    receive(serialized, shelf, 2, "sn-in", cause="return_case", serials=["SN-1", "SN-2"])

    # then one entry for both
    entry = JournalEntry.objects.get()
    assert entry_lines(entry) == [
        (P.INVENTORY, Decimal("160.00"), Decimal("0.00")),
        (P.COST_OF_GOODS_SOLD, Decimal("0.00"), Decimal("160.00")),
    ]


def test_a_batch_posts_one_entry_per_cause_summed_per_account_pair(product, shelf):
    # given 6 available
    receive(product, shelf, 6, "in")
    damaged = LocationFactory(warehouse=shelf.warehouse, code="DMG", kind=Location.Kind.INSPECTION)

    # when a batch moves 2 and then 1 to damaged, 1 to another shelf, and receives 4 from a
    # supplier
    other = LocationFactory(warehouse=shelf.warehouse, code="B-01")
    result = services.stock_post_batch(
        lines=[
            BatchLine("b1", product.pk, 2, shelf.pk, S.AVAILABLE, damaged.pk, S.DAMAGED),
            BatchLine("b2", product.pk, 1, shelf.pk, S.AVAILABLE, other.pk, S.AVAILABLE),
            BatchLine("b3", product.pk, 4, to_location_id=shelf.pk, to_state=S.AVAILABLE),
            BatchLine("b4", product.pk, 1, shelf.pk, S.AVAILABLE, damaged.pk, S.DAMAGED),
        ],
        cause_type=CauseType.IMPORT,
    )

    # then only the damage is booked, both damage lines in one entry at 12.50 a unit
    assert result.posted == 4
    entry = JournalEntry.objects.get()
    assert entry.idempotency_key.startswith("stock:b1:")
    assert entry_lines(entry) == [
        (P.RETURNS_WRITE_OFF, Decimal("37.50"), Decimal("0.00")),
        (P.INVENTORY, Decimal("0.00"), Decimal("37.50")),
    ]

    # and sending the batch again posts nothing more
    services.stock_post_batch(
        lines=[BatchLine("b1", product.pk, 2, shelf.pk, S.AVAILABLE, damaged.pk, S.DAMAGED)],
        cause_type=CauseType.IMPORT,
    )
    assert JournalEntry.objects.count() == 1


def test_a_replayed_stock_request_posts_once(product, shelf):
    # given a restock posted
    returned(product, shelf, 2)
    move(product, shelf, 2, "restock", S.RECEIVED_PENDING_INSPECTION, S.AVAILABLE)

    # when the same request is sent again
    move(product, shelf, 2, "restock", S.RECEIVED_PENDING_INSPECTION, S.AVAILABLE)

    # then still one entry, two lines
    assert JournalEntry.objects.count() == 1
    assert JournalLine.objects.count() == 2


def test_a_sku_without_cost_posts_nothing(shelf):
    # given a free sample SKU
    sample = ProductFactory(unit_cost=Decimal("0"))
    receive(sample, shelf, 2, "in")

    # when it is damaged
    move(sample, shelf, 2, "dmg", S.AVAILABLE, S.DAMAGED)

    # then there is no value to book
    assert not JournalEntry.objects.exists()


def test_a_late_stock_event_posts_to_the_next_open_month(product, shelf, finance_user):
    # given January is closed
    january = fiscal_period_for_date(day=datetime(2026, 1, 5).date())
    fiscal_period_close(period_id=january.pk, reason="Month end", actor=finance_user)
    returned(product, shelf, 1)

    # when a restock that happened on 20 January is recorded now
    occurred = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)
    services.stock_move(
        product_id=product.pk,
        qty=1,
        from_location_id=shelf.pk,
        from_state=S.RECEIVED_PENDING_INSPECTION,
        to_location_id=shelf.pk,
        to_state=S.AVAILABLE,
        idempotency_key="late",
        cause_type=CauseType.DISPOSITION,
        occurred_at=occurred,
    )

    # then it is booked on 1 February, keeping the original date
    entry = JournalEntry.objects.get()
    assert entry.period == FiscalPeriod.objects.get(start_date=datetime(2026, 2, 1).date())
    assert entry.posting_date == datetime(2026, 2, 1).date()
    assert entry.occurred_at == occurred
    assert entry.is_late


def test_liquidation_proceeds_are_booked_as_recovery():
    # when a liquidator pays for a lot
    entry = liquidation_proceeds_post(
        amount=Decimal("140.00"),
        currency="EUR",
        cause_type="liquidation_lot",
        cause_id="L-3",
        idempotency_key="liq-L-3",
    )

    # then cash comes in against liquidation recovery
    assert entry_lines(entry) == [
        (P.CASH_CLEARING, Decimal("140.00"), Decimal("0.00")),
        (P.LIQUIDATION_RECOVERY, Decimal("0.00"), Decimal("140.00")),
    ]


def test_the_valuation_table_is_symmetric_for_reversible_moves():
    # a move and its way back post opposite entries
    there = movement_accounts(S.DAMAGED, S.REFURBISH, "move", "disposition")
    back = movement_accounts(S.REFURBISH, S.DAMAGED, "move", "disposition")
    assert there == tuple(reversed(back))
