"""What production has and the load test's machine does not: an SMTP server and the payment
provider, on 127.0.0.1, so the worker's outbox sends succeed instead of retrying refused
connections (load_test.py runs this as a process of its own, so its CPU is not locust's).

The SMTP server (aiosmtpd) accepts every message and discards it; the provider is the refund
tests' own (tests/finance/provider_server.py). Prints `smtp <port> provider <url>` once
listening and, on SIGTERM, `sinks: <n> e-mails accepted, <n> refund requests, <n> refunds made`.

    .venv/bin/python bench/sinks.py
"""

import signal
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import free_port
from tests.finance.provider_server import running_provider


class Discard:
    """An aiosmtpd handler that accepts every message, counts it and keeps nothing."""

    def __init__(self):
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.accepted += 1
        return "250 OK: discarded"


def main() -> None:
    mail = Discard()
    smtp = Controller(mail, hostname="127.0.0.1", port=free_port())
    smtp.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with running_provider() as provider:
            print(f"smtp {smtp.port} provider {provider.url}", flush=True)
            stop.wait()
            print(
                f"sinks: {mail.accepted} e-mails accepted, {provider.refund_requests()} refund "
                f"requests, {len(provider.executed)} refunds made",
                flush=True,
            )
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
