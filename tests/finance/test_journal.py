"""The journal service and the rules the database holds for it: balanced, immutable, idempotent,
reversible, and posted by account purpose."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction

from finance.models import Account, AccountPurpose, JournalEntry, JournalLine
from finance.services import Posting, journal_entry_post, journal_entry_reverse
from tests.factories.finance import posted_entry
from tests.finance.journal_checks import check_deferred_constraints

P = AccountPurpose
pytestmark = pytest.mark.django_db


def raw_entry(cursor, *, key: str, period_id: int, posting_date: date) -> int:
    cursor.execute(
        "INSERT INTO finance_journalentry (period_id, posting_date, occurred_at, posted_at, "
        "currency, cause_type, cause_id, memo, idempotency_key, payload_hash) "
        "VALUES (%s, %s, now(), now(), 'USD', 'raw', '1', '', %s, 'x') RETURNING id",
        [period_id, posting_date, key],
    )
    return cursor.fetchone()[0]


def raw_line(cursor, *, entry_id: int, purpose: str, debit: str = "0", credit: str = "0"):
    cursor.execute(
        "INSERT INTO finance_journalline (entry_id, account_id, debit, credit, memo) "
        "VALUES (%s, %s, %s, %s, '')",
        [entry_id, Account.objects.get(purpose=purpose).pk, debit, credit],
    )


def test_the_seeded_chart_holds_every_purpose_once():
    # given the chart the migration seeded
    # then each purpose is held by exactly one active account with a code and a name
    held = dict(Account.objects.filter(is_active=True).values_list("purpose", "code"))
    assert set(held) == set(P.values)
    assert all(code for code in held.values())


def test_post_writes_a_balanced_entry_by_account_purpose():
    # given a return restocked at cost, dated in an open month
    occurred = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)

    # when it is posted
    entry = journal_entry_post(
        postings=[
            Posting(purpose=P.INVENTORY, debit=Decimal("42.50"), memo="2 units"),
            Posting(purpose=P.COST_OF_GOODS_SOLD, credit=Decimal("42.50")),
        ],
        currency="EUR",
        cause_type="disposition",
        cause_id="17",
        memo="Restock",
        idempotency_key="restock-17",
        occurred_at=occurred,
    )

    # then one entry for its cause, booked on its day in March, with one line per posting
    assert (entry.cause_type, entry.cause_id, entry.currency) == ("disposition", "17", "EUR")
    assert entry.period.start_date == date(2026, 3, 1)
    assert entry.posting_date == date(2026, 3, 14)
    assert entry.occurred_at == occurred
    assert not entry.is_late
    lines = list(entry.lines.values_list("account__purpose", "debit", "credit", "memo"))
    assert lines == [
        (P.INVENTORY, Decimal("42.50"), Decimal("0.00"), "2 units"),
        (P.COST_OF_GOODS_SOLD, Decimal("0.00"), Decimal("42.50"), ""),
    ]
    check_deferred_constraints()


def test_posting_follows_a_renumbered_account():
    # given the operator renumbered the inventory account and moved the purpose to a new one
    old = Account.objects.get(purpose=P.INVENTORY)
    old.purpose = None
    old.save()
    new = Account.objects.create(
        code="1305", name="Stock at cost", kind="asset", purpose=P.INVENTORY
    )

    # when a posting to "inventory" is made
    entry = posted_entry(debit=P.INVENTORY, credit=P.COST_OF_GOODS_SOLD)

    # then it lands on the account holding the purpose now
    assert entry.lines.get(debit__gt=0).account == new


def test_the_same_key_and_postings_return_the_entry_already_written():
    # given an entry posted once
    first = posted_entry(amount="12.00", idempotency_key="refund-9")

    # when the same posting is sent again (a retry)
    again = posted_entry(amount="12.00", idempotency_key="refund-9", memo="retry")

    # then it is the same entry and nothing more was written
    assert again.pk == first.pk
    assert JournalEntry.objects.count() == 1
    assert JournalLine.objects.count() == 2


def test_a_used_key_with_other_postings_is_refused_and_writes_nothing():
    # given an entry posted under a key
    posted_entry(amount="12.00", idempotency_key="refund-9")

    # when other postings come under the same key
    with pytest.raises(ValidationError, match="already used for different postings"):
        posted_entry(amount="13.00", idempotency_key="refund-9")

    # then nothing changed
    assert JournalEntry.objects.count() == 1
    assert JournalLine.objects.count() == 2


@pytest.mark.parametrize(
    ("postings", "message"),
    [
        (
            [
                Posting(P.INVENTORY, debit=Decimal("10")),
                Posting(P.CASH_CLEARING, credit=Decimal("9.99")),
            ],
            "does not balance: debits 10.00 USD, credits 9.99 USD",
        ),
        ([Posting(P.INVENTORY, debit=Decimal("0"))], "at least one debit and one credit"),
        (
            [
                Posting(P.INVENTORY, debit=Decimal("-5")),
                Posting(P.CASH_CLEARING, debit=Decimal("5")),
            ],
            "positive number",
        ),
        (
            [
                Posting(P.INVENTORY, debit=Decimal("1.005")),
                Posting(P.CASH_CLEARING, credit=Decimal("1.005")),
            ],
            "more than two decimal places",
        ),
        (
            [Posting(P.INVENTORY, debit=Decimal("1"), credit=Decimal("1"))],
            "not both",
        ),
        ([Posting("petty_cash", debit=Decimal("1"))], "Unknown account purpose"),
    ],
)
def test_a_posting_that_cannot_be_booked_is_refused_and_writes_nothing(postings, message):
    # when postings that cannot make a balanced entry are sent
    with pytest.raises(ValidationError, match=message):
        journal_entry_post(
            postings=postings,
            currency="USD",
            cause_type="test",
            cause_id="1",
            memo="",
            idempotency_key="bad",
        )

    # then nothing was written
    assert not JournalEntry.objects.exists()
    assert not JournalLine.objects.exists()


def test_a_purpose_no_account_holds_is_refused_with_what_to_do():
    # given no account holds the restocking-fee purpose any more
    Account.objects.filter(purpose=P.RESTOCKING_FEE_INCOME).update(purpose=None)

    # when a restocking fee is posted
    with pytest.raises(ValidationError, match="Restocking-fee income; set one in the chart"):
        posted_entry(debit=P.REFUNDS_PAYABLE, credit=P.RESTOCKING_FEE_INCOME)

    # then nothing was written
    assert not JournalEntry.objects.exists()


def test_reversal_posts_the_mirror_entry_for_the_same_cause(finance_user):
    # given a posted entry
    original = posted_entry(amount="30.00", cause_type="refund", cause_id="5")

    # when finance reverses it
    reversal = journal_entry_reverse(
        entry_id=original.pk, reason="Wrong amount", actor=finance_user
    )

    # then the mirror entry cancels it, for the same cause, and the original is unchanged
    assert reversal.reverses == original
    assert (reversal.cause_type, reversal.cause_id) == ("refund", "5")
    assert reversal.actor == finance_user
    assert reversal.memo == f"Reversal of JE-{original.pk}: Wrong amount"
    assert list(reversal.lines.values_list("account__purpose", "debit", "credit")) == [
        (P.INVENTORY, Decimal("0.00"), Decimal("30.00")),
        (P.COST_OF_GOODS_SOLD, Decimal("30.00"), Decimal("0.00")),
    ]
    original.refresh_from_db()
    assert list(original.lines.values_list("debit", "credit")) == [
        (Decimal("30.00"), Decimal("0.00")),
        (Decimal("0.00"), Decimal("30.00")),
    ]
    check_deferred_constraints()


def test_an_entry_is_reversed_once_and_a_reversal_is_not_reversed(finance_user):
    # given an entry and its reversal
    original = posted_entry()
    reversal = journal_entry_reverse(entry_id=original.pk, reason="Duplicate", actor=finance_user)

    # when either is reversed again
    with pytest.raises(ValidationError, match="already been reversed"):
        journal_entry_reverse(entry_id=original.pk, reason="Again", actor=finance_user)
    with pytest.raises(ValidationError, match="is itself a reversal"):
        journal_entry_reverse(entry_id=reversal.pk, reason="Undo", actor=finance_user)

    # then still two entries
    assert JournalEntry.objects.count() == 2


def test_reversing_needs_the_permission_and_a_reason(warehouse_user, finance_user):
    # given a posted entry
    original = posted_entry()

    # when someone without reverse_entry, or without a reason, tries
    with pytest.raises(PermissionDenied):
        journal_entry_reverse(entry_id=original.pk, reason="No", actor=warehouse_user)
    with pytest.raises(ValidationError, match="Give a reason"):
        journal_entry_reverse(entry_id=original.pk, reason="  ", actor=finance_user)

    # then nothing was written
    assert JournalEntry.objects.count() == 1


def write_raw(period, key: str, *lines: tuple[str, str, str], check: bool = True) -> int:
    """An entry and its lines written with SQL, around the service; then, as at commit, the
    deferred checks (unless `check` is off)."""
    with connection.cursor() as cursor:
        entry_id = raw_entry(cursor, key=key, period_id=period.pk, posting_date=period.start_date)
        for purpose, debit, credit in lines:
            raw_line(cursor, entry_id=entry_id, purpose=purpose, debit=debit, credit=credit)
    if check:
        check_deferred_constraints()
    return entry_id


def test_the_database_refuses_an_unbalanced_entry_written_around_the_service():
    # given an open period (created by a normal posting)
    period = posted_entry().period

    # when an unbalanced entry is written with raw SQL, then checked as at commit
    unbalanced = [(P.INVENTORY, "10.00", "0"), (P.CASH_CLEARING, "0", "9.00")]
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        write_raw(period, "raw-1", *unbalanced)

    # then it is gone with its transaction
    assert not JournalEntry.objects.filter(idempotency_key="raw-1").exists()


def test_the_database_refuses_an_entry_without_lines_and_a_line_on_both_sides():
    period = posted_entry().period

    # an entry with no lines at all
    with pytest.raises(IntegrityError, match="unbalanced: 0 line"), transaction.atomic():
        write_raw(period, "raw-empty")

    # a line that is both a debit and a credit
    with pytest.raises(IntegrityError, match="journal_line_one_side"), transaction.atomic():
        write_raw(period, "raw-2", (P.INVENTORY, "5", "5"), check=False)

    assert JournalEntry.objects.count() == 1


def test_the_database_accepts_a_balanced_entry_written_in_several_statements():
    # given an open period
    period = posted_entry().period

    # when a balanced entry is written line by line (the check waits for the commit), then
    # checked as at commit
    entry_id = write_raw(
        period,
        "raw-ok",
        (P.INVENTORY, "10.00", "0"),
        (P.CASH_CLEARING, "0", "4.00"),
        (P.SALES_RETURNS, "0", "6.00"),
    )

    # then it stands
    assert JournalEntry.objects.get(pk=entry_id).lines.count() == 3


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE finance_journalline SET debit = debit + 1 WHERE entry_id = %s",
        "DELETE FROM finance_journalline WHERE entry_id = %s",
        "UPDATE finance_journalentry SET memo = 'edited' WHERE id = %s",
        "DELETE FROM finance_journalentry WHERE id = %s",
    ],
)
def test_the_database_refuses_to_change_or_delete_journal_rows(statement):
    # given a posted entry
    entry = posted_entry(memo="as posted")

    # when its rows are changed or deleted around the service
    with (
        pytest.raises(DatabaseError, match="Cannot update or delete"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [entry.pk])

    # then they are as posted
    entry.refresh_from_db()
    assert entry.memo == "as posted"
    assert sorted(entry.lines.values_list("debit", "credit")) == [
        (Decimal("0.00"), Decimal("10.00")),
        (Decimal("10.00"), Decimal("0.00")),
    ]


def test_the_orm_cannot_edit_an_entry_either():
    entry = posted_entry()
    entry.memo = "changed"
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        entry.save()
