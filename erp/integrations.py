"""Reads for the integrations screen: inbox status per source, recent events, outbox backlog.

Each selector is a fixed number of queries, whatever the volume of events.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Min, Q, QuerySet

from erp.models import InboundEvent, OutboxMessage
from erp.models.inbox import InboundEventStatus, InboundSource
from erp.services.inbox import SECRET_HEADER_MARKERS

MASK = "••••••"
RECENT_EVENTS = 50


@dataclass
class SourceSummary:
    source: str
    label: str
    counts: dict[str, int] = field(default_factory=dict)
    last_received_at: datetime | None = None

    @property
    def backlog(self) -> int:
        return self.counts.get(InboundEventStatus.RECEIVED, 0)

    @property
    def needs_attention(self) -> int:
        return self.counts.get(InboundEventStatus.PARKED, 0) + self.counts.get(
            InboundEventStatus.FAILED, 0
        )


@dataclass(frozen=True)
class TopicBacklog:
    topic: str
    pending: int
    retrying: int
    dead: int
    sent: int
    oldest_pending_at: datetime | None


def inbox_source_summaries() -> list[SourceSummary]:
    """One row per source that has ever sent something: counts by status, last arrival."""
    summaries: dict[str, SourceSummary] = {}
    rows = (
        InboundEvent.objects.values("source", "status")
        .annotate(n=Count("id"), last=Max("received_at"))
        .order_by()
    )
    labels = dict(InboundSource.choices)
    for row in rows:
        summary = summaries.setdefault(
            row["source"], SourceSummary(row["source"], labels.get(row["source"], row["source"]))
        )
        summary.counts[row["status"]] = row["n"]
        if summary.last_received_at is None or row["last"] > summary.last_received_at:
            summary.last_received_at = row["last"]
    return sorted(summaries.values(), key=lambda s: s.label)


def inbox_status_totals() -> dict[str, int]:
    totals = dict(InboundEvent.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {status: totals.get(status, 0) for status in InboundEventStatus.values}


def inbound_event_list(*, source: str = "", status: str = "") -> QuerySet[InboundEvent]:
    """Recent events, newest first, without their bodies (the list never shows them)."""
    events = InboundEvent.objects.defer("body", "headers")
    if source:
        events = events.filter(source=source)
    if status:
        events = events.filter(status=status)
    return events.order_by("-received_at", "-id")


def outbox_backlog() -> list[TopicBacklog]:
    """Per topic: waiting, waiting after a failure, dead letters, sent, and the oldest wait."""
    waiting = Q(dispatched_at__isnull=True, dead_lettered_at__isnull=True)
    rows = (
        OutboxMessage.objects.values("topic")
        .annotate(
            pending=Count("id", filter=waiting & Q(attempts=0)),
            retrying=Count("id", filter=waiting & Q(attempts__gt=0)),
            dead=Count("id", filter=Q(dead_lettered_at__isnull=False, dispatched_at__isnull=True)),
            sent=Count("id", filter=Q(dispatched_at__isnull=False)),
            oldest=Min("created_at", filter=waiting),
        )
        .order_by("topic")
    )
    return [
        TopicBacklog(r["topic"], r["pending"], r["retrying"], r["dead"], r["sent"], r["oldest"])
        for r in rows
    ]


def outbox_problem_list() -> QuerySet[OutboxMessage]:
    """Messages that failed at least once and are not sent: retrying ones and dead letters."""
    return OutboxMessage.objects.filter(dispatched_at__isnull=True, attempts__gt=0).order_by(
        "-dead_lettered_at", "next_attempt_at", "id"
    )


def _is_secret(key: str) -> bool:
    return any(marker in key.lower() for marker in (*SECRET_HEADER_MARKERS, "password", "api_key"))


def _masked(value):
    if isinstance(value, dict):
        return {k: MASK if _is_secret(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def payload_for_display(event: InboundEvent) -> str:
    """The body pretty-printed with any secret-looking field masked; raw text if not JSON."""
    text = event.body_text
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    return json.dumps(_masked(data), indent=2, ensure_ascii=False)


def headers_for_display(event: InboundEvent) -> dict[str, str]:
    return {k: MASK if _is_secret(k) else v for k, v in sorted(event.headers.items())}
