"""Reconciliation runs: a full run is chunked, counts its progress and resumes where a killed
worker left it with the same result; an incremental run covers the SKUs moved since the last."""

from datetime import timedelta

import pytest

from inventory.models import (
    ReconciliationRun,
    ReconciliationVariance,
    RunKind,
    RunStatus,
    VarianceStatus,
    VarianceTrendPoint,
)
from inventory.reconciliation import run_full_execute, run_full_start, run_incremental, runs
from tests.factories import ProductFactory
from tests.inventory.test_reconciliation import T0, make_3pl_world, report, stock_in

FIELDS = (
    "source",
    "bucket",
    "product_id",
    "scope_id",
    "erp_qty",
    "external_qty",
    "difference",
    "explained",
    "unexplained",
    "status",
)


@pytest.fixture
def tpl(db):
    return make_3pl_world()


class WorkerKilled(BaseException):
    """Stands for SIGKILL between two chunks: not an Exception, so nothing in the run's code
    catches it and the run is left `running` with its cursor, as a dead worker leaves it."""


def seed_many(world, count: int) -> list:
    """`count` SKUs at the 3PL; the report disagrees on every third one."""
    products = [
        ProductFactory(sku=f"HB-{i:03d}", category=world.cream.category) for i in range(count)
    ]
    for i, product in enumerate(products):
        stock_in(world, product, 10 + i, f"in-{i}")
    report(
        "sb-full",
        T0,
        *[(p.sku, 10 + i + (i % 3 == 0), 10 + i + (i % 3 == 0)) for i, p in enumerate(products)],
    )
    return products


def table() -> list[tuple]:
    return sorted(ReconciliationVariance.objects.values_list(*FIELDS))


def test_a_full_run_is_chunked_and_counts_its_progress(tpl):
    # given 12 SKUs at the 3PL (each a warehouse key and a channel key) and chunks of ~6 keys
    seed_many(tpl, 12)
    seen = []
    # when a full run executes
    run = run_full_start(chunk_keys=6)
    run = run_full_execute(
        run_id=run.pk, now=T0 + timedelta(hours=1), progress=lambda r: seen.append(r.keys_done)
    )
    # then it went chunk by chunk up to every key, and succeeded with its counts
    assert run.status == RunStatus.SUCCEEDED
    assert len(run.plan) == 4
    assert run.keys_total == 24 == run.keys_done
    assert seen == [0, 6, 12, 18, 24, 24]
    assert run.unexplained == 8  # 4 SKUs x (sellable, on hand)
    assert run.duration is not None
    assert list(VarianceTrendPoint.objects.filter(run=run).values_list("source", "keys")) == [
        ("shipbob", 8)
    ]


@pytest.mark.django_db
def test_a_killed_run_resumes_after_its_cursor_with_the_same_result(tpl, monkeypatch):
    """The kill is simulated between chunks (WorkerKilled escapes the run like SIGKILL: no
    handler runs); the committed chunks stay, the task sent again resumes after the cursor."""
    seed_many(tpl, 12)
    at = T0 + timedelta(hours=1)
    # given the result of an uninterrupted run
    run_full_execute(run_id=run_full_start(chunk_keys=6).pk, now=at)
    expected = table()
    ReconciliationVariance.objects.all().delete()

    # when a second run's worker dies after its second chunk
    run = run_full_start(chunk_keys=6)
    done = []

    def kill_after_two(r):
        done.append(r.cursor)
        if len(done) == 2:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        run_full_execute(run_id=run.pk, now=at, between_chunks=kill_after_two)
    run.refresh_from_db()
    # then it is left running, half done
    assert run.status == RunStatus.RUNNING
    assert (run.keys_done, run.cursor) == (12, run.plan[1][1])
    computed = {row[2] for row in table()}
    # when the task runs again (the beat's sweep sends it), nothing is computed twice
    calls = []
    real = runs.variances_compute
    monkeypatch.setattr(
        runs, "variances_compute", lambda **kw: calls.append(kw["part"]) or real(**kw)
    )
    run = run_full_execute(run_id=run.pk, now=at)
    # then it finished the remaining chunks only, with the uninterrupted run's result
    assert [(p.lo, p.hi) for p in calls] == [tuple(c[:2]) for c in run.plan[2:]]
    assert run.status == RunStatus.SUCCEEDED
    assert run.keys_done == run.keys_total
    assert computed < {row[2] for row in table()}
    assert table() == expected


def test_only_one_full_run_is_queued_at_a_time(tpl, operations_user):
    first = run_full_start(actor=operations_user)
    assert run_full_start().pk == first.pk
    assert ReconciliationRun.objects.filter(kind=RunKind.FULL).count() == 1


def test_starting_a_run_needs_the_permission(tpl, warehouse_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        run_full_start(actor=warehouse_user)
    assert not ReconciliationRun.objects.exists()


def test_an_incremental_run_covers_the_skus_moved_since_the_last(tpl):
    # given a report and the first scan (which starts at the ledger's end)
    report("sb-1", T0, ("CURL-CREAM", 5, 5), ("HAIR-SERUM", 0, 0))
    assert run_incremental(now=T0) is None
    # when only the cream moves
    stock_in(tpl, tpl.cream, 5, "cream-in")
    run = run_incremental(now=T0 + timedelta(minutes=1))
    # then the next run reconciles the cream alone, and a run after that has nothing to do
    assert run.product_ids == [tpl.cream.pk]
    assert run.movement_watermark > 0
    assert run.status == RunStatus.SUCCEEDED
    # (the 3PL's 5 now match ours)
    assert not ReconciliationVariance.objects.filter(product=tpl.cream).exclude(difference=0)
    assert run_incremental(now=T0 + timedelta(minutes=2)) is None


def test_a_run_leaves_an_unchanged_variance_alone_and_clears_one_nothing_compares(tpl):
    products = seed_many(tpl, 6)
    first = run_full_execute(run_id=run_full_start().pk, now=T0 + timedelta(hours=1))
    written = {
        row.pk: (row.computed_at, row.run_id) for row in ReconciliationVariance.objects.all()
    }
    assert written, "the scenario has variances"
    assert {run for _, run in written.values()} == {first.pk}
    # given a row whose key nothing compares any more (a SKU neither we nor the 3PL hold)
    gone = ReconciliationVariance.objects.filter(product=products[0]).first()
    ReconciliationVariance.objects.filter(pk=gone.pk).update(product=ProductFactory(sku="GONE"))
    # when the next full run finds every other figure as it was
    second = run_full_execute(run_id=run_full_start().pk, now=T0 + timedelta(hours=2))
    # then it does not write those rows again: they keep when and by which run they changed
    for row in ReconciliationVariance.objects.filter(pk__in=written).exclude(pk=gone.pk):
        assert (row.computed_at, row.run_id) == written[row.pk], row
    # and the orphaned row clears, by this run
    gone.refresh_from_db()
    assert (gone.status, gone.difference, gone.run_id) == (VarianceStatus.MATCHED, 0, second.pk)


def test_a_full_run_reuses_the_last_plan_and_extends_it_to_new_skus(tpl):
    seed_many(tpl, 12)
    first = run_full_execute(run_id=run_full_start(chunk_keys=6).pk, now=T0 + timedelta(hours=1))
    # given SKUs created since, with stock at the 3PL
    newer = [ProductFactory(sku=f"NEW-{i}", category=tpl.cream.category) for i in range(4)]
    for i, product in enumerate(newer):
        stock_in(tpl, product, 3, f"new-in-{i}")
    # when the next run plans
    second = run_full_execute(run_id=run_full_start(chunk_keys=6).pk, now=T0 + timedelta(hours=2))
    # then it kept the last run's chunks, contiguous, and added chunks for the new ids
    assert second.plan[: len(first.plan) - 1] == first.plan[:-1]
    assert all(a[1] + 1 == b[0] for a, b in zip(second.plan, second.plan[1:], strict=False))
    assert second.plan[-1][1] == max(p.pk for p in newer)
    assert second.keys_done == second.keys_total
    # and it compared the new SKUs (their stock differs from the report that lacks them)
    assert ReconciliationVariance.objects.filter(product__in=newer, bucket="on_hand").count() == 4
