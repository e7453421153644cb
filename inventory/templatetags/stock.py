"""How stock states look on screen: one badge colour (and chart colour) per kind of state, and
short names where a column header or a tile has little room, the same on every page."""

from django import template
from django.utils.html import format_html

from inventory.models import OUTSIDE, StockState

register = template.Library()

S = StockState
TONE = {
    S.AVAILABLE: "badge-ok",
    S.RESERVED: "badge-info",
    S.IN_TRANSIT_RETURN: "badge-info",
    S.RECEIVED_PENDING_INSPECTION: "badge-warn",
    S.REFURBISH: "badge-warn",
    S.QUARANTINED: "badge-danger",
    S.DAMAGED: "badge-danger",
}
# The chart draws each state in its badge's colour (app.css --ok, --accent, --warn…).
CHART_COLOUR = {
    S.AVAILABLE: "#1d7a46",
    S.RESERVED: "#1f5fbf",
    S.IN_TRANSIT_RETURN: "#3b4ea0",
    S.RECEIVED_PENDING_INSPECTION: "#d89a00",
    S.REFURBISH: "#0f7c8c",
    S.QUARANTINED: "#c4320a",
    S.DAMAGED: "#a3407a",
    S.AWAITING_VENDOR_RETURN: "#8a5a00",
    S.LIQUIDATION: "#6a4bc4",
}
SHORT = {
    S.IN_TRANSIT_RETURN: "In transit",
    S.RECEIVED_PENDING_INSPECTION: "Pending inspection",
    S.AWAITING_VENDOR_RETURN: "To vendor",
}
LABELS = {**dict(S.choices), OUTSIDE: "Outside our stock"}


@register.filter
def state_label(state: str) -> str:
    """The state's name, shortened where it is long."""
    return SHORT.get(state) or LABELS.get(state, state)


@register.filter
def state_badge(state: str) -> str:
    """The state as a badge in its tone, under its short name (the full one on hover)."""
    tone = TONE.get(state)
    return format_html(
        '<span class="badge{}" title="{}">{}</span>',
        f" {tone}" if tone else "",
        LABELS.get(state, state),
        state_label(state),
    )


@register.filter
def qty_in(product, state: str) -> int:
    """The quantity `selectors.stock_overview` annotated on the SKU for this state."""
    return getattr(product, f"qty_{state}")
