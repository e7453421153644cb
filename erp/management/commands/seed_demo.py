"""`manage.py seed_demo`: load the deterministic demo dataset (see erp/demo/)."""

import random
import time
from datetime import UTC, date, datetime
from datetime import time as clock_time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from erp.demo.people import DEMO_PASSWORD
from erp.demo.reset import DemoResetBlocked, demo_data_present
from erp.demo.seed import CUSTOMERS_PER_SCALE, ORDERS_PER_SCALE, SeedReport, demo_data_seed
from erp.models import Channel
from erp.security import history_rewrite_allowed
from finance.demo import demo_refunds_reset
from inventory.demo import (
    DemoStockResetRefused,
    demo_stock_reset,
    demo_stock_reset_check,
    demo_stock_seed,
)
from inventory.reconciliation.demo import demo_reconciliation_reset, demo_reconciliation_seed
from returns.demo import DemoReturnsResetRefused, demo_returns_reset, demo_returns_seed
from returns.demo_warehouse import demo_warehouse_reset, demo_warehouse_seed

DEFAULT_SEED = 2026


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Load realistic demo data: channels, warehouses, ~200 SKUs, "
        f"{CUSTOMERS_PER_SCALE:,} customers and {ORDERS_PER_SCALE:,} delivered orders per "
        "--scale, opening stock in both warehouses, a month of return cases and exceptions, "
        "and one login per role. Same --seed and --as-of give the same data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            metavar="YYYY-MM-DD",
            help="orders are delivered by this date (default: today)",
        )
        parser.add_argument(
            "--scale",
            type=positive_int,
            default=1,
            metavar="N",
            help="multiply customers and orders by N (20 = 100,000 orders)",
        )
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing if any channel exists (for start-up scripts)",
        )
        existing.add_argument(
            "--reset",
            action="store_true",
            help="first delete ALL channels, warehouses, products, customers and orders, and the "
            "demo's stock, return cases and exceptions (PostgreSQL; on SQLite delete var/)",
        )

    def handle(self, *args, **options) -> None:
        if options["if_empty"] and Channel.objects.exists():
            self.stdout.write("Channels exist already: demo data not loaded (--if-empty).")
            return
        if not options["reset"] and demo_data_present():
            raise CommandError(
                "The database already holds master data. Re-run with --reset to delete it "
                "and load the demo data, or with --if-empty to leave it alone."
            )
        as_of = options["as_of"] or timezone.localdate()
        started = time.perf_counter()
        try:
            report = self._seed(
                seed=options["seed"], as_of=as_of, scale=options["scale"], reset=options["reset"]
            )
        except (DemoStockResetRefused, DemoReturnsResetRefused) as error:
            raise CommandError(f"Reset refused, nothing was changed: {error}.") from error
        except DemoResetBlocked as error:
            raise CommandError(
                f"Reset refused, nothing was changed: other records still refer to the master "
                f"data ({error}). Delete them first."
            ) from error
        elapsed = time.perf_counter() - started

        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded in {elapsed:.1f} s "
                f"(seed {options['seed']}, as of {as_of.isoformat()}, scale {options['scale']})."
            )
        )
        if report.deleted:
            removed = ", ".join(
                f"{count:,} {name}" for name, count in report.deleted.items() if count
            )
            self.stdout.write(f"Deleted first (--reset): {removed or 'nothing'}.")
        width = max(len(name) for name in report.counts)
        for name, count in report.counts.items():
            self.stdout.write(f"  {name:<{width}}  {count:>9,}")
        phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in report.seconds.items())
        self.stdout.write(f"  time: {phases}")
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}):")
        for login in report.logins:
            note = "" if login.created else "(existing user: password unchanged)"
            self.stdout.write(f"  {login.username:<10} {login.role.label:<19}{note}".rstrip())

    @staticmethod
    @transaction.atomic
    def _seed(*, seed: int, as_of: date, scale: int, reset: bool) -> SeedReport:
        """Master data and orders (erp.demo), then stock and returns through their apps'
        services, all in one transaction. The stock and returns steps draw from their own
        random streams, so they do not shift the master data a seed gives (nor each other)."""
        started = time.perf_counter()
        deleted: dict[str, int] = {}
        if reset:
            # Refuse before any app deletes its part (SQLite keeps its ledger for good).
            demo_stock_reset_check()
            # The demo's history rows go with it: the append-only rule is lifted for this
            # transaction only (erp.security).
            with history_rewrite_allowed():
                deleted = (
                    demo_refunds_reset()
                    | demo_warehouse_reset()
                    | demo_returns_reset()
                    | demo_reconciliation_reset()
                    | demo_stock_reset()
                )
        reset_seconds = time.perf_counter() - started
        report = demo_data_seed(seed=seed, as_of=as_of, scale=scale, reset=reset)
        report.deleted = deleted | report.deleted
        if reset:
            report.seconds = {"reset returns & stock": reset_seconds} | report.seconds
        moment = datetime.combine(as_of, clock_time(0), tzinfo=UTC)
        for phase, step in (
            ("stock", demo_stock_seed),
            ("returns", demo_returns_seed),
            ("warehouse", demo_warehouse_seed),
            ("reconciliation", demo_reconciliation_seed),
        ):
            phase_started = time.perf_counter()
            report.counts |= step(rng=random.Random(f"{seed}:{phase}"), as_of=moment)
            report.seconds[phase] = time.perf_counter() - phase_started
        return report
