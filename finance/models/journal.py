"""The general journal: chart of accounts, monthly fiscal periods and balanced, immutable entries.

Every entry is written by `finance.services.journal`. The database holds the rules that matter
most even against code that goes around the services (PostgreSQL; see migration 0001 for
SQLite): an entry balances (sum of debits = sum of credits, checked at commit by a deferred
constraint trigger), its rows are never changed or deleted (a correction is a reversing entry),
and nothing is written into a closed period.
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

MONEY = {"max_digits": 14, "decimal_places": 2}


class AccountPurpose(models.TextChoices):
    """What an account is used for; services post by purpose, so an operator may renumber."""

    SALES_RETURNS = "sales_returns", "Sales returns"
    REFUNDS_PAYABLE = "refunds_payable", "Refunds payable"
    CASH_CLEARING = "cash_clearing", "Cash clearing"
    INVENTORY = "inventory", "Inventory"
    COST_OF_GOODS_SOLD = "cost_of_goods_sold", "Cost of goods sold"
    RETURNS_WRITE_OFF = "returns_write_off", "Returns write-off"
    VENDOR_RECEIVABLE = "vendor_receivable", "Vendor receivable (RTV)"
    LIQUIDATION_RECOVERY = "liquidation_recovery", "Liquidation recovery"
    RESTOCKING_FEE_INCOME = "restocking_fee_income", "Restocking-fee income"
    STORE_CREDIT_LIABILITY = "store_credit_liability", "Store-credit liability"
    INVENTORY_ADJUSTMENT = "inventory_adjustment", "Inventory adjustments"


class AccountKind(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    INCOME = "income", "Income"
    EXPENSE = "expense", "Expense"


class Account(models.Model):
    """One account of the chart. `purpose` ties it to the postings the services make."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    purpose = models.CharField(
        max_length=32,
        choices=AccountPurpose.choices,
        null=True,
        blank=True,
        help_text="The services post to the account holding a purpose; at most one account "
        "holds each.",
    )
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose"],
                condition=models.Q(purpose__isnull=False),
                name="account_purpose_unique",
                violation_error_message="Another account already holds this purpose.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PeriodStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class FiscalPeriod(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    """A calendar month of the books. Once closed, nothing more is posted into it."""

    start_date = models.DateField(unique=True)
    end_date = models.DateField()
    status = FSMField(
        max_length=8, choices=PeriodStatus.choices, default=PeriodStatus.OPEN, protected=True
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    close_reason = models.TextField(blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    reopen_reason = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["start_date"]
        permissions = [
            ("close_period", "Can close a fiscal period"),
            ("reopen_period", "Can reopen a closed fiscal period (controller)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")),
                name="period_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return self.start_date.strftime("%Y-%m")

    @property
    def is_open(self) -> bool:
        return self.status == PeriodStatus.OPEN

    @transition(
        field=status,
        source=PeriodStatus.OPEN,
        target=PeriodStatus.CLOSED,
        permission="finance.close_period",
    )
    def close(self, *, by, at, reason: str) -> None:
        self.closed_by = by
        self.closed_at = at
        self.close_reason = reason

    @transition(
        field=status,
        source=PeriodStatus.CLOSED,
        target=PeriodStatus.OPEN,
        permission="finance.reopen_period",
    )
    def reopen(self, *, by, at, reason: str) -> None:
        self.reopened_by = by
        self.reopened_at = at
        self.reopen_reason = reason


# PostgreSQL: refuse an entry dated outside its period or into a closed one. FOR SHARE makes a
# concurrent close wait for this posting's commit (and a posting wait for a close's), without
# postings waiting for each other.
_ENTRY_PERIOD_OPEN = """
DECLARE
    period RECORD;
BEGIN
    SELECT status, start_date, end_date INTO period
      FROM finance_fiscalperiod WHERE id = NEW.period_id FOR SHARE;
    IF period.status <> 'open' THEN
        RAISE EXCEPTION 'journal entry %: fiscal period % is closed', NEW.idempotency_key,
            to_char(period.start_date, 'YYYY-MM') USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.posting_date < period.start_date OR NEW.posting_date > period.end_date THEN
        RAISE EXCEPTION 'journal entry %: posting date % is outside its period',
            NEW.idempotency_key, NEW.posting_date USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
"""

# PostgreSQL, at commit: an entry has at least two lines and its debits equal its credits.
# Fired for the entry's own row and for each of its lines, whichever exists.
_ENTRY_BALANCED = """
DECLARE
    target_entry bigint;
    line_count integer;
    debits numeric;
    credits numeric;
BEGIN
    IF TG_TABLE_NAME = 'finance_journalentry' THEN
        target_entry := NEW.id;
    ELSE
        target_entry := NEW.entry_id;
    END IF;
    SELECT count(*), coalesce(sum(debit), 0), coalesce(sum(credit), 0)
      INTO line_count, debits, credits
      FROM finance_journalline WHERE entry_id = target_entry;
    IF line_count < 2 OR debits <> credits THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: % line(s), debits %, credits %',
            target_entry, line_count, debits, credits USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
"""


def _balanced_trigger(name: str) -> pgtrigger.Trigger:
    return pgtrigger.Trigger(
        name=name,
        when=pgtrigger.After,
        operation=pgtrigger.Insert,
        timing=pgtrigger.Deferred,
        func=_ENTRY_BALANCED,
    )


class JournalEntry(models.Model):
    """A balanced set of lines in one currency, posted for one cause (cause_type, cause_id).

    `occurred_at` is when the business event happened; `posting_date` is the day it is booked
    on, inside `period`. They differ for a late event: its own period was already closed, so it
    is booked on the first day of the earliest open period after it (`is_late`).
    """

    period = models.ForeignKey(FiscalPeriod, on_delete=models.PROTECT, related_name="entries")
    posting_date = models.DateField()
    occurred_at = models.DateTimeField()
    posted_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    cause_type = models.CharField(max_length=40)
    cause_id = models.CharField(max_length=64, blank=True)
    memo = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    payload_hash = models.CharField(max_length=64)
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        related_name="reversed_by",
        null=True,
        blank=True,
        help_text="The entry this one cancels; an entry is reversed at most once.",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
        help_text="Empty for the system.",
    )

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "journal entries"
        default_permissions = ("view",)
        permissions = [
            ("export_journal", "Can export the journal"),
            ("reverse_entry", "Can reverse a journal entry (with a reason)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"),
                name="journal_entry_currency_iso",
            ),
        ]
        indexes = [
            models.Index(fields=["cause_type", "cause_id"], name="journal_entry_cause"),
            models.Index(fields=["period", "posting_date"], name="journal_entry_period_date"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="journal_entry_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            ),
            pgtrigger.Trigger(
                name="journal_entry_period_open",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func=_ENTRY_PERIOD_OPEN,
            ),
            _balanced_trigger("journal_entry_balanced"),
        ]

    def __str__(self) -> str:
        return f"JE-{self.pk} {self.cause_type}:{self.cause_id}"

    @property
    def cause_label(self) -> str:
        return f"{self.cause_type.replace('_', ' ').capitalize()} {self.cause_id}".strip()

    @property
    def is_late(self) -> bool:
        return self.occurred_at.date() < self.period.start_date


class JournalLine(models.Model):
    """One debit or one credit of an entry (never both, never zero)."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    debit = models.DecimalField(**MONEY, default=0)
    credit = models.DecimalField(**MONEY, default=0)
    memo = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["entry", "id"]
        default_permissions = ("view",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(debit__gt=0, credit=0) | models.Q(debit=0, credit__gt=0),
                name="journal_line_one_side",
                violation_error_message="A journal line is a positive debit or a positive credit.",
            ),
        ]
        indexes = [models.Index(fields=["account", "entry"], name="journal_line_account")]
        triggers = [
            pgtrigger.Protect(
                name="journal_line_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            ),
            _balanced_trigger("journal_line_balanced"),
        ]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.account.code} {side}"
