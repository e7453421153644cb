"""A real Celery worker process for tests, against the test database."""

import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_worker(
    *, env: dict[str, str] | None = None, timeout: float = 40.0, queue: str | None = None
):
    """Start `celery worker` on a private queue; yield (queue, hostname).

    By default it uses the test settings (real Redis broker) and the test database; `env`
    overrides that, e.g. for the embedded filesystem broker. The queue name is unique per run
    so a worker left over from elsewhere cannot take the test's tasks. The worker is stopped
    and reaped however the test ends.
    """
    # Passing the `queue` of a running worker starts a second consumer of the same queue.
    queue = queue or f"test-{uuid.uuid4().hex[:12]}"
    hostname = f"{queue}-{uuid.uuid4().hex[:6]}@localhost"
    process_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "erp.settings.test",
        "DATABASE_URL": test_database_url(),
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "erp", "worker", "--pool=solo"]
    command += ["-Q", queue, "-n", hostname, "--loglevel=INFO", "--without-gossip"]
    command += ["--without-mingle", "--without-heartbeat"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=process_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            output.append(line)
            if " ready." in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + "".join(output))
        yield queue, hostname
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)


def test_database_url() -> str:
    settings = connection.settings_dict
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    user = settings.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def wait_for(predicate, *, timeout: float = 60.0, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def worker_pid(hostname: str) -> int:
    """The pid of the worker started under `hostname` (unique per start)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if hostname.encode() in command and b"worker" in command:
            return int(entry.name)
    raise LookupError(hostname)


def blocked_on_a_lock(db) -> bool:
    """A backend of the test database is waiting for a row lock (`db`: a psycopg connection)."""
    row = db.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE NOT l.granted AND a.datname = current_database()"
    ).fetchone()
    return row[0] > 0
