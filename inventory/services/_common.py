"""What every posting path shares: the states it groups, a request (its key, payload hash
and cause) and claiming a key (replay or refuse a reused one)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import connection

from .. import locks
from ..models import CauseType, InventoryUnit, StockMovement, StockState
from ..models.states import NEVER_SELLABLE_STATES, STATE_VALUES, TERMINAL_STATES

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User


S = StockState
IN_STOCK_STATES = STATE_VALUES - TERMINAL_STATES
CAUSE_TYPES = frozenset(CauseType.values)
ADJUSTABLE_IN_STATES = IN_STOCK_STATES - {S.RESERVED}
AVAILABILITY_TOPIC = "availability.changed"
# The PostgreSQL functions take the rule as a parameter, so it is written down once.
_NEVER_SELLABLE = sorted(NEVER_SELLABLE_STATES)
_SQL_INT_MAX = 2**31 - 1


def _changes_ats(from_state: str | None, to_state: str | None) -> bool:
    """Whether a movement between these states can change a channel's ATS: only if one side
    is a state some channel may sell (outside our stock, None, is not)."""
    return any(
        state is not None and state not in NEVER_SELLABLE_STATES for state in (from_state, to_state)
    )


@dataclass(frozen=True)
class _Line:
    """One movement to post for a request."""

    qty: int
    lot: str
    from_location_id: int | None
    from_state: str | None
    to_location_id: int | None
    to_state: str | None
    unit: InventoryUnit | None = None


@dataclass(frozen=True)
class _Request:
    key: str
    payload_hash: str
    kind: str
    cause_type: str
    cause_id: str
    actor: User | None
    occurred_at: datetime | None
    reason: str


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _request(
    service: str,
    *,
    key: str,
    kind: str,
    cause_type: str,
    cause_id: str,
    actor: User | None,
    occurred_at: datetime | None,
    payload: dict,
    reason: str = "",
) -> _Request:
    if not key or len(key) > 180:
        raise ValidationError(
            "An idempotency key of 1 to 180 characters is required.", code="bad_key"
        )
    if cause_type not in CAUSE_TYPES:
        raise ValidationError(f"Unknown cause type {cause_type!r}.", code="unknown_cause")
    return _Request(
        key=key,
        payload_hash=_payload_hash(
            service,
            **payload,
            cause=[cause_type, cause_id],
            reason=reason,
            occurred_at=occurred_at.isoformat() if occurred_at else None,
        ),
        kind=kind,
        cause_type=cause_type,
        cause_id=cause_id,
        actor=actor,
        occurred_at=occurred_at,
        reason=reason,
    )


def _payload_hash(service: str, **payload) -> str:
    text = json.dumps({"service": service, **payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _row_keys(key: str, rows: int) -> list[str]:
    return [key, *(f"{key}#{i}" for i in range(1, rows))]


def _begin(request: _Request, *, rows: int) -> list[StockMovement] | None:
    """Claim the key; the movements already posted under it by the same request, if any."""
    locks.idempotency_key_lock(request.key)
    posted = list(
        StockMovement.objects.filter(idempotency_key__in=_row_keys(request.key, rows)).order_by(
            "id"
        )
    )
    if not posted:
        return None
    if len(posted) != rows or any(m.payload_hash != request.payload_hash for m in posted):
        raise ValidationError(
            f"Idempotency key {request.key!r} was already used for a different request; "
            "use a new key for a new request.",
            code="idempotency_key_reused",
        )
    return posted
