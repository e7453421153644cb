"""Template filters of the bench screens."""

from django import template

from warehouse.models import MismatchKind

register = template.Library()


@register.filter
def mismatch_labels(kinds: list[str]) -> list[str]:
    """A unit's `mismatch_kinds` in words ("Wrong SKU", "Original packaging missing")."""
    return [MismatchKind(kind).label if kind in MismatchKind.values else kind for kind in kinds]
