"""Computing variances set-based in PostgreSQL, keeping their exceptions in step, and the
manager's correction.

One statement compares a slice of SKUs (an id range for a full run's chunk, or a list for an
incremental run) against every external view: it reads the balances, the newest snapshot per
(source, warehouse) plus newer partial reports, the movements after each snapshot's taken_at,
and upserts one variance row per key with a difference (or one already on file). No Python
loop touches a key; exceptions are opened and resolved for the few rows that cross tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from erp.models import Channel, ExceptionCase, Location, OutboxMessage, Product, Warehouse
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind, SubjectType
from erp.services import exception_open, exception_resolve_as_system

from ..models import (
    Bucket,
    CauseType,
    ChannelAvailability,
    ExternalSnapshot,
    ExternalSnapshotHead,
    ExternalSnapshotLine,
    ReconciliationTolerance,
    ReconciliationVariance,
    SnapshotScope,
    SnapshotSource,
    StockBalance,
    StockMovement,
    StockState,
    VarianceCorrection,
    VarianceStatus,
)
from ..models.reconciliation import VARIANCE_FIGURES
from .buckets import PHYSICAL_STATES
from .explanations import evidence_summary, split_sql
from .portable import late_pending_portable, variances_compute_portable

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

S = StockState
AVAILABILITY_TOPIC = "availability.changed"
ACCEPT_PERMISSION = "inventory.accept_variance"
DEFAULT_DISPOSITION_SLA = timedelta(hours=24)


def disposition_sla() -> timedelta:
    hours = getattr(settings, "RECONCILIATION_3PL_DISPOSITION_SLA_HOURS", None)
    return timedelta(hours=hours) if hours is not None else DEFAULT_DISPOSITION_SLA


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclass(frozen=True)
class Slice:
    """Which SKUs a statement covers: an id range (full run chunk) or a list (incremental)."""

    lo: int | None = None
    hi: int | None = None
    ids: tuple[int, ...] | None = None

    def where(self, column: str) -> str:
        if self.ids is not None:
            return f"{column} = ANY(%(ids)s)"
        return f"{column} BETWEEN %(lo)s AND %(hi)s"

    def q(self, field: str) -> Q:
        if self.ids is not None:
            return Q(**{f"{field}__in": self.ids})
        return Q(**{f"{field}__gte": self.lo, f"{field}__lte": self.hi})

    def params(self) -> dict:
        if self.ids is not None:
            return {"ids": list(self.ids)}
        return {"lo": self.lo, "hi": self.hi}


# Σ over bucket states of movements into, minus out of, the key's warehouse.
def _net_into(states_param: str) -> str:
    return (
        f"SUM(CASE WHEN tl.warehouse_id = k.warehouse_id AND m.to_state = ANY({states_param}) "
        "THEN m.qty ELSE 0 END) "
        f"- SUM(CASE WHEN fl.warehouse_id = k.warehouse_id AND m.from_state = ANY({states_param}) "
        "THEN m.qty ELSE 0 END)"
    )


# The most specific tolerance applies: source and category, then source, then category, then
# neither. Their columns are NOT NULL, so COALESCE in that order picks that row's figures; four
# joins on a handful of rows cost less than a sorted subquery per key.
_TOLERANCE_JOIN = "\n".join(
    f"LEFT JOIN {_t(ReconciliationTolerance)} t{n} ON t{n}.source = {source} "
    f"AND t{n}.category_id {category}"
    for n, source, category in (
        (1, "f.source", "= p.category_id"),
        (2, "f.source", "IS NULL"),
        (3, "''", "= p.category_id"),
        (4, "''", "IS NULL"),
    )
)


def _tolerance(column: str) -> str:
    return f"COALESCE(t1.{column}, t2.{column}, t3.{column}, t4.{column}, 0)"


_STATUS = f"""CASE
    WHEN f.difference = 0 THEN 'matched'
    WHEN f.unexplained = 0 THEN 'explained'
    WHEN ABS(f.unexplained) > {_tolerance("units")}
     AND ABS(f.unexplained) * 100 > {_tolerance("percent")} * GREATEST(f.erp_qty, 0)
     AND ABS(f.unexplained) * p.unit_cost > {_tolerance("value")} THEN 'over_tolerance'
    ELSE 'within_tolerance' END"""

_COLUMNS = (
    "source, bucket, product_id, scope_id, warehouse_id, channel_id, snapshot_id, taken_at, "
    "erp_qty, external_qty, difference, after_snapshot, pending_disposition, in_transit, "
    "unacknowledged, explained, unexplained, unit_cost, unexplained_value, status, "
    "unexplained_since, computed_at, run_id"
)

_COMPARED = ", ".join(f"@{name}" for name in VARIANCE_FIGURES)

# What a row on file keeps when nothing compares it any more (its unit cost stays too), and
# the figures that go to zero (`unexplained_value` too), in the order of _COLUMNS.
_KEPT = ("warehouse_id", "channel_id", "snapshot_id", "taken_at")
_ZEROED = tuple(
    name
    for name in VARIANCE_FIGURES
    if name not in (*_KEPT, "unit_cost", "unexplained_value", "status")
)


def _on_file(part: Slice, buckets: str) -> str:
    """The slice's rows on file of these buckets, read once: the keys they name are compared
    in full even when they match now, and those nothing compares any more clear."""
    return f"""on_file AS MATERIALIZED (
    SELECT source, bucket, product_id, scope_id, {", ".join(VARIANCE_FIGURES)}
    FROM {_t(ReconciliationVariance)}
    WHERE {part.where("product_id")} AND bucket IN ({buckets})
)"""


# `judged` holds every compared row of the slice with its figures and status. Written are the
# judged rows with a difference, pending units or a row on file, and the rows on file that
# nothing judged any more (the snapshot moved on, the stock and the report are both gone),
# which clear to zero. A FULL JOIN pairs the two (hash or merge join, never a loop of one side
# over the other). Only the rows whose figures differ from those on file are written (a row
# the upsert finds unchanged would still be locked): most rows, run after run.
_FILED = ", ".join(f"filed_{name}" for name in VARIANCE_FIGURES)
_WRITE = f"""
produced ({_COLUMNS}, {_FILED}) AS (
    SELECT COALESCE(j.source, v.source), COALESCE(j.bucket, v.bucket),
           COALESCE(j.product_id, v.product_id), COALESCE(j.scope_id, v.scope_id),
           {", ".join(f"CASE WHEN j.source IS NULL THEN v.{c} ELSE j.{c} END" for c in _KEPT)},
           {", ".join(f"COALESCE(j.{c}, 0)" for c in _ZEROED)},
           COALESCE(j.unit_cost, v.unit_cost), COALESCE(j.unexplained_value, 0),
           COALESCE(j.status, '{VarianceStatus.MATCHED}'),
           CASE WHEN j.unexplained <> 0 THEN %(now)s::timestamptz END, %(now)s, %(run)s,
           {", ".join(f"v.{name}" for name in VARIANCE_FIGURES)}
    FROM judged j FULL JOIN on_file v
      ON v.source = j.source AND v.bucket = j.bucket AND v.product_id = j.product_id
     AND v.scope_id = j.scope_id
    WHERE j.difference <> 0 OR j.pending_disposition <> 0 OR (
        v.source IS NOT NULL
        AND (j.source IS NOT NULL OR v.status <> '{VarianceStatus.MATCHED}'))
)
INSERT INTO {_t(ReconciliationVariance)} ({_COLUMNS})
SELECT {_COLUMNS} FROM produced
WHERE filed_status IS NULL OR ({", ".join(VARIANCE_FIGURES)}) IS DISTINCT FROM ({_FILED})
ON CONFLICT (source, bucket, product_id, scope_id) DO UPDATE SET
    warehouse_id = EXCLUDED.warehouse_id, channel_id = EXCLUDED.channel_id,
    snapshot_id = EXCLUDED.snapshot_id, taken_at = EXCLUDED.taken_at,
    erp_qty = EXCLUDED.erp_qty, external_qty = EXCLUDED.external_qty,
    difference = EXCLUDED.difference, after_snapshot = EXCLUDED.after_snapshot,
    pending_disposition = EXCLUDED.pending_disposition, in_transit = EXCLUDED.in_transit,
    unacknowledged = EXCLUDED.unacknowledged, explained = EXCLUDED.explained,
    unexplained = EXCLUDED.unexplained, unit_cost = EXCLUDED.unit_cost,
    unexplained_value = EXCLUDED.unexplained_value, status = EXCLUDED.status,
    unexplained_since = CASE WHEN EXCLUDED.unexplained = 0 THEN NULL
        ELSE COALESCE({_t(ReconciliationVariance)}.unexplained_since, EXCLUDED.unexplained_since)
        END,
    computed_at = EXCLUDED.computed_at, run_id = EXCLUDED.run_id
WHERE ({_COMPARED.replace("@", _t(ReconciliationVariance) + ".")})
    IS DISTINCT FROM ({_COMPARED.replace("@", "EXCLUDED.")})"""


# The columns of `judged` before the unit cost, per kind of key (see `_WRITE`).
_STOCK_JUDGED = """f.source, f.bucket, f.product_id, f.warehouse_id AS scope_id, f.warehouse_id,
    NULL::bigint AS channel_id, f.snapshot_id, f.taken_at, f.erp_qty, f.ext_qty AS external_qty,
    f.difference, f.after_snapshot, f.pending_disposition, f.in_transit, 0 AS unacknowledged,
    f.difference - f.unexplained AS explained, f.unexplained"""
_ATS_JUDGED = f"""f.source, '{Bucket.ATS}'::varchar AS bucket, f.product_id,
    f.channel_id AS scope_id, NULL::bigint AS warehouse_id, f.channel_id,
    NULL::bigint AS snapshot_id, %(now)s::timestamptz AS taken_at, f.erp_qty,
    f.ext_qty AS external_qty, f.difference,
    0 AS after_snapshot, 0 AS pending_disposition, 0 AS in_transit, f.unacknowledged,
    f.difference - f.unexplained AS explained, f.unexplained"""


def _judged(part: Slice, select: str) -> str:
    """`select` (columns over `f`) with the SKU's unit cost, the tolerance and the status."""
    return f"""judged AS (
    SELECT {select}, p.unit_cost, ABS(f.unexplained) * p.unit_cost AS unexplained_value,
           {_STATUS} AS status
    FROM f JOIN {_t(Product)} p ON p.id = f.product_id AND {part.where("p.id")}
    {_TOLERANCE_JOIN}
)"""


def _stock_sql(part: Slice) -> str:
    """Warehouse keys (3PL, WMS and marketplace snapshots) of one slice of SKUs.

    One pass joins our figures with the external ones per key, as the raw join of balances and
    snapshot lines does; only the keys that differ, hold pending units or have a row on file go
    further (the movements after taken_at, the split, the tolerance), so a run's cost follows
    the data compared plus the variances, not the variances times anything.
    """
    components = ["c.after_snapshot", "c.pending_disposition", "c.in_transit"]
    return f"""
WITH heads AS MATERIALIZED (
    SELECT h.source, h.warehouse_id, h.snapshot_id, h.taken_at,
           s.reports_on_hand, s.reports_sellable
    FROM {_t(ExternalSnapshotHead)} h JOIN {_t(ExternalSnapshot)} s ON s.id = h.snapshot_id
),
-- Partial reports newer than their source's head at the warehouse: the newest per key.
newer AS MATERIALIZED (
    SELECT DISTINCT ON (s.source, l.product_id, l.warehouse_id)
           s.source, l.product_id, l.warehouse_id, s.id AS snapshot_id, s.taken_at,
           SUM(l.on_hand) AS on_hand, SUM(l.sellable) AS sellable
    FROM {_t(ExternalSnapshotLine)} l
    JOIN {_t(ExternalSnapshot)} s ON s.id = l.snapshot_id AND s.scope = '{SnapshotScope.PARTIAL}'
    LEFT JOIN heads h ON h.source = s.source AND h.warehouse_id = l.warehouse_id
    WHERE {part.where("l.product_id")} AND (h.taken_at IS NULL OR s.taken_at > h.taken_at)
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 5 DESC, 4 DESC
),
-- What each source reports per key: a newer partial report, else its head's lines.
ext AS (
    SELECT * FROM newer
    UNION ALL
    SELECT h.source, l.product_id, l.warehouse_id, h.snapshot_id, h.taken_at,
           SUM(l.on_hand), SUM(l.sellable)
    FROM heads h JOIN {_t(ExternalSnapshotLine)} l
      ON l.snapshot_id = h.snapshot_id AND l.warehouse_id = h.warehouse_id
    WHERE {part.where("l.product_id")} AND NOT EXISTS (
        SELECT 1 FROM newer n WHERE n.source = h.source AND n.product_id = l.product_id
          AND n.warehouse_id = l.warehouse_id)
    GROUP BY 1, 2, 3, 4, 5
),
-- The (source, warehouse) pairs compared: the heads (a SKU they do not list holds nothing
-- there) and, without a head, the warehouses of newer partial reports (the SKUs they list).
sides AS MATERIALIZED (
    SELECT source, warehouse_id, snapshot_id, taken_at, reports_on_hand, reports_sellable,
           true AS is_head
    FROM heads
    UNION ALL
    SELECT DISTINCT n.source, n.warehouse_id, NULL::bigint, NULL::timestamptz, NULL::boolean,
           NULL::boolean, false
    FROM newer n WHERE NOT EXISTS (
        SELECT 1 FROM heads h WHERE h.source = n.source AND h.warehouse_id = n.warehouse_id)
),
erp AS (
    SELECT b.product_id, loc.warehouse_id,
           SUM(b.qty) FILTER (WHERE b.state = 'available') AS sellable,
           SUM(b.qty) FILTER (WHERE b.state = ANY(%(physical)s)) AS on_hand,
           SUM(b.qty) FILTER (WHERE b.state = 'received_pending_inspection') AS pending,
           SUM(b.qty) FILTER (WHERE b.state = 'in_transit_return') AS in_transit
    FROM {_t(StockBalance)} b JOIN {_t(Location)} loc ON loc.id = b.location_id
    WHERE {part.where("b.product_id")}
      AND loc.warehouse_id IN (SELECT warehouse_id FROM sides)
    GROUP BY 1, 2
),
{_on_file(part, f"'{Bucket.SELLABLE}', '{Bucket.ON_HAND}'")},
-- Every key: ours and theirs side by side (the raw join, with the head's figures for a SKU
-- a full snapshot does not list). Only the keys that can produce a row go on (materialized:
-- what follows is planned apart, for these few rows).
hot AS MATERIALIZED (
    SELECT * FROM (
        SELECT COALESCE(x.source, sd.source) AS source,
               COALESCE(x.product_id, e.product_id) AS product_id,
               COALESCE(x.warehouse_id, e.warehouse_id) AS warehouse_id,
               COALESCE(x.snapshot_id, sd.snapshot_id) AS snapshot_id,
               COALESCE(x.taken_at, sd.taken_at) AS taken_at,
               CASE WHEN x.source IS NOT NULL THEN x.sellable
                    WHEN sd.reports_sellable THEN 0 END AS ext_sellable,
               CASE WHEN x.source IS NOT NULL THEN x.on_hand
                    WHEN sd.reports_on_hand THEN 0 END AS ext_on_hand,
               COALESCE(e.sellable, 0) AS sellable, COALESCE(e.on_hand, 0) AS on_hand,
               COALESCE(e.pending, 0) AS pending, COALESCE(e.in_transit, 0) AS in_transit
        FROM (erp e JOIN sides sd ON sd.warehouse_id = e.warehouse_id)
        FULL JOIN ext x ON x.source = sd.source AND x.product_id = e.product_id
          AND x.warehouse_id = e.warehouse_id
        WHERE x.source IS NOT NULL OR sd.is_head
    ) k
    WHERE (k.ext_sellable IS NOT NULL AND (k.ext_sellable <> k.sellable OR k.pending <> 0))
       OR (k.ext_on_hand IS NOT NULL AND k.ext_on_hand <> k.on_hand)
       -- A hashed subplan: one hash of the rows on file, however stale their estimate.
       -- A row that matched on the same snapshot with the same figures on both sides stays
       -- as it is: rows that once varied and cleared pile up run after run, and each would
       -- otherwise cost its movement probe again (its figures could not change).
       OR (k.source, k.product_id, k.warehouse_id) IN (
           SELECT source, product_id, scope_id FROM on_file v
           WHERE v.status <> '{VarianceStatus.MATCHED}')
       OR (k.source, k.product_id, k.warehouse_id, k.snapshot_id, k.in_transit,
           k.sellable, k.ext_sellable, k.on_hand, k.ext_on_hand) NOT IN (
           SELECT source, product_id, scope_id, snapshot_id, in_transit,
                  MAX(erp_qty) FILTER (WHERE bucket = '{Bucket.SELLABLE}'),
                  MAX(external_qty) FILTER (WHERE bucket = '{Bucket.SELLABLE}'),
                  MAX(erp_qty) FILTER (WHERE bucket = '{Bucket.ON_HAND}'),
                  MAX(external_qty) FILTER (WHERE bucket = '{Bucket.ON_HAND}')
           FROM on_file GROUP BY 1, 2, 3, 4, 5)
           AND (k.source, k.product_id, k.warehouse_id) IN (
               SELECT source, product_id, scope_id FROM on_file)
),
cmp AS (
    SELECT k.source, b.bucket, k.product_id, k.warehouse_id, k.snapshot_id, k.taken_at,
           b.erp_qty, b.ext_qty, b.ext_qty - b.erp_qty AS difference, b.after_snapshot,
           b.pending_disposition, k.in_transit
    FROM hot k
    -- Movements after taken_at, for these keys only: one probe of (SKU, occurred_at) each.
    LEFT JOIN LATERAL (
        SELECT {_net_into("%(sellable)s")} AS sellable, {_net_into("%(physical)s")} AS on_hand
        FROM {_t(StockMovement)} m
        LEFT JOIN {_t(Location)} tl ON tl.id = m.to_location_id
        LEFT JOIN {_t(Location)} fl ON fl.id = m.from_location_id
        WHERE m.product_id = k.product_id AND m.occurred_at > k.taken_at
          AND (tl.warehouse_id = k.warehouse_id OR fl.warehouse_id = k.warehouse_id)
    ) p ON true
    CROSS JOIN LATERAL (VALUES
        ('{Bucket.SELLABLE}', k.sellable, k.ext_sellable, -COALESCE(p.sellable, 0), k.pending),
        ('{Bucket.ON_HAND}', k.on_hand, k.ext_on_hand, -COALESCE(p.on_hand, 0), 0)
    ) AS b (bucket, erp_qty, ext_qty, after_snapshot, pending_disposition)
    WHERE b.ext_qty IS NOT NULL
),
f AS (SELECT c.*, c.difference - {split_sql("c.difference", components)} AS unexplained
      FROM cmp c),
{_judged(part, _STOCK_JUDGED)},{_WRITE}"""


def _ats_sql(part: Slice) -> str:
    """Channel keys: our ATS against the figure the channel last acknowledged (the ATS of
    version `last_pushed_version`, recorded by `inventory.availability_sync`). A push still in
    the outbox (not dead-lettered) explains the difference; a dead letter does not.

    Every ATS change bumps the version and queues its figure, so a SKU whose current version
    the channel acknowledged holds our ATS there: only the others (pushes not acknowledged yet)
    look up the acknowledged figure, and only they and the rows on file are written.
    """
    return f"""
WITH {_on_file(part, f"'{Bucket.ATS}'")},
-- Materialized: `pushing` is read by several expressions, each of which would plan its probe.
cmp AS MATERIALIZED (
    SELECT ca.product_id, ca.channel_id, ca.ats AS erp_qty, ca.version,
           ca.last_pushed_version AS ack_version,
           CASE WHEN ca.version = ca.last_pushed_version THEN ca.ats
                ELSE COALESCE((ack.payload ->> 'ats')::bigint, 0) END AS ext_qty,
           EXISTS (SELECT 1 FROM {_t(OutboxMessage)} om
                   WHERE om.ordering_key = 'availability:' || ca.channel_id || ':' || ca.product_id
                     AND om.topic = '{AVAILABILITY_TOPIC}' AND om.dispatched_at IS NULL
                     AND om.dead_lettered_at IS NULL) AS pushing
    FROM {_t(ChannelAvailability)} ca
    -- One probe of the unique dedupe key per unacknowledged key: a join on the expression
    -- would hash the whole outbox, which grows with every message ever sent.
    LEFT JOIN LATERAL (
        SELECT o.payload FROM {_t(OutboxMessage)} o
        WHERE ca.last_pushed_version > 0 AND ca.version <> ca.last_pushed_version
          AND o.dedupe_key = '{AVAILABILITY_TOPIC}:' || ca.channel_id || ':' || ca.product_id
              || ':' || ca.last_pushed_version
        OFFSET 0
    ) ack ON true
    WHERE {part.where("ca.product_id")}
      AND (ca.version <> ca.last_pushed_version
           OR (ca.product_id, ca.channel_id) IN (SELECT product_id, scope_id FROM on_file))
      -- A channel that never acknowledged a push takes none: there is nothing to compare.
      -- One probe per channel, not per key.
      AND ca.channel_id IN (
          SELECT c.id FROM {_t(Channel)} c WHERE EXISTS (
              SELECT 1 FROM {_t(ChannelAvailability)} acked
              WHERE acked.channel_id = c.id AND acked.last_pushed_version > 0))
),
f AS (
    SELECT cmp.*, cmp.ext_qty - cmp.erp_qty AS difference,
           CASE WHEN cmp.pushing AND cmp.version > cmp.ack_version
                THEN cmp.ext_qty - cmp.erp_qty ELSE 0 END AS unacknowledged,
           CASE WHEN cmp.pushing AND cmp.version > cmp.ack_version THEN 0
                ELSE cmp.ext_qty - cmp.erp_qty END AS unexplained,
           '{SnapshotSource.STOREFRONT}'::varchar AS source
    FROM cmp
),
{_judged(part, _ATS_JUDGED)},{_WRITE}"""


def _prepared(cursor, sql: str, params: dict) -> int:
    """Execute as a server-side prepared statement: planning these statements costs more
    than running them for a few SKUs, and a worker's connection runs them again and again.
    Returns the rows affected."""
    with connection.wrap_database_errors:
        cursor.cursor.execute(sql, params, prepare=True)
    return cursor.cursor.rowcount


@dataclass(frozen=True)
class SliceResult:
    keys: int
    opened: int
    resolved: int


def variances_compute(*, part: Slice, run_id: int, now: datetime | None = None) -> SliceResult:
    """Compare one slice of SKUs with every external view and keep exceptions in step.

    Effects: upserts the slice's variance rows (stock keys and channel ATS keys), clears the
    rows nothing compares any more, opens a `reconciliation_variance` exception with the
    evidence for each row over tolerance without one, resolves the exceptions of rows back
    within tolerance, and does the same for `late_3pl_disposition`. Returns the number of
    keys written and the exceptions opened / resolved.
    """
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        keys = variances_compute_portable(part=part, run_id=run_id, now=now)
        opened, resolved = _exceptions_sync(part, now=now)
        late_opened, late_resolved = late_dispositions_sync(part=part, now=now)
        return SliceResult(keys, opened + late_opened, resolved + late_resolved)
    params = {
        **part.params(),
        "now": now,
        "run": run_id,
        "physical": sorted(PHYSICAL_STATES),
        "sellable": [S.AVAILABLE],
    }
    with connection.cursor() as cursor:
        # JIT compiling these statements took longer than running them (their estimated cost
        # passes jit_above_cost at every size): about 120 ms of each full-run chunk. The
        # statements are prepared once per connection; for a list of SKUs a generic plan
        # serves every list, so a run of a few SKUs is not mostly planning. One round trip.
        cursor.execute(
            "SET LOCAL jit = off"
            + ("; SET LOCAL plan_cache_mode = force_generic_plan" if part.ids is not None else "")
        )
        keys = _prepared(cursor, _stock_sql(part), params)
        keys += _prepared(cursor, _ats_sql(part), params)
    opened, resolved = _exceptions_sync(part, now=now)
    late_opened, late_resolved = late_dispositions_sync(part=part, now=now)
    return SliceResult(keys, opened + late_opened, resolved + late_resolved)


def _exceptions_sync(part: Slice, *, now: datetime) -> tuple[int, int]:
    """Open an exception for each row of the slice over tolerance without one; resolve the
    exception of each row no longer over tolerance. The row remembers its exception, so a
    person who dismisses one is not asked again until the variance clears and returns."""
    # One query for both: the rows over tolerance without an exception, and the rows with
    # an exception that are no longer over tolerance.
    over_tolerance = Q(status=VarianceStatus.OVER_TOLERANCE)
    changed = list(
        ReconciliationVariance.objects.filter(part.q("product_id"))
        .filter(
            (over_tolerance & Q(exception__isnull=True))
            | (~over_tolerance & Q(exception__isnull=False))
        )
        .select_related("product", "warehouse", "channel")
        .order_by("pk")
    )
    over = [v for v in changed if v.status == VarianceStatus.OVER_TOLERANCE]
    cleared = [(v.pk, v.exception_id) for v in changed if v.status != VarianceStatus.OVER_TOLERANCE]
    for variance in over:
        exception = exception_open(
            kind=ExceptionKind.RECONCILIATION_VARIANCE,
            subject_type=SubjectType.VARIANCE,
            subject_id=variance.pk,
            subject_label=variance_label(variance),
            summary=(
                f"{variance.unexplained:+d} unexplained "
                f"({variance.get_bucket_display().lower()}, {variance.get_source_display()})"
            )[:200],
            details=(
                f"We hold {variance.erp_qty}, {variance.get_source_display()} reports "
                f"{variance.external_qty}; in-flight events explain {variance.explained}."
            ),
            evidence=evidence_summary(variance),
            product=variance.product,
        )
        ReconciliationVariance.objects.filter(pk=variance.pk).update(exception=exception)
    resolved = _exceptions_clear(
        kind=ExceptionKind.RECONCILIATION_VARIANCE,
        subject_type=SubjectType.VARIANCE,
        subject_ids=[str(pk) for pk, _ in cleared],
        reason="The variance cleared: it is matched, explained or within tolerance again.",
    )
    if cleared:
        ReconciliationVariance.objects.filter(pk__in=[pk for pk, _ in cleared]).update(
            exception=None
        )
    return len(over), resolved


def _exceptions_clear(*, kind: str, subject_type: str, subject_ids: list[str], reason: str) -> int:
    """Resolve, as the system, the active exceptions of `kind` on these subjects that this
    module opened (a variance that clears by itself has no person behind it)."""
    if not subject_ids:
        return 0
    ids = list(
        ExceptionCase.objects.filter(
            kind=kind,
            subject_type=subject_type,
            subject_id__in=subject_ids,
            state__in=ACTIVE_STATES,
            evidence__detector="reconciliation",
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for exception_id in ids:
        exception_resolve_as_system(exception_id=exception_id, reason=reason)
    return len(ids)


def variance_label(variance: ReconciliationVariance) -> str:
    where = variance.channel or variance.warehouse
    return f"{variance.product.sku} @ {where} ({variance.get_bucket_display().lower()})"[:200]


# --- Late 3PL dispositions ---------------------------------------------------------------------


def _late_sql(part: Slice) -> str:
    """(product, warehouse, pending qty, oldest pending receipt) at 3PL warehouses: the
    pending units are the newest receipts into `received_pending_inspection` (first in,
    first inspected), so the oldest still pending is the receipt at which the running total
    from the newest back reaches the pending quantity."""
    return f"""
WITH pend AS (
    SELECT b.product_id, loc.warehouse_id, SUM(b.qty) AS qty
    FROM {_t(StockBalance)} b
    JOIN {_t(Location)} loc ON loc.id = b.location_id
    JOIN {_t(Warehouse)} w ON w.id = loc.warehouse_id AND w.operator = '3pl'
    WHERE b.state = 'received_pending_inspection' AND b.qty > 0
      AND {part.where("b.product_id")}
    GROUP BY 1, 2
),
ins AS (
    SELECT p.product_id, p.warehouse_id, p.qty, m.occurred_at,
           SUM(m.qty) OVER (PARTITION BY p.product_id, p.warehouse_id
                            ORDER BY m.occurred_at DESC, m.id DESC) AS newest_total
    FROM pend p
    JOIN {_t(StockMovement)} m ON m.product_id = p.product_id
        AND m.to_state = 'received_pending_inspection'
    JOIN {_t(Location)} tl ON tl.id = m.to_location_id AND tl.warehouse_id = p.warehouse_id
)
SELECT product_id, warehouse_id, qty,
       COALESCE(MAX(occurred_at) FILTER (WHERE newest_total >= qty), MIN(occurred_at))
FROM ins GROUP BY 1, 2, 3"""


def late_dispositions_sync(*, part: Slice, now: datetime | None = None) -> tuple[int, int]:
    """Effects: opens a `late_3pl_disposition` exception per SKU whose units a 3PL received
    longer than the SLA ago without reporting their disposition (evidence: warehouses,
    quantities, oldest receipt); resolves the ones this module opened for SKUs of the slice
    that have none late any more. Returns (opened, resolved)."""
    now = now or timezone.now()
    cutoff = now - disposition_sla()
    if connection.vendor != "postgresql":
        pending = late_pending_portable(part)
    else:
        with connection.cursor() as cursor:
            _prepared(cursor, _late_sql(part), part.params())
            pending = cursor.fetchall()
    late: dict[int, list[dict]] = {}
    for product_id, warehouse_id, qty, oldest in pending:
        if oldest is not None and oldest < cutoff:
            late.setdefault(product_id, []).append(
                {"warehouse_id": warehouse_id, "qty": int(qty), "oldest": oldest.isoformat()}
            )
    opened = 0
    if late:
        products = Product.objects.in_bulk(list(late))
        active = set(
            ExceptionCase.objects.filter(
                kind=ExceptionKind.LATE_3PL_DISPOSITION,
                subject_type=SubjectType.PRODUCT,
                subject_id__in=[str(pk) for pk in late],
                state__in=ACTIVE_STATES,
            ).values_list("subject_id", flat=True)
        )
        for product_id, where in sorted(late.items()):
            if str(product_id) in active:
                continue
            units = sum(w["qty"] for w in where)
            exception_open(
                kind=ExceptionKind.LATE_3PL_DISPOSITION,
                subject_type=SubjectType.PRODUCT,
                subject_id=product_id,
                subject_label=products[product_id].sku,
                summary=f"{units} unit(s) received by a 3PL with no disposition reported",
                details=(
                    f"The 3PL received them more than {disposition_sla()} ago; until it "
                    "reports their disposition they are kept out of ATS."
                ),
                evidence={"detector": "reconciliation", "pending": where},
                product=products[product_id],
            )
            opened += 1
    in_slice = (
        ExceptionCase.objects.filter(
            kind=ExceptionKind.LATE_3PL_DISPOSITION,
            subject_type=SubjectType.PRODUCT,
            state__in=ACTIVE_STATES,
            evidence__detector="reconciliation",
        )
        .filter(part.q("product_id"))
        .values_list("subject_id", flat=True)
    )
    resolved = _exceptions_clear(
        kind=ExceptionKind.LATE_3PL_DISPOSITION,
        subject_type=SubjectType.PRODUCT,
        subject_ids=[pk for pk in in_slice if int(pk) not in late],
        reason="The 3PL reported the disposition of every late unit.",
    )
    return opened, resolved


# --- Corrections -------------------------------------------------------------------------------


@transaction.atomic
def variance_accept(*, variance_id: int, actor: User, reason: str) -> VarianceCorrection:
    """Accept the external figure: post the unexplained units as a stock adjustment.

    Effects: refuses without `inventory.accept_variance` (PermissionDenied), without a
    reason, for a channel ATS variance (fix the push instead) or one with nothing
    unexplained (ValidationError); locks the variance and posts, through
    `inventory.services.stock_adjust`, an adjustment of the unexplained units into (or out
    of) available stock at the warehouse's first stock location, caused by the variance
    (cause `snapshot_correction`, id = the variance's); records the correction. The next run
    sees the adjusted balance and clears the variance and its exception.
    """
    from inventory import services

    if not actor.has_perm(ACCEPT_PERMISSION):
        raise PermissionDenied("You may not accept reconciliation variances.")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the external figure is right."})
    variance = ReconciliationVariance.objects.select_for_update().get(pk=variance_id)
    if variance.bucket == Bucket.ATS:
        raise ValidationError(
            "A channel ATS variance is corrected by pushing availability again, not by "
            "adjusting stock."
        )
    if variance.unexplained == 0:
        raise ValidationError("Nothing is unexplained in this variance: nothing to correct.")
    location = (
        Location.objects.filter(
            warehouse_id=variance.warehouse_id, kind=Location.Kind.STOCK, is_active=True
        )
        .order_by("code")
        .first()
    )
    if location is None:
        raise ValidationError(f"{variance.warehouse} has no active stock location to adjust.")
    key = f"variance-accept:{variance.pk}:{variance.computed_at.isoformat()}"
    services.stock_adjust(
        product_id=variance.product_id,
        location_id=location.pk,
        state=S.AVAILABLE,
        qty_delta=int(variance.unexplained),
        reason=f"Reconciliation variance #{variance.pk} accepted: {reason}",
        actor=actor,
        idempotency_key=key,
        cause_type=CauseType.SNAPSHOT_CORRECTION,
        cause_id=str(variance.pk),
    )
    return VarianceCorrection.objects.create(
        variance=variance,
        qty_delta=variance.unexplained,
        location=location,
        state=S.AVAILABLE,
        reason=reason,
        accepted_by=actor,
        idempotency_key=key,
    )
