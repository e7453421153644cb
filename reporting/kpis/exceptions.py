"""Exception volume and aging by kind."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from erp.models import ExceptionCase
from erp.models.exceptions import ACTIVE_STATES, CLOSED_STATES, ExceptionKind

from .filters import KpiFilters

# Ages of active exceptions: under a day, 1-3 days, 3-7 days, a week or more.
AGE_EDGES = (timedelta(days=1), timedelta(days=3), timedelta(days=7))
AGE_LABELS = ("Under 1 day", "1–3 days", "3–7 days", "7+ days")


@dataclass(frozen=True)
class ExceptionKindRow:
    kind: str
    label: str
    opened: int
    closed: int
    active: int
    overdue: int
    by_age: tuple[int, ...]


def exception_volume_by_kind(
    *, filters: KpiFilters, now: datetime | None = None
) -> list[ExceptionKindRow]:
    """Per exception kind, one query: how many opened and closed in the window, and how many
    are active now, overdue now, and by age.

    Definition: `opened` = opened_at in [filters.since, filters.until); `closed` = resolved or
    dismissed with resolved_at in the window; `active` = state open, assigned or escalated now
    (whenever opened); `overdue` = active with sla_due_at before now; `by_age` = active counted
    by now - opened_at in [0, 1 d), [1 d, 3 d), [3 d, 7 d), [7 d, ∞). Channel, warehouse and
    category filters do not apply (an exception's subject may be a SKU, a case or a variance);
    kinds with no rows at all are left out.
    """
    now = now or timezone.now()
    in_window = {"gte": filters.since, "lt": filters.until}
    active = Q(state__in=ACTIVE_STATES)
    bounds = [now - edge for edge in AGE_EDGES]  # newest first
    age_filters = [
        active & Q(opened_at__gt=bounds[0]),
        active & Q(opened_at__lte=bounds[0], opened_at__gt=bounds[1]),
        active & Q(opened_at__lte=bounds[1], opened_at__gt=bounds[2]),
        active & Q(opened_at__lte=bounds[2]),
    ]
    rows = (
        ExceptionCase.objects.order_by()
        .values("kind")
        .annotate(
            opened=Count(
                "pk",
                filter=Q(opened_at__gte=in_window["gte"], opened_at__lt=in_window["lt"]),
            ),
            closed=Count(
                "pk",
                filter=Q(
                    state__in=CLOSED_STATES,
                    resolved_at__gte=in_window["gte"],
                    resolved_at__lt=in_window["lt"],
                ),
            ),
            active=Count("pk", filter=active),
            overdue=Count("pk", filter=active & Q(sla_due_at__lt=now)),
            **{f"age{n}": Count("pk", filter=q) for n, q in enumerate(age_filters)},
        )
    )
    labels = dict(ExceptionKind.choices)
    result = [
        ExceptionKindRow(
            kind=row["kind"],
            label=labels.get(row["kind"], row["kind"]),
            opened=row["opened"],
            closed=row["closed"],
            active=row["active"],
            overdue=row["overdue"],
            by_age=tuple(row[f"age{n}"] for n in range(len(age_filters))),
        )
        for row in rows
    ]
    return sorted(result, key=lambda row: (-row.active, -row.opened, row.label))
