"""The only write path to the journal: balanced entries posted by account purpose, and their
reversals.

Idempotency: every entry carries a key. The same key with the same postings (accounts, amounts,
currency and cause) returns the entry already written and writes nothing; different postings
under a used key are a ValidationError. The memo, actor and occurred_at are not part of the
payload (a retry is the same posting whoever sends it, whenever).

Balance is checked here, with a message a person can act on, and again by the database at
commit on PostgreSQL (a deferred constraint trigger; SQLite, used for the embedded demo only,
relies on this check).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from finance.models import Account, AccountPurpose, JournalEntry, JournalLine

from .periods import fiscal_period_open_for

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

ZERO = Decimal("0")
CENT = Decimal("0.01")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PURPOSES = frozenset(AccountPurpose.values)


@dataclass(frozen=True)
class Posting:
    """One side of an entry: a debit or a credit to the account holding `purpose`."""

    purpose: str  # an AccountPurpose value
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    memo: str = ""


def _amount(value, purpose: str) -> Decimal:
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValidationError(f"{purpose}: an amount is a positive number ({value}).")
    if amount != amount.quantize(CENT):
        raise ValidationError(f"{purpose}: {value} has more than two decimal places.")
    return amount.quantize(CENT)


def _normalized(postings: Sequence[Posting]) -> list[Posting]:
    """The postings with amounts checked and zero postings dropped."""
    lines = []
    for posting in postings:
        if posting.purpose not in _PURPOSES:
            raise ValidationError(f"Unknown account purpose {posting.purpose!r}.")
        debit = _amount(posting.debit, posting.purpose)
        credit = _amount(posting.credit, posting.purpose)
        if debit and credit:
            raise ValidationError(f"{posting.purpose}: a posting is a debit or a credit, not both.")
        if debit or credit:
            lines.append(Posting(posting.purpose, debit, credit, posting.memo))
    return lines


def _check_balanced(lines: Sequence[Posting], currency: str) -> None:
    if len(lines) < 2:
        raise ValidationError("An entry needs at least one debit and one credit.")
    debits = sum((line.debit for line in lines), ZERO)
    credits = sum((line.credit for line in lines), ZERO)
    if debits != credits:
        raise ValidationError(
            f"The entry does not balance: debits {debits} {currency}, credits {credits} {currency}."
        )


def _payload_hash(lines: list[list[str]], *, currency: str, cause_type: str, cause_id: str) -> str:
    payload = {"currency": currency, "cause": [cause_type, cause_id], "lines": lines}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _accounts(purposes) -> dict[str, Account]:
    purposes = set(purposes)
    accounts = {
        account.purpose: account
        for account in Account.objects.filter(purpose__in=purposes, is_active=True)
    }
    missing = sorted(purposes - accounts.keys())
    if missing:
        labels = ", ".join(AccountPurpose(purpose).label for purpose in missing)
        raise ValidationError(
            f"No active account holds the purpose {labels}; set one in the chart of accounts."
        )
    return accounts


def _existing(idempotency_key: str, payload_hash: str) -> JournalEntry | None:
    entry = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is not None and entry.payload_hash != payload_hash:
        raise ValidationError(
            f"Journal key {idempotency_key!r} was already used for different postings."
        )
    return entry


@dataclass(frozen=True)
class _Line:
    account: Account
    debit: Decimal
    credit: Decimal
    memo: str


@transaction.atomic
def journal_entry_post(
    *,
    postings: Sequence[Posting],
    currency: str,
    cause_type: str,
    cause_id: str,
    memo: str,
    idempotency_key: str,
    occurred_at: datetime | None = None,
    actor: User | None = None,
) -> JournalEntry:
    """Post one balanced entry, by account purpose, for its cause.

    The caller has already checked that the actor may do the business action being booked;
    posting itself needs no permission (`journal_entry_reverse` does).

    Effects: one JournalEntry and one JournalLine per non-zero posting, booked on the day
    `occurred_at` falls on (local time) when its month is open, else on the first day of the
    earliest open month after it (a late event; `occurred_at` keeps the original date). The
    same key with the same postings returns the existing entry and writes nothing.
    """
    _check_currency(currency)
    lines = _normalized(postings)
    _check_balanced(lines, currency)
    payload_hash = _payload_hash(
        [[line.purpose, str(line.debit), str(line.credit)] for line in lines],
        currency=currency,
        cause_type=cause_type,
        cause_id=str(cause_id),
    )
    existing = _existing(idempotency_key, payload_hash)
    if existing is not None:
        return existing
    accounts = _accounts(line.purpose for line in lines)
    return _write(
        [_Line(accounts[line.purpose], line.debit, line.credit, line.memo) for line in lines],
        currency=currency,
        cause_type=cause_type,
        cause_id=str(cause_id),
        memo=memo,
        idempotency_key=idempotency_key,
        payload_hash=payload_hash,
        occurred_at=occurred_at,
        actor=actor,
    )


@transaction.atomic
def journal_entry_reverse(
    *,
    entry_id: int,
    reason: str,
    actor: User | None,
    occurred_at: datetime | None = None,
) -> JournalEntry:
    """Cancel an entry with its mirror image (debits and credits swapped, the same accounts),
    for the same cause.

    `actor=None` is the system (a service correcting its own posting); a person needs
    `finance.reverse_entry`.

    Effects: locks the original, refuses a second reversal and the reversal of a reversal,
    and posts the mirror entry (key `reversal:<id>`, `reverses` = the original) in the open
    period for `occurred_at` (default now). The original is never changed.
    """
    if actor is not None and not actor.has_perm("finance.reverse_entry"):
        raise PermissionDenied("reverse_entry")
    reason = reason.strip()
    if not reason:
        raise ValidationError("Give a reason for the reversal; it is kept on the entry.")
    original = JournalEntry.objects.select_for_update().get(pk=entry_id)
    if original.reverses_id is not None:
        raise ValidationError(
            f"JE-{original.pk} is itself a reversal; post a new entry to correct it."
        )
    key = f"reversal:{original.pk}"
    if JournalEntry.objects.filter(reverses_id=original.pk).exists():
        raise ValidationError(f"JE-{original.pk} has already been reversed.")
    lines = [
        _Line(line.account, line.credit, line.debit, line.memo)
        for line in original.lines.select_related("account")
    ]
    payload_hash = _payload_hash(
        [[line.account.code, str(line.debit), str(line.credit)] for line in lines],
        currency=original.currency,
        cause_type=original.cause_type,
        cause_id=original.cause_id,
    )
    return _write(
        lines,
        currency=original.currency,
        cause_type=original.cause_type,
        cause_id=original.cause_id,
        memo=f"Reversal of JE-{original.pk}: {reason}",
        idempotency_key=key,
        payload_hash=payload_hash,
        occurred_at=occurred_at,
        actor=actor,
        reverses=original,
    )


def _check_currency(currency: str) -> None:
    if not _CURRENCY.match(currency or ""):
        raise ValidationError(f"Currency {currency!r} is not a three-letter ISO 4217 code.")


def _write(
    lines: Sequence[_Line],
    *,
    currency: str,
    cause_type: str,
    cause_id: str,
    memo: str,
    idempotency_key: str,
    payload_hash: str,
    occurred_at: datetime | None,
    actor: User | None,
    reverses: JournalEntry | None = None,
) -> JournalEntry:
    if not idempotency_key:
        raise ValidationError("A journal entry needs an idempotency key.")
    now = timezone.now()
    occurred_at = occurred_at or now
    day = timezone.localdate(occurred_at)
    period = fiscal_period_open_for(day=day)
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                period=period,
                posting_date=max(day, period.start_date),
                occurred_at=occurred_at,
                posted_at=now,
                currency=currency,
                cause_type=cause_type,
                cause_id=cause_id,
                memo=memo[:255],
                idempotency_key=idempotency_key,
                payload_hash=payload_hash,
                reverses=reverses,
                actor=actor,
            )
            JournalLine.objects.bulk_create(
                JournalLine(
                    entry=entry,
                    account=line.account,
                    debit=line.debit,
                    credit=line.credit,
                    memo=line.memo[:255],
                )
                for line in lines
            )
    except IntegrityError:
        # A concurrent post of the same key won the race: the same entry, or a conflict.
        existing = _existing(idempotency_key, payload_hash)
        if existing is None:
            raise
        return existing
    return entry
