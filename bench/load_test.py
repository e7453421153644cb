"""Load: a bounded locust run against gunicorn + a Celery worker on 127.0.0.1.

Seeds a fresh database (bench/warehouse_bench.py's shop: delivered orders, return cases, a
tenth of them in transit; plus refunds waiting for approval and an EasyPost account), starts
gunicorn (production settings) and a Celery worker on a Redis database of its own, with what
production has beside them on 127.0.0.1 (bench/sinks.py: an SMTP server that discards mail and
the refund tests' payment provider, so the worker's sends succeed), then runs
`--users` simulated people for `--seconds`, mixing:

- customer service: sign in, search by RMA / order number, open the case;
- warehouse (tablet): open a parcel in transit, scan its unit, receive it (the form is boosted
  by htmx: the receipt's page comes back in the same answer);
- finance: open the approval queue, approve a refund with its row's button (htmx: the answer
  is the row, swapped in place);
- carrier webhooks: signed EasyPost tracker updates (no session).

Prints throughput, p95 per endpoint and the error count against the targets (0 errors, p95 ≤
300 ms), then what the sinks received and the outbox's sent / failed / pending messages per
topic; exit status 1 on FAIL. Needs `pip install -r bench/requirements.txt` (locust).

    .venv/bin/python bench/load_test.py                     # 50 users, 60 s
    .venv/bin/python bench/load_test.py --users 10 --seconds 15 --cases 2000   # a quick look
    .venv/bin/python bench/load_test.py --profile   # each endpoint alone: queries, ms, cProfile
"""

import argparse
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# locust patches the standard library with gevent on import: before anything else uses it.
import gevent
from locust import FastHttpUser, between, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    REDIS_BROKER,
    free_port,
    proc_stat,
    process_cpu,
    recreate_database,
    setup_django,
)
from erp.gunicorn_config import default_workers  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/erp_bench_load"
TARGET_P95_MS = 300
TARGET_ERRORS = 0
PASSWORD = "load-test-password-0123"
CARRIER_SECRET = "load-test-easypost-secret"
QUEUE = "load_test"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--cases", type=int, default=20_000)
    # Ten finance people approve one refund per ~1.1 s: 300 (the old default) ran out within a
    # 60 s run once an approval became one request (281 approved on a loaded machine).
    parser.add_argument("--refunds", type=int, default=700)
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="gunicorn worker processes (production's default: one per core)",
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    # Emptied when the run ends: on a shared Redis, give each person running it a database.
    parser.add_argument("--broker", default=os.environ.get("CELERY_BROKER_URL", REDIS_BROKER))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="no servers, no locust: each endpoint in this process, one request at a time "
        "(queries, ms, and cProfile of the approval flow)",
    )
    return parser.parse_args()


# ---- Seeding -----------------------------------------------------------------------------------


def seed(args) -> dict:
    from django.contrib.auth.models import Group, User

    from bench.warehouse_bench import seed_cases, seed_master
    from erp.models import IntegrationCredential
    from erp.roles import Role
    from finance.models import Refund, RefundState
    from returns.models import ReturnCase
    from tests.finance.refund_cases import open_case

    warehouse, channel, shirts, _filler = seed_master()
    seed_cases(args.cases, warehouse, channel, shirts)
    users = {}
    for role in (Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.FINANCE, Role.OPERATIONS_MANAGER):
        user = User.objects.create_user(username=f"load-{role}", password=PASSWORD)
        user.groups.set(Group.objects.filter(name=role))
        users[role] = user.username
    IntegrationCredential.objects.create(source="easypost", account="load", secret=CARRIER_SECRET)
    agent = User.objects.get(username=users[Role.CUSTOMER_SERVICE])
    for _ in range(args.refunds):
        open_case(agent, quantity=1, price="89.00", trigger="on_authorization")
    refunds = list(
        Refund.objects.filter(state=RefundState.PENDING_APPROVAL).values_list("pk", flat=True)
    )
    in_transit = list(
        ReturnCase.objects.filter(state="in_transit", expected_warehouse=warehouse)
        .order_by("pk")
        .values_list("pk", "rma_number", "tracking_number", "order__number")
    )
    gtins = dict(
        ReturnCase.objects.filter(pk__in=[c[0] for c in in_transit]).values_list(
            "pk", "lines__order_line__product__gtin"
        )
    )
    return {
        "users": users,
        "warehouse": warehouse.pk,
        "refunds": refunds,
        "cases": [
            (pk, rma, tracking, number, gtins[pk]) for pk, rma, tracking, number in in_transit
        ],
    }


# ---- Servers -----------------------------------------------------------------------------------


def start_sinks() -> tuple[subprocess.Popen, dict]:
    """bench/sinks.py: an SMTP server and the payment provider, as production has, so the
    worker's outbox sends succeed rather than retry refused connections. Returns the process
    and the environment that points gunicorn and the worker at them."""
    from tests.finance.provider_server import SECRET

    sinks = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "sinks.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _smtp, smtp_port, _provider, provider_url = sinks.stdout.readline().split()
    return sinks, {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": smtp_port,
        "PAYMENT_PROVIDER_URL": provider_url,
        "PAYMENT_PROVIDER_SECRET_KEY": SECRET,
    }


def stop_sinks(sinks: subprocess.Popen) -> str:
    """Stop the sinks; their line of what they received."""
    sinks.send_signal(signal.SIGTERM)
    try:
        out, _ = sinks.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(sinks.pid, signal.SIGKILL)
        out, _ = sinks.communicate()
    return out.strip()


def outbox_summary() -> str:
    """Outbox messages by topic: sent, failed (tried, not sent), pending (never tried), so a
    run shows the worker's sends succeeded."""
    from django.db import connections
    from django.db.models import Count, Q

    from erp.models import OutboxMessage

    unsent = Q(dispatched_at__isnull=True)
    rows = (
        OutboxMessage.objects.values("topic")
        .annotate(
            sent=Count("pk", filter=Q(dispatched_at__isnull=False)),
            failed=Count("pk", filter=unsent & Q(attempts__gt=0)),
            pending=Count("pk", filter=unsent & Q(attempts=0)),
        )
        .order_by("topic")
    )
    lines = [
        f"  {row['topic']:<36}{row['sent']:>7} sent{row['failed']:>7} failed"
        f"{row['pending']:>7} pending"
        for row in rows
    ]
    totals = [sum(row[key] for row in rows) for key in ("sent", "failed", "pending")]
    connections.close_all()
    total = f"  {'all':<36}{totals[0]:>7} sent{totals[1]:>7} failed{totals[2]:>7} pending"
    return "\n".join(["outbox messages at the end (seeding's and the run's):", *lines, total])


def start_servers(args, port: int, sinks_env: dict) -> list[subprocess.Popen]:
    env = {
        **sinks_env,
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "erp.settings.base",
        "CELERY_BROKER_URL": args.broker,
        "CELERY_RESULT_BACKEND": args.broker,
        "ERP_INTEGRATION_QUEUE": QUEUE,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    venv = Path(sys.executable).parent
    web = subprocess.Popen(
        [
            str(venv / "gunicorn"),
            # README's production settings (preloaded app, frozen heap), on a port of our own.
            "--config=python:erp.gunicorn_config",
            "erp.wsgi",
            f"--bind=127.0.0.1:{port}",
            f"--workers={args.workers}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [
            str(venv / "celery"),
            "-A",
            "erp",
            "worker",
            "--loglevel=WARNING",
            "--concurrency=2",
            "-Q",
            f"{QUEUE},celery",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    if not warmed_up(f"http://127.0.0.1:{port}", args.workers):
        stop_servers([web, worker])
        raise SystemExit("gunicorn did not start")
    return [web, worker]


def warmed_up(host: str, workers: int) -> bool:
    """Wait for gunicorn, then request the sign-in page a few times per worker, so the run
    does not measure imports and template compilation."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{host}/healthz", timeout=5):
                break
        except OSError:
            time.sleep(0.5)
    else:
        return False
    for _ in range(4 * workers):
        with urllib.request.urlopen(f"{host}/accounts/login/", timeout=30):
            pass
    return True


def stop_servers(processes) -> None:
    for process in processes:
        if process.poll() is None:
            # The main process only: gunicorn and Celery stop their own children gracefully.
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


# ---- The simulated people -------------------------------------------------------------------

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CLIENT_TOKEN = re.compile(r'name="client_token" value="([^"]+)"')


WEBHOOK_URL = "/webhooks/easypost/load/"
# The headers htmx adds to a boosted form's request.
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}


def tracker_event(*, tracking: str, event_id: str) -> tuple[bytes, dict]:
    """An EasyPost tracker.updated event for `tracking`, signed as EasyPost signs it."""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = json.dumps(
        {
            "id": event_id,
            "object": "Event",
            "description": "tracker.updated",
            "mode": "test",
            "result": {
                "id": f"trk_{tracking}",
                "object": "Tracker",
                "tracking_code": tracking,
                "carrier": "UPS",
                "status": "in_transit",
                "updated_at": at,
                "tracking_details": [
                    {"datetime": at, "status": "in_transit", "message": "in transit"}
                ],
            },
        }
    ).encode()
    signature = hmac.new(CARRIER_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Hmac-Signature": f"hmac-sha256-hex={signature}",
    }
    return body, headers


def user_classes(data: dict):
    cases = iter(data["cases"])
    refunds = iter(data["refunds"])
    events = itertools.count(1)
    users = data["users"]
    site = data["warehouse"]
    signed_in = []

    # FastHttpUser (geventhttpclient) rather than HttpUser (requests): the same requests,
    # cookies and redirects for a fraction of the load generator's CPU, which shares the two
    # cores with the servers it measures.
    class SignedIn(FastHttpUser):
        abstract = True
        wait_time = between(0.5, 1.5)
        role = ""

        def on_start(self):
            page = self.client.get("/accounts/login/", name="login form")
            token = CSRF.search(page.text).group(1)
            self.client.post(
                "/accounts/login/",
                {"username": users[self.role], "password": PASSWORD, "csrfmiddlewaretoken": token},
                name="sign in",
            )
            signed_in.append(self.role)

    class CustomerService(SignedIn):
        weight = 4
        role = "customer_service"

        @task
        def search(self):
            _pk, rma, _tracking, number, _gtin = random.choice(data["cases"])
            self.client.get(f"/cs/returns/?q={random.choice([rma, number])}", name="cs search")
            self.client.get(f"/cs/returns/{_pk}/", name="cs case")

    class Warehouse(SignedIn):
        weight = 3
        role = "warehouse"

        @task
        def receive(self):
            try:
                pk, _rma, _tracking, _number, gtin = next(cases)
            except StopIteration:
                return
            url = f"/warehouse/sites/{site}/receive/{pk}/"
            page = self.client.get(f"{url}?scans={gtin}", name="tablet receive page")
            form = {
                "csrfmiddlewaretoken": CSRF.search(page.text).group(1),
                "client_token": CLIENT_TOKEN.search(page.text).group(1),
                # One scan: the same body requests sent for [gtin] (geventhttpclient does not
                # expand lists).
                "scans": gtin,
                "packaging_ok": "on",
            }
            # As htmx sends the boosted form (templates/warehouse/receive_case.html).
            self.client.post(url, form, headers=BOOSTED, name="tablet receive")

    class Finance(SignedIn):
        weight = 2
        role = "finance"

        @task
        def approve(self):
            page = self.client.get("/finance/refunds/", name="approval queue")
            try:
                refund = next(refunds)
            except StopIteration:
                return
            # As htmx sends a row's Approve button: the queue's form (its token, the note box,
            # no refund ticked) with the button's next=queue, answered by the row.
            self.client.post(
                f"/finance/refunds/{refund}/approve/",
                {
                    "csrfmiddlewaretoken": CSRF.search(page.text).group(1),
                    "note": "load",
                    "next": "queue",
                },
                headers={"HX-Request": "true", "HX-Target": f"refund-{refund}"},
                name="approve refund",
            )

    class Carrier(FastHttpUser):
        weight = 1
        wait_time = between(0.2, 0.6)

        @task
        def tracker_updated(self):
            _pk, _rma, tracking, _number, _gtin = random.choice(data["cases"])
            body, headers = tracker_event(tracking=tracking, event_id=f"evt_load_{next(events)}")
            self.client.post(WEBHOOK_URL, data=body, headers=headers, name="easypost webhook")

    return [CustomerService, Warehouse, Finance, Carrier], signed_in


def _cpu_seconds(pid: int) -> float:
    """CPU (user + system) a process and all its descendants used so far, from /proc."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += process_cpu(current)
            for task_dir in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task_dir / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class DatabaseCPU:
    """CPU-seconds the PostgreSQL server processes serving the benchmark's database use over a
    window, read from /proc (this machine's PostgreSQL; as its owner or root).

    The web and worker processes replace their connections as they reach CONN_MAX_AGE (60 s),
    so the server processes alive when the window ends are mostly not those alive when it
    started: summing the live ones at each end counted the new ones' first seconds against the
    old ones' whole lives (0.03 CPU-s per second). Instead every server process of the database
    is sampled every 0.2 s while the window is open, and each one counts from the window's
    start (or from zero if it started later) to its last sample; one that exits loses at most
    its last 0.2 s."""

    INTERVAL = 0.2

    def __init__(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), current_database()")
            backend, database = cursor.fetchone()
        connection.close()
        self._marker = f" {database} "
        try:
            self._postmaster = int(proc_stat(backend)[1])
        except OSError:
            self._postmaster = None
        self._start, self._latest, self._sampler = {}, {}, None

    def _sample(self) -> dict[int, float]:
        cpu = {}
        try:
            tasks = list(Path(f"/proc/{self._postmaster}/task").iterdir())
        except OSError:
            return cpu
        for task_dir in tasks:
            for pid in (task_dir / "children").read_text().split():
                try:
                    if self._marker not in Path(f"/proc/{pid}/cmdline").read_text():
                        continue
                    cpu[int(pid)] = process_cpu(int(pid))
                except OSError:
                    continue
        return cpu

    def _follow(self) -> None:
        while True:
            gevent.sleep(self.INTERVAL)
            self._latest.update(self._sample())

    def start(self) -> None:
        if self._postmaster is not None:
            self._start = self._sample()
            self._latest = dict(self._start)
            self._sampler = gevent.spawn(self._follow)

    def stop(self) -> float | None:
        """CPU-seconds in the window; None when the server's processes are not readable."""
        if self._sampler is None:
            return None
        self._sampler.kill()
        self._latest.update(self._sample())
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._latest.items())


def _database_sessions() -> int:
    """Connections opened to the benchmark's database so far (PostgreSQL 14+): each one starts
    a server process."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        (sessions,) = cursor.fetchone()
    connection.close()
    return sessions


def cpu_sample(processes) -> dict[str, float]:
    """CPU-seconds used so far by the web server, the Celery worker and locust, i.e. this
    process (it shares the same cores)."""
    web, worker = processes
    return {
        "web": _cpu_seconds(web.pid),
        "worker": _cpu_seconds(worker.pid),
        "locust": time.process_time(),
    }


def run_locust(args, host: str, data: dict, processes):
    classes, signed_in = user_classes(data)
    environment = Environment(user_classes=classes, host=host)
    runner = environment.create_local_runner()
    started = time.monotonic()
    runner.start(args.users, spawn_rate=max(1, args.users // 5))
    # Measure the mix once every person has signed in. A sign-in hashes the password (PBKDF2,
    # about 1,000,000 rounds: deliberately slow), so 50 at once keep both cores busy for many
    # seconds; measured inside the window, that storm queued every other request behind it.
    while runner.user_count < args.users:
        gevent.sleep(0.5)
    people = sum(n for name, n in runner.user_classes_count.items() if name != "Carrier")
    while len(signed_in) < people and time.monotonic() - started < 300:
        gevent.sleep(0.5)
    print(
        f"{len(signed_in)} of {people} people signed in after "
        f"{time.monotonic() - started:.1f} s; measuring {args.seconds} s from now"
    )
    gevent.sleep(2)
    environment.stats.reset_all()
    database = DatabaseCPU()
    before, sessions = cpu_sample(processes), _database_sessions()
    database.start()
    gevent.spawn_later(args.seconds, runner.quit)
    runner.greenlet.join()
    postgres = database.stop()
    after, sessions = cpu_sample(processes), _database_sessions() - sessions
    used = {name: after[name] - before[name] for name in after}
    used["postgres"] = postgres
    # What each part of the stack asked of the cores while the mix was measured.
    print(
        "CPU-seconds per second during the run: "
        + ", ".join(
            f"{name} n/a" if cpu is None else f"{name} {cpu / args.seconds:.2f}"
            for name, cpu in used.items()
        )
        + f" (cores: {os.cpu_count()}); database connections opened: {sessions / args.seconds:.1f}"
        " per second"
    )
    return environment.stats, runner.exceptions


# Each user signs in once when it starts; listed, but not what the targets are about.
SETUP = {"login form", "sign in"}


def report(stats, exceptions: dict, seconds: int) -> bool:
    print(
        f"\n{'endpoint':<24}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'target':>10}  verdict"
    )
    worst = 0
    for (name, _method), entry in sorted(stats.entries.items()):
        p95 = entry.get_response_time_percentile(0.95) or 0
        if name in SETUP:
            name, target, verdict = f"({name})", "", "(not held to it)"
        else:
            worst = max(worst, p95)
            target = f"≤ {TARGET_P95_MS}"
            verdict = "PASS" if p95 <= TARGET_P95_MS and not entry.num_failures else "FAIL"
        print(
            f"{name:<24}{entry.num_requests:>10}{entry.num_failures:>8}"
            f"{entry.get_response_time_percentile(0.5) or 0:>9.0f}{p95:>9.0f}"
            f"{target:>10}  {verdict}"
        )
    total = stats.total
    throughput = total.num_requests / seconds
    # A request that failed, or a simulated person's script that broke (e.g. a form that no
    # longer carries the field it needs).
    errors = total.num_failures + sum(e["count"] for e in exceptions.values())
    for error in stats.errors.values():
        print(f"error: {error.occurrences} x {error.method} {error.name}: {error.error}")
    for error in exceptions.values():
        print(f"exception: {error['count']} x {error['msg']}")
    ok = errors <= TARGET_ERRORS and worst <= TARGET_P95_MS
    print(
        f"\nthroughput {throughput:.1f} req/s · {total.num_requests} requests · "
        f"errors {errors} (target {TARGET_ERRORS}) · worst p95 {worst:.0f} ms "
        f"(target ≤ {TARGET_P95_MS} ms) · {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> None:
    args = parse_args()
    recreate_database(args.database_url)
    # Sessions in Redis, as production runs them (README, CACHE_URL): the broker's database.
    os.environ.setdefault("CACHE_URL", args.broker)
    if args.profile:
        # Django's test client asks for host "testserver" over plain HTTP.
        os.environ.update(ALLOWED_HOSTS="testserver", SECURE_SSL_REDIRECT="false")
    setup_django(args.database_url, broker=args.broker)
    started = time.monotonic()
    data = seed(args)
    print(
        f"seeded {args.cases} cases ({len(data['cases'])} in transit), "
        f"{len(data['refunds'])} refunds to approve in {time.monotonic() - started:.1f} s"
    )
    if args.profile:
        from bench.load_profile import profile

        profile(data, webhook=(WEBHOOK_URL, tracker_event))
        return
    from django.db import connections

    connections.close_all()
    port = free_port()
    sinks, sinks_env = start_sinks()
    try:
        processes = start_servers(args, port, sinks_env)
        try:
            stats, exceptions = run_locust(args, f"http://127.0.0.1:{port}", data, processes)
        finally:
            stop_servers(processes)
    finally:
        received = stop_sinks(sinks)
    ok = report(stats, exceptions, args.seconds)
    print(f"\n{received}\n{outbox_summary()}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
