"""Where the demo retailer sells and ships from: channels (with reason mappings), warehouses and
their locations."""

import random
from dataclasses import dataclass

from erp.models import Channel, Location, Warehouse
from erp.services import reason_mappings_load_platform_defaults

# (code, name, kind, platform, region, currency)
CHANNELS = [
    (
        "harbor-store",
        "Harbor Goods storefront",
        Channel.Kind.STOREFRONT,
        Channel.Platform.SHOPIFY,
        "US",
        "USD",
    ),
    (
        "amazon-us",
        "Amazon US marketplace",
        Channel.Kind.MARKETPLACE,
        Channel.Platform.AMAZON,
        "US",
        "USD",
    ),
    (
        "euromarket-eu",
        "EuroMarket EU marketplace",
        Channel.Kind.MARKETPLACE,
        Channel.Platform.OTHER,
        "EU",
        "EUR",
    ),
]

# (code, name, operator, provider, country)
WAREHOUSES = [
    ("columbus-dc", "Columbus DC (own)", Warehouse.Operator.OWN, "", "US"),
    (
        "shipbob-chicago",
        "ShipBob Chicago (3PL)",
        Warehouse.Operator.THIRD_PARTY,
        Warehouse.Provider.SHIPBOB,
        "US",
    ),
]

# Every warehouse gets the same floor plan: one or more locations of each kind, so any
# disposition has somewhere to put the unit.
FLOOR_PLAN = [
    ("RCV-DOCK1", "Receiving dock 1", Location.Kind.RECEIVING),
    ("RCV-DOCK2", "Receiving dock 2", Location.Kind.RECEIVING),
    ("INS-01", "Inspection bench 1", Location.Kind.INSPECTION),
    ("INS-02", "Inspection bench 2", Location.Kind.INSPECTION),
    ("QUA-CAGE", "Quarantine cage", Location.Kind.QUARANTINE),
    *(
        (f"STK-{aisle}{bay:02d}", f"Stock aisle {aisle}, bay {bay}", Location.Kind.STOCK)
        for aisle in "AB"
        for bay in range(1, 5)
    ),
    ("REF-01", "Refurbishment bench", Location.Kind.REFURBISHMENT),
    ("RTV-01", "Return-to-vendor staging", Location.Kind.VENDOR_RETURN),
    ("LIQ-01", "Liquidation pallets", Location.Kind.LIQUIDATION),
    ("DSP-01", "Disposal bin", Location.Kind.DISPOSAL),
]


@dataclass(frozen=True)
class Network:
    channels: list[Channel]
    warehouses: list[Warehouse]
    reason_mappings: int


def network_create(*, rng: random.Random) -> Network:
    """Effects: creates the channels (each with a webhook secret and its platform's reason
    mappings), the warehouses and every warehouse's locations."""
    channels = Channel.objects.bulk_create(
        Channel(
            code=code,
            name=name,
            kind=kind,
            platform=platform,
            region=region,
            currency=currency,
            # Drawn from the seed like everything else, so a re-seed gives the same data: fine
            # for a demo, and a real channel's secret is pasted in from its admin anyway.
            webhook_secret=f"{rng.getrandbits(256):064x}",
        )
        for code, name, kind, platform, region, currency in CHANNELS
    )
    warehouses = Warehouse.objects.bulk_create(
        Warehouse(code=code, name=name, operator=operator, provider=provider, country=country)
        for code, name, operator, provider, country in WAREHOUSES
    )
    Location.objects.bulk_create(
        Location(warehouse=warehouse, code=code, name=name, kind=kind)
        for warehouse in warehouses
        for code, name, kind in FLOOR_PLAN
    )
    mappings = sum(reason_mappings_load_platform_defaults(channel=c) for c in channels)
    return Network(channels=channels, warehouses=warehouses, reason_mappings=mappings)
