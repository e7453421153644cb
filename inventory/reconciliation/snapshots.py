"""Recording what an external system says we hold: one append-only snapshot per report.

`snapshot_record` is the one write path (interface I5): 3PL feeds from the inbox, Amazon
inventory reports and anything `integrations` pulls all come through it. A batch of 3PL feed
events reads what their snapshots look up once (`threepl_snapshots_prepare`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from erp.models import ChannelListing, Product, Warehouse
from erp.services.inbox_batch import inbox_batch_at_end

from ..models import (
    ExternalLocation,
    ExternalSnapshot,
    ExternalSnapshotHead,
    ExternalSnapshotLine,
    SnapshotScope,
    SnapshotSource,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

logger = logging.getLogger(__name__)

INCREMENTAL_TASK = "inventory.tasks.reconciliation_incremental"
_SOURCES = frozenset(SnapshotSource.values) - {SnapshotSource.STOREFRONT}


@dataclass(frozen=True)
class SnapshotLineIn:
    """One SKU at one external location, as the source counts it. A figure the source does
    not report is None (not 0). Field names follow `erp.adapters.threepl.StockLine`, so its
    lines can be passed as they are."""

    sku: str
    external_location: str = ""
    on_hand: int | None = None
    available: int | None = None
    allocated: int | None = None
    on_hold: int | None = None
    lot: str = ""


@dataclass(frozen=True)
class _Lookups:
    """What a batch of 3PL feed events' snapshots look up, read once for the batch."""

    recorded: set[tuple[str, str]]  # (source, external ref) already recorded
    products: dict[str, int]  # SKU → product, for every SKU the batch names that we know
    places: dict[str, dict[str, int]]  # source → {external location code: warehouse}
    operated: dict[str, list[int]]  # source → the active warehouses it operates
    reconcile: set[int] = field(default_factory=set)  # products to reconcile after commit
    # (source, warehouse) → (taken at, id) of each full snapshot the batch recorded for it
    heads: dict[tuple[str, int], list[tuple[datetime, int]]] = field(default_factory=dict)


_snapshot_batch: ContextVar[_Lookups | None] = ContextVar("snapshot_batch", default=None)


@dataclass(frozen=True)
class _Resolved:
    rows: list[tuple]
    unmatched: list[dict]
    warehouse_ids: set[int]
    product_ids: set[int]


def snapshot_record(
    *,
    source: str,
    taken_at: datetime,
    lines: Sequence[SnapshotLineIn],
    external_ref: str,
    warehouse_id: int | None = None,
    actor: User | None = None,
    scope: str = SnapshotScope.FULL,
    note: str = "",
    strict: bool = False,
) -> ExternalSnapshot:
    """Store what `source` said it held at `taken_at`.

    Effects: idempotent on (source, external_ref): a report already recorded is returned and
    nothing is written. Otherwise inserts one ExternalSnapshot and its lines, each SKU matched
    by our SKU or a channel listing's SKU and each external location through ExternalLocation
    (else `warehouse_id`, else the one warehouse the 3PL operates); lines that match nothing
    are kept on the snapshot as `unmatched` with the reason. A full snapshot newer than the
    current one of its (source, warehouse) becomes the one variances compare with; older
    snapshots are never changed. After commit, queues an incremental reconciliation of its
    SKUs. `strict` refuses (ValidationError naming each line) a report with unmatched lines.
    Inside `threepl_snapshots_prepare`, lookups come from the batch's and its reconciliation
    is queued once for the batch.
    """
    if source not in _SOURCES:
        raise ValidationError(f"Unknown snapshot source {source!r}.", code="unknown_source")
    if scope not in SnapshotScope.values:
        raise ValidationError(f"Unknown snapshot scope {scope!r}.", code="unknown_scope")
    external_ref = (external_ref or "").strip()
    if not external_ref or len(external_ref) > 200:
        raise ValidationError("A snapshot needs a reference of 1 to 200 characters.", "bad_ref")
    if taken_at is None or timezone.is_naive(taken_at):
        raise ValidationError("A snapshot needs an aware taken_at.", code="bad_taken_at")
    known = _snapshot_batch.get()
    if known is not None and source not in known.places:
        known = None  # not one of the batch's sources: nothing was read for it
    # In a batch the inbox holds the savepoint (or rolls the whole batch back): no second one.
    with transaction.atomic(savepoint=known is None):
        if known is None or (source, external_ref) in known.recorded:
            existing = ExternalSnapshot.objects.filter(
                source=source, external_ref=external_ref
            ).first()
            if existing is not None:
                return existing
        resolved = _resolve(source, lines, warehouse_id=warehouse_id, known=known)
        if strict and resolved.unmatched:
            raise ValidationError(
                "; ".join(f"line {u['line']}: {u['why']}" for u in resolved.unmatched[:20]),
                code="unmatched_lines",
            )
        return _write(
            source=source,
            taken_at=taken_at,
            lines=lines,
            external_ref=external_ref,
            warehouse_id=warehouse_id,
            actor=actor,
            scope=scope,
            note=note,
            resolved=resolved,
            known=known,
        )


def _write(
    *,
    source: str,
    taken_at: datetime,
    lines: Sequence[SnapshotLineIn],
    external_ref: str,
    warehouse_id: int | None,
    actor: User | None,
    scope: str,
    note: str,
    resolved: _Resolved,
    known: _Lookups | None,
) -> ExternalSnapshot:
    snapshot = ExternalSnapshot(
        source=source,
        external_ref=external_ref,
        scope=scope,
        warehouse_id=warehouse_id,
        taken_at=taken_at,
        recorded_by=actor,
        line_count=len(resolved.rows),
        unmatched=resolved.unmatched,
        reports_on_hand=any(line.on_hand is not None for line in lines),
        reports_sellable=any(line.available is not None for line in lines),
        note=note[:200],
    )
    if known is not None:
        # Checked against the batch's read: a concurrent recording of the same report fails
        # the batch's fast pass, and the event's own retry finds that one.
        snapshot.save()
        known.recorded.add((source, external_ref))
    else:
        try:
            with transaction.atomic():
                snapshot.save()
        except IntegrityError:
            # The same report recorded concurrently: that one stands.
            return ExternalSnapshot.objects.get(source=source, external_ref=external_ref)
    _lines_write(snapshot.pk, resolved.rows)
    if scope == SnapshotScope.FULL:
        covered = resolved.warehouse_ids | ({warehouse_id} if warehouse_id else set())
        if known is None:
            _heads_advance(snapshot, covered)
        else:
            for warehouse in covered:
                known.heads.setdefault((source, warehouse), []).append(
                    (snapshot.taken_at, snapshot.pk)
                )
    if scope != SnapshotScope.DELTA and resolved.product_ids:
        if known is not None:
            known.reconcile.update(resolved.product_ids)
        else:
            products = sorted(resolved.product_ids)
            transaction.on_commit(lambda: reconciliation_queue_incremental(product_ids=products))
    return snapshot


def reconciliation_queue_incremental(*, product_ids: Iterable[int] | None = None) -> None:
    """Effects: none on the database; asks a worker for an incremental run of these SKUs (of
    the SKUs moved since the last run when None). A broker outage only delays it: the beat
    runs the same task every few seconds."""
    try:
        current_app.send_task(
            INCREMENTAL_TASK,
            kwargs={"product_ids": list(product_ids) if product_ids is not None else None},
            queue=getattr(settings, "ERP_RECONCILIATION_QUEUE", None),
            retry_policy={"max_retries": 0},
        )
    except Exception:
        logger.warning("Could not queue an incremental reconciliation", exc_info=True)


def _products(skus: set[str]) -> dict[str, int]:
    """{SKU: product} by our SKU, else by a channel's own SKU for one of ours (e.g. an Amazon
    seller SKU) when unambiguous; unknown SKUs are left out."""
    products = _products_by_sku(sorted(skus))
    missing = skus - products.keys()
    if missing:
        listed: dict[str, set[int]] = {}
        for channel_sku, product_id in ChannelListing.objects.filter(
            channel_sku__in=missing
        ).values_list("channel_sku", "product_id"):
            listed.setdefault(channel_sku, set()).add(product_id)
        products.update({sku: ids.pop() for sku, ids in listed.items() if len(ids) == 1})
    return products


def _places(sources: set[str]) -> dict[str, dict[str, int]]:
    places: dict[str, dict[str, int]] = {source: {} for source in sources}
    for source, code, warehouse in ExternalLocation.objects.filter(source__in=sources).values_list(
        "source", "external_code", "warehouse_id"
    ):
        places[source][code] = warehouse
    return places


def _operated(sources: set[str]) -> dict[str, list[int]]:
    operated: dict[str, list[int]] = {source: [] for source in sources}
    for source, pk in Warehouse.objects.filter(provider__in=sources, is_active=True).values_list(
        "provider", "pk"
    ):
        operated[source].append(pk)
    return operated


def _resolve(
    source: str,
    lines: Sequence[SnapshotLineIn],
    *,
    warehouse_id: int | None,
    known: _Lookups | None = None,
) -> _Resolved:
    skus = {line.sku.strip() for line in lines}
    products = known.products if known is not None else _products(skus)
    places = known.places[source] if known is not None else _places({source})[source]
    fallback = warehouse_id or places.get("")
    if fallback is None:
        operated = known.operated[source] if known is not None else _operated({source})[source]
        fallback = operated[0] if len(operated) == 1 else None
    rows, unmatched, warehouses, product_ids = [], [], set(), set()
    for index, line in enumerate(lines, start=1):
        sku = line.sku.strip()
        product_id = products.get(sku)
        code = line.external_location.strip()
        # Once a source's locations are mapped, a code not among them is unknown, not "the
        # default": stock must not land in the wrong warehouse's comparison.
        place = places.get(code) if code in places or (code and places) else fallback
        if product_id is None or place is None:
            if product_id is None:
                why = f"Unknown SKU {sku!r}: no product or channel listing has it."
            elif code:
                why = f"Unknown location {code!r}: map it to a warehouse."
            else:
                why = f"No warehouse is mapped for {source}: add an external location."
            unmatched.append(
                {"line": index, "sku": sku, "location": line.external_location, "why": why}
            )
            continue
        warehouses.add(place)
        product_ids.add(product_id)
        rows.append(
            (
                product_id,
                place,
                line.lot or "",
                line.on_hand,
                line.available,
                line.allocated,
                line.on_hold,
            )
        )
    return _Resolved(rows, unmatched, warehouses, product_ids)


def _products_by_sku(skus: list[str]) -> dict[str, int]:
    """{sku: product id}; on PostgreSQL one array parameter, not an IN list of every SKU
    (planning a 20,000-item IN list cost more than the rest of a report)."""
    if connection.vendor != "postgresql":
        found: dict[str, int] = {}
        for start in range(0, len(skus), 500):
            found.update(
                Product.objects.filter(sku__in=skus[start : start + 500]).values_list("sku", "pk")
            )
        return found
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sku, id FROM {connection.ops.quote_name(Product._meta.db_table)} "
            "WHERE sku = ANY(%s)",
            [skus],
        )
        return dict(cursor.fetchall())


_LINE_COLUMNS = ("product_id", "warehouse_id", "lot", "on_hand", "sellable", "reserved", "on_hold")


def _lines_write(snapshot_id: int, rows: list[tuple]) -> None:
    """COPY the lines on PostgreSQL (a 100k-line report in about a second); bulk insert
    elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        ExternalSnapshotLine.objects.bulk_create(
            [
                ExternalSnapshotLine(
                    snapshot_id=snapshot_id, **dict(zip(_LINE_COLUMNS, r, strict=False))
                )
                for r in rows
            ],
            batch_size=2000,
        )
        return
    table = connection.ops.quote_name(ExternalSnapshotLine._meta.db_table)
    columns = ", ".join(("snapshot_id", *_LINE_COLUMNS))
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["int8", "int8", "int8", "varchar", "int8", "int8", "int8", "int8"])
        for row in rows:
            copy.write_row((snapshot_id, *row))


def _heads_advance_batch(recorded: dict[tuple[str, int], list[tuple[datetime, int]]]) -> None:
    """A batch's `_heads_advance`, at its end: the heads it moves locked in one query, in
    (source, warehouse) order, each pointed at the newest snapshot the batch recorded for it
    unless a newer one is there. Snapshots whose event's savepoint rolled back are left out."""
    ids = [pk for seen in recorded.values() for _, pk in seen]
    kept = set(ExternalSnapshot.objects.filter(pk__in=ids).values_list("pk", flat=True))
    newest = {
        key: max(s for s in seen if s[1] in kept)
        for key, seen in recorded.items()
        if any(s[1] in kept for s in seen)
    }
    if not newest:
        return
    wanted = Q()
    for source, warehouse_id in newest:
        wanted |= Q(source=source, warehouse_id=warehouse_id)
    heads = {
        (head.source, head.warehouse_id): head
        for head in ExternalSnapshotHead.objects.select_for_update()
        .filter(wanted)
        .order_by("source", "warehouse_id")
    }
    for key in sorted(newest):
        taken_at, snapshot_id = newest[key]
        head = heads.get(key)
        if head is None:
            ExternalSnapshotHead.objects.create(
                source=key[0], warehouse_id=key[1], snapshot_id=snapshot_id, taken_at=taken_at
            )
        elif (head.taken_at, head.snapshot_id) < (taken_at, snapshot_id):
            head.snapshot_id = snapshot_id
            head.taken_at = taken_at
            head.save(update_fields=["snapshot", "taken_at"])


def _heads_advance(snapshot: ExternalSnapshot, warehouse_ids: set[int]) -> None:
    """Point each covered (source, warehouse) at this snapshot unless a newer one is there."""
    for warehouse_id in sorted(warehouse_ids):
        head = (
            ExternalSnapshotHead.objects.select_for_update()
            .filter(source=snapshot.source, warehouse_id=warehouse_id)
            .first()
        )
        if head is None:
            ExternalSnapshotHead.objects.create(
                source=snapshot.source,
                warehouse_id=warehouse_id,
                snapshot=snapshot,
                taken_at=snapshot.taken_at,
            )
        elif (head.taken_at, head.snapshot_id) < (snapshot.taken_at, snapshot.pk):
            head.snapshot = snapshot
            head.taken_at = snapshot.taken_at
            head.save(update_fields=["snapshot", "taken_at"])


# --- 3PL feeds from the inbox ----------------------------------------------------------------

# (inbox source, topic) of the 3PL stock feeds; registered from InventoryConfig.ready().
THREEPL_SNAPSHOT_TOPICS = (
    ("shiphero", "Inventory Update"),
    ("shiphero", "Inventory Change"),
    ("shipbob", "inventory"),
    ("extensiv", "stocksummaries"),
)


@contextmanager
def threepl_snapshots_prepare(pairs: list):
    """Inside: `snapshot_record`, called by `threepl_snapshot_handle` for these (event,
    `StockSnapshot`) pairs, finds the reports already recorded, the products of every SKU
    they name, the sources' mapped locations and operated warehouses from five queries for the
    batch instead of up to five (and two savepoints) per event; the batch's snapshots queue
    one incremental reconciliation, after commit, instead of one each, and move the heads
    they advance once, at the end of the inbox batch (`inbox_batch_at_end`)."""
    sources = {event.source for event, _ in pairs}
    refs = {event.external_id.strip() for event, _ in pairs}
    known = _Lookups(
        recorded=set(
            ExternalSnapshot.objects.filter(source__in=sources, external_ref__in=refs).values_list(
                "source", "external_ref"
            )
        ),
        products=_products({line.sku.strip() for _, message in pairs for line in message.lines}),
        places=_places(sources),
        operated=_operated(sources),
    )
    token = _snapshot_batch.set(known)
    try:
        yield
    finally:
        _snapshot_batch.reset(token)
    if known.heads:
        # Heads are shared by every batch with a full report of the source: moved last.
        inbox_batch_at_end(partial(_heads_advance_batch, known.heads))
    if known.reconcile:
        products = sorted(known.reconcile)
        transaction.on_commit(lambda: reconciliation_queue_incremental(product_ids=products))


def threepl_snapshots_footprint(pairs: list) -> list[set]:
    """For `erp.services.inbox_schedule`: a 3PL feed event touches its source's snapshots and
    heads, and nothing a return case or another source's feed reads."""
    return [{("snapshots", event.source)} for event, _ in pairs]


def threepl_snapshot_handle(*, event, message) -> None:
    """Inbox handler: a 3PL's `erp.adapters.threepl.StockSnapshot` becomes a snapshot.

    Effects: records the snapshot under the event's external id (a redelivery records
    nothing); a ShipHero update lists only what changed, so it is partial; a change event is
    a delta kept as evidence; ShipBob and Extensiv summaries are full. A line whose SKU or
    location we do not know parks the event (nothing recorded) so it can be replayed once
    master data is fixed.
    """
    from erp.services.inbox import InboundEventParked

    if message.is_delta:
        scope = SnapshotScope.DELTA
    elif event.source == SnapshotSource.SHIPHERO:
        scope = SnapshotScope.PARTIAL
    else:
        scope = SnapshotScope.FULL
    try:
        snapshot_record(
            source=event.source,
            taken_at=message.taken_at or event.occurred_at or event.received_at,
            lines=[
                SnapshotLineIn(
                    sku=line.sku,
                    external_location=line.external_location,
                    on_hand=line.on_hand,
                    available=line.available,
                    allocated=line.allocated,
                    on_hold=line.on_hold,
                    lot=line.lot,
                )
                for line in message.lines
            ],
            external_ref=event.external_id,
            scope=scope,
            note=message.reason or event.topic,
            strict=True,
        )
    except ValidationError as error:
        raise InboundEventParked(
            "; ".join(error.messages), subject_label=f"{event.get_source_display()} stock"
        ) from error
