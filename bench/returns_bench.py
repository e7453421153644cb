"""Benchmark of the customer-service search and review-queue pages (not a test): prints server
time (p50/p95) and query count per page beside the number of return cases.

Builds its own database (dropped and re-created on every run unless --reuse), migrates it,
bulk-inserts --cases return cases (default 100,000; the issue's figure is 1,000,000) on
--cases/2 delivered orders with one serial-tracked line each, then renders each page through
Django's test client, signed in as a CS agent:

- search by each key (RMA, order no., customer e-mail, tracking no., serial), a random
  existing value every time;
- the review queue (pending_review, highest risk first) and the CS home.

    .venv/bin/python bench/returns_bench.py                  # 100k cases
    .venv/bin/python bench/returns_bench.py --cases 1000000  # the issue's 1M

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/erp_bench_returns.
Target (issue 4): p95 <= 150 ms per page, query count independent of the number of cases.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import recreate_database, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/erp_bench_returns"
TARGET_P95_MS = 150
REQUESTS = 60
# Orders per COPY transaction: big enough that per-chunk overhead vanishes, small enough that
# one chunk's rows never sit in memory for long.
CHUNK = 50_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print EXPLAIN ANALYZE of every query of each page (one request each) and stop",
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    return parser.parse_args()


def seed(cases: int) -> None:
    """Orders with one serial-tracked line each and two cases per order, streamed with COPY
    (bench/copy_rows.py) in chunks of CHUNK orders, each chunk its own transaction; then
    ANALYZE. 1M cases are about 3.5M rows."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.copy_rows import copy_rows, identity_reset, next_id
    from erp.models import (
        Category,
        Channel,
        Customer,
        OrderLine,
        Product,
        ReasonCode,
        SalesOrder,
        ShippedItem,
    )
    from returns.models import PolicyRuleSet, ReturnCase, ReturnLine

    rng = random.Random(4)
    now = timezone.now()
    channel = Channel.objects.create(
        code="bench", name="Bench store", kind="storefront", region="US", currency="USD"
    )
    category = Category.objects.create(code="bench", name="Bench", department="electronics")
    products = Product.objects.bulk_create(
        Product(
            sku=f"B-{n:05d}",
            name=f"Bench product {n}",
            category=category,
            tracking="serial",
            unit_cost=Decimal("10"),
            list_price=Decimal("30"),
        )
        for n in range(500)
    )
    product_ids = [p.pk for p in products]
    customers_n = max(cases // 10, 1)
    first_customer = next_id(Customer)
    with transaction.atomic():
        copy_rows(
            Customer,
            (
                {
                    "id": first_customer + n,
                    "email": f"c{n}@bench.test",
                    "name": f"Customer {n}",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(customers_n)
            ),
        )
    rule_set = PolicyRuleSet.objects.get(state="published")
    rule = rule_set.rules.order_by("priority").first()
    reason = ReasonCode.objects.get(code="SIZE_TOO_SMALL")
    orders_n = max(cases // 2, 1)
    states = ["closed"] * 60 + ["authorized"] * 15 + ["in_transit"] * 10 + ["cancelled"] * 10
    states += ["pending_review"] * 5
    ids = {model: next_id(model) for model in (SalesOrder, OrderLine, ShippedItem)}
    ids.update({model: next_id(model) for model in (ReturnCase, ReturnLine)})
    placed, shipped, delivered = (now - timedelta(days=d) for d in (20, 19, 17))
    decision = {"summary": "Authorized automatically", "lines": []}
    for start in range(0, orders_n, CHUNK):
        stop = min(start + CHUNK, orders_n)
        span = range(start, stop)
        order_id = {n: ids[SalesOrder] + n for n in span}
        line_id = {n: ids[OrderLine] + n for n in span}
        with transaction.atomic():
            copy_rows(
                SalesOrder,
                (
                    {
                        "id": order_id[n],
                        "channel_id": channel.pk,
                        "number": str(1_000_000 + n),
                        "customer_id": first_customer + n % customers_n,
                        "currency": "USD",
                        "placed_at": placed,
                        "shipped_at": shipped,
                        "delivered_at": delivered,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in span
                ),
            )
            copy_rows(
                OrderLine,
                (
                    {
                        "id": line_id[n],
                        "order_id": order_id[n],
                        "line_number": 1,
                        "product_id": product_ids[rng.randrange(len(product_ids))],
                        "quantity": 2,
                        "unit_price": Decimal("30"),
                    }
                    for n in span
                ),
            )
            copy_rows(
                ShippedItem,
                (
                    {
                        "id": ids[ShippedItem] + n,
                        "line_id": line_id[n],
                        "serial_number": f"SN{1_000_000 + n}",
                    }
                    for n in span
                ),
            )
            copy_rows(
                ReturnCase,
                (
                    {
                        "id": ids[ReturnCase] + 2 * n + k,
                        "rma_number": f"RMA-B{2 * n + k:08d}",
                        "channel_id": channel.pk,
                        "order_id": order_id[n],
                        "customer_id": first_customer + n % customers_n,
                        "source": "api",
                        "state": rng.choice(states),
                        "resolution": "refund",
                        "rule_set_id": rule_set.pk,
                        "deciding_rule_id": rule.pk,
                        "decision": decision,
                        "refund_trigger": "on_inspection",
                        "restocking_fee_percent": Decimal("0"),
                        "return_shipping_paid_by": "merchant",
                        "risk_score": rng.randrange(0, 80),
                        "tracking_number": f"1Z{2 * n + k:010d}",
                        "requested_at": now - timedelta(minutes=rng.randrange(0, 60 * 24 * 30)),
                    }
                    for n in span
                    for k in range(2)
                ),
            )
            copy_rows(
                ReturnLine,
                (
                    {
                        "id": ids[ReturnLine] + 2 * n + k,
                        "case_id": ids[ReturnCase] + 2 * n + k,
                        "order_line_id": line_id[n],
                        "quantity": 1,
                        "reason_id": reason.pk,
                        "claimed_condition": "unopened",
                        "unit_price": Decimal("30"),
                        "rule_id": rule.pk,
                    }
                    for n in span
                    for k in range(2)
                ),
            )
        print(f"  seeded {min(stop * 2, cases):,} / {cases:,} cases", end="\r", flush=True)
    print()
    identity_reset(Customer, SalesOrder, OrderLine, ShippedItem, ReturnCase, ReturnLine)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def explain(client, url: str, value) -> None:
    """Capture one request's queries, then print each SELECT's plan as PostgreSQL ran it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url, {"q": value} if value is not None else None, secure=True)
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip("( ").upper().startswith("SELECT") or "auth_" in sql[:400]:
                continue
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            print(f"\n-- {sql[:300]}")
            print("\n".join(row[0] for row in cursor.fetchall()))


def measure(client, url: str, params) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    counts = set()
    for value in params:
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url, {"q": value} if value is not None else None, secure=True)
            timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        counts.add(len(captured))
    return timings, max(counts)


def main() -> None:
    args = parse_args()
    if not args.reuse:
        recreate_database(args.database_url)
    started = time.perf_counter()
    setup_django(args.database_url)

    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.test.utils import setup_test_environment

    from returns.models import ReturnCase

    print(f"migrated in {time.perf_counter() - started:.0f} s")
    if not ReturnCase.objects.exists():
        seeding = time.perf_counter()
        seed(args.cases)
        print(f"seeded {args.cases:,} cases in {time.perf_counter() - seeding:.0f} s")
    setup_test_environment()
    agent, _ = User.objects.get_or_create(username="bench-agent")
    agent.groups.set(Group.objects.filter(name="customer_service"))
    client = Client()
    client.force_login(agent)

    total = ReturnCase.objects.count()
    orders = total // 2
    customers = max(total // 10, 1)
    rng = random.Random(7)

    def picks(make):
        return [make(rng.randrange(orders)) for _ in range(REQUESTS)]

    pages = [
        ("search: RMA", "/cs/returns/", picks(lambda n: f"rma-b{2 * n:08d}")),
        ("search: order no.", "/cs/returns/", picks(lambda n: f"#{1_000_000 + n}")),
        ("search: e-mail", "/cs/returns/", picks(lambda n: f"c{n % customers}@bench.test")),
        ("search: tracking no.", "/cs/returns/", picks(lambda n: f"1Z{2 * n:010d}")),
        ("search: serial", "/cs/returns/", picks(lambda n: f"SN{1_000_000 + n}")),
        ("review queue", "/cs/returns/review/", [None] * REQUESTS),
        ("CS home", "/cs/", [None] * REQUESTS),
    ]
    if args.explain:
        for name, url, params in pages:
            print(f"\n==== {name}")
            explain(client, url, params[0])
        return
    print(f"\n{total:,} return cases; {REQUESTS} requests a page; p95 target {TARGET_P95_MS} ms\n")
    print(f"{'page':<22} {'queries':>7} {'p50 ms':>8} {'p95 ms':>8}  verdict")
    failed = False
    for name, url, params in pages:
        measure(client, url, params[:3])  # warm caches and templates
        timings, queries = measure(client, url, params)
        p95 = statistics.quantiles(timings, n=20)[18]
        ok = p95 <= TARGET_P95_MS
        failed |= not ok
        print(
            f"{name:<22} {queries:>7} {statistics.median(timings):>8.1f} {p95:>8.1f}  "
            f"{'PASS' if ok else 'FAIL'}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
