"""Many connections posting against the same stock at once: no lost update, no negative
balance, no deadlock, and exactly one winner where only one may win."""

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum

from erp.models import OutboxMessage
from inventory import services
from inventory.models import (
    OUTSIDE,
    CauseType,
    ChannelAvailability,
    InventoryUnit,
    StockBalance,
    StockMovement,
)
from inventory.models import StockState as S
from tests.inventory.conftest import balance, make_world

THREADS = 32
TRIALS = 20


def run_at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls on their own threads and connections, released together; each result
    is the call's return value or the ValidationError it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def worker(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except ValidationError as refused:
            results[index] = refused
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    unexpected = [
        r for r in results if isinstance(r, Exception) and not isinstance(r, ValidationError)
    ]
    assert not unexpected, unexpected
    return results


def assert_ledger_consistent() -> None:
    """Every balance is the sum of its movements, none is negative, and every ATS change was
    versioned and queued exactly once."""
    for row in StockBalance.objects.all():
        into = (
            StockMovement.objects.filter(
                product=row.product_id, to_location=row.location_id, to_state=row.state, lot=row.lot
            ).aggregate(q=Sum("qty"))["q"]
            or 0
        )
        out = (
            StockMovement.objects.filter(
                product=row.product_id,
                from_location=row.location_id,
                from_state=row.state,
                lot=row.lot,
            ).aggregate(q=Sum("qty"))["q"]
            or 0
        )
        assert row.qty == into - out >= 0
    for row in ChannelAvailability.objects.all():
        queued = OutboxMessage.objects.filter(
            payload__channel_id=row.channel_id, payload__product_id=row.product_id
        )
        assert queued.count() == row.version
        assert queued.order_by("-id").first() is None or (
            queued.order_by("-id").first().payload["ats"] == row.ats
        )


@pytest.fixture
def world(django_db_serialized_rollback, transactional_db):
    # Threads need committed rows, so the test database is really written; serialized
    # rollback restores the migrations' data (groups, reason codes) for the tests after.
    return make_world()


def test_concurrent_moves_lose_no_update_and_never_go_negative(world):
    for trial in range(TRIALS):
        # given 20 on shelf A and 4 on shelf B
        services.stock_receive(
            product_id=world.plain.pk,
            location_id=world.shelf_a.pk,
            qty=20,
            idempotency_key=f"in-a-{trial}",
        )
        services.stock_receive(
            product_id=world.plain.pk,
            location_id=world.shelf_b.pk,
            qty=4,
            idempotency_key=f"in-b-{trial}",
        )
        a_before = balance(world.plain, world.shelf_a, S.AVAILABLE)
        b_before = balance(world.plain, world.shelf_b, S.AVAILABLE)

        # when 24 threads move one unit A → B and 8 move one unit B → A, all at once
        def move(i: int, trial=trial):
            src, dst = (world.shelf_a, world.shelf_b) if i % 4 else (world.shelf_b, world.shelf_a)
            return services.stock_move(
                product_id=world.plain.pk,
                qty=1,
                from_location_id=src.pk,
                from_state=S.AVAILABLE,
                to_location_id=dst.pk,
                to_state=S.AVAILABLE,
                idempotency_key=f"move-{trial}-{i}",
            )

        results = run_at_once([lambda i=i: move(i) for i in range(THREADS)])

        # then every move that succeeded is in both balances, and none went below zero
        won = Counter(
            "a_to_b" if i % 4 else "b_to_a"
            for i, r in enumerate(results)
            if not isinstance(r, ValidationError)
        )
        a_after = balance(world.plain, world.shelf_a, S.AVAILABLE)
        b_after = balance(world.plain, world.shelf_b, S.AVAILABLE)
        assert a_after == a_before - won["a_to_b"] + won["b_to_a"]
        assert b_after == b_before + won["a_to_b"] - won["b_to_a"]
        assert a_after + b_after == a_before + b_before
        assert won["a_to_b"] >= 20
        refusals = [r for r in results if isinstance(r, ValidationError)]
        assert all("Not enough stock" in r.messages[0] for r in refusals)
        assert StockMovement.objects.filter(
            idempotency_key__startswith=f"move-{trial}-"
        ).count() == sum(won.values())
    assert_ledger_consistent()


def test_only_one_of_many_concurrent_changes_to_one_unit_wins(world):
    for trial in range(TRIALS):
        # given one available unit, and an order line for each would-be shipper
        serial = f"SN-{trial}"
        services.stock_receive(
            product_id=world.serialized.pk,
            location_id=world.shelf_a.pk,
            qty=1,
            serials=[serial],
            idempotency_key=f"in-{trial}",
        )
        lines = [world.order_line(world.serialized, 1) for _ in range(THREADS // 2)]

        # when half the threads mark it damaged and half ship it, all at once
        def damage(i: int, serial=serial, trial=trial):
            return services.unit_transition(
                product_id=world.serialized.pk,
                serial=serial,
                to_state=S.DAMAGED,
                cause_type=CauseType.INSPECTION,
                idempotency_key=f"damage-{trial}-{i}",
            )

        def ship(i: int, serial=serial, trial=trial, lines=lines):
            return services.stock_ship(
                order_line_id=lines[i].pk,
                location_id=world.shelf_a.pk,
                qty=1,
                from_state=S.AVAILABLE,
                serials=[serial],
                idempotency_key=f"ship-{trial}-{i}",
            )

        calls = [lambda i=i: damage(i) for i in range(THREADS // 2)]
        calls += [lambda i=i: ship(i) for i in range(THREADS // 2)]
        results = run_at_once(calls)

        # then exactly one won, and the unit, its movements and the balances agree on which
        winners = [r for r in results if not isinstance(r, ValidationError)]
        assert len(winners) == 1
        unit = InventoryUnit.objects.get(serial=serial)
        assert unit.movements.count() == 2
        if unit.state == OUTSIDE:
            assert unit.location is None
            assert sum(line.shipped_items.count() for line in lines) == 1
        else:
            assert (unit.state, unit.location) == (S.DAMAGED, world.shelf_a)
        assert unit.history.count() == 2
    assert balance(world.serialized, world.shelf_a, S.AVAILABLE) == 0
    assert InventoryUnit.objects.filter(state=S.DAMAGED).count() == balance(
        world.serialized, world.shelf_a, S.DAMAGED
    )
    assert_ledger_consistent()


def test_the_same_key_sent_ten_times_at_once_posts_one_movement(world):
    for trial in range(TRIALS):
        results = run_at_once(
            [
                lambda trial=trial: services.stock_receive(
                    product_id=world.plain.pk,
                    location_id=world.shelf_a.pk,
                    qty=3,
                    idempotency_key=f"receipt-{trial}",
                )
            ]
            * 10
        )
        assert len({movement.pk for [movement] in results}) == 1
        assert StockMovement.objects.filter(idempotency_key=f"receipt-{trial}").count() == 1
    assert StockMovement.objects.count() == TRIALS
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 3 * TRIALS
    assert_ledger_consistent()


def test_the_same_batch_posted_concurrently_is_written_once(world):
    lines = [
        services.BatchLine(
            idempotency_key=f"import-{i}",
            product_id=world.plain.pk,
            qty=2,
            to_location_id=(world.shelf_a if i % 2 else world.shelf_b).pk,
            to_state=S.AVAILABLE,
        )
        for i in range(20)
    ]

    results = run_at_once([lambda: services.stock_post_batch(lines=lines)] * 8)

    assert sorted((r.posted, r.replayed) for r in results) == [(0, 20)] * 7 + [(20, 0)]
    assert StockMovement.objects.count() == 20
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 20
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == 20
    assert_ledger_consistent()


def test_receipt_batches_and_moves_on_the_same_balances_at_once_lose_nothing(world):
    # Receipt-only batches lock each balance as their upsert reaches it, in key order, with
    # no check ahead: batches whose lines come in opposite orders, and moves drawing on the
    # same balances, must neither deadlock nor lose an update.
    keys = [
        (product, shelf)
        for product in (world.plain, world.lotted)
        for shelf in (
            world.shelf_a,
            world.shelf_b,
        )
    ]
    services.stock_receive(
        product_id=world.plain.pk,
        qty=50,
        location_id=world.shelf_a.pk,
        idempotency_key="opening",
    )

    def batch(n: int):
        ordered = keys if n % 2 else list(reversed(keys))
        lines = [
            services.BatchLine(
                idempotency_key=f"import-{n}-{i}",
                product_id=product.pk,
                qty=n + 1,
                lot="L1" if product == world.lotted else "",
                to_location_id=shelf.pk,
                to_state=S.AVAILABLE,
            )
            for i, (product, shelf) in enumerate(ordered * 5)
        ]
        return lambda: services.stock_post_batch(lines=lines)

    def move(n: int):
        return lambda: services.stock_move(
            product_id=world.plain.pk,
            qty=1,
            from_location_id=world.shelf_a.pk,
            from_state=S.AVAILABLE,
            to_location_id=world.shelf_b.pk,
            to_state=S.AVAILABLE,
            idempotency_key=f"move-{n}",
        )

    results = run_at_once([batch(n) for n in range(8)] + [move(n) for n in range(8)])

    assert all(not isinstance(result, Exception) for result in results), results
    received = 5 * sum(n + 1 for n in range(8))  # per key, over the eight batches
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 50 + received - 8
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == received + 8
    assert balance(world.lotted, world.shelf_a, S.AVAILABLE, lot="L1") == received
    assert_ledger_consistent()
