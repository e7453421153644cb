"""Benchmark of cycle count posting (not a test): seconds and queries to approve and post a
count of 5,000 lines, and of 20,000 lines, every line with a variance.

Builds its own database (dropped and re-created unless --reuse), migrates it, then per size:
SKUs (quantity-tracked, standard cost 7.50) with 20 units each spread over 10 stock
locations, received with `stock_post_batch`; a count of those locations opened, each location
scanned, every line counted (half one more than the books, half one fewer: ORM bulk insert,
the tablet's per-line path is not what is measured) and handed in with `count_submit`
(timed too). Then `count_review_decide` by an operations manager — the measured figure: the
lines read as plain values, one stock batch for the whole count (COPY, balances locked once),
the journal entry inventory values it with, and the lines' statuses in one UPDATE; the
query count does not grow with the lines.

    .venv/bin/python bench/cycle_count_bench.py             # 5,000 and 20,000 lines
    .venv/bin/python bench/cycle_count_bench.py --sizes 5000
    .venv/bin/python bench/cycle_count_bench.py --sizes 5000 --profile   # where the time goes

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/erp_bench_counts.
Target (issue 11): posting 5,000 lines <= 1 s.
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import MEMORY_BROKER, recreate_database, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/erp_bench_counts"
TARGET_SECONDS = 1.0
TARGET_LINES = 5000
LOCATIONS = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database of the last run (migrated)"
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--profile", action="store_true", help="print where approve-and-post spends its time"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.reuse:
        recreate_database(args.database_url)
    setup_django(args.database_url, broker=MEMORY_BROKER)

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from erp.models import Category, Location, Product, Warehouse
    from inventory.models import CauseType, StockMovement
    from inventory.services import BatchLine, stock_post_batch
    from warehouse.models import CountLine, CountLocation, CountState
    from warehouse.services import count_posting, counting

    User = get_user_model()

    class Queries:
        """Counts every statement (CaptureQueriesContext keeps only the last 9,000)."""

        def __init__(self):
            self.count = 0

        def __call__(self, execute, sql, params, many, context):
            self.count += 1
            return execute(sql, params, many, context)

        def __len__(self):
            return self.count

    stamp = str(int(time.time()))
    counter = User.objects.create(username=f"bench-counter-{stamp}")
    counter.groups.set(Group.objects.filter(name="warehouse"))
    manager = User.objects.create(username=f"bench-manager-{stamp}")
    manager.groups.set(Group.objects.filter(name="operations_manager"))
    category = Category.objects.create(code=f"bench-{stamp}", name="Bench", department="general")

    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    verdicts = []
    for run, size in enumerate(args.sizes):
        tag = f"{stamp}-{run}"
        warehouse = Warehouse.objects.create(
            code=f"CC{tag}",
            name=f"Count bench {tag}",
            operator=Warehouse.Operator.OWN,
            country="US",
        )
        locations = Location.objects.bulk_create(
            Location(warehouse=warehouse, code=f"S-{i:02d}", name=f"Shelf {i}", kind="stock")
            for i in range(LOCATIONS)
        )
        products = Product.objects.bulk_create(
            Product(
                sku=f"CC{tag}-{i:06d}",
                name=f"Counted item {i}",
                category=category,
                unit_cost=Decimal("7.50"),
                list_price=Decimal("15.00"),
            )
            for i in range(size)
        )
        # Line i: SKU i at location i % LOCATIONS, 20 on the books.
        with transaction.atomic():
            stock_post_batch(
                lines=[
                    BatchLine(
                        idempotency_key=f"cc-open-{tag}-{i}",
                        product_id=product.pk,
                        qty=20,
                        to_location_id=locations[i % LOCATIONS].pk,
                        to_state="available",
                    )
                    for i, product in enumerate(products)
                ],
                cause_type=CauseType.IMPORT,
            )
        count = counting.count_start(
            warehouse_id=warehouse.pk,
            location_ids=[location.pk for location in locations],
            actor=counter,
            tolerance_units=5,
            approval_limit=Decimal("1000000"),
        )
        for location in locations:
            counting.count_location_open(count_id=count.pk, code=location.code, actor=counter)
        places = {p.location_id: p for p in CountLocation.objects.filter(count=count)}
        CountLine.objects.bulk_create(
            (
                CountLine(
                    count=count,
                    count_location=places[locations[i % LOCATIONS].pk],
                    product=product,
                    counted_qty=21 if i % 2 else 19,
                )
                for i, product in enumerate(products)
            ),
            batch_size=5000,
        )
        # The maker-checker rule asks who counted: one entry says it was the counter.
        first = CountLine.objects.filter(count=count).first()
        first.entries.create(client_token=f"bench-{tag}", qty=1, counted_by=counter)

        started = time.perf_counter()
        submit_queries = Queries()
        with connection.execute_wrapper(submit_queries):
            count = counting.count_submit(count_id=count.pk, actor=counter)
        submit_seconds = time.perf_counter() - started
        assert count.state == CountState.REVIEW, count.state

        started = time.perf_counter()
        post_queries = Queries()
        profiler = cProfile.Profile() if args.profile else None
        with connection.execute_wrapper(post_queries):
            if profiler:
                profiler.enable()
            count = count_posting.count_review_decide(
                count_id=count.pk, actor=manager, client_token=f"bench-review-{tag}"
            )
            if profiler:
                profiler.disable()
        post_seconds = time.perf_counter() - started
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        assert count.state == CountState.POSTED, count.state
        movements = StockMovement.objects.filter(
            cause_type=CauseType.COUNT, cause_id=str(count.pk)
        ).count()
        assert movements == size, movements

        print(f"\n{size:,} lines ({LOCATIONS} locations, every line off by one):")
        print(
            f"  hand in (system quantities, snapshot): {submit_seconds:.2f} s, "
            f"{len(submit_queries)} queries"
        )
        print(
            f"  approve and post: {post_seconds:.2f} s, {len(post_queries)} queries, "
            f"{size / post_seconds:,.0f} lines/s, {movements:,} movements"
        )
        if size == TARGET_LINES:
            verdict = "PASS" if post_seconds <= TARGET_SECONDS else "FAIL"
            verdicts.append(verdict)
            print(f"  target: <= {TARGET_SECONDS:.0f} s for {TARGET_LINES:,} lines -> {verdict}")
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    sys.exit(1 if "FAIL" in verdicts else 0)


if __name__ == "__main__":
    main()
