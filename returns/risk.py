"""Risk screening of a return request: a score that is the sum of named signals, each with the
points it adds and the fact behind it, so a reviewer sees why a case was held.

`risk_assess` is pure; `returns.selectors.risk_facts` gathers the facts it needs. The points
and thresholds are a `RiskPolicy`; `settings.RETURNS_RISK` (a dict of its field names)
overrides the defaults per deployment, so fraud teams tune them without a release.
"""

from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal

from django.conf import settings

from erp.models import ReasonCode

from .models import ClaimedCondition, RiskLevel


@dataclass(frozen=True)
class RiskPolicy:
    # A case scoring this much or more is held for a fraud review.
    high_threshold: int = 50
    medium_threshold: int = 25
    # Customer history: share of delivered orders returned, once there is enough history.
    return_rate_limit: Decimal = Decimal("0.5")
    return_rate_min_returns: int = 2
    return_rate_points: int = 20
    mismatch_points: int = 25
    watchlist_points: int = 30
    # A unit worth this much or more (or flagged high value on the product) is high value.
    high_value_amount: Decimal = Decimal("500")
    high_value_points: int = 15
    serial_high_value_points: int = 10
    # Requests within this many days of delivery, or this close to the window's end.
    early_request_days: int = 1
    early_request_points: int = 10
    late_request_days: int = 2
    late_request_points: int = 10
    repeated_claim_points: int = 20
    inconsistent_claim_points: int = 15


def risk_policy() -> RiskPolicy:
    overrides = getattr(settings, "RETURNS_RISK", {})
    known = {f.name: f.type for f in fields(RiskPolicy)}
    unknown = set(overrides) - set(known)
    if unknown:
        raise ValueError(f"Unknown RETURNS_RISK settings: {sorted(unknown)}")
    return replace(RiskPolicy(), **overrides)


@dataclass(frozen=True)
class LineRisk:
    sku: str
    unit_value: Decimal
    is_high_value: bool
    serial_tracked: bool
    reason_group: str
    claimed_condition: str


@dataclass(frozen=True)
class RiskFacts:
    customer_segment: str
    customer_delivered_orders: int
    customer_prior_returns: int
    customer_prior_mismatches: int
    other_open_claims_on_order: int
    days_since_delivery: int
    return_window_days: int
    lines: tuple[LineRisk, ...]


@dataclass(frozen=True)
class Signal:
    code: str
    points: int
    detail: str


@dataclass(frozen=True)
class RiskAssessment:
    score: int
    level: str
    signals: tuple[Signal, ...]

    @property
    def is_high(self) -> bool:
        return self.level == RiskLevel.HIGH

    def signals_json(self) -> list[dict]:
        return [asdict(signal) for signal in self.signals]


# Reasons that say the item is faulty, claimed on an item said to be unopened, and reasons
# that say the customer changed their mind, claimed on an item said to be broken.
FAULT_GROUPS = {ReasonCode.Group.DEFECT, ReasonCode.Group.NOT_AS_DESCRIBED}
MIND_GROUPS = {ReasonCode.Group.SIZE, ReasonCode.Group.PREFERENCE}
BROKEN = {ClaimedCondition.DAMAGED, ClaimedCondition.DEFECTIVE}


def _inconsistent(line: LineRisk) -> bool:
    if line.reason_group in FAULT_GROUPS and line.claimed_condition == ClaimedCondition.UNOPENED:
        return True
    return line.reason_group in MIND_GROUPS and line.claimed_condition in BROKEN


def risk_assess(*, facts: RiskFacts, policy: RiskPolicy | None = None) -> RiskAssessment:
    """Score a request from its facts; every point comes with the signal that added it."""
    p = policy or risk_policy()
    signals: list[Signal] = []
    enough_history = facts.customer_prior_returns >= p.return_rate_min_returns
    if enough_history and facts.customer_delivered_orders:
        rate = Decimal(facts.customer_prior_returns) / facts.customer_delivered_orders
        if rate >= p.return_rate_limit:
            signals.append(
                Signal(
                    "high_return_rate",
                    p.return_rate_points,
                    f"Returned {facts.customer_prior_returns} of "
                    f"{facts.customer_delivered_orders} delivered orders ({rate:.0%}).",
                )
            )
    if facts.customer_prior_mismatches:
        signals.append(
            Signal(
                "mismatch_history",
                p.mismatch_points,
                f"{facts.customer_prior_mismatches} earlier return(s) arrived not matching "
                "what was claimed.",
            )
        )
    if facts.customer_segment == "watchlist":
        signals.append(Signal("watchlist", p.watchlist_points, "The customer is on the watchlist."))
    high_value = [
        line for line in facts.lines if line.is_high_value or line.unit_value >= p.high_value_amount
    ]
    if high_value:
        skus = ", ".join(sorted({line.sku for line in high_value}))
        signals.append(Signal("high_value", p.high_value_points, f"High-value item(s): {skus}."))
        serial = sorted({line.sku for line in high_value if line.serial_tracked})
        if serial:
            signals.append(
                Signal(
                    "serial_high_value",
                    p.serial_high_value_points,
                    f"Serial-tracked high-value item(s): {', '.join(serial)}.",
                )
            )
    if facts.days_since_delivery <= p.early_request_days:
        signals.append(
            Signal(
                "early_request",
                p.early_request_points,
                f"Requested {facts.days_since_delivery} day(s) after delivery.",
            )
        )
    days_left = facts.return_window_days - facts.days_since_delivery
    if 0 <= days_left <= p.late_request_days:
        signals.append(
            Signal(
                "late_request",
                p.late_request_points,
                f"Requested {days_left} day(s) before the return window closes.",
            )
        )
    if facts.other_open_claims_on_order:
        signals.append(
            Signal(
                "repeated_claim",
                p.repeated_claim_points,
                f"{facts.other_open_claims_on_order} other return(s) already claimed on "
                "this order.",
            )
        )
    inconsistent = [line for line in facts.lines if _inconsistent(line)]
    if inconsistent:
        detail = "; ".join(
            f"{line.sku}: reason “{ReasonCode.Group(line.reason_group).label}” but claimed "
            f"“{ClaimedCondition(line.claimed_condition).label.lower()}”"
            for line in inconsistent
        )
        signals.append(Signal("inconsistent_claim", p.inconsistent_claim_points, detail + "."))
    score = sum(signal.points for signal in signals)
    level = (
        RiskLevel.HIGH
        if score >= p.high_threshold
        else RiskLevel.MEDIUM
        if score >= p.medium_threshold
        else RiskLevel.LOW
    )
    return RiskAssessment(score=score, level=str(level), signals=tuple(signals))
