"""Daily KPI snapshots: one row per (day, metric, dimension), so trend charts read a handful
of rows instead of recomputing months of history."""

from django.db import models
from django.utils import timezone


class KpiSnapshot(models.Model):
    """A KPI's value for one UTC day. `dimension` is "" for all, else "channel:<id>",
    "warehouse:<id>" or "category:<id>"; `value` is empty when nothing happened that day (a
    median of nothing). Window figures that do not add up over days (medians, tables) keep
    the day's parts in `breakdown`, which add up."""

    day = models.DateField()
    metric = models.CharField(max_length=60)
    dimension = models.CharField(max_length=40, blank=True, default="")
    value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    count = models.PositiveIntegerField(default=0)
    breakdown = models.JSONField(
        null=True,
        blank=True,
        help_text="A metric made of parts: hours → cases for a duration histogram, "
        '"<id>|<reason id>" → [lines, units] for reasons, SKU id → [shipped, returned].',
    )
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["day", "metric", "dimension"]
        default_permissions = ("view",)
        permissions = [
            ("view_dashboards", "Can open the KPI dashboards of their role"),
            ("view_all_dashboards", "Can open every role's dashboard and the executive overview"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "metric", "dimension"], name="kpi_snapshot_unique"
            )
        ]
        indexes = [models.Index(fields=["dimension", "metric", "day"], name="kpi_snapshot_trend")]

    def __str__(self) -> str:
        return f"{self.day} {self.metric} {self.dimension or 'all'}: {self.value}"
