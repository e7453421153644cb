"""Instructions PostgreSQL runs for each row of a batch import (not a test): the ledger's
write path counted by callgrind, a figure that repeats to the instruction on any machine.

Timings of the batch on a shared machine vary by a fifth from one run to the next, more than
most changes to the write path are worth; an instruction count of the same statements on the
same data does not vary at all, so an old-versus-new comparison needs one run of each.

The run builds a ledger of --movements rows on the server at --database-url (receipts and
moves, balances and ATS as the app keeps them), copies it into a scratch PostgreSQL cluster
of its own, and runs each statement of a streamed receipt batch (`stock_post_batch` on
PostgreSQL) in that cluster's single-user backend under `valgrind --tool=callgrind`:

- the COPY of --rows receipts into the ledger (its five indexes and its reference check),
  and the same COPY into a copy of the table with no index and no trigger (the heap alone);
- the reference check on its own (the COPY less the same COPY with the trigger disabled);
- the upsert of the receipts' totals into their balances (two receipts per balance key);
- the ATS recompute of the SKUs they touch, on three channels.

    .venv/bin/python bench/ledger_instructions.py   # 1M movements, a batch of 100,000 rows

Needs valgrind and the PostgreSQL server binaries (`pg_config --bindir`); runs the scratch
cluster as the `postgres` user when started as root. Takes a few minutes, most of it under
valgrind, which runs a backend about fifty times slower than it runs natively.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BALANCES_FROM_LEDGER, MEMORY_BROKER, recreate_database, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/erp_bench_instructions"
PRODUCTS = 1000
LOCATIONS = 50
COLUMNS = (
    "product_id, qty, lot, from_location_id, from_state, to_location_id, to_state, kind, "
    "cause_type, cause_id, actor_id, occurred_at, posted_at, idempotency_key, payload_hash, "
    "reason"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movements", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=100_000, help="receipts in the batch")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    recreate_database(args.database_url)
    setup_django(args.database_url, broker=MEMORY_BROKER)
    print(f"building a ledger of {args.movements:,} movements…", flush=True)
    product_ids = seed(args.movements)
    with tempfile.TemporaryDirectory(prefix="ledger-instructions-") as scratch:
        cluster = Cluster(Path(scratch))
        cluster.load(args.database_url)
        batch_files(args.database_url, cluster.files, rows=args.rows)
        print("counting (callgrind)…", flush=True)
        figures = measure(cluster, rows=args.rows, product_ids=product_ids)
    report(figures, movements=args.movements, rows=args.rows)


def seed(movements: int) -> list[int]:
    """Master data, a ledger of receipts and moves, its balances and ATS; the SKUs' ids."""
    from django.db import connection

    from erp.models import Category, Channel, Location, Product, Warehouse
    from inventory import services
    from inventory.models import ChannelRule
    from inventory.models import StockState as S

    warehouse = Warehouse.objects.create(code="bench", name="Bench", operator="own", country="US")
    Location.objects.bulk_create(
        Location(warehouse=warehouse, code=f"L{i:02d}", name=f"L{i:02d}", kind="stock")
        for i in range(LOCATIONS)
    )
    category = Category.objects.create(code="bench", name="Bench", department="other")
    Product.objects.bulk_create(
        Product(sku=f"B{i:05d}", name=f"Bench {i}", category=category, unit_cost=1, list_price=2)
        for i in range(PRODUCTS)
    )
    channels = Channel.objects.bulk_create(
        Channel(code=code, name=code, kind="storefront", region="US", currency="USD")
        for code in ("store", "marketplace", "outlet")
    )
    ChannelRule.objects.create(channel=channels[2], sellable_states=[S.AVAILABLE, S.REFURBISH])
    with connection.cursor() as cursor:
        # Cycles of a receipt of 10 into a SKU's home location, then 9 moves of 1 out of it to
        # other locations and states, as bench/ledger_bench.py generates (never negative).
        for start in range(0, movements, 200_000):
            cursor.execute(GENERATE, [start, min(movements, start + 200_000) - 1])
        cursor.execute(BALANCES_FROM_LEDGER)
        cursor.execute("VACUUM ANALYZE")
    product_ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    services.availability_recompute(product_ids=product_ids)
    return product_ids


GENERATE = f"""
WITH p AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM erp_product),
     l AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM erp_location),
     steps AS (
        SELECT i, i / 10 AS cycle, mod(i, 10) AS step,
               (ARRAY['available', 'reserved', 'quarantined', 'refurbish',
                      'damaged'])[mod(i, 5) + 1] AS state
          FROM generate_series(%s::bigint, %s::bigint) AS i
     )
INSERT INTO inventory_stockmovement ({COLUMNS})
SELECT p.id, CASE WHEN s.step = 0 THEN 10 ELSE 1 END, '',
       CASE WHEN s.step = 0 THEN NULL ELSE home.id END,
       CASE WHEN s.step = 0 THEN NULL ELSE 'available' END,
       CASE WHEN s.step = 0 THEN home.id ELSE away.id END,
       CASE WHEN s.step = 0 OR (away.id <> home.id AND s.state = 'available') THEN 'available'
            WHEN away.id = home.id AND s.state = 'available' THEN 'reserved'
            ELSE s.state END,
       CASE WHEN s.step = 0 THEN 'receive' ELSE 'move' END, 'import', '', NULL,
       now() - interval '1 year' + s.i * interval '30 seconds',
       now() - interval '1 year' + s.i * interval '30 seconds',
       'gen-' || s.i, repeat('0', 64), ''
  FROM steps s
  JOIN p ON p.n = mod(s.cycle, {PRODUCTS})
  JOIN l home ON home.n = mod(s.cycle / {PRODUCTS}, {LOCATIONS})
  JOIN l away ON away.n = mod(s.cycle + s.step, {LOCATIONS})
 ORDER BY s.i
"""


def batch_files(url: str, files: Path, *, rows: int) -> None:
    """The batch's ledger rows (receipts of 3, two into each balance key, keys as an import
    file's) and its balance totals, in the binary COPY format the app sends them in."""
    import psycopg

    keys = rows // 2
    batch = f"""
        WITH p AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM erp_product),
             l AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM erp_location)
        SELECT p.id AS product_id, 3 AS qty, ''::text AS lot, NULL::bigint, NULL::text,
               l.id AS location_id, 'available'::text AS state, 'receive', 'import', '',
               NULL::int, now(), now(), 'import-1:' || i, repeat('0', 64), ''
          FROM generate_series(0, {rows - 1}) AS i
          JOIN p ON p.n = mod(mod(i, {keys}), {PRODUCTS})
          JOIN l ON l.n = mod(i, {keys}) / {PRODUCTS}
         ORDER BY i
    """
    totals = f"""
        SELECT product_id, location_id, state, lot, sum(qty)::bigint
          FROM ({batch}) AS b GROUP BY 1, 2, 3, 4
    """
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        for name, query in (("rows.bin", batch), ("totals.bin", totals)):
            with (
                open(files / name, "wb") as out,
                cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy,
            ):
                for block in copy:
                    out.write(block)
    for path in files.iterdir():  # the backend reads them as the postgres user
        path.chmod(0o644)


class Cluster:
    """A PostgreSQL cluster of the run's own: loaded once, then each count runs a single-user
    backend on a fresh copy of its data directory, so every count starts from the same pages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bindir = Path(
            subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        )
        self.pristine = root / "pristine"
        self.files = root / "files"
        self.files.mkdir()
        if os.geteuid() == 0:  # PostgreSQL does not run as root
            shutil.chown(root, "postgres")
            shutil.chown(self.files, "postgres")

    def run(self, *command: str, **kwargs) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *command], check=True, **kwargs)

    def load(self, url: str) -> None:
        """initdb, restore a dump of the benchmark's database, stop."""
        import psycopg

        dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        dump = self.root / "ledger.dump"
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), url], check=True)
        dump.chmod(0o644)
        self.run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.pristine),
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-A",
            "trust",
            stdout=subprocess.DEVNULL,
        )
        socket = str(self.root)
        options = f"-p 5499 -k {socket} -c listen_addresses='' -c autovacuum=off"
        self.run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.pristine),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
            stdout=subprocess.DEVNULL,
        )
        try:
            self.run(str(self.bindir / "createdb"), "-h", socket, "-p", "5499", dbname)
            self.run(
                str(self.bindir / "pg_restore"), "-h", socket, "-p", "5499", "-d", dbname, str(dump)
            )
            self.run(
                str(self.bindir / "vacuumdb"), "-h", socket, "-p", "5499", "--analyze", "-q", dbname
            )
        finally:
            self.run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.pristine),
                "-m",
                "fast",
                "stop",
                stdout=subprocess.DEVNULL,
            )
        self.dbname = dbname

    def count(self, statements: list[str], *, toggle: str | None = None) -> int:
        """Instructions a single-user backend runs for `statements` (one per line, from a
        fresh copy of the data), all of them or only inside function `toggle`."""
        data = self.root / "run"
        shutil.rmtree(data, ignore_errors=True)
        self.run("cp", "-a", str(self.pristine), str(data))
        out = self.root / "callgrind.out"
        script = "\n".join(" ".join(s.split()) for s in statements) + "\n"
        backend = self.run(
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            *([f"--toggle-collect={toggle}"] if toggle else []),
            str(self.bindir / "postgres"),
            "--single",
            "-D",
            str(data),
            "-c",
            "autovacuum=off",
            "-c",
            "work_mem=64MB",
            self.dbname,
            input=script,
            text=True,
            capture_output=True,
        )
        if "ERROR:" in backend.stdout + backend.stderr:  # a refused statement would count
            raise RuntimeError(f"the backend refused a statement:\n{backend.stderr[-2000:]}")
        totals = re.findall(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
        return max(map(int, totals))


def measure(cluster: Cluster, *, rows: int, product_ids: list[int]) -> dict[str, int]:
    from inventory.services._common import _NEVER_SELLABLE
    from inventory.services.batch import _RECEIVED, _RECEIVED_COLUMNS, RECEIPTS_TO_BALANCES

    files = cluster.files
    ledger_copy = (
        f"COPY inventory_stockmovement ({COLUMNS}) FROM '{files}/rows.bin' (FORMAT BINARY)"
    )
    totals = [
        f"CREATE TEMPORARY TABLE {_RECEIVED} ({_RECEIVED_COLUMNS})",
        f"COPY {_RECEIVED} FROM '{files}/totals.bin' (FORMAT BINARY)",
    ]
    never = "ARRAY[" + ", ".join(f"'{state}'" for state in _NEVER_SELLABLE) + "]::text[]"
    recompute = (
        f"SELECT count(*) FROM inventory_availability_recompute("
        f"ARRAY{product_ids}::bigint[], {never}, now())"
    )
    unchecked = "ALTER TABLE inventory_stockmovement DISABLE TRIGGER inventory_movement_references"
    heap = (
        "CREATE TABLE bench_heap "
        "(LIKE inventory_stockmovement INCLUDING DEFAULTS INCLUDING IDENTITY)"
    )
    counts = {
        "copy": cluster.count(["BEGIN", ledger_copy, "ROLLBACK"], toggle="CopyFrom"),
        "copy_unchecked": cluster.count(
            ["BEGIN", unchecked, ledger_copy, "ROLLBACK"], toggle="CopyFrom"
        ),
        "copy_heap": cluster.count(
            [
                "BEGIN",
                heap,
                ledger_copy.replace("inventory_stockmovement", "bench_heap"),
                "ROLLBACK",
            ],
            toggle="CopyFrom",
        ),
        "totals": cluster.count(["BEGIN", *totals, "ROLLBACK"]),
        "upsert": cluster.count(["BEGIN", *totals, RECEIPTS_TO_BALANCES, "ROLLBACK"]),
        "ats": cluster.count(["BEGIN", *totals, RECEIPTS_TO_BALANCES, recompute, "ROLLBACK"]),
    }
    return counts


def report(counts: dict[str, int], *, movements: int, rows: int) -> None:
    keys = rows // 2
    upsert = counts["upsert"] - counts["totals"]
    ats = counts["ats"] - counts["upsert"]
    per_row = {
        "COPY into the ledger": counts["copy"] / rows,
        "  of which the reference check": (counts["copy"] - counts["copy_unchecked"]) / rows,
        "  of which the five indexes": (counts["copy_unchecked"] - counts["copy_heap"]) / rows,
        "  the heap alone (no index, no trigger)": counts["copy_heap"] / rows,
        "balance upsert (per row; 2 rows a key)": upsert / rows,
        f"ATS recompute of {PRODUCTS:,} SKUs (per row)": ats / rows,
    }
    total = (counts["copy"] + upsert + ats) / rows
    print(
        f"\nledger of {movements:,} movements; a batch of {rows:,} receipts into {keys:,} "
        f"existing balance keys of {PRODUCTS:,} SKUs; instructions counted by callgrind\n"
    )
    print("| part of the batch | instructions per row | share |")
    print("| --- | ---: | ---: |")
    for name, value in per_row.items():
        print(f"| {name} | {value:,.0f} | {value / total:.1%} |")
    print(f"| **server, whole batch** | **{total:,.0f}** | 100% |")
    print(
        "\nNo target: the batch's target is rows/s (bench/ledger_bench.py). At this count,"
        f" 100,000 rows/s needs a core running {total * 100_000 / 1e9:.1f} billion instructions"
        " per second of PostgreSQL's work alone."
    )


if __name__ == "__main__":
    main()
