"""What one request of each load-test endpoint costs on its own: `load_test.py --profile`.

The load test's latencies are mostly queueing when the offered work exceeds the CPUs. This
measures the work itself: each endpoint called in this process through Django's test client,
one request at a time on the seeded database (no gunicorn, no locust), with its query count
and time and the CPU its PostgreSQL server process spent on it (the database shares the
cores), then cProfile of the approval flow (queue, approve from its row), listing our own
functions. The POSTs are sent as the pages' htmx sends them, and a redirect is followed. It
also prints the CPU the load test's people ask for per second, from these times and their
think times, to set against the cores available.
"""

import cProfile
import io
import pstats
import re
import statistics
import time

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.harness import backend_pid, process_cpu

CLIENT_TOKEN = re.compile(r'name="client_token" value="([^"]+)"')
ROUNDS = 10
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}
# Per simulated person (load_test.user_classes): weight among 50 users, mean think time (s),
# and the endpoints of one task.
PEOPLE = {
    "customer service": (20, 1.0, ["cs search", "cs case"]),
    "warehouse": (15, 1.0, ["tablet receive page", "tablet receive"]),
    "finance": (10, 1.0, ["approval queue", "approve refund"]),
    "carrier": (5, 0.4, ["easypost webhook"]),
}
OUR_CODE = r"/(erp|finance|inventory|warehouse|returns|reporting)/"


def _client(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _measure(call) -> tuple[float, float, int]:
    """Wall ms (this process plus the database's work for it), this process's CPU ms, and
    queries. CPU ms move less than wall ms when other work shares the machine."""
    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.process_time()
        response = call()
        elapsed = (time.perf_counter() - started) * 1000
        cpu = (time.process_time() - cpu) * 1000
    assert response.status_code < 400, response.status_code
    return elapsed, cpu, len(queries)


def _database_cpu_ms() -> float | None:
    """CPU this process's PostgreSQL server process has used so far (ms), read from /proc:
    the database's work for our queries runs on the same cores. None when the server is not on
    this machine or its /proc entry is not readable."""
    with connection.cursor() as cursor:
        pid = backend_pid(cursor)
    try:
        return process_cpu(pid) * 1000
    except OSError:
        return None


def profile(data: dict, *, webhook) -> None:
    users = data["users"]
    cs = _client(users["customer_service"])
    tablet = _client(users["warehouse"])
    finance = _client(users["finance"])
    carrier = Client()
    cases, refunds = iter(data["cases"]), iter(data["refunds"])
    site = data["warehouse"]
    webhook_url, tracker_event = webhook
    events = iter(range(1, 10**9))

    def receive():
        pk, _rma, _tracking, _number, gtin = next(cases)
        url = f"/warehouse/sites/{site}/receive/{pk}/"
        page = tablet.get(f"{url}?scans={gtin}")
        token = CLIENT_TOKEN.search(page.content.decode()).group(1)
        form = {"client_token": token, "scans": [gtin], "packaging_ok": "on"}
        # Boosted by htmx, as the tablet sends it: the receipt's page in the answer.
        return lambda: tablet.post(url, form, headers=BOOSTED, follow=True)

    def approve():
        refund = next(refunds)
        # A row's Approve button in the queue (htmx): answered by the row.
        return lambda: finance.post(
            f"/finance/refunds/{refund}/approve/",
            {"note": "load", "next": "queue"},
            headers={"HX-Request": "true"},
            follow=True,
        )

    def tracker():
        _pk, _rma, tracking, _number, _gtin = data["cases"][0]
        body, headers = tracker_event(tracking=tracking, event_id=f"evt_profile_{next(events)}")
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        return lambda: carrier.post(webhook_url, body, content_type="application/json", **extra)

    pk, rma, _tracking, _number, gtin = data["cases"][-1]
    endpoints = {
        "cs search": lambda: lambda: cs.get(f"/cs/returns/?q={rma}"),
        "cs case": lambda: lambda: cs.get(f"/cs/returns/{pk}/"),
        "tablet receive page": lambda: (
            lambda: tablet.get(f"/warehouse/sites/{site}/receive/{pk}/?scans={gtin}")
        ),
        "tablet receive": receive,
        "approval queue": lambda: lambda: finance.get("/finance/refunds/"),
        "approve refund": approve,
        "easypost webhook": tracker,
    }
    cost = {}
    print(
        f"\n{'endpoint':<22}{'queries':>9}{'median ms':>11}{'max ms':>9}{'CPU ms':>9}"
        f"{'DB CPU ms':>11}   ({ROUNDS} requests; CPU: median, this process; DB CPU: mean, "
        "its PostgreSQL process)"
    )
    for name, prepare in endpoints.items():
        prepare()()  # warm: imports, templates, the connection
        timings, cpu, queries, database = [], [], 0, 0.0
        for _ in range(ROUNDS):
            call = prepare()
            before = _database_cpu_ms()
            elapsed, used, queries = _measure(call)
            after = _database_cpu_ms()
            timings.append(elapsed)
            cpu.append(used)
            database = None if None in (before, after, database) else database + after - before
        cost[name] = statistics.median(timings)
        database = f"{'n/a':>11}" if database is None else f"{database / ROUNDS:>11.1f}"
        print(
            f"{name:<22}{queries:>9}{cost[name]:>11.0f}{max(timings):>9.0f}"
            f"{statistics.median(cpu):>9.1f}{database}"
        )

    demand = sum(
        count * sum(cost[e] for e in steps) / 1000 / (think + sum(cost[e] for e in steps) / 1000)
        for count, think, steps in PEOPLE.values()
    )
    print(
        f"\nOffered work at 50 users: about {demand:.1f} CPU-seconds per second for the web "
        "processes alone (PostgreSQL, the worker and locust come on top); above the cores "
        "available, requests queue and p95 grows with the queue."
    )

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        finance.get("/finance/refunds/")
        approve()()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(OUR_CODE, 20)
    print("\ncProfile, 3 × (approval queue + approve refund), our code by cumulative time:")
    print(out.getvalue()[out.getvalue().find("   ncalls") :])
