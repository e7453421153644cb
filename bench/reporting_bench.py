"""Benchmark of the KPI dashboards and the daily snapshot build (not a test): prints server time
(p50/p95) and query count per dashboard, and the time to build one day's snapshots.

Builds its own database (dropped and re-created unless --reuse), migrates it, seeds --cases
return cases (default 100,000; the issue's figure is 1,000,000) in set-based SQL
(bench/reporting_seed.py: two cases per order, requested over the last --days days, at every
stage of their life, with their lines, issued refunds and some exceptions), builds the daily
snapshots of the last 30 days and the open-pipeline snapshot (the beat jobs' work, timed), then
renders each dashboard through Django's test client as an operations manager.

    .venv/bin/python bench/reporting_bench.py                  # 100k cases
    .venv/bin/python bench/reporting_bench.py --cases 1000000  # the issue's 1M (~5.5k a day)
    .venv/bin/python bench/reporting_bench.py --reuse --keep-snapshots  # dashboards only

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/erp_bench_reporting.
Targets (issue 9): dashboard p95 <= 300 ms; query count independent of the number of cases.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import recreate_database, setup_django
from bench.reporting_seed import seed

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/erp_bench_reporting"
TARGET_P95_MS = 300
REQUESTS = 15
SNAPSHOT_DAYS = 30


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument(
        "--days", type=int, default=180, help="the cases' requests spread over this many days"
    )
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument(
        "--keep-snapshots", action="store_true", help="with --reuse: do not rebuild the snapshots"
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.reuse:
        recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse
    from django.utils import timezone

    from reporting.dashboards import DASHBOARDS
    from reporting.snapshots import kpi_snapshot_build, pipeline_snapshot_build
    from returns.models import ReturnCase

    if not args.reuse:
        seed(args.cases, days=args.days)
    cases = ReturnCase.objects.count()

    today = timezone.now().date()
    day_times = []
    for back in range(0 if args.keep_snapshots else SNAPSHOT_DAYS):
        start = time.perf_counter()
        kpi_snapshot_build(day=today - timezone.timedelta(days=back))
        day_times.append(time.perf_counter() - start)
    if day_times:
        print(
            f"snapshots: {SNAPSHOT_DAYS} days in {sum(day_times):.1f} s "
            f"(per day p50 {statistics.median(day_times):.2f} s, max {max(day_times):.2f} s)"
        )

    start = time.perf_counter()
    pipeline_snapshot_build()
    print(f"open pipeline snapshot (every 5 min): {time.perf_counter() - start:.2f} s")

    setup_test_environment()
    user, _ = get_user_model().objects.get_or_create(username="bench-ops")
    user.groups.set(Group.objects.filter(name="operations_manager"))
    client = Client()
    client.force_login(user)
    failed = False
    print(f"{'dashboard':<12} {'cases':>10} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}  verdict")
    for slug in DASHBOARDS:
        url = reverse(f"dashboard_{slug}")
        client.get(url, secure=True)  # templates compiled, caches warm
        timings, counts = [], set()
        for _ in range(REQUESTS):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = client.get(url, secure=True)
                timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            counts.add(len(captured))
        p95 = statistics.quantiles(timings, n=20)[-1]
        verdict = "PASS" if p95 <= TARGET_P95_MS else "FAIL"
        failed |= verdict == "FAIL"
        print(
            f"{slug:<12} {cases:>10,} {statistics.median(timings):>8.0f} {p95:>8.0f} "
            f"{max(counts):>8}  {verdict}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
