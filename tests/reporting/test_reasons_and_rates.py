"""Return reasons by channel, SKU and category; return rate per SKU."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from reporting.kpis import KpiFilters, return_reasons, sku_return_rates
from tests.factories import CategoryFactory, ChannelFactory, ProductFactory
from tests.reporting.builders import return_case, shipped_line

MARCH = KpiFilters(start=date(2026, 3, 1), end=date(2026, 3, 31))
T0 = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.fixture
def shop(db):
    """Tee (tops): 10 units shipped in March (6 + 4) on the storefront; 3 returned for size,
    1 as defective; a cancelled case of 2 and a February case of 1 do not count.
    Phone (phones): 5 shipped on the marketplace, 1 returned not as described.
    Mug: nothing shipped in March, 1 returned (no rate)."""
    store, market = ChannelFactory(name="Store"), ChannelFactory(name="Market")
    tops = CategoryFactory(code="tops", name="Tops")
    phones = CategoryFactory(code="phones", name="Phones")
    tee = ProductFactory(sku="TEE", category=tops)
    phone = ProductFactory(sku="PHONE", category=phones)
    mug = ProductFactory(sku="MUG", category=tops)
    tee_a = shipped_line(product=tee, qty=6, shipped_at=T0, channel=store)
    shipped_line(product=tee, qty=4, shipped_at=T0 + timedelta(days=1), channel=store)
    phone_line = shipped_line(product=phone, qty=5, shipped_at=T0, channel=market)
    mug_line = shipped_line(product=mug, qty=2, shipped_at=T0 - timedelta(days=40), channel=store)
    later = T0 + timedelta(days=5)
    return_case(line=tee_a, qty=3, reason="SIZE_TOO_SMALL", requested_at=later)
    return_case(line=tee_a, qty=1, reason="DEFECTIVE_OR_DAMAGED", requested_at=later)
    return_case(line=tee_a, qty=2, reason="SIZE_TOO_SMALL", state="cancelled", requested_at=later)
    return_case(line=tee_a, qty=1, reason="SIZE_TOO_SMALL", requested_at=T0 - timedelta(days=20))
    return_case(line=phone_line, qty=1, reason="NOT_AS_DESCRIBED", requested_at=later)
    return_case(line=mug_line, qty=1, reason="CHANGED_MIND", requested_at=later)
    return {"store": store, "market": market, "tee": tee, "phone": phone, "tops": tops}


def test_reasons_by_channel(shop, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = return_reasons(filters=MARCH, by="channel")
    # Then per channel and reason: the units of March's non-void cases
    assert [(r.dimension, r.reason_code, r.units, r.group) for r in rows] == [
        ("Market", "NOT_AS_DESCRIBED", 1, "not_as_described"),
        ("Store", "SIZE_TOO_SMALL", 3, "size"),
        ("Store", "CHANGED_MIND", 1, "preference"),
        ("Store", "DEFECTIVE_OR_DAMAGED", 1, "defect"),
    ]


def test_reasons_by_sku_and_category_follow_filters(shop):
    by_sku = return_reasons(filters=MARCH, by="sku")
    assert {(r.dimension, r.reason_code): r.units for r in by_sku} == {
        ("MUG", "CHANGED_MIND"): 1,
        ("PHONE", "NOT_AS_DESCRIBED"): 1,
        ("TEE", "SIZE_TOO_SMALL"): 3,
        ("TEE", "DEFECTIVE_OR_DAMAGED"): 1,
    }
    tops_only = KpiFilters(start=MARCH.start, end=MARCH.end, category_id=shop["tops"].pk)
    by_category = return_reasons(filters=tops_only, by="category")
    assert {r.dimension for r in by_category} == {"Tops"}
    assert sum(r.units for r in by_category) == 5


def test_return_rate_per_sku(shop, django_assert_num_queries):
    with django_assert_num_queries(3):
        rates = sku_return_rates(filters=MARCH)
    # Then tee 4 / 10 = 40 %, phone 1 / 5 = 20 %, mug returned with nothing shipped: no rate, last
    assert [(r.sku, r.shipped, r.returned, r.rate) for r in rates] == [
        ("TEE", 10, 4, Decimal("0.4000")),
        ("PHONE", 5, 1, Decimal("0.2000")),
        ("MUG", 0, 1, None),
    ]
    # And a channel filter keeps only its own shipments and returns
    market = KpiFilters(start=MARCH.start, end=MARCH.end, channel_id=shop["market"].pk)
    assert [(r.sku, r.rate) for r in sku_return_rates(filters=market)] == [
        ("PHONE", Decimal("0.2000"))
    ]
