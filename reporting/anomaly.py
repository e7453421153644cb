"""Return-rate anomalies per SKU: a recent window tested against the SKU's own baseline.

Model: in the recent window the SKU's returned units are Binomial(shipped units, p₀), p₀ its
baseline rate (with one return and one non-return added, so a spotless baseline is not zero).
A SKU is anomalous when P(X ≥ returned) < `alpha` and the volume minimums and the minimum rate
ratio are met. The likely cause is the reason group with the most returns over what the
baseline's per-group rates predict: defect, not as described, fulfilment error or size.
"""

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from erp.models import ExceptionCase, Product, ReasonCode
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.services import exception_open
from returns.models.cases import VOID_STATES

from .kpis.cases import lines_filtered
from .kpis.filters import KpiFilters
from .kpis.return_rate import returned_units, shipped_units

G = ReasonCode.Group
CAUSES = {
    G.DEFECT: "Defect",
    G.NOT_AS_DESCRIBED: "Not as described",
    G.FULFILMENT_ERROR: "Fulfilment error",
    G.SIZE: "Size",
}
UNCLEAR = "No single reason group shifted"


@dataclass(frozen=True)
class Thresholds:
    recent_days: int = 14
    baseline_days: int = 56
    min_recent_shipped: int = 30
    min_recent_returned: int = 5
    min_baseline_shipped: int = 100
    min_ratio: float = 1.5
    alpha: float = 0.001


@dataclass(frozen=True)
class SkuCounts:
    product_id: int
    sku: str
    baseline_shipped: int
    baseline_returned: int
    recent_shipped: int
    recent_returned: int
    baseline_by_group: dict[str, int] = field(default_factory=dict)
    recent_by_group: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Anomaly:
    counts: SkuCounts
    baseline_rate: float
    recent_rate: float
    p_value: float
    likely_cause: str
    excess_by_cause: dict[str, float]


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k, n + 1):
        log_term = (
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * log_p
            + (n - i) * log_q
        )
        term = math.exp(log_term)
        total += term
        if i > n * p and term < total * 1e-12:
            break
    return min(total, 1.0)


def likely_cause(counts: SkuCounts) -> tuple[str, dict[str, float]]:
    """The cause group whose recent returns most exceed its baseline share, and every excess."""
    excess = {}
    for group, label in CAUSES.items():
        expected = (
            counts.recent_shipped * counts.baseline_by_group.get(group, 0) / counts.baseline_shipped
        )
        excess[label] = round(counts.recent_by_group.get(group, 0) - expected, 2)
    label, most = max(excess.items(), key=lambda item: item[1])
    return (label if most > 0 else UNCLEAR), excess


def detect_anomalies(counts: Iterable[SkuCounts], thresholds: Thresholds) -> list[Anomaly]:
    """The SKUs whose recent return rate is improbably high for their own baseline."""
    found = []
    for sku in counts:
        if (
            sku.baseline_shipped < thresholds.min_baseline_shipped
            or sku.recent_shipped < thresholds.min_recent_shipped
            or sku.recent_returned < thresholds.min_recent_returned
        ):
            continue
        baseline = (sku.baseline_returned + 1) / (sku.baseline_shipped + 2)
        recent = sku.recent_returned / sku.recent_shipped
        if recent < baseline * thresholds.min_ratio:
            continue
        p_value = binomial_upper_tail(sku.recent_returned, sku.recent_shipped, baseline)
        if p_value >= thresholds.alpha:
            continue
        cause, excess = likely_cause(sku)
        found.append(Anomaly(sku, baseline, recent, p_value, cause, excess))
    return sorted(found, key=lambda anomaly: anomaly.p_value)


def _by_group(filters: KpiFilters) -> dict[int, dict[str, int]]:
    rows = (
        lines_filtered(filters)
        .filter(case__requested_at__gte=filters.since, case__requested_at__lt=filters.until)
        .exclude(case__state__in=VOID_STATES)
        .order_by()
        .values("order_line__product_id", "reason__group")
        .annotate(n=Sum("quantity"))
    )
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for row in rows:
        result[row["order_line__product_id"]][row["reason__group"]] = row["n"]
    return result


def sku_counts(*, as_of: date, thresholds: Thresholds) -> list[SkuCounts]:
    """Shipped and returned units per SKU in the recent window (the `recent_days` ending on
    `as_of`) and the baseline (the `baseline_days` before it), with returns by reason group;
    seven queries. Windows are those of `sku_return_rates` (a period ratio)."""
    recent = KpiFilters(start=as_of - timedelta(days=thresholds.recent_days - 1), end=as_of)
    baseline = KpiFilters(
        start=recent.start - timedelta(days=thresholds.baseline_days),
        end=recent.start - timedelta(days=1),
    )
    shipped = {name: shipped_units(filters=f) for name, f in (("b", baseline), ("r", recent))}
    returned = {name: returned_units(filters=f) for name, f in (("b", baseline), ("r", recent))}
    groups = {name: _by_group(f) for name, f in (("b", baseline), ("r", recent))}
    ids = set(returned["r"])
    skus = dict(Product.objects.filter(pk__in=ids).values_list("pk", "sku"))
    return [
        SkuCounts(
            product_id=pk,
            sku=skus[pk],
            baseline_shipped=shipped["b"].get(pk, 0),
            baseline_returned=returned["b"].get(pk, 0),
            recent_shipped=shipped["r"].get(pk, 0),
            recent_returned=returned["r"].get(pk, 0),
            baseline_by_group=groups["b"].get(pk, {}),
            recent_by_group=groups["r"].get(pk, {}),
        )
        for pk in sorted(ids)
    ]


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


@transaction.atomic
def sku_anomalies_raise(
    *, as_of: date | None = None, thresholds: Thresholds | None = None, actor=None
) -> list[ExceptionCase]:
    """Detect return-rate anomalies and open an "investigate SKU" exception for each.

    Effects: for every anomalous SKU, `erp.services.exception_open` (kind investigate_sku,
    subject the product) with the rates, the p-value and the likely cause in its summary and
    evidence; when one is already active for the SKU the finding is added to it as a note.
    Nothing is written for a SKU below the volume minimums or without a significant shift.
    """
    thresholds = thresholds or Thresholds()
    as_of = as_of or timezone.now().date()
    anomalies = detect_anomalies(sku_counts(as_of=as_of, thresholds=thresholds), thresholds)
    products = Product.objects.in_bulk([anomaly.counts.product_id for anomaly in anomalies])
    opened = []
    for anomaly in anomalies:
        counts = anomaly.counts
        opened.append(
            exception_open(
                kind=ExceptionKind.INVESTIGATE_SKU,
                subject_type=SubjectType.PRODUCT,
                subject_id=counts.product_id,
                subject_label=counts.sku,
                product=products[counts.product_id],
                summary=(
                    f"Return rate {_percent(anomaly.recent_rate)} over {thresholds.recent_days} "
                    f"days vs {_percent(anomaly.baseline_rate)} baseline; likely cause: "
                    f"{anomaly.likely_cause}"
                ),
                details=(
                    f"{counts.recent_returned} of {counts.recent_shipped} units shipped in the "
                    f"{thresholds.recent_days} days to {as_of:%d %b %Y} came back, against "
                    f"{counts.baseline_returned} of {counts.baseline_shipped} in the "
                    f"{thresholds.baseline_days} days before (binomial p = "
                    f"{anomaly.p_value:.2g})."
                ),
                evidence={
                    "as_of": as_of.isoformat(),
                    "recent": {
                        "shipped": counts.recent_shipped,
                        "returned": counts.recent_returned,
                        "by_reason_group": counts.recent_by_group,
                    },
                    "baseline": {
                        "shipped": counts.baseline_shipped,
                        "returned": counts.baseline_returned,
                        "by_reason_group": counts.baseline_by_group,
                    },
                    "p_value": anomaly.p_value,
                    "likely_cause": anomaly.likely_cause,
                    "excess_returns_by_cause": anomaly.excess_by_cause,
                },
                actor=actor,
            )
        )
    return opened
