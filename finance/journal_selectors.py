"""Reads of the journal and fiscal periods for the finance screens and exports; each owns its
joins, so a screen costs the same few queries however many entries it shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum

from finance.models import Account, FiscalPeriod, JournalEntry, JournalLine

ZERO = Decimal("0")


@dataclass(frozen=True)
class JournalFilters:
    period_id: int | None = None
    account_id: int | None = None
    cause_type: str = ""
    cause_id: str = ""


def _lines() -> Prefetch:
    return Prefetch("lines", queryset=JournalLine.objects.select_related("account").order_by("id"))


def journal_entry_list(*, filters: JournalFilters) -> QuerySet[JournalEntry]:
    """Entries, newest first, with their period, actor, lines and accounts, and the debit total
    (`amount`) and whether a reversal cancels them (`is_reversed`)."""
    entries = (
        JournalEntry.objects.select_related("period", "actor")
        .prefetch_related(_lines())
        .annotate(
            amount=Sum("lines__debit"),
            is_reversed=Exists(JournalEntry.objects.filter(reverses=OuterRef("pk"))),
        )
        .order_by("-posting_date", "-id")
    )
    if filters.period_id:
        entries = entries.filter(period_id=filters.period_id)
    if filters.account_id:
        entries = entries.filter(
            Exists(JournalLine.objects.filter(entry=OuterRef("pk"), account_id=filters.account_id))
        )
    if filters.cause_type:
        entries = entries.filter(cause_type=filters.cause_type)
    if filters.cause_id:
        entries = entries.filter(cause_id=filters.cause_id)
    return entries


def journal_entry_get(*, pk: int) -> JournalEntry:
    """One entry with its lines, accounts, period, actor, the entry it reverses and the one
    reversing it (None when there is none)."""
    entry = (
        JournalEntry.objects.select_related("period", "actor", "reverses")
        .prefetch_related(_lines())
        .get(pk=pk)
    )
    entry.reversal = JournalEntry.objects.filter(reverses=entry).only("pk", "posting_date").first()
    return entry


def journal_cause_types() -> list[str]:
    return list(
        JournalEntry.objects.order_by("cause_type").values_list("cause_type", flat=True).distinct()
    )


def account_list() -> QuerySet[Account]:
    return Account.objects.order_by("code")


def fiscal_period_list() -> QuerySet[FiscalPeriod]:
    """Every month the books have, newest first, with its entry and late-entry counts."""
    return (
        FiscalPeriod.objects.select_related("closed_by")
        .annotate(
            entry_count=Count("entries"),
            late_count=Count("entries", filter=Q(entries__occurred_at__date__lt=F("start_date"))),
        )
        .order_by("-start_date")
    )


@dataclass
class AccountTotal:
    account: Account
    currency: str
    debit: Decimal
    credit: Decimal

    @property
    def net(self) -> Decimal:
        return self.debit - self.credit


@dataclass
class PeriodSummary:
    """What a month holds: counts and, per account and currency, its debits and credits."""

    period: FiscalPeriod
    entry_count: int
    line_count: int
    late_count: int
    reversal_count: int
    totals: list[AccountTotal] = field(default_factory=list)
    currency_totals: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return all(debit == credit for debit, credit in self.currency_totals.values())


def fiscal_period_summary(*, period: FiscalPeriod) -> PeriodSummary:
    """Counts and per-account totals of one period (three queries)."""
    entries = JournalEntry.objects.filter(period=period)
    counts = entries.aggregate(
        entries=Count("id"),
        late=Count("id", filter=Q(occurred_at__date__lt=period.start_date)),
        reversals=Count("id", filter=Q(reverses__isnull=False)),
    )
    rows = (
        JournalLine.objects.filter(entry__period=period)
        .values("account_id", "entry__currency")
        .annotate(debit=Sum("debit"), credit=Sum("credit"), lines=Count("id"))
        .order_by()
    )
    rows = list(rows)
    accounts = Account.objects.in_bulk({row["account_id"] for row in rows})
    totals = sorted(
        (
            AccountTotal(
                account=accounts[row["account_id"]],
                currency=row["entry__currency"],
                debit=row["debit"] or ZERO,
                credit=row["credit"] or ZERO,
            )
            for row in rows
        ),
        key=lambda total: (total.account.code, total.currency),
    )
    currency_totals: dict[str, tuple[Decimal, Decimal]] = {}
    for total in totals:
        debit, credit = currency_totals.get(total.currency, (ZERO, ZERO))
        currency_totals[total.currency] = (debit + total.debit, credit + total.credit)
    return PeriodSummary(
        period=period,
        entry_count=counts["entries"],
        line_count=sum(row["lines"] for row in rows),
        late_count=counts["late"],
        reversal_count=counts["reversals"],
        totals=totals,
        currency_totals=dict(sorted(currency_totals.items())),
    )


def journal_export_lines(*, period: FiscalPeriod) -> QuerySet[JournalLine]:
    """Every line of the period's entries, in entry order, with entry and account (one query)."""
    return (
        JournalLine.objects.filter(entry__period=period)
        .select_related("entry", "account")
        .order_by("entry__posting_date", "entry_id", "id")
    )
