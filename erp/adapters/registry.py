"""Which functions verify, envelope and parse each webhook source."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import amazon, carriers, shopify, threepl
from .base import Envelope

Verify = Callable[[bytes, Mapping[str, str], Sequence[str]], bool]
EnvelopeOf = Callable[[bytes, Mapping[str, str]], Envelope]
Parse = Callable[[str, bytes], object]


@dataclass(frozen=True)
class SourceAdapter:
    source: str
    verify: Verify
    envelope: EnvelopeOf
    parse: Parse
    # Topics whose payload is the whole current state of `subject_ref`: an older one arriving
    # after a newer one has been applied is superseded instead of applied.
    snapshot_topics: frozenset[str] = frozenset()


ADAPTERS: dict[str, SourceAdapter] = {
    "shopify": SourceAdapter(
        "shopify",
        shopify.verify,
        shopify.envelope,
        shopify.parse,
        frozenset({"orders/updated"}),
    ),
    "easypost": SourceAdapter(
        "easypost",
        carriers.easypost_verify,
        carriers.easypost_envelope,
        carriers.easypost_parse,
        frozenset({"tracker.updated"}),
    ),
    "aftership": SourceAdapter(
        "aftership",
        carriers.aftership_verify,
        carriers.aftership_envelope,
        carriers.aftership_parse,
        frozenset({"tracking_update"}),
    ),
    "shippo": SourceAdapter(
        "shippo",
        carriers.shippo_verify,
        carriers.shippo_envelope,
        carriers.shippo_parse,
        frozenset({"track_updated"}),
    ),
    "shiphero": SourceAdapter(
        "shiphero",
        threepl.shiphero_verify,
        threepl.shiphero_envelope,
        threepl.shiphero_parse,
    ),
    # Pulled by erp.services.threepl_pull, recorded through the inbox like a webhook.
    "shipbob": SourceAdapter(
        "shipbob",
        threepl.pulled_verify,
        threepl.shipbob_envelope,
        threepl.shipbob_pulled_parse,
    ),
    "extensiv": SourceAdapter(
        "extensiv",
        threepl.pulled_verify,
        threepl.extensiv_envelope,
        threepl.extensiv_pulled_parse,
    ),
    # Returns report rows, uploaded or pulled (erp.services.amazon_reports), one event each.
    "amazon": SourceAdapter(
        "amazon",
        amazon.returns_verify,
        amazon.returns_envelope,
        amazon.returns_parse,
    ),
}


def adapter_for(source: str) -> SourceAdapter:
    return ADAPTERS[source]
