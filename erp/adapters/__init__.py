"""Channel, carrier and 3PL adapters: verify a delivery and parse it into canonical dataclasses.

Pure functions over bytes and header mappings; they never touch the database and never import
a domain app. `erp.webhooks` verifies and stores with them, `erp.services.inbox` parses with
them, and the handlers other apps register receive what they return.
"""

from .base import Envelope, MalformedPayload, Unsupported
from .registry import ADAPTERS, SourceAdapter, adapter_for

__all__ = [
    "ADAPTERS",
    "Envelope",
    "MalformedPayload",
    "SourceAdapter",
    "Unsupported",
    "adapter_for",
]
