"""Cycle counts: plans, counts, their locations, lines, tablet entries and approvals; and who
may count (warehouse), approve within the limit (warehouse, operations managers) and approve
above it (operations managers)."""

from decimal import Decimal

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
import django_fsm
import simple_history.models
from django.conf import settings
from django.db import migrations, models

from erp.migration_grants import role_grants

GRANTS = {
    "warehouse": ["count_stock", "approve_count", "view_cyclecount", "view_countplan"],
    "operations_manager": [
        "count_stock",
        "approve_count",
        "approve_count_over_limit",
        "view_cyclecount",
        "view_countplan",
        "add_countplan",
        "change_countplan",
    ],
}
grant, revoke = role_grants("warehouse", GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("erp", "0007_order_number_index_and_exception_labels"),
        ("inventory", "0006_count_snapshot_source"),
        ("warehouse", "0002_checklists_rules_and_role_grants"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CountLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("lot", models.CharField(blank=True, default="", max_length=40)),
                ("serial", models.CharField(blank=True, default="", max_length=80)),
                ("counted_qty", models.PositiveIntegerField(blank=True, null=True)),
                ("system_qty", models.IntegerField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("counted", "Counted"),
                            ("recount", "Recount requested"),
                            ("approved", "Approved"),
                            ("posted", "Posted"),
                        ],
                        default="counted",
                        max_length=10,
                    ),
                ),
                (
                    "serial_outcome",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("found", "Found"),
                            ("missing", "Missing"),
                            ("unexpected", "Unexpected"),
                        ],
                        max_length=12,
                    ),
                ),
                ("round", models.PositiveSmallIntegerField(default=1)),
                (
                    "unit_cost",
                    models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True),
                ),
                ("recount_reason", models.CharField(blank=True, max_length=200)),
                (
                    "product",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="erp.product",
                    ),
                ),
            ],
            options={
                "ordering": ["count_location", "product", "lot", "serial"],
            },
        ),
        migrations.CreateModel(
            name="CountEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("client_token", models.CharField(max_length=64, unique=True)),
                ("qty", models.PositiveIntegerField()),
                ("round", models.PositiveSmallIntegerField(default=1)),
                ("counted_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "counted_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "line",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="entries",
                        to="warehouse.countline",
                    ),
                ),
            ],
            options={
                "ordering": ["counted_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="CountLocation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("snapshot_at", models.DateTimeField(blank=True, null=True)),
                ("done_at", models.DateTimeField(blank=True, null=True)),
                (
                    "location",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="erp.location",
                    ),
                ),
            ],
            options={
                "ordering": ["count", "location__code"],
            },
        ),
        migrations.AddField(
            model_name="countline",
            name="count_location",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="lines",
                to="warehouse.countlocation",
            ),
        ),
        migrations.CreateModel(
            name="CountPlan",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=120)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("locations", "By location"),
                            ("skus", "By SKU set"),
                            ("abc", "By ABC class (stock value)"),
                            (
                                "returns_touched",
                                "Locations touched by returns since the last count",
                            ),
                        ],
                        default="locations",
                        max_length=20,
                    ),
                ),
                (
                    "abc_class",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("A", "A (top 80% of stock value)"),
                            ("B", "B (next 15%)"),
                            ("C", "C (last 5%)"),
                        ],
                        max_length=1,
                    ),
                ),
                (
                    "every_days",
                    models.PositiveIntegerField(
                        blank=True, help_text="Empty: counted only when started by hand.", null=True
                    ),
                ),
                ("next_due_at", models.DateTimeField(blank=True, null=True)),
                (
                    "tolerance_units",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="A line off by more than this many units is recounted once.",
                    ),
                ),
                (
                    "approval_limit",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("500.00"),
                        help_text="Net variance value above which an operations manager must approve.",
                        max_digits=12,
                        validators=[django.core.validators.MinValueValidator(Decimal("0"))],
                    ),
                ),
                ("is_active", models.BooleanField(default=True)),
                ("last_counted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "locations",
                    models.ManyToManyField(blank=True, related_name="+", to="erp.location"),
                ),
                (
                    "products",
                    models.ManyToManyField(blank=True, related_name="+", to="erp.product"),
                ),
                (
                    "warehouse",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="erp.warehouse",
                    ),
                ),
            ],
            options={
                "ordering": ["warehouse", "name"],
            },
        ),
        migrations.CreateModel(
            name="CycleCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[
                            ("open", "Counting"),
                            ("review", "In review"),
                            ("posted", "Posted"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="open",
                        max_length=10,
                        protected=True,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "product_filter",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="Product ids the count is limited to (empty: all).",
                    ),
                ),
                ("tolerance_units", models.PositiveIntegerField(default=0)),
                (
                    "approval_limit",
                    models.DecimalField(decimal_places=2, default=Decimal("500"), max_digits=12),
                ),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                ("posted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "snapshot_id",
                    models.BigIntegerField(
                        blank=True,
                        help_text="The reconciliation snapshot this count recorded last.",
                        null=True,
                    ),
                ),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "plan",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="counts",
                        to="warehouse.countplan",
                    ),
                ),
                (
                    "posted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "warehouse",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="erp.warehouse",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("count_stock", "Can count stock on the tablet"),
                    ("approve_count", "Can approve count variances within the approval limit"),
                    (
                        "approve_count_over_limit",
                        "Can approve count variances above the approval limit",
                    ),
                ],
            },
            bases=(django_fsm.ConcurrentTransitionMixin, django_fsm.FSMModelMixin, models.Model),
        ),
        migrations.AddField(
            model_name="countlocation",
            name="count",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="locations",
                to="warehouse.cyclecount",
            ),
        ),
        migrations.AddField(
            model_name="countline",
            name="count",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="lines",
                to="warehouse.cyclecount",
            ),
        ),
        migrations.CreateModel(
            name="CountApproval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "decision",
                    models.CharField(
                        choices=[("approved", "Approved"), ("rejected", "Sent back for recount")],
                        max_length=10,
                    ),
                ),
                ("lines", models.PositiveIntegerField()),
                ("net_value", models.DecimalField(decimal_places=2, max_digits=14)),
                ("abs_value", models.DecimalField(decimal_places=2, max_digits=14)),
                ("decided_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("client_token", models.CharField(max_length=64, unique=True)),
                ("note", models.CharField(blank=True, max_length=200)),
                (
                    "decided_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "count",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="approvals",
                        to="warehouse.cyclecount",
                    ),
                ),
            ],
            options={
                "ordering": ["decided_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="HistoricalCountPlan",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=120)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("locations", "By location"),
                            ("skus", "By SKU set"),
                            ("abc", "By ABC class (stock value)"),
                            (
                                "returns_touched",
                                "Locations touched by returns since the last count",
                            ),
                        ],
                        default="locations",
                        max_length=20,
                    ),
                ),
                (
                    "abc_class",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("A", "A (top 80% of stock value)"),
                            ("B", "B (next 15%)"),
                            ("C", "C (last 5%)"),
                        ],
                        max_length=1,
                    ),
                ),
                (
                    "every_days",
                    models.PositiveIntegerField(
                        blank=True, help_text="Empty: counted only when started by hand.", null=True
                    ),
                ),
                ("next_due_at", models.DateTimeField(blank=True, null=True)),
                (
                    "tolerance_units",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="A line off by more than this many units is recounted once.",
                    ),
                ),
                (
                    "approval_limit",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("500.00"),
                        help_text="Net variance value above which an operations manager must approve.",
                        max_digits=12,
                        validators=[django.core.validators.MinValueValidator(Decimal("0"))],
                    ),
                ),
                ("is_active", models.BooleanField(default=True)),
                ("last_counted_at", models.DateTimeField(blank=True, null=True)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1
                    ),
                ),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "warehouse",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="erp.warehouse",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical count plan",
                "verbose_name_plural": "historical count plans",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalCycleCount",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[
                            ("open", "Counting"),
                            ("review", "In review"),
                            ("posted", "Posted"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="open",
                        max_length=10,
                        protected=True,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("tolerance_units", models.PositiveIntegerField(default=0)),
                (
                    "approval_limit",
                    models.DecimalField(decimal_places=2, default=Decimal("500"), max_digits=12),
                ),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                ("posted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "snapshot_id",
                    models.BigIntegerField(
                        blank=True,
                        help_text="The reconciliation snapshot this count recorded last.",
                        null=True,
                    ),
                ),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1
                    ),
                ),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "plan",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="warehouse.countplan",
                    ),
                ),
                (
                    "posted_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "warehouse",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="erp.warehouse",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical cycle count",
                "verbose_name_plural": "historical cycle counts",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.AddConstraint(
            model_name="countlocation",
            constraint=models.UniqueConstraint(
                fields=("count", "location"), name="count_location_unique"
            ),
        ),
        migrations.AddIndex(
            model_name="countline",
            index=models.Index(fields=["count", "status"], name="count_line_status"),
        ),
        migrations.AddConstraint(
            model_name="countline",
            constraint=models.UniqueConstraint(
                fields=("count_location", "product", "lot", "serial"), name="count_line_unique"
            ),
        ),
        migrations.RunPython(grant, revoke),
    ]
