"""The ledger's references hold in the database itself (PostgreSQL triggers since migration
0011, not foreign key constraints): a movement naming a missing product, location, unit or
user is refused, and so is deleting or re-keying a row the ledger names."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from erp.models import Location, OutboxMessage, Product
from inventory import services
from inventory.models import ChannelAvailability, InventoryUnit, StockBalance, StockMovement
from inventory.models import StockState as S
from tests.factories import LocationFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers under test are PostgreSQL's"
)

MISSING = 2_000_000_000

INSERT = (
    "INSERT INTO inventory_stockmovement (product_id, qty, lot, unit_id, from_location_id, "
    "from_state, to_location_id, to_state, kind, cause_type, cause_id, actor_id, occurred_at, "
    "posted_at, idempotency_key, payload_hash, reason) VALUES "
)
ROW = "(%s, 1, '', %s, %s, %s, %s, 'available', 'receive', 'import', '', %s, %s, %s, %s, '', '')"


def insert(*rows: dict) -> None:
    """Raw rows into the ledger, as a process with the app's role could."""
    now = timezone.now()
    params = []
    for i, row in enumerate(rows):
        from_location = row.get("from_location")
        params += [
            row["product"],
            row.get("unit"),
            from_location,
            S.AVAILABLE if from_location else None,
            row["to_location"],
            row.get("actor"),
            now,
            now,
            f"raw-{row['key']}-{i}",
        ]
    with connection.cursor() as cursor:
        cursor.execute(INSERT + ", ".join([ROW] * len(rows)), params)


def refused(action, match: str) -> None:
    with pytest.raises(IntegrityError, match=match), transaction.atomic():
        action()


@pytest.fixture
def posted(world):
    """A unit and a user, and one movement naming each of product, locations, unit, user."""
    actor = UserFactory(username="clerk")
    [receipt] = services.stock_receive(
        product_id=world.serialized.pk,
        location_id=world.shelf_a.pk,
        qty=1,
        serials=["SN-1"],
        idempotency_key="r-1",
        actor=actor,
    )
    services.stock_move(
        product_id=world.serialized.pk,
        qty=1,
        serials=["SN-1"],
        from_location_id=world.shelf_a.pk,
        from_state=S.AVAILABLE,
        to_location_id=world.shelf_b.pk,
        to_state=S.AVAILABLE,
        idempotency_key="m-1",
    )
    return receipt, actor


def test_a_movement_naming_a_missing_row_is_refused(world, posted):
    receipt, actor = posted
    good = {"product": world.plain.pk, "to_location": world.shelf_a.pk, "key": "ok"}
    before = StockMovement.objects.count()

    refused(lambda: insert({**good, "product": MISSING}), f"product {MISSING}")
    refused(lambda: insert({**good, "to_location": MISSING}), f"location {MISSING}")
    refused(lambda: insert({**good, "from_location": MISSING}), f"location {MISSING}")
    refused(lambda: insert({**good, "unit": MISSING}), f"unit {MISSING}")
    refused(lambda: insert({**good, "actor": MISSING}), f"user {MISSING}")
    # one bad row among good ones refuses the whole statement
    refused(lambda: insert(good, good, {**good, "product": MISSING}, good), f"product {MISSING}")
    assert StockMovement.objects.count() == before

    # the same rows naming rows that exist are taken
    insert({**good, "unit": receipt.unit_id, "actor": actor.pk, "from_location": world.cage.pk})
    assert StockMovement.objects.count() == before + 1


def test_a_row_the_ledger_names_cannot_be_deleted_or_rekeyed(world, posted):
    receipt, actor = posted

    def execute(sql, pk):
        with connection.cursor() as cursor:
            cursor.execute(sql, [pk])

    named = [
        ("erp_product", world.serialized.pk),
        ("erp_location", world.shelf_a.pk),  # a source and a destination
        ("erp_location", world.shelf_b.pk),  # a destination only
        ("inventory_inventoryunit", receipt.unit_id),
        ("auth_user", actor.pk),
    ]
    for table, pk in named:
        refused(lambda t=table, pk=pk: execute(f"DELETE FROM {t} WHERE id = %s", pk), table)
        refused(
            lambda t=table, pk=pk: execute(f"UPDATE {t} SET id = id + {MISSING} WHERE id = %s", pk),
            table,
        )
    assert Product.objects.filter(pk=world.serialized.pk).exists()
    assert Location.objects.filter(pk__in=[world.shelf_a.pk, world.shelf_b.pk]).count() == 2
    assert InventoryUnit.objects.filter(pk=receipt.unit_id).exists()

    # a row the ledger does not name is deleted as before, and other columns still change
    unnamed = ProductFactory(sku="NEVER-MOVED")
    execute("DELETE FROM erp_product WHERE id = %s", unnamed.pk)
    execute("UPDATE erp_location SET name = 'Renamed' WHERE id = %s", world.shelf_a.pk)
    assert not Product.objects.filter(pk=unnamed.pk).exists()
    assert Location.objects.get(pk=world.shelf_a.pk).name == "Renamed"
    spare = LocationFactory(warehouse=world.shelf_a.warehouse, code="SPARE")
    execute("DELETE FROM erp_location WHERE id = %s", spare.pk)
    assert not Location.objects.filter(pk=spare.pk).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_move_outside_a_transaction_commits_with_its_outbox_rows(monkeypatch):
    """Outside any transaction a quantity move is one autocommit call; it still writes the
    movement, both balances, the changed ATS and its outbox row together, and asks for the
    dispatch once that has committed."""
    from erp.services import outbox_dispatch
    from tests.inventory.conftest import make_world

    world = make_world()
    services.stock_receive(
        product_id=world.plain.pk, location_id=world.shelf_a.pk, qty=5, idempotency_key="r-1"
    )
    dispatched = []
    monkeypatch.setattr(
        outbox_dispatch,
        "_send_dispatch",
        lambda: dispatched.append(connection.in_atomic_block),
    )
    outbox_before = OutboxMessage.objects.count()

    # when 2 go from available into quarantine (so out of every channel's ATS)
    assert not connection.in_atomic_block
    [movement] = services.stock_move(
        product_id=world.plain.pk,
        qty=2,
        from_location_id=world.shelf_a.pk,
        from_state=S.AVAILABLE,
        to_location_id=world.cage.pk,
        to_state=S.QUARANTINED,
        idempotency_key="m-1",
    )

    assert StockMovement.objects.get(idempotency_key="m-1").pk == movement.pk
    assert dict(StockBalance.objects.filter(product=world.plain).values_list("state", "qty")) == {
        S.AVAILABLE: 3,
        S.QUARANTINED: 2,
    }
    rows = list(ChannelAvailability.objects.filter(product=world.plain).order_by("channel_id"))
    assert [row.ats for row in rows] == [3, 3]
    messages = OutboxMessage.objects.order_by("id")[outbox_before:]
    assert [(m.topic, m.dedupe_key, m.ordering_key, m.payload) for m in messages] == [
        (
            services.AVAILABILITY_TOPIC,
            f"{services.AVAILABILITY_TOPIC}:{row.channel_id}:{world.plain.pk}:{row.version}",
            f"availability:{row.channel_id}:{world.plain.pk}",
            {"channel_id": row.channel_id, "product_id": world.plain.pk, "ats": 3, "version": 2},
        )
        for row in rows
    ]
    assert dispatched == [False]  # once, after the commit

    # the same request again replays the movement and writes nothing
    [again] = services.stock_move(
        product_id=world.plain.pk,
        qty=2,
        from_location_id=world.shelf_a.pk,
        from_state=S.AVAILABLE,
        to_location_id=world.cage.pk,
        to_state=S.QUARANTINED,
        idempotency_key="m-1",
    )
    assert again.pk == movement.pk
    assert OutboxMessage.objects.count() == outbox_before + len(messages)


def test_a_move_within_a_warehouse_in_one_state_leaves_ats_alone(world):
    """`inventory_post_quantity` skips the ATS recompute only where ATS cannot change: the
    same state in the same warehouse. Into another warehouse it still recomputes."""
    from tests.factories import WarehouseFactory

    services.stock_receive(
        product_id=world.plain.pk, location_id=world.shelf_a.pk, qty=5, idempotency_key="r-1"
    )
    versions = dict(
        ChannelAvailability.objects.filter(product=world.plain).values_list("channel_id", "version")
    )
    outbox_before = OutboxMessage.objects.count()

    def move(key, to_location, qty=1):
        services.stock_move(
            product_id=world.plain.pk,
            qty=qty,
            from_location_id=world.shelf_a.pk,
            from_state=S.AVAILABLE,
            to_location_id=to_location.pk,
            to_state=S.AVAILABLE,
            idempotency_key=key,
        )

    move("put-away", world.shelf_b)
    assert (
        dict(
            ChannelAvailability.objects.filter(product=world.plain).values_list(
                "channel_id", "version"
            )
        )
        == versions
    )
    assert OutboxMessage.objects.count() == outbox_before

    # the outlet sells from the main warehouse only: stock leaving it leaves the outlet's ATS
    elsewhere = LocationFactory(warehouse=WarehouseFactory(code="other"), code="X-01")
    move("transfer", elsewhere, qty=2)
    outlet = ChannelAvailability.objects.get(product=world.plain, channel=world.outlet)
    assert (outlet.ats, outlet.version) == (3, versions[world.outlet.pk] + 1)
    assert OutboxMessage.objects.filter(
        dedupe_key=f"{services.AVAILABILITY_TOPIC}:{world.outlet.pk}:{world.plain.pk}:"
        f"{outlet.version}"
    ).exists()
