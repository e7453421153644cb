"""gunicorn settings for the web processes: `gunicorn -c python:erp.gunicorn_config erp.wsgi`.

Flags on the command line still win (`--bind`, `--workers`, ...).
"""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")


def default_workers() -> int:
    """One web process per core this process may run on. The pages are CPU-bound (a request
    waits on the database for a few milliseconds of loopback round trips, not on I/O that
    another process could fill), so a process more than the cores only takes turns with the
    others and adds its queue to every request's: on the 2-core VM, 50 simulated people (bench
    load test, quiet) went 74.5 → 78.6 → 84.3 req/s with 4, 3 and 2 workers, and the slowest
    p95 (approving a refund) 520 → 420 → 330 ms."""
    return len(os.sched_getaffinity(0))


workers = int(os.environ.get("WEB_CONCURRENCY") or default_workers())
# Django, the URL map and every app are imported once in the master, and the workers are
# forked from it: a worker starts in milliseconds and shares those pages with the others.
preload_app = True


def when_ready(server) -> None:
    """After the app is loaded, before the first worker is forked: move everything alive into
    the garbage collector's permanent generation. The workers then never walk the imported
    heap (modules, models, URL patterns, compiled templates) in their full collections, and
    do not write to its pages while looking, so they stay shared instead of being copied into
    each worker. Measured in-process on the load test's pages: a full collection of that heap
    took ~150 ms of CPU about once every 140 requests; frozen, none ran.

    A page allocates thousands of objects (querysets, model instances, template context), so
    the default first threshold (700) ran up to 2-3 young collections a request (the approval
    queue); at 10,000, about one in seven requests there, collecting the same cycles. Time
    in the collector, summed over four of those pages per request: ~4.9 ms as forked, ~1.0
    frozen, ~0.7 frozen with this threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
