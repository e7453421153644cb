"""Webhook ingest under gunicorn, and a backlog drained by a real Celery worker.

1. Ingest: gunicorn (sync workers, 4 by default as README's production command runs it) on
   127.0.0.1 serves /webhooks/shopify/<channel>/; client threads POST valid, signed Shopify
   refunds/create bodies, each a new event (its own X-Shopify-Webhook-Id), for a bounded
   number of requests. Every answer must be 202. Prints the SQL statements one request runs,
   requests/s and p50/p95 latency. Target: >= 500 requests/s.
2. Backlog: events that change things, in the mix an operator's inbox holds (carrier
   tracking updates moving cases, Shopify return requests and refunds on cases, 3PL stock
   snapshots: bench/inbox_backlog.py), stored as `received` in arrival order. Prints the SQL
   statements of one in-process batch per (source, topic); then a real Celery worker
   (prefork, 2 processes) drains them through `erp.tasks.inbox_process_batch` (BATCH events
   per task): PER_TOPIC events one (source, topic) at a time (events/s per topic), then
   BACKLOG events mixed (events/s overall), each followed by the count of the effects
   written against what was asked for. Target: >= 1,000 events/s overall, effects as expected.

Run: .venv/bin/python bench/webhook_ingest_bench.py [--requests N] [--backlog N]
     [--per-topic N] [--batch N]
Default database: postgres://postgres@127.0.0.1:5432/erp_webhook_bench (recreated;
DATABASE_URL overrides); the broker is CELERY_BROKER_URL, else Redis database 15 (emptied at
exit).
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

from bench.harness import (  # noqa: E402
    REDIS_BROKER,
    free_port,
    recreate_database,
    setup_django,
)
from bench.inbox_backlog import (  # noqa: E402
    backlog_build,
    effects_check,
    master_data_seed,
    statements_per_topic,
    statistics_state,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/erp_webhook_bench"
INGEST_TARGET = 500.0
DRAIN_TARGET = 1000.0
SECRET = "bench-secret"
CHANNEL = "shop-bench"
ORDER = "820982911946154508"


def refund_body(n: int) -> bytes:
    sample = ROOT / "tests" / "fixtures" / "samples" / "shopify_webhook_refunds_create.json"
    data = json.loads(sample.read_bytes())
    data.update(id=10_000_000 + n, order_id=int(ORDER), admin_graphql_api_id="")
    data["admin_graphql_api_id"] = f"gid://shopify/Refund/{10_000_000 + n}"
    return json.dumps(data).encode()


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def seed_master_data() -> None:
    """The channel (its secret signs the ingest's bodies), products and 3PL locations, and the
    order the ingest's refunds name."""
    from django.utils import timezone

    from erp.models import Channel, Customer, SalesOrder, Warehouse

    master_data_seed(CHANNEL, SECRET)
    SalesOrder.objects.create(
        channel=Channel.objects.get(code=CHANNEL),
        number=ORDER,
        customer=Customer.objects.create(email="bench@example.com", name="Bench"),
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


def worker_start(env: dict, queue: str) -> subprocess.Popen:
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
    time.sleep(5)  # the worker's start-up is not what is measured
    return worker


def drain(ids: list[int], batch: int, queue: str) -> float:
    """Send `ids` (in id order, as the inbox holds them) in tasks of `batch`; wait until none
    is still `received`. Returns the seconds it took.

    The wait must not load the database it measures (a poll every 0.2 s scanned the drained
    range of the inbox: ~35 s of server time in a 100k run): it waits on the tasks' results
    in Redis, then checks the inbox once. Events a batch left `received` (a failed handler)
    went to per-event tasks the bench does not hold: only then does it poll, once a second."""
    from celery import current_app

    from erp.models import InboundEvent
    from erp.models.inbox import InboundEventStatus

    ids = sorted(ids)
    started = time.perf_counter()
    results = [
        current_app.send_task(
            "erp.tasks.inbox_process_batch", args=[ids[i : i + batch]], queue=queue
        )
        for i in range(0, len(ids), batch)
    ]
    for result in results:
        result.get(propagate=False, timeout=3600)
        result.forget()
    # A range, not 100k ids in an IN list.
    pending = InboundEvent.objects.filter(
        status=InboundEventStatus.RECEIVED, pk__gte=ids[0], pk__lte=ids[-1]
    )
    if len(ids) < ids[-1] - ids[0] + 1:  # one topic's events among others: name them
        pending = pending.filter(pk__in=ids)
    while pending.exists():
        time.sleep(1)
    return time.perf_counter() - started


def drain_by_topic(backlog, batch: int, queue: str) -> tuple[list[str], float]:
    """Each (source, topic) of `backlog` drained on its own, one after the other."""
    from erp.models import InboundEvent

    by_topic: dict[str, list[int]] = {}
    for pk, source, topic in InboundEvent.objects.filter(pk__in=backlog.event_ids).values_list(
        "pk", "source", "topic"
    ):
        by_topic.setdefault(f"{source} {topic}", []).append(pk)
    lines, total = [], 0.0
    for label, ids in sorted(by_topic.items()):
        elapsed = drain(ids, batch, queue)
        total += elapsed
        rate = len(ids) / elapsed
        lines.append(f"  {label}: {len(ids):,} events in {elapsed:.1f} s → {rate:,.0f} events/s")
    return lines, total


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


def ingest_run(args, env: dict) -> bool:
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
    ok = statuses == {202: served} and rate >= INGEST_TARGET
    print(
        f"ingest: {served} signed webhooks in {elapsed:.2f} s with {args.concurrency} clients, "
        f"{args.web_workers} gunicorn workers "
        f"→ {rate:,.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms, answers {statuses} "
        f"(target ≥ {INGEST_TARGET:,.0f} req/s): {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="0: no ingest run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backlog", type=int, default=100_000, help="mixed events drained")
    parser.add_argument(
        "--per-topic", type=int, default=20_000, help="events drained one topic at a time"
    )
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--web-workers", type=int, default=4)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    broker = os.environ.get("CELERY_BROKER_URL", REDIS_BROKER)
    recreate_database(url)
    queue = f"bench-inbox-{uuid.uuid4().hex[:8]}"
    os.environ["ERP_INTEGRATION_QUEUE"] = queue
    # Production runs behind the TLS proxy: it says the request came over HTTPS.
    os.environ["SECURE_PROXY_SSL_HEADER"] = "true"
    setup_django(url, broker=broker)
    seed_master_data()
    env = {**os.environ}
    ingest_ok = True
    if args.requests:
        ingest_ok = ingest_run(args, env)

    if not args.backlog:
        return 0 if ingest_ok else 1
    from erp.models import InboundEvent

    # The ingest's own events were queued to Redis: drain only the backlogs.
    InboundEvent.objects.all().delete()
    import redis

    redis.Redis.from_url(broker).flushdb()
    backlog = backlog_build(total=min(args.per_topic or 1000, 1000), tag="s", channel=CHANNEL)
    print(f"drain statements, one batch of up to {args.batch} events per (source, topic):")
    print("\n".join(statements_per_topic(backlog, args.batch)))
    worker = worker_start(env, queue)
    try:
        ok = True
        if args.per_topic:
            backlog = backlog_build(total=args.per_topic, tag="t", channel=CHANNEL)
            print(
                f"drain by topic: {len(backlog.event_ids):,} events, each (source, topic) "
                f"drained alone ({args.batch} per task):"
            )
            lines, _ = drain_by_topic(backlog, args.batch, queue)
            print("\n".join(lines))
            lines, counted = effects_check(backlog)
            print("\n".join(["effects after the drain by topic:", *lines]))
            ok = ok and counted
        started = time.perf_counter()
        backlog = backlog_build(total=args.backlog, tag="m", channel=CHANNEL)
        mix = ", ".join(f"{n:,} {label}" for label, n in sorted(backlog.topics.items()))
        print(
            f"backlog: {len(backlog.event_ids):,} received events in arrival order ({mix}), "
            f"seeded in {time.perf_counter() - started:.1f} s"
        )
        server = statistics_state()
        elapsed = drain(backlog.event_ids, args.batch, queue)
    finally:
        stop(worker)
    lines, counted = effects_check(backlog)
    drain_rate = len(backlog.event_ids) / elapsed
    drain_ok = drain_rate >= DRAIN_TARGET and counted and ok
    print(
        f"drain: {len(backlog.event_ids):,} mixed events in {elapsed:.1f} s by one worker "
        f"(prefork, 2 processes, {args.batch} per task) → {drain_rate:,.0f} events/s "
        f"(target ≥ {DRAIN_TARGET:,.0f} events/s, effects as expected): "
        f"{'PASS' if drain_ok else 'FAIL'}; at its start: {server}"
    )
    print("\n".join(["effects after the mixed drain:", *lines]))
    return 0 if ingest_ok and drain_ok else 1


if __name__ == "__main__":
    sys.exit(main())
