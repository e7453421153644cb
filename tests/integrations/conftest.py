"""Samples from tests/fixtures/samples (copied from ../shared/samples) and signing helpers."""

import base64
import hashlib
import hmac
import json
import unicodedata
from pathlib import Path

import pytest

from erp.models import IntegrationCredential

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample_json(name: str) -> dict:
    return json.loads(sample(name))


def vector_header(name: str, header: str) -> str:
    """A header line from one of the shipped HMAC test-vector files."""
    for line in (SAMPLES / name).read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{header}:"):
            return line.split(":", 1)[1].strip()
    raise LookupError(header)


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# The tracking number the carrier samples are rewritten to, unless a test names another.
CARRIER_TRACKING = "1Z999AA10123456784"


def easypost_body(
    *, event_id: str, status: str, at: str, eta: str = "", tracking: str = CARRIER_TRACKING
) -> bytes:
    """The EasyPost tracker.updated sample, rewritten to one status of one parcel."""
    data = sample_json("easypost_event_tracker_updated.json")
    data["id"] = event_id
    tracker = data["result"]
    tracker.update(
        id=f"trk_{tracking}",
        tracking_code=tracking,
        carrier="UPS",
        status=status,
        updated_at=at,
        est_delivery_date=eta or None,
    )
    tracker["carrier_detail"] = {}
    tracker["tracking_details"] = [{"datetime": at, "status": status, "message": status}]
    return json.dumps(data).encode()


def easypost_signature(secret: str, body: bytes) -> str:
    """`X-Hmac-Signature` as EasyPost sends it: hex HMAC-SHA256 with the NFKD-normalised secret."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def shopify_headers(body: bytes, *, topic: str, webhook_id: str, secret: str = "hush") -> dict:
    """Headers as Django's test client takes them (HTTP_…)."""
    return {
        "HTTP_X_SHOPIFY_HMAC_SHA256": b64_hmac(secret, body),
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id,
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": "example.myshopify.com",
    }


@pytest.fixture
def credential(db):
    def make(source: str, account: str = "main", secret: str = "s3cret", previous: str = ""):
        return IntegrationCredential.objects.create(
            source=source, account=account, secret=secret, previous_secret=previous
        )

    return make
