"""What every benchmark does first: a fresh PostgreSQL database, and Django set up on it."""

import atexit
import os
import socket
from pathlib import Path

import psycopg

# A Redis database of the benchmarks' own, emptied when a benchmark exits.
REDIS_BROKER = "redis://127.0.0.1:6379/15"
# The balances as the GROUP BY of the ledger: how benches that write a ledger by COPY give it
# the balances the services would have kept.
BALANCES_FROM_LEDGER = """
    INSERT INTO inventory_stockbalance (product_id, location_id, state, lot, qty)
    SELECT product_id, location_id, state, lot, sum(qty) FROM (
        SELECT product_id, to_location_id AS location_id, to_state AS state, lot, qty
          FROM inventory_stockmovement WHERE to_location_id IS NOT NULL
        UNION ALL
        SELECT product_id, from_location_id, from_state, lot, -qty
          FROM inventory_stockmovement WHERE from_location_id IS NOT NULL
    ) AS sides GROUP BY product_id, location_id, state, lot
"""
# No broker at all: the after-commit task sends are not what such a benchmark measures.
MEMORY_BROKER = "memory://"


def recreate_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str, *, broker: str | None = None) -> None:
    """Production settings on `url`, migrated. `broker` None keeps the settings' own broker;
    REDIS_BROKER makes each commit that queues outbox messages pay for asking Redis for a
    dispatch, as in production. Pages render with the plain static storage (no manifest)."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-only-insecure-key-never-used-in-production-000000")
    os.environ["DJANGO_SETTINGS_MODULE"] = "erp.settings.base"
    os.environ["STATICFILES_BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    if broker == MEMORY_BROKER:
        os.environ.setdefault("CELERY_BROKER_URL", MEMORY_BROKER)
        os.environ.setdefault("CELERY_RESULT_BACKEND", "cache+memory://")
    elif broker is not None:
        import redis

        os.environ.setdefault("CELERY_BROKER_URL", broker)
        os.environ.setdefault("CELERY_RESULT_BACKEND", broker)
        atexit.register(lambda: redis.Redis.from_url(broker).flushdb())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name, from the state on (index 1: the
    parent's pid; 11, 12: user and system CPU in clock ticks). OSError when the process is gone
    or not on this host."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far, from /proc: a figure that
    moves much less with the machine's load than time does. OSError as `proc_stat`."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pid(cursor) -> int:
    """The PostgreSQL server process serving `cursor`'s connection."""
    cursor.execute("SELECT pg_backend_pid()")
    return cursor.fetchone()[0]
