"""Continuous reconciliation (the control tower): external snapshots, variances explained or
escalated, incremental and full runs. The services are re-exported here."""

from .runs import run_full_execute, run_full_start, run_incremental
from .snapshots import (
    THREEPL_SNAPSHOT_TOPICS,
    SnapshotLineIn,
    reconciliation_queue_incremental,
    snapshot_record,
    threepl_snapshot_handle,
    threepl_snapshots_footprint,
    threepl_snapshots_prepare,
)
from .variances import Slice, late_dispositions_sync, variance_accept, variances_compute

__all__ = [
    "THREEPL_SNAPSHOT_TOPICS",
    "Slice",
    "SnapshotLineIn",
    "late_dispositions_sync",
    "reconciliation_queue_incremental",
    "run_full_execute",
    "run_full_start",
    "run_incremental",
    "snapshot_record",
    "threepl_snapshot_handle",
    "threepl_snapshots_footprint",
    "threepl_snapshots_prepare",
    "variance_accept",
    "variances_compute",
]
