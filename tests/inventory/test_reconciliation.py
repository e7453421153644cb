"""Reconciliation: snapshots, variances explained or escalated, tolerances, auto-resolution and
seed scenario 3 (a health-and-beauty 3PL's disposition feed arriving two days late)."""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from erp.models import Category, ExceptionCase, Location, OutboxMessage, Product, Warehouse
from erp.models.exceptions import ExceptionKind, ExceptionState, SubjectType
from inventory import services
from inventory.models import (
    Bucket,
    CauseType,
    ChannelAvailability,
    ExternalLocation,
    ExternalSnapshot,
    ExternalSnapshotHead,
    ReconciliationTolerance,
    ReconciliationVariance,
    SnapshotScope,
    StockMovement,
    VarianceCorrection,
    VarianceStatus,
)
from inventory.models import StockState as S
from inventory.reconciliation import (
    SnapshotLineIn,
    run_incremental,
    snapshot_record,
    variance_accept,
)
from inventory.reconciliation.explanations import split, split_sql, variance_evidence
from tests.factories import (
    CategoryFactory,
    ChannelFactory,
    LocationFactory,
    ProductFactory,
    UserFactory,
    WarehouseFactory,
)

T0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


@dataclass
class ThreePLWorld:
    warehouse: Warehouse
    shelf: Location
    dock: Location
    cream: Product
    serum: Product
    channel: object


def make_3pl_world() -> ThreePLWorld:
    """A health-and-beauty brand's stock at a ShipBob fulfillment center (mapped as "FC-7"),
    sold on one storefront."""
    warehouse = WarehouseFactory(
        code="hb-3pl", operator=Warehouse.Operator.THIRD_PARTY, provider="shipbob"
    )
    ExternalLocation.objects.create(source="shipbob", external_code="FC-7", warehouse=warehouse)
    beauty = CategoryFactory(code="hair-care", department=Category.Department.HEALTH_BEAUTY)
    return ThreePLWorld(
        warehouse=warehouse,
        shelf=LocationFactory(warehouse=warehouse, code="STOCK", kind=Location.Kind.STOCK),
        dock=LocationFactory(warehouse=warehouse, code="DOCK", kind=Location.Kind.RECEIVING),
        cream=ProductFactory(sku="CURL-CREAM", category=beauty, unit_cost=Decimal("4.00")),
        serum=ProductFactory(sku="HAIR-SERUM", category=beauty, unit_cost=Decimal("9.00")),
        channel=ChannelFactory(code="store"),
    )


@pytest.fixture
def tpl(db) -> ThreePLWorld:
    return make_3pl_world()


def stock_in(world, product, qty, key, *, state=S.AVAILABLE, at=T0 - timedelta(days=5), where=None):
    services.stock_receive(
        product_id=product.pk,
        location_id=(where or world.shelf).pk,
        qty=qty,
        to_state=state,
        idempotency_key=key,
        occurred_at=at,
    )


def report(ref, at, *lines, scope=SnapshotScope.FULL):
    """A ShipBob summary: (sku, on hand, available) per line, all at FC-7."""
    return snapshot_record(
        source="shipbob",
        taken_at=at,
        external_ref=ref,
        scope=scope,
        lines=[
            SnapshotLineIn(sku=sku, external_location="FC-7", on_hand=on_hand, available=avail)
            for sku, on_hand, avail in lines
        ],
    )


def variance(product, bucket=Bucket.SELLABLE, source="shipbob") -> ReconciliationVariance:
    return ReconciliationVariance.objects.get(product=product, bucket=bucket, source=source)


def active(kind, **filters):
    return ExceptionCase.objects.filter(
        kind=kind,
        state__in=[ExceptionState.OPEN, ExceptionState.ASSIGNED, ExceptionState.ESCALATED],
        **filters,
    )


def reconcile(*products, at):
    return run_incremental(product_ids=[p.pk for p in products], now=at)


# --- Snapshots (I5) -------------------------------------------------------------------------


def test_snapshot_record_is_idempotent_and_never_overwrites(tpl):
    # given a report recorded once
    first = report("sb-1", T0, ("CURL-CREAM", 10, 8))
    # when the same report arrives again with other figures, then a newer one
    again = report("sb-1", T0, ("CURL-CREAM", 99, 99))
    newer = report("sb-2", T0 + timedelta(hours=1), ("CURL-CREAM", 11, 9))
    # then the replay wrote nothing, and the newer one is another row the head points at
    assert again.pk == first.pk
    assert ExternalSnapshot.objects.count() == 2
    assert list(first.lines.values_list("on_hand", "sellable")) == [(10, 8)]
    head = ExternalSnapshotHead.objects.get(source="shipbob", warehouse=tpl.warehouse)
    assert head.snapshot_id == newer.pk


def test_an_older_snapshot_arriving_late_does_not_become_current(tpl):
    # given the 11:00 report is recorded
    newer = report("sb-2", T0 + timedelta(hours=1), ("CURL-CREAM", 11, 9))
    # when the 10:00 report arrives after it
    report("sb-1", T0, ("CURL-CREAM", 10, 8))
    # then variances still compare with 11:00
    assert ExternalSnapshotHead.objects.get(source="shipbob").snapshot_id == newer.pk


def test_unknown_skus_and_locations_are_kept_as_unmatched_with_the_reason(tpl):
    # when a report names a SKU and a fulfillment center we do not know
    snapshot = snapshot_record(
        source="shipbob",
        taken_at=T0,
        external_ref="sb-x",
        lines=[
            SnapshotLineIn(sku="NOPE", external_location="FC-7", on_hand=1, available=1),
            SnapshotLineIn(sku="CURL-CREAM", external_location="FC-99", on_hand=1, available=1),
            SnapshotLineIn(sku="CURL-CREAM", external_location="FC-7", on_hand=2, available=2),
        ],
    )
    # then the known line is stored and the others say why
    assert snapshot.line_count == 1
    assert [u["line"] for u in snapshot.unmatched] == [1, 2]
    assert "Unknown SKU 'NOPE'" in snapshot.unmatched[0]["why"]
    assert "FC-99" in snapshot.unmatched[1]["why"]
    # and strict mode refuses the whole report, writing nothing
    with pytest.raises(ValidationError, match="line 1"):
        snapshot_record(
            source="shipbob",
            taken_at=T0,
            external_ref="sb-y",
            strict=True,
            lines=[SnapshotLineIn(sku="NOPE", external_location="FC-7", on_hand=1)],
        )
    assert not ExternalSnapshot.objects.filter(external_ref="sb-y").exists()


def test_snapshot_record_refuses_bad_input(tpl):
    with pytest.raises(ValidationError, match="source"):
        snapshot_record(source="nowhere", taken_at=T0, external_ref="x", lines=[])
    with pytest.raises(ValidationError, match="aware"):
        snapshot_record(source="shipbob", taken_at=datetime(2026, 1, 1), external_ref="x", lines=[])
    assert ExternalSnapshot.objects.count() == 0


# --- Seed scenario 3 --------------------------------------------------------------------------


@pytest.mark.django_db
def test_scenario_3_three_pl_disposition_lag(tpl, settings):
    """A health-and-beauty 3PL receives returns; the disposition feed arrives two days later.
    During the lag ATS is not inflated and the variance is fully explained; after the SLA a
    late_3pl_disposition exception opens; when the feed arrives everything clears."""
    settings.RECONCILIATION_3PL_DISPOSITION_SLA_HOURS = 24
    # given 50 sellable units of curl cream at the 3PL
    stock_in(tpl, tpl.cream, 50, "opening")
    # when the 3PL receives 6 returned units at 10:00 (its receipt report reaches us)
    stock_in(
        tpl, tpl.cream, 6, "rcpt-1", state=S.RECEIVED_PENDING_INSPECTION, where=tpl.dock, at=T0
    )
    # and its stock summary at 12:00 already counts them as on hand and available
    report("sb-day0", T0 + timedelta(hours=2), ("CURL-CREAM", 56, 56))
    reconcile(tpl.cream, at=T0 + timedelta(hours=3))

    # then the storefront still sees 50: the returns are not sellable until dispositioned
    assert ChannelAvailability.objects.get(product=tpl.cream, channel=tpl.channel).ats == 50
    # and the sellable variance of +6 is fully explained by the pending disposition
    sellable = variance(tpl.cream)
    assert (sellable.erp_qty, sellable.external_qty, sellable.difference) == (50, 56, 6)
    assert (sellable.pending_disposition, sellable.explained, sellable.unexplained) == (6, 6, 0)
    assert sellable.status == VarianceStatus.EXPLAINED
    # on hand agrees (our pending units are physically there)
    assert not ReconciliationVariance.objects.filter(
        bucket=Bucket.ON_HAND, difference__gt=0
    ).exists()
    assert not ExceptionCase.objects.exists()
    # and the drill-down names the receipt behind the explanation
    evidence = variance_evidence(sellable)
    assert [m.idempotency_key for m in evidence.pending_receipts] == ["rcpt-1"]

    # when a day and a half passes without the disposition feed
    reconcile(tpl.cream, at=T0 + timedelta(hours=30))
    # then a late_3pl_disposition exception is open, and still no variance exception
    late = active(ExceptionKind.LATE_3PL_DISPOSITION).get()
    assert late.subject_type == SubjectType.PRODUCT
    assert late.product == tpl.cream
    assert late.evidence["pending"][0]["qty"] == 6
    assert not active(ExceptionKind.RECONCILIATION_VARIANCE).exists()

    # when the disposition feed arrives on day 2: 5 restocked, 1 damaged
    for key, state, qty in (("disp-ok", S.AVAILABLE, 5), ("disp-bad", S.DAMAGED, 1)):
        services.stock_move(
            product_id=tpl.cream.pk,
            qty=qty,
            from_location_id=tpl.dock.pk,
            from_state=S.RECEIVED_PENDING_INSPECTION,
            to_location_id=tpl.shelf.pk,
            to_state=state,
            idempotency_key=key,
            cause_type=CauseType.DISPOSITION,
            occurred_at=T0 + timedelta(hours=48),
        )
    report("sb-day2", T0 + timedelta(hours=49), ("CURL-CREAM", 56, 55))
    reconcile(tpl.cream, at=T0 + timedelta(hours=50))

    # then everything clears: ATS 55, the variance matched, the late exception resolved
    assert ChannelAvailability.objects.get(product=tpl.cream, channel=tpl.channel).ats == 55
    sellable.refresh_from_db()
    assert (sellable.difference, sellable.status) == (0, VarianceStatus.MATCHED)
    late.refresh_from_db()
    assert late.state == ExceptionState.RESOLVED
    assert late.resolved_by is None
    assert "reported the disposition" in late.resolution_reason
    assert late.history.first().history_change_reason == late.resolution_reason
    assert not active(ExceptionKind.RECONCILIATION_VARIANCE).exists()


# --- Explained and unexplained ----------------------------------------------------------------


def test_movements_after_taken_at_explain_the_difference(tpl):
    # given the 3PL counted 20 at 10:00, as we did
    stock_in(tpl, tpl.serum, 20, "serum-in")
    report("sb-1", T0, ("HAIR-SERUM", 20, 20))
    # when we write off 3 at 11:00 and reconcile at noon
    services.stock_adjust(
        product_id=tpl.serum.pk,
        location_id=tpl.shelf.pk,
        state=S.AVAILABLE,
        qty_delta=-3,
        reason="broken",
        actor=UserFactory(is_superuser=True),
        idempotency_key="wo",
        occurred_at=T0 + timedelta(hours=1),
    )
    reconcile(tpl.serum, at=T0 + timedelta(hours=2))
    # then the +3 difference is explained by the movement after the snapshot
    sellable = variance(tpl.serum)
    assert (sellable.difference, sellable.after_snapshot, sellable.unexplained) == (3, 3, 0)
    on_hand = variance(tpl.serum, Bucket.ON_HAND)
    assert (on_hand.difference, on_hand.after_snapshot, on_hand.status) == (
        3,
        3,
        VarianceStatus.EXPLAINED,
    )
    assert [m.idempotency_key for m in variance_evidence(sellable).movements_after] == ["wo"]


def test_a_movement_before_taken_at_explains_nothing(tpl):
    # given we wrote off 3 at 09:00 but the 10:00 report still counts 20
    stock_in(tpl, tpl.serum, 20, "serum-in")
    services.stock_adjust(
        product_id=tpl.serum.pk,
        location_id=tpl.shelf.pk,
        state=S.AVAILABLE,
        qty_delta=-3,
        reason="broken",
        actor=UserFactory(is_superuser=True),
        idempotency_key="wo",
        occurred_at=T0 - timedelta(hours=1),
    )
    report("sb-1", T0, ("HAIR-SERUM", 20, 20))
    reconcile(tpl.serum, at=T0 + timedelta(hours=1))
    # then the 3 are unexplained, over the default (zero) tolerance, and an exception opens
    sellable = variance(tpl.serum)
    assert (sellable.difference, sellable.explained, sellable.unexplained) == (3, 0, 3)
    assert sellable.status == VarianceStatus.OVER_TOLERANCE
    assert sellable.unexplained_value == Decimal("27.00")
    exception = active(ExceptionKind.RECONCILIATION_VARIANCE, subject_id=str(sellable.pk)).get()
    assert exception.evidence["difference"] == 3
    assert exception.evidence["unexplained"] == 3
    assert exception.product == tpl.serum


def test_a_sku_missing_from_a_full_snapshot_counts_as_zero_there(tpl):
    # given we hold 4 serum, and the full report lists only the cream
    stock_in(tpl, tpl.serum, 4, "serum-in")
    report("sb-1", T0, ("CURL-CREAM", 0, 0))
    reconcile(tpl.serum, at=T0 + timedelta(hours=1))
    # then the serum shows -4 unexplained
    assert (variance(tpl.serum).external_qty, variance(tpl.serum).unexplained) == (0, -4)


def test_partial_reports_compare_only_what_they_list_and_override_older_full_ones(tpl):
    # given a full report at 10:00 and a partial update at 11:00 about the cream only
    stock_in(tpl, tpl.cream, 7, "cream-in")
    stock_in(tpl, tpl.serum, 4, "serum-in")
    report("sb-full", T0, ("CURL-CREAM", 5, 5), ("HAIR-SERUM", 4, 4))
    report("sh-part", T0 + timedelta(hours=1), ("CURL-CREAM", 7, 7), scope=SnapshotScope.PARTIAL)
    reconcile(tpl.cream, tpl.serum, at=T0 + timedelta(hours=2))
    # then the cream compares with the newer partial line and the serum with the full one
    assert not ReconciliationVariance.objects.filter(source="shipbob").exclude(difference=0)


def test_each_source_reporting_on_a_warehouse_is_compared_on_its_own(tpl):
    # given our own cycle count of the 3PL's warehouse besides the 3PL's report
    ExternalLocation.objects.create(
        source="cycle_count", external_code="HB", warehouse=tpl.warehouse
    )
    stock_in(tpl, tpl.cream, 10, "cream-in")
    stock_in(tpl, tpl.serum, 4, "serum-in")
    report("sb-1", T0, ("CURL-CREAM", 10, 10), ("HAIR-SERUM", 4, 4))
    # when the count lists only the cream, one unit short
    snapshot_record(
        source="cycle_count",
        taken_at=T0,
        external_ref="count-1",
        lines=[SnapshotLineIn(sku="CURL-CREAM", external_location="HB", on_hand=9, available=9)],
    )
    reconcile(tpl.cream, tpl.serum, at=T0 + timedelta(hours=1))
    # then the 3PL's figures match ours, and the count's differ by what it missed
    assert not ReconciliationVariance.objects.filter(source="shipbob").exclude(difference=0)
    counted = {
        (row.product_id, row.bucket): row.difference
        for row in ReconciliationVariance.objects.filter(source="cycle_count")
    }
    assert counted == {
        (tpl.cream.pk, Bucket.SELLABLE): -1,
        (tpl.cream.pk, Bucket.ON_HAND): -1,
        (tpl.serum.pk, Bucket.SELLABLE): -4,
        (tpl.serum.pk, Bucket.ON_HAND): -4,
    }


def test_returns_in_transit_explain_a_3pl_counting_them_early(tpl):
    # given 2 returns on their way to the 3PL (in transit) and 10 on hand
    stock_in(tpl, tpl.cream, 10, "cream-in")
    stock_in(tpl, tpl.cream, 2, "rma-ship", state=S.IN_TRANSIT_RETURN, where=tpl.dock)
    # when the 3PL already counts them on hand
    report("sb-1", T0, ("CURL-CREAM", 12, 10))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    # then on hand differs by 2, explained by the returns in transit
    on_hand = variance(tpl.cream, Bucket.ON_HAND)
    assert (on_hand.difference, on_hand.in_transit, on_hand.unexplained) == (2, 2, 0)


# --- Tolerances and auto-resolution ----------------------------------------------------------


@pytest.mark.parametrize(
    ("tolerance", "unexplained", "status"),
    [
        ({"units": 2}, 2, VarianceStatus.WITHIN_TOLERANCE),
        ({"units": 2}, 3, VarianceStatus.OVER_TOLERANCE),
        # 2 of our 40 units is 5 %
        ({"percent": Decimal("5")}, 2, VarianceStatus.WITHIN_TOLERANCE),
        ({"percent": Decimal("5")}, 3, VarianceStatus.OVER_TOLERANCE),
        # 2 x 4.00 = 8.00
        ({"value": Decimal("8.00")}, 2, VarianceStatus.WITHIN_TOLERANCE),
        ({"value": Decimal("8.00")}, 3, VarianceStatus.OVER_TOLERANCE),
        # every allowance must be exceeded
        ({"units": 5, "value": Decimal("1")}, 3, VarianceStatus.WITHIN_TOLERANCE),
    ],
)
def test_tolerance_edges(tpl, tolerance, unexplained, status):
    # given a tolerance for the 3PL's health-and-beauty SKUs and 40 units of ours
    ReconciliationTolerance.objects.create(
        source="shipbob", category=tpl.cream.category, **tolerance
    )
    stock_in(tpl, tpl.cream, 40, "cream-in")
    # when the 3PL reports `unexplained` more than we hold
    report("sb-1", T0, ("CURL-CREAM", 40 + unexplained, 40 + unexplained))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    # then the status follows the edge, and only over tolerance opens an exception
    assert variance(tpl.cream).status == status
    assert active(ExceptionKind.RECONCILIATION_VARIANCE).exists() == (
        status == VarianceStatus.OVER_TOLERANCE
    )


def test_the_most_specific_tolerance_applies(tpl):
    # given a lenient default and a strict rule for this source and category
    ReconciliationTolerance.objects.create(units=100)
    ReconciliationTolerance.objects.create(source="shipbob", category=tpl.cream.category, units=0)
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 11, 11))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    assert variance(tpl.cream).status == VarianceStatus.OVER_TOLERANCE


def test_a_variance_that_clears_resolves_its_exception_itself(tpl):
    # given an unexplained +2 with its exception
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 12, 12))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    row = variance(tpl.cream)
    exception = active(ExceptionKind.RECONCILIATION_VARIANCE, subject_id=str(row.pk)).get()
    assert row.unexplained_since == T0 + timedelta(hours=1)
    # when the next report agrees with us
    report("sb-2", T0 + timedelta(hours=2), ("CURL-CREAM", 10, 10))
    run = reconcile(tpl.cream, at=T0 + timedelta(hours=3))
    # then the variance is matched and the exception resolved by the system, with history
    row.refresh_from_db()
    assert (row.status, row.unexplained_since) == (VarianceStatus.MATCHED, None)
    exception.refresh_from_db()
    assert exception.state == ExceptionState.RESOLVED
    assert exception.resolved_by is None
    # (the on-hand variance had its own exception, which cleared too)
    assert run.exceptions_resolved == 2
    assert exception.history.count() == 2


def test_a_cleared_variance_stays_as_it_is_until_its_figures_change(tpl):
    # given a +2 that cleared: its rows stay on file as matched
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 12, 12))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    report("sb-2", T0 + timedelta(hours=2), ("CURL-CREAM", 10, 10))
    cleared = reconcile(tpl.cream, at=T0 + timedelta(hours=3))
    # when nothing changes, the next run leaves the matched row as that run wrote it
    reconcile(tpl.cream, at=T0 + timedelta(hours=4))
    row = variance(tpl.cream)
    assert (row.status, row.run_id) == (VarianceStatus.MATCHED, cleared.pk)
    # when a report with the same figures arrives, the row names the new snapshot
    newer = report("sb-3", T0 + timedelta(hours=5), ("CURL-CREAM", 10, 10))
    reconcile(tpl.cream, at=T0 + timedelta(hours=6))
    row.refresh_from_db()
    assert (row.status, row.snapshot_id) == (VarianceStatus.MATCHED, newer.pk)
    # when our stock moves away from that report, the same row varies again
    stock_in(tpl, tpl.cream, 1, "cream-in-2", at=T0 + timedelta(hours=4))
    reconcile(tpl.cream, at=T0 + timedelta(hours=7))
    row.refresh_from_db()
    assert (row.erp_qty, row.external_qty, row.difference) == (11, 10, -1)
    assert row.status != VarianceStatus.MATCHED
    assert active(ExceptionKind.RECONCILIATION_VARIANCE, subject_id=str(row.pk)).exists()


def test_aging_keeps_the_first_time_a_variance_was_unexplained(tpl):
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 12, 12))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    report("sb-2", T0 + timedelta(hours=5), ("CURL-CREAM", 13, 13))
    reconcile(tpl.cream, at=T0 + timedelta(hours=6))
    row = variance(tpl.cream)
    assert (row.unexplained, row.unexplained_since) == (3, T0 + timedelta(hours=1))
    # still the one exception it opened first
    assert active(ExceptionKind.RECONCILIATION_VARIANCE, subject_id=str(row.pk)).count() == 1


# --- Storefront ATS -----------------------------------------------------------------------------


def acknowledge(channel, product):
    """What `inventory.availability_sync` records when the channel accepts a push."""
    ChannelAvailability.objects.filter(channel=channel, product=product).update(
        last_pushed_version=F("version")
    )
    OutboxMessage.objects.filter(topic="availability.changed").update(dispatched_at=T0)


def test_an_unacknowledged_push_explains_the_channel_difference(tpl):
    # given the channel acknowledged our 8 units
    stock_in(tpl, tpl.cream, 8, "cream-in")
    acknowledge(tpl.channel, tpl.cream)
    # when 3 more arrive and their ATS push is still in the outbox
    stock_in(tpl, tpl.cream, 3, "cream-more")
    reconcile(tpl.cream, at=T0)
    ats = ReconciliationVariance.objects.get(product=tpl.cream, bucket=Bucket.ATS)
    # then the channel (8) differs from us (11) by -3, explained by the push in flight
    assert (ats.erp_qty, ats.external_qty, ats.difference) == (11, 8, -3)
    assert (ats.unacknowledged, ats.unexplained, ats.status) == (-3, 0, VarianceStatus.EXPLAINED)
    assert len(variance_evidence(ats).pushes) == 2
    # when the push dead-letters, nothing explains it any more
    OutboxMessage.objects.filter(dispatched_at__isnull=True).update(dead_lettered_at=T0)
    reconcile(tpl.cream, at=T0 + timedelta(minutes=5))
    ats.refresh_from_db()
    assert (ats.unexplained, ats.status) == (-3, VarianceStatus.OVER_TOLERANCE)
    assert active(ExceptionKind.RECONCILIATION_VARIANCE, subject_id=str(ats.pk)).exists()
    # and once it is replayed and acknowledged, the channel agrees and the exception clears
    acknowledge(tpl.channel, tpl.cream)
    reconcile(tpl.cream, at=T0 + timedelta(minutes=10))
    ats.refresh_from_db()
    assert ats.status == VarianceStatus.MATCHED
    assert not active(ExceptionKind.RECONCILIATION_VARIANCE).exists()


def test_the_acknowledged_current_version_matches_even_once_the_outbox_is_purged(tpl):
    # given the channel acknowledged the version that holds our current ATS (8)
    stock_in(tpl, tpl.cream, 8, "cream-in")
    acknowledge(tpl.channel, tpl.cream)
    # when the sent messages are purged from the outbox
    OutboxMessage.objects.filter(topic="availability.changed").delete()
    reconcile(tpl.cream, at=T0)
    # then the channel holds what we hold (every ATS change bumps the version): no variance
    assert not ReconciliationVariance.objects.filter(bucket=Bucket.ATS).exclude(difference=0)


def test_a_channel_that_never_acknowledged_a_push_is_not_compared(tpl):
    stock_in(tpl, tpl.cream, 8, "cream-in")
    OutboxMessage.objects.update(dispatched_at=T0)
    reconcile(tpl.cream, at=T0)
    assert not ReconciliationVariance.objects.filter(bucket=Bucket.ATS).exists()


# --- Property: explained + unexplained = difference --------------------------------------------

small = st.integers(min_value=-50, max_value=50)
_examples = itertools.count()


@given(difference=small, components=st.lists(small, min_size=4, max_size=4))
def test_split_adds_up_and_never_over_explains(difference, components):
    parts = split(difference, components)
    assert parts.explained + parts.unexplained == difference
    assert abs(parts.explained) <= abs(difference)
    assert parts.explained * difference >= 0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(difference=small, components=st.lists(small, min_size=3, max_size=3))
def test_the_sql_split_is_the_python_split(db, difference, components):
    names = ["a", "b", "c"]
    expression = split_sql("d", names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression} FROM (SELECT %s::bigint AS d, %s::bigint AS a, "
            "%s::bigint AS b, %s::bigint AS c) v",
            [difference, *components],
        )
        assert cursor.fetchone()[0] == split(difference, components).explained


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ours=st.integers(min_value=0, max_value=30),
    theirs=st.integers(min_value=0, max_value=40),
    pending=st.integers(min_value=0, max_value=5),
    after=st.integers(min_value=-5, max_value=5),
)
def test_every_computed_variance_adds_up(tpl, ours, theirs, pending, after):
    # given any mix of our stock, pending units, movements after the snapshot and a report
    ref = f"{next(_examples)}"
    product = ProductFactory(sku=f"P-{ref}", category=tpl.cream.category)
    if ours:
        stock_in(tpl, product, ours, f"in-{ref}")
    if pending:
        stock_in(tpl, product, pending, f"p-{ref}", state=S.RECEIVED_PENDING_INSPECTION, at=T0)
    report(f"sb-{ref}", T0 + timedelta(minutes=1), (product.sku, theirs, theirs), scope="partial")
    if after > 0 or (after < 0 and ours >= -after):
        services.stock_adjust(
            product_id=product.pk,
            location_id=tpl.shelf.pk,
            state=S.AVAILABLE,
            qty_delta=after,
            reason="count",
            actor=UserFactory(is_superuser=True),
            idempotency_key=f"adj-{ref}",
            occurred_at=T0 + timedelta(minutes=2),
        )
    # when it is reconciled
    reconcile(product, at=T0 + timedelta(minutes=3))
    # then every row's parts add up, and match the rule
    for row in ReconciliationVariance.objects.filter(product=product):
        assert row.explained + row.unexplained == row.difference
        assert row.difference == row.external_qty - row.erp_qty
        components = [
            row.after_snapshot,
            row.pending_disposition,
            row.in_transit,
            row.unacknowledged,
        ]
        assert row.explained == split(row.difference, components).explained


# --- Corrections ------------------------------------------------------------------------------


def test_a_manager_accepts_a_variance_as_an_adjustment_caused_by_it(tpl, operations_user):
    # given an unexplained -3 (the 3PL counts 7, we hold 10)
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 7, 7))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    row = variance(tpl.cream)
    # when the operations manager accepts it
    correction = variance_accept(variance_id=row.pk, actor=operations_user, reason="Lost at 3PL")
    # then a -3 adjustment is posted with the variance as its cause
    movement = StockMovement.objects.get(cause_type=CauseType.SNAPSHOT_CORRECTION)
    assert (movement.qty, movement.from_state, movement.to_location) == (3, S.AVAILABLE, None)
    assert movement.cause_id == str(row.pk)
    assert movement.actor == operations_user
    assert correction.qty_delta == -3
    # and the next run clears the variance and its exception
    reconcile(tpl.cream, at=T0 + timedelta(hours=2))
    row.refresh_from_db()
    assert row.status == VarianceStatus.MATCHED
    assert not active(ExceptionKind.RECONCILIATION_VARIANCE).exists()


def test_accepting_needs_the_permission_and_changes_nothing_without_it(tpl, finance_user):
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 7, 7))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    movements = StockMovement.objects.count()
    with pytest.raises(PermissionDenied):
        variance_accept(variance_id=variance(tpl.cream).pk, actor=finance_user, reason="x")
    assert StockMovement.objects.count() == movements
    assert not VarianceCorrection.objects.exists()


def test_accepting_needs_a_reason(tpl):
    manager = UserFactory()
    manager.user_permissions.set(
        Permission.objects.filter(codename__in=["accept_variance", "adjust_stock"])
    )
    stock_in(tpl, tpl.cream, 10, "cream-in")
    report("sb-1", T0, ("CURL-CREAM", 7, 7))
    reconcile(tpl.cream, at=T0 + timedelta(hours=1))
    with pytest.raises(ValidationError):
        variance_accept(variance_id=variance(tpl.cream).pk, actor=manager, reason=" ")
    assert not VarianceCorrection.objects.exists()


# --- 3PL feeds through the inbox -----------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def test_a_shiphero_update_from_the_inbox_becomes_a_partial_snapshot(tpl):
    from erp.models.inbox import InboundEventStatus
    from erp.services.inbox import inbound_event_process, inbound_event_record

    # given the SKU and ShipHero warehouse of the documented sample
    ProductFactory(sku="string", category=tpl.cream.category)
    ExternalLocation.objects.create(
        source="shiphero", external_code="12345", warehouse=tpl.warehouse
    )
    body = (SAMPLES / "shiphero_webhook_inventory_update.json").read_bytes()
    # when the webhook is recorded and processed twice
    event = inbound_event_record(source="shiphero", account="main", body=body, headers={}).event
    assert inbound_event_process(event_id=event.pk).status == InboundEventStatus.PROCESSED
    inbound_event_record(source="shiphero", account="main", body=body, headers={})
    # then one partial snapshot holds the warehouse's figures (strings read as numbers)
    snapshot = ExternalSnapshot.objects.get(source="shiphero")
    assert snapshot.scope == SnapshotScope.PARTIAL
    assert snapshot.external_ref == event.external_id
    assert list(snapshot.lines.values_list("on_hand", "sellable", "reserved", "on_hold")) == [
        (48, 13, 25, 250)
    ]


def test_a_3pl_feed_naming_an_unknown_sku_parks_with_an_exception(tpl):
    from erp.models.inbox import InboundEventStatus
    from erp.services.inbox import inbound_event_process, inbound_event_record

    body = (SAMPLES / "shiphero_webhook_inventory_update.json").read_bytes()
    event = inbound_event_record(source="shiphero", account="main", body=body, headers={}).event
    # when it is processed before the SKU exists
    outcome = inbound_event_process(event_id=event.pk)
    # then it parks with the reason, nothing is recorded, and an exception says what to fix
    assert outcome.status == InboundEventStatus.PARKED
    assert "Unknown SKU 'string'" in outcome.error
    assert not ExternalSnapshot.objects.exists()
    assert ExceptionCase.objects.filter(subject_type=SubjectType.INBOUND_EVENT).count() == 1
