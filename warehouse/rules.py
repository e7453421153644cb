"""The disposition rules engine: which outcome the rules suggest for an inspected unit, where
each outcome puts the unit (location kind and stock state, DESIGN.md), and what it is expected
to recover. Pure functions over rows already fetched; nothing here writes."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from erp.models import Location, Product
from inventory.models import StockState

from .models import DispositionRule, Outcome, RecoveryBasis

# Where each outcome puts the unit. A disposal waits at the disposal location as damaged; the
# put-away that hands it to the recycler posts it out as disposed.
DESTINATIONS: dict[str, tuple[str, str]] = {
    Outcome.RESTOCK: (Location.Kind.STOCK, StockState.AVAILABLE),
    Outcome.REFURBISH: (Location.Kind.REFURBISHMENT, StockState.REFURBISH),
    Outcome.QUARANTINE: (Location.Kind.QUARANTINE, StockState.QUARANTINED),
    Outcome.VENDOR_RETURN: (Location.Kind.VENDOR_RETURN, StockState.AWAITING_VENDOR_RETURN),
    Outcome.LIQUIDATION: (Location.Kind.LIQUIDATION, StockState.LIQUIDATION),
    Outcome.DISPOSE: (Location.Kind.DISPOSAL, StockState.DAMAGED),
}
# Liquidators pay a fraction of cost; refurbished stock sells at about cost.
LIQUIDATION_RATE = Decimal("0.20")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class DispositionFacts:
    """What the rules look at for one unit."""

    grade: str
    department: str
    category_id: int | None
    reason_group: str
    reason_code_id: int | None
    channel_kind: str
    is_high_value: bool
    serial_tracked: bool
    matched: bool


@dataclass(frozen=True)
class Suggestion:
    outcome: str
    rule: DispositionRule | None
    explanation: str
    # Forced suggestions (mismatch, high value) cannot be overridden at the bench: only a
    # quarantine release by someone else moves the unit on.
    forced: bool = False


def _matches(rule: DispositionRule, facts: DispositionFacts) -> bool:
    return (
        (not rule.grade or rule.grade == facts.grade)
        and (not rule.department or rule.department == facts.department)
        and (not rule.category_id or rule.category_id == facts.category_id)
        and (not rule.reason_group or rule.reason_group == facts.reason_group)
        and (not rule.reason_code_id or rule.reason_code_id == facts.reason_code_id)
        and (not rule.channel_kind or rule.channel_kind == facts.channel_kind)
    )


def disposition_suggest(*, facts: DispositionFacts, rules: Iterable[DispositionRule]) -> Suggestion:
    """The outcome for a unit: quarantine when it did not match its case or is a high-value
    serial item; otherwise the matching active rule with the highest priority, then the most
    specific, then the oldest; quarantine when no rule matches."""
    if not facts.matched:
        return Suggestion(
            Outcome.QUARANTINE, None, "Did not match its return case: held for review.", True
        )
    if facts.is_high_value and facts.serial_tracked:
        return Suggestion(
            Outcome.QUARANTINE,
            None,
            "High-value serial item: held until the serial is verified and any fraud review "
            "is resolved.",
            True,
        )
    candidates = [rule for rule in rules if rule.is_active and _matches(rule, facts)]
    if not candidates:
        return Suggestion(Outcome.QUARANTINE, None, "No disposition rule matches: a person looks.")
    rule = min(candidates, key=lambda r: (-r.priority, -r.specificity, r.pk))
    return Suggestion(rule.outcome, rule, f"Rule “{rule.name}” (priority {rule.priority}).")


def recovery_estimate(*, outcome: str, product: Product) -> tuple[Decimal | None, str]:
    """(expected recovery, basis) for an outcome; None while the decision is still open."""
    if outcome == Outcome.RESTOCK:
        return product.list_price, RecoveryBasis.RESALE_PRICE
    if outcome == Outcome.REFURBISH:
        return product.unit_cost, RecoveryBasis.RESALE_COST
    if outcome == Outcome.VENDOR_RETURN:
        return product.unit_cost, RecoveryBasis.VENDOR_CREDIT
    if outcome == Outcome.LIQUIDATION:
        return (product.unit_cost * LIQUIDATION_RATE).quantize(
            CENT
        ), RecoveryBasis.LIQUIDATION_PRICE
    if outcome == Outcome.DISPOSE:
        return Decimal("0.00"), RecoveryBasis.NONE
    return None, RecoveryBasis.NONE
