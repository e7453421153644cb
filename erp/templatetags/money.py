"""`money` template filter: Decimal amounts with two decimals, thousands grouped, exactly."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()

CENT = Decimal("0.01")


@register.filter
def money(amount: Decimal | None, currency: str = "") -> str:
    """`{{ amount|money:"USD" }}` → "1,234.50 USD". Never goes through float, so no cent is
    lost; an amount that is missing shows as a dash."""
    if amount is None or amount == "":
        return "—"
    text = f"{Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP):,}"
    return f"{text} {currency}" if currency else text
