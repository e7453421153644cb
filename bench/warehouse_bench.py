"""Benchmark of the warehouse bench screens (not a test): prints server time (p50/p95) and
query counts of scan → receive and of the inspection submit, against the issue's targets.

Builds its own database (dropped and re-created on every run unless --reuse), migrates it,
then seeds:

- --movements stock movements (default 1,000,000) through the ledger's COPY path
  (`inventory.services.movements_copy`) on 1,000 filler SKUs at the bench warehouse's
  locations, with the balances rebuilt as the ledger's GROUP BY;
- --cases return cases (default 100,000) by bulk insert, one apparel line each, on delivered
  orders; a tenth are in transit to the bench warehouse, the rest in other states.

Then, signed in as a warehouse user through Django's test client, for --probes in-transit
cases (default 60), one after another, as the tablet does:

1. scan the unit's GTIN into the parcel (GET, htmx: the match panel);
2. POST "Receive" (returns.workflow.return_parcel_receive: receipt, unit, stock posted
   in_transit_return → received_pending_inspection, case received, refund evaluated);
3. POST the inspection (apparel checklist, grade A; return_unit_inspect).

    .venv/bin/python bench/warehouse_bench.py                 # 1M movements, 100k cases
    .venv/bin/python bench/warehouse_bench.py --reuse         # measure again, same data

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/erp_bench_warehouse.
Targets (issue 5): p95 <= 100 ms and <= 15 queries per submit.
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BALANCES_FROM_LEDGER, REDIS_BROKER, recreate_database, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/erp_bench_warehouse"
TARGET_P95_MS = 100
TARGET_QUERIES = 15
BATCH = 5000
FILLER_SKUS = 1000
SHIRTS = 200
APPAREL_ANSWERS = {
    "item_tags_attached": "yes",
    "item_worn_or_washed": "no",
    "item_stains": "no",
    "item_odour": "no",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--movements", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=60)
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    return parser.parse_args()


def gtin14(n: int) -> str:
    body = f"0735{n:09d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def seed_master():
    from erp.models import Category, Channel, Location, Product, Warehouse

    warehouse = Warehouse.objects.create(
        code="bench", name="Bench returns center", operator="own", country="US"
    )
    for kind in Location.Kind.values:
        Location.objects.create(warehouse=warehouse, code=kind.upper()[:12], name=kind, kind=kind)
    for n in range(20):
        Location.objects.create(
            warehouse=warehouse, code=f"S-{n:02d}", name=f"Shelf {n}", kind="stock"
        )
    channel = Channel.objects.create(
        code="bench", name="Bench store", kind="storefront", region="US", currency="USD"
    )
    apparel = Category.objects.create(code="bench-apparel", name="Apparel", department="apparel")
    shirts = Product.objects.bulk_create(
        Product(
            sku=f"TEE-{n:04d}",
            name=f"Bench tee {n}",
            gtin=gtin14(n),
            category=apparel,
            unit_cost=Decimal("12"),
            list_price=Decimal("30"),
        )
        for n in range(SHIRTS)
    )
    filler = Product.objects.bulk_create(
        Product(
            sku=f"F-{n:05d}",
            name=f"Filler {n}",
            category=apparel,
            unit_cost=Decimal("5"),
            list_price=Decimal("10"),
        )
        for n in range(FILLER_SKUS)
    )
    return warehouse, channel, shirts, filler


def seed_movements(count: int, warehouse, filler) -> None:
    """Receipts of 10 then moves of 1 between the warehouse's stock locations and states, so
    that no balance goes negative; balances are the ledger's GROUP BY."""
    from django.db import connection, transaction
    from django.utils import timezone

    from inventory import services
    from inventory.models import StockState as S

    locations = list(warehouse.locations.filter(kind="stock").values_list("pk", flat=True))
    targets = [S.RESERVED, S.REFURBISH, S.LIQUIDATION, S.DAMAGED]
    base = timezone.now() - timedelta(days=365)

    def rows(start: int, stop: int):
        for i in range(start, stop):
            cycle, step = divmod(i, 10)
            product = filler[cycle % len(filler)].pk
            home = locations[(cycle // len(filler)) % len(locations)]
            when = base + timedelta(seconds=i * 30)
            if step == 0:
                sides = (None, None, home, S.AVAILABLE, "receive", 10)
            else:
                sides = (home, S.AVAILABLE, home, targets[step % len(targets)], "move", 1)
            values = {
                "product_id": product,
                "qty": sides[5],
                "lot": "",
                "from_location_id": sides[0],
                "from_state": sides[1],
                "to_location_id": sides[2],
                "to_state": sides[3],
                "kind": sides[4],
                "cause_type": "import",
                "cause_id": "",
                "actor_id": None,
                "occurred_at": when,
                "posted_at": when,
                "idempotency_key": f"bench-{i}",
                "payload_hash": "0" * 64,
                "reason": "",
            }
            yield tuple(values[column] for column in services.MOVEMENT_COLUMNS)

    chunk = 200_000
    for lo in range(0, count, chunk):
        with transaction.atomic():
            services.movements_copy(list(rows(lo, min(count, lo + chunk))))
        print(f"  movements {min(count, lo + chunk):,} / {count:,}", end="\r", flush=True)
    print()
    with connection.cursor() as cursor:
        cursor.execute(BALANCES_FROM_LEDGER)


def seed_cases(cases: int, warehouse, channel, shirts) -> None:
    """Delivered orders of one shirt and one case each; a tenth in transit to `warehouse`."""
    from django.db import connection
    from django.utils import timezone

    from erp.models import Customer, OrderLine, ReasonCode, SalesOrder
    from returns.models import PolicyRuleSet, ReturnCase, ReturnLine

    rng = random.Random(5)
    now = timezone.now()
    Customer.objects.bulk_create(
        (Customer(email=f"c{n}@bench.test", name=f"Customer {n}") for n in range(cases // 10 + 1)),
        batch_size=BATCH,
    )
    customer_ids = list(Customer.objects.values_list("pk", flat=True))
    rule_set = PolicyRuleSet.objects.get(state="published")
    rule = rule_set.rules.order_by("priority").first()
    reason = ReasonCode.objects.get(code="SIZE_TOO_SMALL")
    others = ["closed"] * 6 + ["authorized", "delivered", "cancelled", "received", "inspected"]
    for start in range(0, cases, BATCH):
        stop = min(start + BATCH, cases)
        orders = SalesOrder.objects.bulk_create(
            SalesOrder(
                channel=channel,
                number=str(2_000_000 + n),
                customer_id=customer_ids[n % len(customer_ids)],
                currency="USD",
                ship_from=warehouse,
                placed_at=now - timedelta(days=20),
                shipped_at=now - timedelta(days=19),
                delivered_at=now - timedelta(days=17),
            )
            for n in range(start, stop)
        )
        lines = OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                line_number=1,
                product=shirts[n % len(shirts)],
                quantity=1,
                unit_price=Decimal("30"),
            )
            for n, order in zip(range(start, stop), orders, strict=True)
        )
        new_cases = ReturnCase.objects.bulk_create(
            ReturnCase(
                rma_number=f"RMA-W{n:08d}",
                channel=channel,
                order=order,
                customer_id=order.customer_id,
                source="api",
                state="in_transit" if n % 10 == 0 else rng.choice(others),
                resolution="refund",
                rule_set=rule_set,
                deciding_rule=rule,
                decision={"summary": "Authorized automatically", "lines": []},
                refund_trigger="on_inspection",
                restocking_fee_percent=Decimal("0"),
                return_shipping_paid_by="merchant",
                risk_score=rng.randrange(0, 80),
                carrier="UPS",
                tracking_number=f"1ZW{n:015d}",
                expected_warehouse=warehouse,
                requested_at=now - timedelta(days=10),
                authorized_at=now - timedelta(days=10),
                shipped_at=now - timedelta(days=rng.randrange(0, 9)),
            )
            for n, order in zip(range(start, stop), orders, strict=True)
        )
        ReturnLine.objects.bulk_create(
            ReturnLine(
                case=case,
                order_line=line,
                quantity=1,
                reason=reason,
                claimed_condition="unopened",
                unit_price=Decimal("30"),
                rule=rule,
            )
            for case, line in zip(new_cases, lines, strict=True)
        )
        print(f"  cases {stop:,} / {cases:,}", end="\r", flush=True)
    print()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def kind_of(sql: str) -> str:
    """ "tx" (transaction control: nested atomic blocks' savepoints), "auth" (session and
    permissions, every signed-in request pays them) or "work"."""
    if sql.startswith(TRANSACTION_CONTROL):
        return "tx"
    if '"django_session"' in sql or 'FROM "auth_user"' in sql or '"auth_permission"' in sql:
        return "auth"
    return "work"


def timed(call):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        start = time.perf_counter()
        response = call()
        elapsed = (time.perf_counter() - start) * 1000
    kinds = [kind_of(query["sql"]) for query in captured.captured_queries]
    return response, elapsed, (len(kinds), kinds.count("tx"), kinds.count("auth"))


def main() -> None:
    args = parse_args()
    if not args.reuse:
        recreate_database(args.database_url)
    started = time.perf_counter()
    setup_django(args.database_url, broker=REDIS_BROKER)

    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from erp.models import Warehouse
    from inventory.models import StockMovement
    from returns.models import ReturnCase

    if not Warehouse.objects.filter(code="bench").exists():
        warehouse, channel, shirts, filler = seed_master()
        t0 = time.perf_counter()
        seed_movements(args.movements, warehouse, filler)
        print(f"  {args.movements:,} movements in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        seed_cases(args.cases, warehouse, channel, shirts)
        print(f"  {args.cases:,} cases in {time.perf_counter() - t0:.0f} s")
    warehouse = Warehouse.objects.get(code="bench")
    print(f"database ready in {time.perf_counter() - started:.0f} s")

    setup_test_environment()
    packer, _ = User.objects.get_or_create(username="bench-packer")
    packer.groups.set(Group.objects.filter(name="warehouse"))
    client = Client()
    client.force_login(packer)

    probes = list(
        ReturnCase.objects.filter(state="in_transit", expected_warehouse=warehouse)
        .select_related("order")
        .prefetch_related("lines__order_line__product")
        .order_by("?")[: args.probes + 3]
    )
    figures = {"scan (GET, htmx)": [], "receive (POST)": [], "inspection (POST)": []}
    queries = dict.fromkeys(figures, (0, 0, 0))
    for n, case in enumerate(probes):
        gtin = case.lines.all()[0].order_line.product.gtin
        url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])
        scan, t_scan, q_scan = timed(
            lambda url=url, gtin=gtin: client.get(
                url, {"code": gtin}, HTTP_HX_REQUEST="true", secure=True
            )
        )
        assert scan.status_code == 200, scan.status_code
        posted, t_receive, q_receive = timed(
            lambda url=url, gtin=gtin: client.post(
                url,
                {"client_token": uuid.uuid4().hex, "scans": [gtin], "packaging_ok": "on"},
                secure=True,
            )
        )
        assert posted.status_code == 302, (posted.status_code, posted.content[:2000])
        receipt = case.receipts.get()
        unit = receipt.units.get()
        inspect_url = reverse("warehouse_unit_inspect", args=[unit.pk])
        inspected, t_inspect, q_inspect = timed(
            lambda inspect_url=inspect_url: client.post(
                inspect_url,
                {"client_token": uuid.uuid4().hex, "grade": "A", "notes": "", **APPAREL_ANSWERS},
                secure=True,
            )
        )
        assert inspected.status_code == 302, (inspected.status_code, inspected.content[:2000])
        if n < 3:
            continue  # warm-up: templates, caches, prepared plans
        for name, elapsed, count in [
            ("scan (GET, htmx)", t_scan, q_scan),
            ("receive (POST)", t_receive, q_receive),
            ("inspection (POST)", t_inspect, q_inspect),
        ]:
            figures[name].append(elapsed)
            queries[name] = max(queries[name], count)

    movements = StockMovement.objects.count()
    cases = ReturnCase.objects.count()
    load = os.getloadavg()[0]
    print(
        f"\n{movements:,} movements, {cases:,} return cases; {len(probes) - 3} parcels; "
        f"load average {load:.1f}"
    )
    print(f"targets: p95 <= {TARGET_P95_MS} ms, queries <= {TARGET_QUERIES}\n")
    print("queries: every statement; of them, transaction control (savepoints) and session/auth")
    print(
        f"{'request':<20} {'queries':>7} {'tx':>4} {'auth':>4} {'p50 ms':>8} {'p95 ms':>8}  "
        "time / queries"
    )
    failed = False
    for name, timings in figures.items():
        p95 = statistics.quantiles(timings, n=20)[18]
        total, tx, auth = queries[name]
        fast, few = p95 <= TARGET_P95_MS, total <= TARGET_QUERIES
        failed |= not (fast and few)
        print(
            f"{name:<20} {total:>7} {tx:>4} {auth:>4} {statistics.median(timings):>8.1f} "
            f"{p95:>8.1f}  {'PASS' if fast else 'FAIL'} / {'PASS' if few else 'FAIL'}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
