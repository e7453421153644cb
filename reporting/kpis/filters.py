"""The filters every dashboard takes: a date window and optional channel, warehouse, category."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone


@dataclass(frozen=True)
class KpiFilters:
    """`start`..`end` are whole UTC days, both included. A KPI counts an event when the
    moment that ends it (a case closing, a unit leaving inspection) falls in the window."""

    start: date
    end: date
    channel_id: int | None = None
    warehouse_id: int | None = None
    category_id: int | None = None

    @classmethod
    def last_days(cls, days: int = 30, *, today: date | None = None, **dimensions) -> "KpiFilters":
        today = today or timezone.now().date()
        return cls(start=today - timedelta(days=days - 1), end=today, **dimensions)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first moment after the window (exclusive upper bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def as_query(self) -> dict[str, str]:
        """The filters as GET parameters, for drill-down and export links."""
        query = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        for name in ("channel", "warehouse", "category"):
            value = getattr(self, f"{name}_id")
            if value:
                query[name] = str(value)
        return query
