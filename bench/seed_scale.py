"""Benchmark: `manage.py seed_demo --scale 20 --reset` (100,000 orders) on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/erp_bench .venv/bin/python bench/seed_scale.py

Creates and migrates the database if needed, times the command (its --reset included), prints
elapsed seconds, orders/s and rows/s, and compares them with the target in bench/README.md.
Exits 1 when the target is missed. Not a test: timings never belong in the test suite.
"""

import io
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/erp_bench"
SCALE = 20
TARGET_ORDERS = 100_000
TARGET_SECONDS = 60.0


def database_ensure(url: str) -> None:
    """Create the benchmark database when it does not exist yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def main() -> int:
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        print("DATABASE_URL must point at PostgreSQL: the target is for the COPY path.")
        return 2
    database_ensure(url)

    sys.path.insert(0, str(ROOT))
    # Local settings with DEBUG off, as production runs: no per-query bookkeeping.
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp.settings.local")
    import django

    django.setup()
    from django.core.management import call_command

    from erp.demo.reset import SEEDED_MODELS
    from erp.models import SalesOrder

    call_command("migrate", verbosity=0)

    output = io.StringIO()
    started = time.perf_counter()
    call_command("seed_demo", "--scale", str(SCALE), "--reset", stdout=output)
    elapsed = time.perf_counter() - started

    print(output.getvalue().rstrip())
    orders = SalesOrder.objects.count()
    rows = sum(model.objects.count() for model in SEEDED_MODELS)
    passed = orders >= TARGET_ORDERS and elapsed < TARGET_SECONDS
    print()
    print(f"database      {urlsplit(url).path.lstrip('/')}")
    print(f"elapsed       {elapsed:.1f} s (reset of the previous run included)")
    print(f"orders        {orders:,}  ({orders / elapsed:,.0f} orders/s)")
    print(f"rows written  {rows:,}  ({rows / elapsed:,.0f} rows/s)")
    print(
        f"target        {TARGET_ORDERS:,} orders in < {TARGET_SECONDS:.0f} s: "
        f"{'PASS' if passed else 'FAIL'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
