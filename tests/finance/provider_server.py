"""A Stripe-like payment provider on 127.0.0.1 for the refund tests: POST /v1/refunds with a
Bearer secret key and an `Idempotency-Key`, answering JSON refund objects or JSON errors.

Idempotency as Stripe does it: the first request with a key that the API executes is stored
with its answer; a later request with the same key and the same parameters gets the stored
answer again (header `Idempotent-Replayed: true`) and moves no money; the same key with other
parameters is a 400 idempotency_error; a request while the same key is still executing is a
409. A 503 from `down` mode never reaches the API, so nothing is stored for it.
"""

import json
import threading
import time
import urllib.parse
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "sk_test_refunds_0123456789"


class FakeProvider:
    def __init__(self, *, secret: str = SECRET):
        self.secret = secret
        self.mode = "ok"  # ok | down (503) | decline (402 card error)
        self.delay = 0.0  # seconds the API takes per executed refund
        self.requests: list[dict] = []  # every POST /v1/refunds received
        self.executed: list[dict] = []  # the refunds actually made (money moved)
        self._stored: dict[str, tuple[dict, int, dict]] = {}
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self.url = ""

    def refund_requests(self) -> int:
        return len(self.requests)

    def handle(self, headers, form: dict) -> tuple[int, dict, dict]:
        """(status, body, extra headers) for one POST /v1/refunds."""
        self.requests.append({"headers": dict(headers), "form": form})
        if self.mode == "down":
            return 503, {"error": {"type": "api_error", "message": "Service unavailable"}}, {}
        if headers.get("Authorization") != f"Bearer {self.secret}":
            return 401, _error("invalid_request_error", "invalid_api_key", "Invalid API key"), {}
        key = headers.get("Idempotency-Key", "")
        with self._lock:
            if key and key in self._stored:
                params, status, body = self._stored[key]
                if params != form:
                    return (
                        400,
                        _error(
                            "idempotency_error",
                            "idempotency_key_in_use",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        ),
                        {},
                    )
                return status, body, {"Idempotent-Replayed": "true"}
            if key in self._in_flight:
                return 409, _error("idempotency_error", "lock_timeout", "Request in progress"), {}
            self._in_flight.add(key)
        try:
            time.sleep(self.delay)
            status, body = self._execute(form)
        finally:
            with self._lock:
                self._in_flight.discard(key)
                if key:
                    self._stored[key] = (form, status, body)
        return status, body, {}

    def _execute(self, form: dict) -> tuple[int, dict]:
        if not form.get("amount", "").isdigit() or not form.get("currency"):
            return 400, _error("invalid_request_error", "parameter_missing", "amount, currency")
        if self.mode == "decline":
            return 402, _error("card_error", "charge_expired_for_refund", "The charge is too old")
        refund = {
            "id": f"re_{len(self.executed) + 1:06d}",
            "object": "refund",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "payment_intent": form.get("payment_intent"),
            "charge": form.get("charge"),
            "metadata": {
                key[len("metadata[") : -1]: value
                for key, value in form.items()
                if key.startswith("metadata[")
            },
            "status": "succeeded",
        }
        self.executed.append(refund)
        return 200, refund


def _error(kind: str, code: str, message: str) -> dict:
    return {"error": {"type": kind, "code": code, "message": message}}


def _handler(provider: FakeProvider):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("ascii")
            if self.path != "/v1/refunds":
                status, body, extra = 404, _error("invalid_request_error", "not_found", ""), {}
            else:
                form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
                status, body, extra = provider.handle(self.headers, form)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


@contextmanager
def running_provider():
    """Start the provider on a free port of 127.0.0.1; yield it (its `url` set)."""
    provider = FakeProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    server.daemon_threads = True
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
