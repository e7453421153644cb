"""Writes to master data that are more than a form save."""

import csv
from functools import cache
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from erp.models import Channel, ReasonCode, ReasonCodeMapping, WorkerHeartbeat

REASON_MAP_FILE = (
    Path(__file__).resolve().parent.parent / "data" / "return_reason_canonical_map.tsv"
)


@cache
def platform_reason_map() -> dict[str, list[tuple[str, str, str]]]:
    """{platform: [(raw code, raw label, canonical code)]} from the shipped reason map."""
    rows: dict[str, list[tuple[str, str, str]]] = {}
    with REASON_MAP_FILE.open(newline="") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        for source, code, label, canonical, _verification in csv.reader(lines, delimiter="\t"):
            rows.setdefault(source, []).append((code.upper(), label, canonical))
    return rows


@transaction.atomic
def reason_mappings_load_platform_defaults(*, channel: Channel) -> int:
    """Map every raw reason code the channel's platform is known to send.

    Effects: creates the missing ReasonCodeMapping rows for `channel` (existing mappings,
    which an operator may have changed, are kept). Returns how many were created.
    """
    reasons = {reason.code: reason for reason in ReasonCode.objects.all()}
    existing = set(channel.reason_mappings.values_list("raw_code", flat=True))
    new = [
        ReasonCodeMapping(channel=channel, raw_code=code, raw_label=label, reason=reasons[canon])
        for code, label, canon in platform_reason_map().get(channel.platform, [])
        if code not in existing
    ]
    ReasonCodeMapping.objects.bulk_create(new)
    return len(new)


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Effects: stamps `hostname` as seen now, creating its row on first sight."""
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"last_seen_at": timezone.now()}
    )
    return heartbeat
