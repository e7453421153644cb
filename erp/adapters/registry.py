"""Which functions verify, envelope and parse each webhook source."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import amazon, carriers, shopify, threepl, threepl_returns
from .base import Envelope, header

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


def _with_returns_reports(envelope: EnvelopeOf, parse: Parse) -> tuple[EnvelopeOf, Parse]:
    """A 3PL's source also carries the rows of its returns report (uploaded or imported, never
    pushed): the import marks each row's headers, and the topic says which parser reads it."""

    def envelope_of(body: bytes, headers: Mapping[str, str]) -> Envelope:
        if header(headers, threepl_returns.REPORT_ROW_HEADER):
            return threepl_returns.returns_row_envelope(body)
        return envelope(body, headers)

    def parse_of(topic: str, body: bytes) -> object:
        if topic == threepl_returns.RETURNS_TOPIC:
            return threepl_returns.returns_row_parse(topic, body)
        return parse(topic, body)

    return envelope_of, parse_of


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
        *_with_returns_reports(threepl.shiphero_envelope, threepl.shiphero_parse),
    ),
    # Pulled by erp.services.threepl_pull, recorded through the inbox like a webhook.
    "shipbob": SourceAdapter(
        "shipbob",
        threepl.pulled_verify,
        *_with_returns_reports(threepl.shipbob_envelope, threepl.shipbob_pulled_parse),
    ),
    "extensiv": SourceAdapter(
        "extensiv",
        threepl.pulled_verify,
        *_with_returns_reports(threepl.extensiv_envelope, threepl.extensiv_pulled_parse),
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
