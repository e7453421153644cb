"""A private redis-server for tests that take the broker away, and pointing this process's
Celery app at it."""

import os
import socket
import subprocess
import time
from contextlib import contextmanager

from celery import current_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_server(port: int):
    """A throwaway redis-server on `port` (nothing kept on disk), stopped on exit."""
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def app_broker(url: str):
    """Point this process's Celery app at `url`, and back afterwards. Celery reads the
    broker from the environment before its configuration, and the test settings set it."""
    saved = os.environ.get("CELERY_BROKER_URL")

    def reset():
        # kombu keeps one producer pool per broker URL; dropping the app's cached references
        # makes the next publish pick the pool of the URL configured now.
        current_app._pool = None
        current_app.amqp._producer_pool = None

    reset()
    os.environ["CELERY_BROKER_URL"] = url
    try:
        assert url.split("//", 1)[1] in current_app.connection_for_write().as_uri()
        yield
    finally:
        reset()
        if saved is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved
