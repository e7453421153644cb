"""Receipt batches of new keys, COPYed into the ledger as their lines are checked and hashed:
the same effects, refusals and replays as the staged path."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from erp.models import OutboxMessage
from finance.models import JournalEntry
from inventory import services
from inventory.models import CauseType, StockMovement
from inventory.models import StockState as S
from inventory.services.batch import _batch_hashes
from tests.inventory.conftest import ats, balance, ledger_counts


def receipts(world, n: int, *, prefix: str = "file-1", qty: int = 2) -> list[services.BatchLine]:
    """n receipts alternating between two shelves (so each balance key has several lines)."""
    return [
        services.BatchLine(
            idempotency_key=f"{prefix}:{i}",
            product_id=world.plain.pk,
            qty=qty,
            to_location_id=(world.shelf_a, world.shelf_b)[i % 2].pk,
            to_state=S.AVAILABLE,
            cause_id="file-1",
        )
        for i in range(n)
    ]


def test_a_receipt_batch_is_streamed_into_the_ledger_with_its_balances_ats_and_hashes(world):
    lines = receipts(world, 6)

    with CaptureQueriesContext(connection) as queries:
        result = services.stock_post_batch(lines=lines)

    assert result == services.BatchResult(posted=6, replayed=0)
    # streamed: no staging table of the lines, whose COPY the ledger's own COPY replaces
    assert not [q for q in queries if "inventory_batch_lines" in q["sql"]]
    movements = list(StockMovement.objects.order_by("id"))
    assert [m.idempotency_key for m in movements] == [line.idempotency_key for line in lines]
    assert {(m.kind, m.cause_type, m.cause_id, m.qty) for m in movements} == {
        ("receive", CauseType.IMPORT, "file-1", 2)
    }
    # each hash is the one the exact path computes, so a replay is recognised by either path
    assert [m.payload_hash for m in movements] == _batch_hashes(
        lines, cause_type=CauseType.IMPORT, reason="", occurred_at=None
    )
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 6
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == 6
    assert ats(world.plain, world.storefront) == 12
    assert OutboxMessage.objects.filter(topic="availability.changed").count() == 2

    after = ledger_counts()
    assert services.stock_post_batch(lines=lines) == services.BatchResult(posted=0, replayed=6)
    assert ledger_counts() == after


def test_a_streamed_batch_with_a_bad_line_in_the_middle_writes_nothing_and_names_it(world):
    lines = receipts(world, 9)
    lines[4] = services.BatchLine(**(lines[4].__dict__ | {"to_location_id": 999_999}))

    with pytest.raises(ValidationError, match="Line 5: Unknown location"):
        services.stock_post_batch(lines=lines)

    assert ledger_counts()["movements"] == 0
    assert ledger_counts()["balance_total"] == 0
    assert not OutboxMessage.objects.exists()


def test_a_streamed_batch_refuses_an_inactive_destination_at_its_line(world):
    world.cage.is_active = False
    world.cage.save(update_fields=["is_active"])
    lines = receipts(world, 4)
    lines[2] = services.BatchLine(**(lines[2].__dict__ | {"to_location_id": world.cage.pk}))

    with pytest.raises(ValidationError, match=f"Line 3: Location {world.cage.pk} is inactive"):
        services.stock_post_batch(lines=lines)

    assert ledger_counts()["movements"] == 0


def test_a_replay_with_one_changed_line_is_refused_and_changes_nothing(world):
    lines = receipts(world, 5)
    services.stock_post_batch(lines=lines)
    before = ledger_counts()
    lines[3] = services.BatchLine(**(lines[3].__dict__ | {"qty": 7}))

    with pytest.raises(ValidationError, match=r"'file-1:3' was already used for a different"):
        services.stock_post_batch(lines=lines)

    assert ledger_counts() == before
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == 4


def test_a_streamed_batch_meeting_a_used_key_later_in_it_posts_the_rest_and_replays_it(world):
    # given the fourth line was posted before (an import resumed after a partial send)
    lines = receipts(world, 6)
    services.stock_post_batch(lines=[lines[3]])

    # when the whole file is sent: its first key is new, so it streams and meets the used
    # key in the ledger's unique index, and the exact path takes over
    result = services.stock_post_batch(lines=lines)

    assert result == services.BatchResult(posted=5, replayed=1)
    assert StockMovement.objects.filter(idempotency_key="file-1:3").count() == 1
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 6
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == 6


def test_a_key_given_twice_in_a_streamed_batch_posts_once_or_refuses_the_batch(world):
    # the streamed path leaves a repeated key to the ledger's unique index, and the exact
    # path takes over: the same line twice posts once ...
    lines = receipts(world, 3)
    assert services.stock_post_batch(lines=[*lines, lines[1]]) == services.BatchResult(
        posted=3, replayed=0
    )
    assert StockMovement.objects.filter(idempotency_key="file-1:1").count() == 1
    assert balance(world.plain, world.shelf_b, S.AVAILABLE) == 2
    before = ledger_counts()

    # ... and a key given again for another line refuses the whole batch, writing nothing
    again = receipts(world, 3, prefix="file-2")
    other = services.BatchLine(**{**again[0].__dict__, "qty": 9})
    with pytest.raises(ValidationError, match="appears twice in the batch with different lines"):
        services.stock_post_batch(lines=[*again, other])
    assert ledger_counts() == before


def test_a_streamed_receipt_that_changes_stock_value_is_journalled_once_per_cause(world):
    # returns received in bulk come back into inventory from cost of goods sold
    lines = receipts(world, 4, qty=1)

    services.stock_post_batch(lines=lines, cause_type=CauseType.RETURN_CASE)

    entry = JournalEntry.objects.get()
    assert entry.idempotency_key.startswith("stock:file-1:0:")
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 2


def test_a_lot_line_and_a_plain_line_of_one_batch_keep_their_own_balances(world):
    lines = [
        services.BatchLine(
            "lot-1",
            world.lotted.pk,
            3,
            to_location_id=world.shelf_a.pk,
            to_state=S.AVAILABLE,
            lot="L7",
        ),
        services.BatchLine(
            "lot-2",
            world.lotted.pk,
            2,
            to_location_id=world.shelf_a.pk,
            to_state=S.AVAILABLE,
            lot="L8",
        ),
        services.BatchLine(
            "plain-1", world.plain.pk, 1, to_location_id=world.shelf_a.pk, to_state=S.AVAILABLE
        ),
    ]

    services.stock_post_batch(lines=lines)

    assert balance(world.lotted, world.shelf_a, S.AVAILABLE, lot="L7") == 3
    assert balance(world.lotted, world.shelf_a, S.AVAILABLE, lot="L8") == 2
    assert balance(world.plain, world.shelf_a, S.AVAILABLE) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_a_streamed_batch_gives_its_transaction_the_memory_to_keep_its_rows_off_disk(world):
    # the ledger's reference trigger holds the COPYed rows (its transition table) in work_mem,
    # and the balance upsert sorts the keys there: 4 MB spills 100,000 lines to disk
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '1MB'")  # given: whatever the server's default

        services.stock_post_batch(lines=receipts(world, 4))

        # set for the rest of the transaction only (SET LOCAL), which the test's own wraps
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone()[0] == "64MB"
    assert ledger_counts()["movements"] == 4
