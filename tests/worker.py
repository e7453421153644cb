"""A real Celery worker process for tests: the real Redis broker, the test database."""

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from erp.celery import app

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_worker(*, timeout: float = 30.0):
    """Start `celery worker` on a private queue against the test database; yield the queue.

    The queue name is unique per run so a worker left over from elsewhere cannot take the
    test's tasks. The worker is stopped (and reaped) however the test ends.
    """
    queue = f"test-{uuid.uuid4().hex[:12]}"
    hostname = f"{queue}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "erp.settings.test",
        "DATABASE_URL": _test_database_url(),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "erp",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "-n",
            hostname,
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_ready(hostname, process, timeout)
        yield queue
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _test_database_url() -> str:
    settings = connection.settings_dict
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    user = settings.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def _wait_until_ready(hostname: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{process.stdout.read()}")
        if app.control.ping(destination=[hostname], timeout=0.5):
            return
    raise TimeoutError(f"celery worker {hostname} did not answer within {timeout}s")
