"""Return-rate anomalies per SKU: a planted spike is found with its cause; noise, low volume
and a steady SKU stay quiet."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from erp.models import ExceptionCase
from erp.models.exceptions import ExceptionKind
from reporting.anomaly import (
    SkuCounts,
    Thresholds,
    binomial_upper_tail,
    detect_anomalies,
    sku_anomalies_raise,
)
from reporting.kpis import KpiFilters
from reporting.sections import anomaly_table
from tests.factories import ProductFactory
from tests.reporting.builders import return_case, shipped_line

RATE = 0.05
GROUPS = ["size", "defect", "not_as_described", "fulfilment_error", "preference"]


def binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def split(rng: random.Random, returns: int, weights: list[float]) -> dict[str, int]:
    groups = rng.choices(GROUPS, weights=weights, k=returns)
    return {group: groups.count(group) for group in GROUPS if groups.count(group)}


def synthetic(rng, sku, *, baseline_shipped, recent_shipped, recent_rate, recent_weights):
    usual = [4, 2, 1, 1, 2]
    baseline_returned = binomial(rng, baseline_shipped, RATE)
    recent_returned = binomial(rng, recent_shipped, recent_rate)
    return SkuCounts(
        product_id=sku,
        sku=f"SKU-{sku}",
        baseline_shipped=baseline_shipped,
        baseline_returned=baseline_returned,
        recent_shipped=recent_shipped,
        recent_returned=recent_returned,
        baseline_by_group=split(rng, baseline_returned, usual),
        recent_by_group=split(rng, recent_returned, recent_weights),
    )


def test_finds_the_planted_spike_and_its_cause_and_stays_quiet_on_noise():
    # Given 200 SKUs returning 5 % before and after (noise), with a fixed seed, and one SKU
    # whose rate jumps to 15 % in the last two weeks, the extra returns all "defect"
    rng = random.Random(20260326)
    usual = [4, 2, 1, 1, 2]
    skus = [
        synthetic(
            rng, n, baseline_shipped=800, recent_shipped=200, recent_rate=RATE, recent_weights=usual
        )
        for n in range(200)
    ]
    skus.append(
        synthetic(
            rng,
            999,
            baseline_shipped=800,
            recent_shipped=200,
            recent_rate=0.15,
            recent_weights=[1, 8, 0.5, 0.5, 1],
        )
    )

    # When the detector runs
    found = detect_anomalies(skus, Thresholds())

    # Then only the spike is flagged, with defect as its likely cause
    assert [a.counts.sku for a in found] == ["SKU-999"]
    assert found[0].likely_cause == "Defect"
    assert found[0].p_value < 1e-3


def test_no_anomaly_below_the_minimum_volume():
    # Given a SKU going from 5 % to 100 %, but on 4 shipments (3 returns)
    tiny = SkuCounts(1, "TINY", 1000, 50, 4, 4, {"size": 50}, {"defect": 4})
    # Then nothing is flagged: under 30 shipped and 5 returned in the recent window
    assert detect_anomalies([tiny], Thresholds()) == []
    # And a SKU without a baseline to compare with is not judged either
    new = SkuCounts(2, "NEW", 20, 0, 200, 40, {}, {"defect": 40})
    assert detect_anomalies([new], Thresholds()) == []


def test_binomial_tail():
    # P(X ≥ 2) for Binomial(3, 0.5) = 4 / 8
    assert binomial_upper_tail(2, 3, 0.5) == pytest.approx(0.5)
    assert binomial_upper_tail(0, 3, 0.5) == 1.0
    assert binomial_upper_tail(4, 3, 0.5) == 0.0


NOW = datetime(2026, 3, 31, 12, tzinfo=UTC)


def ship_and_return(product, *, shipped, returned, at, reason):
    line = shipped_line(product=product, qty=shipped, shipped_at=at)
    if returned:
        return_case(line=line, qty=returned, reason=reason, requested_at=at + timedelta(hours=1))


@pytest.fixture
def history(db):
    """A SKU shipping 200 units with 6 size returns in the baseline (3 %), then 40 units with
    9 returns, 8 of them wrong item sent, in the last 14 days; a steady SKU (5 % then 6 %, on
    enough volume to be judged); and a spiking SKU
    with too little volume (10 shipped, 5 returned)."""
    spiking, steady, small = (
        ProductFactory(sku="SPIKE"),
        ProductFactory(sku="STEADY"),
        ProductFactory(sku="SMALL"),
    )
    baseline_day = NOW - timedelta(days=30)
    recent_day = NOW - timedelta(days=3)
    ship_and_return(spiking, shipped=200, returned=6, at=baseline_day, reason="SIZE_TOO_SMALL")
    ship_and_return(spiking, shipped=40, returned=1, at=recent_day, reason="SIZE_TOO_SMALL")
    line = shipped_line(product=spiking, qty=1, shipped_at=recent_day)
    return_case(line=line, qty=1, reason="WRONG_ITEM_SENT", requested_at=recent_day)
    for n in range(7):
        line = shipped_line(product=spiking, qty=1, shipped_at=recent_day - timedelta(hours=n))
        return_case(line=line, qty=1, reason="WRONG_ITEM_SENT", requested_at=recent_day)
    ship_and_return(steady, shipped=200, returned=10, at=baseline_day, reason="SIZE_TOO_SMALL")
    ship_and_return(steady, shipped=100, returned=6, at=recent_day, reason="SIZE_TOO_SMALL")
    ship_and_return(small, shipped=100, returned=1, at=baseline_day, reason="SIZE_TOO_SMALL")
    ship_and_return(small, shipped=10, returned=5, at=recent_day, reason="DEFECTIVE_OR_DAMAGED")
    return spiking


def test_raises_one_investigate_sku_exception_with_the_likely_cause(history):
    # When the scan runs as of NOW
    opened = sku_anomalies_raise(as_of=NOW.date())

    # Then exactly one exception opens, for the spiking SKU, naming fulfilment error
    assert [e.subject_label for e in opened] == ["SPIKE"]
    exception = ExceptionCase.objects.get()
    assert exception.kind == ExceptionKind.INVESTIGATE_SKU
    assert exception.product == history
    assert "likely cause: Fulfilment error" in exception.summary
    # 48 shipped recently (40 + 8 single-unit orders), 9 returned
    assert exception.evidence["recent"] == {
        "shipped": 48,
        "returned": 9,
        "by_reason_group": {"size": 1, "fulfilment_error": 8},
    }
    assert exception.history.count() == 1

    # When it runs again, the finding joins the open exception as a note: still one exception
    sku_anomalies_raise(as_of=NOW.date())
    assert ExceptionCase.objects.count() == 1
    assert exception.notes.count() == 1


def test_the_operations_dashboard_lists_the_open_findings(history):
    # Given the scan flagged the spiking SKU
    sku_anomalies_raise(as_of=NOW.date())
    # When the operations dashboard's anomaly table is built
    table = anomaly_table(KpiFilters(start=NOW.date(), end=NOW.date()))
    # Then it shows the SKU, its rates from the evidence and the likely cause
    [row] = table.rows
    assert [str(cell) for cell in row[:6]] == [
        "SPIKE",
        "18.8%",
        "3.0%",
        "9 / 48",
        "4e-05",
        "Fulfilment error",
    ]
