"""Webhook ingest under gunicorn, and a backlog drained by a real Celery worker.

1. Ingest: gunicorn (sync workers, 4 by default as README's production command runs it) on
   127.0.0.1 serves /webhooks/shopify/<channel>/; client threads POST valid, signed Shopify
   refunds/create bodies, each a new event (its own X-Shopify-Webhook-Id), for a bounded
   number of requests. Every answer must be 202. Prints the SQL statements one request runs,
   requests/s and p50/p95 latency. Target: >= 500 requests/s.
2. Backlog: BACKLOG inbound events (default 100,000) are inserted as `received`, then a real
   Celery worker (prefork, 2 processes) drains them through `erp.tasks.inbox_process_batch`
   (BATCH events per task) with the real registered handler (a Shopify refund on an order with
   no return case: every query of the handler runs, nothing changes). Prints events/s.
   Target: >= 1,000 events/s.

Run: .venv/bin/python bench/webhook_ingest_bench.py [--requests N] [--backlog N] [--batch N]
Default database: postgres://postgres@127.0.0.1:5432/erp_webhook_bench (recreated);
Redis database 15 is the broker (emptied at exit).
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import REDIS_BROKER, recreate_database, setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/erp_webhook_bench"
INGEST_TARGET = 500.0
DRAIN_TARGET = 1000.0
SECRET = "bench-secret"
CHANNEL = "shop-bench"
ORDER = "820982911946154508"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refund_body(n: int) -> bytes:
    sample = ROOT / "tests" / "fixtures" / "samples" / "shopify_webhook_refunds_create.json"
    data = json.loads(sample.read_bytes())
    data.update(id=10_000_000 + n, order_id=int(ORDER), admin_graphql_api_id="")
    data["admin_graphql_api_id"] = f"gid://shopify/Refund/{10_000_000 + n}"
    return json.dumps(data).encode()


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def seed_master_data() -> None:
    from django.utils import timezone

    from erp.models import Channel, Customer, SalesOrder, Warehouse

    channel = Channel.objects.create(
        code=CHANNEL,
        name="Bench shop",
        kind=Channel.Kind.STOREFRONT,
        platform=Channel.Platform.SHOPIFY,
        region="US",
        currency="USD",
        webhook_secret=SECRET,
    )
    customer = Customer.objects.create(email="bench@example.com", name="Bench")
    SalesOrder.objects.create(
        channel=channel,
        number=ORDER,
        customer=customer,
        currency="USD",
        ship_from=Warehouse.objects.first(),
        placed_at=timezone.now(),
    )


def start_gunicorn(port: int, env: dict, workers: int) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "erp.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def ingest(port: int, requests: int, concurrency: int) -> tuple[float, list[float], dict]:
    bodies = [refund_body(n) for n in range(requests)]
    path = f"/webhooks/shopify/{CHANNEL}/"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def post(n: int) -> None:
        body = bodies[n]
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "refunds/create",
            "X-Shopify-Webhook-Id": f"bench-{n}-{uuid.uuid4().hex[:8]}",
            "X-Shopify-Hmac-SHA256": sign(body),
            "Host": "localhost",
            "X-Forwarded-Proto": "https",
        }
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers=headers)
        status = conn.getresponse().status
        conn.close()
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1

    for n in range(min(20, requests)):  # warm both workers (imports, connections)
        post(n)
    latencies.clear()
    statuses.clear()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(post, range(20, requests)))
    return time.perf_counter() - started, latencies, statuses


def backlog_insert(count: int) -> list[int]:
    from django.utils import timezone

    from erp.models import InboundEvent

    now = timezone.now()
    rows = (
        InboundEvent(
            source="shopify",
            account=CHANNEL,
            external_id=f"backlog-{n}",
            topic="refunds/create",
            body=refund_body(1_000_000 + n),
            headers={"X-Shopify-Topic": "refunds/create"},
            received_at=now,
        )
        for n in range(count)
    )
    created = []
    batch: list = []
    for row in rows:
        batch.append(row)
        if len(batch) == 5000:
            created += InboundEvent.objects.bulk_create(batch)
            batch = []
    created += InboundEvent.objects.bulk_create(batch)
    return [event.pk for event in created]


def drain(ids: list[int], batch: int, env: dict, queue: str) -> float:
    from celery import current_app

    from erp.models import InboundEvent
    from erp.models.inbox import InboundEventStatus

    worker = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "erp",
            "worker",
            "-Q",
            queue,
            "-c",
            "2",
            "-n",
            f"{queue}@localhost",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        time.sleep(5)  # the worker's start-up is not what is measured
        started = time.perf_counter()
        for i in range(0, len(ids), batch):
            current_app.send_task(
                "erp.tasks.inbox_process_batch", args=[ids[i : i + batch]], queue=queue
            )
        # A range, not 100k ids in an IN list: the poll must not load the database it measures.
        pending = InboundEvent.objects.filter(
            status=InboundEventStatus.RECEIVED, pk__gte=min(ids), pk__lte=max(ids)
        )
        while pending.exists():
            time.sleep(0.5)
        return time.perf_counter() - started
    finally:
        stop(worker)


def statements_per_request() -> list[str]:
    """The SQL one signed delivery runs, through the whole middleware stack."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from erp.models import InboundEvent

    body = refund_body(999_999)
    with CaptureQueriesContext(connection) as captured:
        response = Client().post(
            f"/webhooks/shopify/{CHANNEL}/",
            data=body,
            content_type="application/json",
            headers={
                "X-Shopify-Topic": "refunds/create",
                "X-Shopify-Webhook-Id": "bench-statements",
                "X-Shopify-Hmac-SHA256": sign(body),
            },
            secure=True,
            HTTP_HOST="localhost",
        )
    assert response.status_code == 202, response.content
    InboundEvent.objects.filter(external_id="bench-statements").delete()
    return [query["sql"].split(" (", 1)[0][:60] for query in captured.captured_queries]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--web-workers", type=int, default=4)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    recreate_database(url)
    queue = f"bench-inbox-{uuid.uuid4().hex[:8]}"
    os.environ["ERP_INTEGRATION_QUEUE"] = queue
    # Production runs behind the TLS proxy: it says the request came over HTTPS.
    os.environ["SECURE_PROXY_SSL_HEADER"] = "true"
    setup_django(url, broker=REDIS_BROKER)
    seed_master_data()
    env = {**os.environ}
    statements = statements_per_request()
    print(f"ingest: {len(statements)} SQL statements per request: {'; '.join(statements)}")

    port = free_port()
    server = start_gunicorn(port, env, args.web_workers)
    try:
        elapsed, latencies, statuses = ingest(port, args.requests, args.concurrency)
    finally:
        stop(server)
    served = len(latencies)
    rate = served / elapsed
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[18] * 1000
    ok = statuses == {202: served}
    print(
        f"ingest: {served} signed webhooks in {elapsed:.2f} s with {args.concurrency} clients, "
        f"{args.web_workers} gunicorn workers "
        f"→ {rate:,.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms, answers {statuses} "
        f"(target ≥ {INGEST_TARGET:,.0f} req/s): "
        f"{'PASS' if rate >= INGEST_TARGET and ok else 'FAIL'}"
    )

    if not args.backlog:
        return 0 if rate >= INGEST_TARGET and ok else 1
    from erp.models import InboundEvent

    # The ingest's own events were queued to Redis: drain only the backlog.
    InboundEvent.objects.all().delete()
    import redis

    redis.Redis.from_url(REDIS_BROKER).flushdb()
    started = time.perf_counter()
    ids = backlog_insert(args.backlog)
    print(
        f"backlog: {len(ids):,} received events inserted in {time.perf_counter() - started:.1f} s"
    )
    elapsed = drain(ids, args.batch, env, queue)
    processed = InboundEvent.objects.filter(pk__in=ids, status="processed").count()
    drain_rate = len(ids) / elapsed
    print(
        f"drain: {len(ids):,} events ({processed:,} processed) in {elapsed:.1f} s by one worker "
        f"(prefork, 2 processes, {args.batch} per task) → {drain_rate:,.0f} events/s "
        f"(target ≥ {DRAIN_TARGET:,.0f} events/s): "
        f"{'PASS' if drain_rate >= DRAIN_TARGET and processed == len(ids) else 'FAIL'}"
    )
    return 0 if rate >= INGEST_TARGET and drain_rate >= DRAIN_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
