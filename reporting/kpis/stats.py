"""Median and p90 of durations, in SQL on PostgreSQL and in Python elsewhere (the SQLite demo).

Both follow PostgreSQL's `percentile_cont`: the values sorted, the fraction's position
`f x (n - 1)` interpolated linearly between its two neighbours.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q, QuerySet

# Off PostgreSQL the durations are read into Python; a window with more rows than this is
# summarised from its most recent rows (the demo database never gets near it).
PYTHON_ROW_LIMIT = 50_000


@dataclass(frozen=True)
class DurationSummary:
    count: int
    median: timedelta | None
    p90: timedelta | None

    @property
    def median_hours(self) -> float | None:
        return None if self.median is None else self.median.total_seconds() / 3600

    @property
    def p90_hours(self) -> float | None:
        return None if self.p90 is None else self.p90.total_seconds() / 3600


def percentile_cont(values: Sequence, fraction: float):
    """PostgreSQL's percentile_cont over `values` (numbers or timedeltas); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


class PercentileCont(Aggregate):
    """`percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`, PostgreSQL only."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def duration(start: str, end: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


def duration_summaries(
    rows: QuerySet, spans: dict[str, tuple[str, str, Q]]
) -> dict[str, DurationSummary]:
    """For each named span (start field, end field, which rows count), the count, median and
    p90 of `end - start` over `rows`. One query on PostgreSQL; one per span elsewhere."""
    if on_postgresql():
        return _summaries_in_sql(rows, spans)
    return {name: _summary_in_python(rows, *span) for name, span in spans.items()}


def _summaries_in_sql(rows: QuerySet, spans) -> dict[str, DurationSummary]:
    aggregates = {}
    for name, (start, end, which) in spans.items():
        counted = which & Q(**{f"{start}__isnull": False, f"{end}__isnull": False})
        aggregates[f"{name}__n"] = Count("pk", filter=counted)
        for label, fraction in (("median", 0.5), ("p90", 0.9)):
            aggregates[f"{name}__{label}"] = PercentileCont(
                duration(start, end), fraction, filter=counted, output_field=DurationField()
            )
    # Only rows some span counts are read: each span's `which` is a window on an indexed
    # moment, so the OR of them is a bitmap of index ranges instead of a scan of every row.
    counted_somewhere = reduce(or_, (which for _, _, which in spans.values()))
    result = rows.filter(counted_somewhere).order_by().aggregate(**aggregates)
    return {
        name: DurationSummary(
            count=result[f"{name}__n"],
            median=result[f"{name}__median"],
            p90=result[f"{name}__p90"],
        )
        for name in spans
    }


def _summary_in_python(rows: QuerySet, start: str, end: str, which: Q) -> DurationSummary:
    pairs = (
        rows.filter(which, **{f"{start}__isnull": False, f"{end}__isnull": False})
        .order_by(f"-{end}")
        .values_list(start, end)[:PYTHON_ROW_LIMIT]
    )
    values = [finish - begin for begin, finish in pairs]
    return DurationSummary(
        count=len(values),
        median=percentile_cont(values, 0.5),
        p90=percentile_cont(values, 0.9),
    )
