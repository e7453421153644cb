"""Cycle counts: blind counting on the tablet (HTML and API), recounts beyond tolerance,
movements while a count is open, serials found / missing / unexpected, maker-checker approval
within value limits, adjustments and their journal entries, idempotent submission, and the
count as a reconciliation snapshot."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from erp.models.exceptions import ExceptionCase, ExceptionKind
from erp.roles import Role
from finance.models import AccountPurpose, JournalEntry, JournalLine
from inventory import services as inventory
from inventory.models import CauseType, ExternalSnapshot, StockMovement, StockState
from tests.factories import OrderLineFactory, UserFactory
from tests.factories.warehouse import product_in
from tests.finance.journal_checks import check_deferred_constraints
from warehouse.models import (
    CountApproval,
    CountLine,
    CountPlan,
    CountState,
    CycleCount,
    LineStatus,
    PlanKind,
    SerialOutcome,
)
from warehouse.services import count_plans, count_posting, counting

from .conftest import on_hand, token

S = StockState
pytestmark = pytest.mark.django_db


@pytest.fixture
def counter(make_user):
    return make_user(Role.WAREHOUSE, username="counter")


@pytest.fixture
def lead(make_user):
    return make_user(Role.WAREHOUSE, username="lead")


@pytest.fixture
def manager(make_user):
    return make_user(Role.OPERATIONS_MANAGER, username="manager")


def stock(product, location, qty, serials=(), state=S.AVAILABLE):
    return inventory.stock_receive(
        product_id=product.pk,
        location_id=location.pk,
        qty=qty,
        serials=list(serials),
        to_state=state,
        idempotency_key=token("stock"),
    )


def start(warehouse, actor, *kinds, **extra):
    return counting.count_start(
        warehouse_id=warehouse.pk,
        location_ids=[warehouse.spot[kind].pk for kind in kinds or ["stock"]],
        actor=actor,
        **extra,
    )


def open_place(count, actor, code="A-01"):
    return counting.count_location_open(count_id=count.pk, code=code, actor=actor)


def enter(place, product, qty, actor, serial="", key=None):
    return counting.count_entry_submit(
        count_location_id=place.pk,
        product_id=product.pk,
        qty=qty,
        serial=serial,
        client_token=key or token("entry"),
        actor=actor,
    )


def lines(count) -> dict:
    return {
        (line.product.sku, line.serial): line
        for line in CountLine.objects.filter(count=count).select_related("product")
    }


def decide(count, actor, recount=()):
    return count_posting.count_review_decide(
        count_id=count.pk, actor=actor, client_token=token("review"), recount_line_ids=list(recount)
    )


def count_journal(count):
    return JournalLine.objects.filter(
        entry__cause_type=CauseType.COUNT, entry__cause_id=str(count.pk)
    )


# --- Blind count --------------------------------------------------------------------------------


def test_the_counter_never_sees_a_system_quantity_in_html_or_api(
    client, warehouse, shirt, other_shirt, counter
):
    # given 4871 shirts and 3929 other shirts on the books at A-01
    stock(shirt, warehouse.spot["stock"], 4871)
    stock(other_shirt, warehouse.spot["stock"], 3929)
    client.force_login(counter)
    # when the counter starts a count by scanning the location and counts 5 shirts
    response = client.post(reverse("warehouse_counts"), {"code": "A-01"})
    count = CycleCount.objects.get()
    assert response.status_code == 302
    client.post(reverse("warehouse_count", args=[count.pk]), {"code": "a-01"})
    place = count.locations.get()
    client.post(
        reverse("warehouse_count_location", args=[place.pk]),
        {"code": shirt.sku, "qty": 5, "lot": "", "client_token": "tok-1"},
    )
    pages = [
        reverse("warehouse_counts"),
        reverse("warehouse_count", args=[count.pk]),
        reverse("warehouse_count_location", args=[place.pk]),
        reverse("warehouse_count_api", args=[count.pk]),
        reverse("warehouse_count_review", args=[count.pk]),
    ]

    def shown() -> str:
        return "".join(client.get(page).content.decode() for page in pages)

    # then no page or API answer holds either system quantity, while the count shows
    before = shown()
    assert shirt.sku in before
    assert re.search(r"\b5\b", before)
    assert not re.search(r"\b(4871|3929|4866)\b", before)
    # and when the submission sends both lines back for recount, still nothing shows
    client.post(reverse("warehouse_count_submit", args=[count.pk]))
    count.refresh_from_db()
    assert count.state == CountState.OPEN
    assert {line.status for line in lines(count).values()} == {LineStatus.RECOUNT}
    after = shown()
    assert "Recount" in after
    assert not re.search(r"\b(4871|3929|4866)\b", after)
    # and the review page shows the counter nothing either
    assert "You counted this stock" in client.get(pages[-1]).content.decode()


def test_a_line_beyond_tolerance_is_recounted_once(warehouse, shirt, other_shirt, counter):
    # given 10 of each at A-01 and a tolerance of 2 units
    stock(shirt, warehouse.spot["stock"], 10)
    stock(other_shirt, warehouse.spot["stock"], 10)
    count = start(warehouse, counter, tolerance_units=2)
    place = open_place(count, counter)
    # when 11 shirts (within) and 16 other shirts (beyond) are counted and handed in
    enter(place, shirt, 11, counter)
    enter(place, other_shirt, 16, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    # then only the other shirts go back for recount, blind (quantity cleared), count open
    found = lines(count)
    assert count.state == CountState.OPEN
    assert found[(other_shirt.sku, "")].status == LineStatus.RECOUNT
    assert found[(other_shirt.sku, "")].counted_qty is None
    assert found[(other_shirt.sku, "")].round == 2
    assert found[(shirt.sku, "")].status == LineStatus.COUNTED
    with pytest.raises(ValidationError, match="recount"):
        counting.count_submit(count_id=count.pk, actor=counter)
    # when recounted as 5, it goes to review even though it still differs (one recount)
    enter(place, other_shirt, 5, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    assert count.state == CountState.REVIEW
    found = lines(count)
    assert (found[(other_shirt.sku, "")].system_qty, found[(other_shirt.sku, "")].counted_qty) == (
        10,
        5,
    )
    assert found[(shirt.sku, "")].variance == 1


def test_movements_while_a_count_is_open_do_not_disturb_it(warehouse, shirt, counter, manager):
    # given 10 shirts at A-01, and the counter opens A-01 (its snapshot time)
    stock(shirt, warehouse.spot["stock"], 10)
    count = start(warehouse, counter, tolerance_units=5)
    place = open_place(count, counter)
    # when 3 are moved to quarantine and 4 more received at A-01 after the snapshot
    inventory.stock_move(
        product_id=shirt.pk,
        qty=3,
        from_location_id=warehouse.spot["stock"].pk,
        from_state=S.AVAILABLE,
        to_location_id=warehouse.spot["quarantine"].pk,
        to_state=S.QUARANTINED,
        idempotency_key=token("move"),
    )
    stock(shirt, warehouse.spot["stock"], 4)
    # and the counter had counted 9 (one missing at the snapshot time)
    enter(place, shirt, 9, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    # then the system quantity is the snapshot's (10), the review shows the net +1 since
    line = lines(count)[(shirt.sku, "")]
    assert (line.system_qty, line.variance) == (10, -1)
    from warehouse.count_selectors import review_lines

    assert [row.moved_since for row in review_lines(count=count)] == [1]
    # when approved, only the variance is posted: 11 on the shelf now becomes 10
    decide(count, manager)
    assert on_hand(shirt)[("A-01", S.AVAILABLE)] == 10
    movement = StockMovement.objects.get(cause_type=CauseType.COUNT)
    assert movement.occurred_at == place.snapshot_at
    assert (movement.from_location_id, movement.to_location_id, movement.qty) == (
        warehouse.spot["stock"].pk,
        None,
        1,
    )


def test_serials_are_found_missing_or_unexpected(warehouse, laptop, counter, manager):
    # given SN-1 and SN-2 at A-01, and SN-3 on the receiving dock
    stock(laptop, warehouse.spot["stock"], 2, serials=["SN-1", "SN-2"])
    stock(
        laptop,
        warehouse.spot["receiving"],
        1,
        serials=["SN-3"],
        state=S.RECEIVED_PENDING_INSPECTION,
    )
    count = start(warehouse, counter, tolerance_units=1)
    place = open_place(count, counter)
    # when the counter scans SN-1 and SN-3 (twice: still one unit) at A-01
    enter(place, laptop, 1, counter, serial="SN-1")
    enter(place, laptop, 1, counter, serial="SN-3")
    enter(place, laptop, 1, counter, serial="SN-3")
    with pytest.raises(ValidationError, match="serial"):
        enter(place, laptop, 2, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    # then each serial has its outcome
    found = lines(count)
    outcomes = {serial: line.serial_outcome for (_sku, serial), line in found.items()}
    assert outcomes == {
        "SN-1": SerialOutcome.FOUND,
        "SN-2": SerialOutcome.MISSING,
        "SN-3": SerialOutcome.UNEXPECTED,
    }
    assert count.state == CountState.REVIEW
    # when a manager approves: SN-2 leaves stock, SN-3 moves to A-01
    decide(count, manager)
    assert on_hand(laptop) == {("A-01", S.AVAILABLE): 1, ("A-01", S.RECEIVED_PENDING_INSPECTION): 1}
    units = dict(laptop.units.values_list("serial", "state"))
    assert units["SN-2"] == "outside"
    # and the write-off is booked: Dr Inventory adjustments / Cr Inventory, 610.00
    entry_lines = set(count_journal(count).values_list("account__purpose", "debit", "credit"))
    assert (AccountPurpose.INVENTORY_ADJUSTMENT, Decimal("610.00"), Decimal("0.00")) in entry_lines


# --- Approval ------------------------------------------------------------------------------------


def reviewed_count(warehouse, product, counter, *, system, counted, limit="500.00"):
    if system:
        stock(product, warehouse.spot["stock"], system)
    count = start(warehouse, counter, tolerance_units=1000, approval_limit=Decimal(limit))
    place = open_place(count, counter)
    enter(place, product, counted, counter)
    return counting.count_submit(count_id=count.pk, actor=counter)


def test_the_counter_may_not_approve_and_nothing_changes(warehouse, shirt, make_user):
    # given a count by a warehouse user who may also approve
    counter = make_user(Role.WAREHOUSE, username="counter")
    count = reviewed_count(warehouse, shirt, counter, system=10, counted=8)
    # when the counter approves it
    with pytest.raises(PermissionDenied, match="someone else"):
        decide(count, counter)
    # then nothing is posted
    count.refresh_from_db()
    assert count.state == CountState.REVIEW
    assert not StockMovement.objects.filter(cause_type=CauseType.COUNT).exists()
    assert not CountApproval.objects.exists()
    assert on_hand(shirt)[("A-01", S.AVAILABLE)] == 10


def test_above_the_limit_only_an_operations_manager_approves(
    warehouse, shirt, counter, lead, manager, finance_user
):
    # given a variance of -50 x 12.00 = 600.00 against a limit of 500.00
    count = reviewed_count(warehouse, shirt, counter, system=60, counted=10)
    # when a warehouse lead approves: refused, nothing written
    with pytest.raises(PermissionDenied, match="operations manager"):
        decide(count, lead)
    with pytest.raises(PermissionDenied):
        decide(count, finance_user)
    assert not StockMovement.objects.filter(cause_type=CauseType.COUNT).exists()
    assert not count_journal(count).exists()
    # when the operations manager approves: posted
    count = decide(count, manager)
    assert count.state == CountState.POSTED
    assert count.posted_by == manager
    assert on_hand(shirt)[("A-01", S.AVAILABLE)] == 10
    approval = CountApproval.objects.get()
    assert (approval.decided_by, approval.abs_value) == (manager, Decimal("600.00"))
    assert count.history.filter(state=CountState.POSTED).exists()


def test_within_the_limit_a_warehouse_lead_approves_and_the_journal_balances(
    warehouse, shirt, other_shirt, counter, lead
):
    # given a count: shirts 10 → 8 (-24.00), other shirts 5 → 7 (+24.00)
    stock(shirt, warehouse.spot["stock"], 10)
    stock(other_shirt, warehouse.spot["stock"], 5)
    count = start(warehouse, counter, tolerance_units=5)
    place = open_place(count, counter)
    enter(place, shirt, 8, counter)
    enter(place, other_shirt, 7, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    # when the lead approves (gross 48.00 within 500.00)
    count = decide(count, lead)
    # then the balances follow the count, with one movement per line caused by the count
    assert on_hand(shirt)[("A-01", S.AVAILABLE)] == 8
    assert on_hand(other_shirt)[("A-01", S.AVAILABLE)] == 7
    movements = StockMovement.objects.filter(cause_type=CauseType.COUNT, cause_id=str(count.pk))
    assert movements.count() == 2
    # and the journal entries balance, the adjustments account nets to zero
    check_deferred_constraints()
    journal = count_journal(count)
    totals = journal.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    assert totals["debit"] == totals["credit"] == Decimal("48.00")
    adjustments = journal.filter(account__purpose=AccountPurpose.INVENTORY_ADJUSTMENT)
    assert sum(line.credit - line.debit for line in adjustments) == Decimal("0.00")
    entries = JournalEntry.objects.filter(cause_type=CauseType.COUNT, cause_id=str(count.pk))
    # one entry for the count (its lines valued together per account pair), none posted twice
    assert entries.count() == 1
    assert all(line.status == LineStatus.POSTED for line in lines(count).values())


def test_lines_sent_back_are_recounted_and_the_rest_posts(
    warehouse, shirt, other_shirt, counter, lead
):
    # given a count in review with two differing lines
    stock(shirt, warehouse.spot["stock"], 10)
    stock(other_shirt, warehouse.spot["stock"], 10)
    count = start(warehouse, counter, tolerance_units=5)
    place = open_place(count, counter)
    enter(place, shirt, 9, counter)
    enter(place, other_shirt, 8, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    back = lines(count)[(other_shirt.sku, "")]
    # when the lead sends the other shirts back
    count = decide(count, lead, recount=[back.pk])
    # then the shirts post, the other shirts wait for a recount with the count open
    assert count.state == CountState.OPEN
    assert on_hand(shirt)[("A-01", S.AVAILABLE)] == 9
    assert on_hand(other_shirt)[("A-01", S.AVAILABLE)] == 10
    back.refresh_from_db()
    assert (back.status, back.counted_qty, back.round) == (LineStatus.RECOUNT, None, 2)
    # when recounted as 10 and handed in again, approval posts nothing more and closes it
    enter(place, other_shirt, 10, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    count = decide(count, lead)
    assert count.state == CountState.POSTED
    assert on_hand(other_shirt)[("A-01", S.AVAILABLE)] == 10
    assert StockMovement.objects.filter(cause_type=CauseType.COUNT).count() == 1


# --- Idempotent submission -------------------------------------------------------------


def test_a_resent_entry_counts_once_from_the_form_and_the_api(client, warehouse, shirt, counter):
    stock(shirt, warehouse.spot["stock"], 3)
    count = start(warehouse, counter)
    place = open_place(count, counter)
    client.force_login(counter)
    form = {"code": shirt.sku, "qty": 2, "lot": "", "client_token": "same-form-token"}
    url = reverse("warehouse_count_location", args=[place.pk])
    # when the same form is posted twice (a double tap) and the same API call sent twice
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302
    api = reverse("warehouse_count_api_entry", args=[place.pk])
    body = {"code": shirt.sku, "qty": 1, "client_token": "same-api-token"}
    first = client.post(api, body, content_type="application/json")
    second = client.post(api, body, content_type="application/json")
    # then each counted once: 2 + 1
    assert first.status_code == second.status_code == 201
    assert first.json()["entry"] == second.json()["entry"]
    assert "system" not in first.content.decode()
    assert lines(count)[(shirt.sku, "")].counted_qty == 3
    # and bad input is a 4xx with nothing written
    bad = client.post(api, {"code": "NOPE", "qty": 1, "client_token": "x"}, "application/json")
    assert bad.status_code == 422
    assert client.post(api, "{", content_type="application/json").status_code == 400
    assert lines(count)[(shirt.sku, "")].counted_qty == 3


# --- Reconciliation source, plans ------------------------------------------------------


def test_a_handed_in_count_is_a_reconciliation_snapshot(warehouse, shirt, counter, manager):
    # given 10 shirts at A-01 and 4 in the cage; the count of A-01 finds 7
    stock(shirt, warehouse.spot["stock"], 10)
    stock(shirt, warehouse.spot["receiving"], 4, state=S.RECEIVED_PENDING_INSPECTION)
    count = reviewed_count(warehouse, shirt, counter, system=0, counted=7)
    # then a partial cycle_count snapshot says the warehouse holds 14 - 3 = 11
    snapshot = ExternalSnapshot.objects.get(pk=count.snapshot_id)
    assert (snapshot.source, snapshot.scope, snapshot.warehouse_id) == (
        "cycle_count",
        "partial",
        warehouse.pk,
    )
    assert list(snapshot.lines.values_list("product_id", "on_hand")) == [(shirt.pk, 11)]
    assert snapshot.taken_at == count.locations.get().snapshot_at


def test_a_due_plan_opens_a_count_for_its_assignee(warehouse, shirt, other_shirt, counter):
    # given a weekly plan of one SKU, due an hour ago, and a plan of returns-touched locations
    stock(shirt, warehouse.spot["stock"], 5)
    stock(shirt, warehouse.spot["receiving"], 2, state=S.RECEIVED_PENDING_INSPECTION)
    inventory.stock_move(
        product_id=shirt.pk,
        qty=2,
        from_location_id=warehouse.spot["receiving"].pk,
        from_state=S.RECEIVED_PENDING_INSPECTION,
        to_location_id=warehouse.spot["quarantine"].pk,
        to_state=S.QUARANTINED,
        idempotency_key=token("to-cage"),
    )
    stock(other_shirt, warehouse.spot["refurbishment"], 2)
    now = timezone.now()
    plan = CountPlan.objects.create(
        name="Shirts weekly",
        warehouse=warehouse,
        kind=PlanKind.SKUS,
        assignee=counter,
        every_days=7,
        next_due_at=now - timedelta(hours=1),
    )
    plan.products.set([shirt])
    CountPlan.objects.create(
        name="Not due", warehouse=warehouse, every_days=7, next_due_at=now + timedelta(days=1)
    )
    # when the scheduler runs
    opened = count_plans.count_plans_start_due(now=now)
    # then one count opens for the shirt's locations, assigned, and the plan moves a week on
    count = CycleCount.objects.get(pk__in=opened)
    assert count.assignee == counter
    assert count.product_filter == [shirt.pk]
    assert set(count.locations.values_list("location__code", flat=True)) == {"A-01", "CAGE"}
    plan.refresh_from_db()
    assert plan.next_due_at == now + timedelta(days=7)
    # and another person may not count a count assigned to the counter
    place = count.locations.first()
    with pytest.raises(PermissionDenied):
        counting.count_location_open(
            count_id=count.pk, code=place.location.code, actor=another_counter()
        )
    # and a SKU outside the plan is refused
    place = open_place(count, counter, code=place.location.code)
    with pytest.raises(ValidationError, match="not part"):
        enter(place, other_shirt, 1, counter)


def another_counter():
    user = UserFactory(username="other-counter")
    user.groups.set(Group.objects.filter(name=Role.WAREHOUSE))
    return user


# --- Query budget --------------------------------------------------------------------------------


def test_the_counter_and_review_screens_take_the_same_queries_at_any_size(
    client, warehouse, counter, lead
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(skus: int) -> tuple[int, int]:
        products = [
            product_in("apparel", sku=f"Q{skus}-{i}", unit_cost="2.00") for i in range(skus)
        ]
        for product in products:
            stock(product, warehouse.spot["stock"], 3)
        count = start(warehouse, counter, tolerance_units=10)
        place = open_place(count, counter)
        for product in products:
            enter(place, product, 2, counter)
        client.force_login(counter)
        with CaptureQueriesContext(connection) as counting_page:
            assert (
                client.get(reverse("warehouse_count_location", args=[place.pk])).status_code == 200
            )
        counting.count_submit(count_id=count.pk, actor=counter)
        client.force_login(lead)
        with CaptureQueriesContext(connection) as review_page:
            assert client.get(reverse("warehouse_count_review", args=[count.pk])).status_code == 200
        CycleCount.objects.filter(pk=count.pk).update(state=CountState.CANCELLED)
        return len(counting_page), len(review_page)

    assert queries_for(2) == queries_for(12)


# --- Tolerance of ad hoc counts -------------------------------------------------------------------


def test_an_ad_hoc_count_from_the_tablet_takes_the_default_tolerance(
    client, settings, warehouse, shirt, other_shirt, counter
):
    # given a default tolerance of 1 unit and 10 percent, and on the books at A-01:
    # 40 shirts, 5 other shirts and 3 green shirts
    settings.CYCLE_COUNT_TOLERANCE_UNITS = 1
    settings.CYCLE_COUNT_TOLERANCE_PERCENT = "10"
    green = product_in("apparel", sku="TEE-GREEN-M", unit_cost="12.00")
    stock(shirt, warehouse.spot["stock"], 40)
    stock(other_shirt, warehouse.spot["stock"], 5)
    stock(green, warehouse.spot["stock"], 3)
    # when the counter starts a count by scanning A-01 on the tablet
    client.force_login(counter)
    assert client.post(reverse("warehouse_counts"), {"code": "A-01"}).status_code == 302
    count = CycleCount.objects.get()
    assert (count.tolerance_units, count.tolerance_percent) == (1, Decimal("10"))
    # and counts 38 shirts (off 2 = 5%), 3 other shirts (off 2 = 40%), 2 green (off 1)
    place = open_place(count, counter)
    enter(place, shirt, 38, counter)
    enter(place, other_shirt, 3, counter)
    enter(place, green, 2, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    # then only the line off by more than both 1 unit and 10% goes back for recount
    statuses = {sku: line.status for (sku, _serial), line in lines(count).items()}
    assert statuses == {
        shirt.sku: LineStatus.COUNTED,
        other_shirt.sku: LineStatus.RECOUNT,
        green.sku: LineStatus.COUNTED,
    }


def test_a_plans_count_takes_the_plans_tolerance(warehouse, shirt, counter):
    # given a plan recounting anything off by more than 3 units and 0 percent
    stock(shirt, warehouse.spot["stock"], 10)
    plan = CountPlan.objects.create(
        name="A-01", warehouse=warehouse, tolerance_units=3, approval_limit=Decimal("80.00")
    )
    plan.locations.set([warehouse.spot["stock"]])
    count = count_plans.count_plan_start(plan_id=plan.pk, actor=counter)
    assert (count.tolerance_units, count.tolerance_percent, count.approval_limit) == (
        3,
        Decimal("0"),
        Decimal("80.00"),
    )
    # when 6 are counted (off 4), it goes back; 7 (off 3) would not have
    place = open_place(count, counter)
    enter(place, shirt, 6, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    assert lines(count)[(shirt.sku, "")].status == LineStatus.RECOUNT


# --- A serial found that the ledger says left us -----------------------------------------------


def test_a_found_unit_the_ledger_says_left_is_booked_back_or_held_for_investigation(
    client, warehouse, laptop, counter, manager
):
    # given SN-7 sold and shipped to a customer, and SN-8 disposed of in the scrap area
    shelf, scrap = warehouse.spot["stock"], warehouse.spot["disposal"]
    stock(laptop, shelf, 2, serials=["SN-7", "SN-8"])
    sale = OrderLineFactory(product=laptop, quantity=1)
    inventory.stock_ship(
        order_line_id=sale.pk,
        location_id=shelf.pk,
        qty=1,
        from_state=S.AVAILABLE,
        serials=["SN-7"],
        idempotency_key=token("ship"),
    )
    inventory.stock_move(
        product_id=laptop.pk,
        qty=1,
        serials=["SN-8"],
        from_location_id=shelf.pk,
        from_state=S.AVAILABLE,
        to_location_id=scrap.pk,
        to_state=S.DISPOSED,
        actor=manager,
        reason="Screen cracked",
        cause_type=CauseType.DISPOSITION,
        idempotency_key=token("scrap"),
    )
    # when a count of A-01 finds both on the shelf and a manager approves it
    count = start(warehouse, counter)
    place = open_place(count, counter)
    enter(place, laptop, 1, counter, serial="SN-7")
    enter(place, laptop, 1, counter, serial="SN-8")
    count = counting.count_submit(count_id=count.pk, actor=counter)
    outcomes = {serial: line.serial_outcome for (_sku, serial), line in lines(count).items()}
    assert outcomes == {"SN-7": SerialOutcome.UNEXPECTED, "SN-8": SerialOutcome.UNEXPECTED}
    count = decide(count, manager)

    # then the count is posted; SN-7 is booked back at A-01 pending inspection (it may have
    # been with the customer), by an adjustment-in caused by the count
    assert count.state == CountState.POSTED
    units = {unit.serial: unit for unit in laptop.units.all()}
    assert (units["SN-7"].state, units["SN-7"].location_id) == (
        S.RECEIVED_PENDING_INSPECTION,
        shelf.pk,
    )
    moved = StockMovement.objects.get(cause_type=CauseType.COUNT, cause_id=str(count.pk))
    assert (moved.unit_id, moved.from_location_id, moved.to_location_id, moved.to_state) == (
        units["SN-7"].pk,
        None,
        shelf.pk,
        S.RECEIVED_PENDING_INSPECTION,
    )
    assert on_hand(laptop) == {
        ("A-01", S.RECEIVED_PENDING_INSPECTION): 1,
        ("SCRAP", S.DISPOSED): 1,
    }
    # and valued by finance's rules at 610.00, balanced (pending-inspection stock sits with
    # returns in cost of goods sold until inspected: Dr COGS / Cr Inventory adjustments)
    entry_lines = set(count_journal(count).values_list("account__purpose", "debit", "credit"))
    assert entry_lines == {
        (AccountPurpose.COST_OF_GOODS_SOLD, Decimal("610.00"), Decimal("0.00")),
        (AccountPurpose.INVENTORY_ADJUSTMENT, Decimal("0.00"), Decimal("610.00")),
    }
    # and SN-8 stays disposed: nothing posted, its line held for investigation
    assert (units["SN-8"].state, units["SN-8"].location_id) == (S.DISPOSED, scrap.pk)
    statuses = {serial: line.status for (_sku, serial), line in lines(count).items()}
    assert statuses == {"SN-7": LineStatus.POSTED, "SN-8": LineStatus.HELD}
    # and each has a serial_mismatch exception saying what the ledger says and what was done
    reports = {
        exception.subject_label: exception
        for exception in ExceptionCase.objects.filter(kind=ExceptionKind.SERIAL_MISMATCH)
    }
    assert set(reports) == {"LAPTOP-15 SN-7", "LAPTOP-15 SN-8"}
    sold, scrapped = reports["LAPTOP-15 SN-7"], reports["LAPTOP-15 SN-8"]
    assert (sold.subject_type, sold.subject_id) == ("inventory_unit", str(units["SN-7"].pk))
    assert "outside our stock" in sold.summary
    assert "order_shipment" in sold.summary
    assert "booked back" in sold.details
    assert not sold.evidence["held"]
    assert "disposed" in scrapped.summary
    assert "disposition" in scrapped.summary
    assert "held" in scrapped.details
    assert scrapped.evidence["held"]
    assert scrapped.evidence["count_line_id"] == lines(count)[(laptop.sku, "SN-8")].pk
    # and the posted count's review page says which line is held
    client.force_login(manager)
    page = client.get(reverse("warehouse_count_review", args=[count.pk])).content.decode()
    assert "1 line held for investigation" in page
    assert "LAPTOP-15 SN-8" in page


def test_an_empty_count_is_approved_on_the_record(warehouse, counter, lead):
    # given a count of an empty A-01 in which nothing was found
    count = start(warehouse, counter)
    open_place(count, counter)
    count = counting.count_submit(count_id=count.pk, actor=counter)
    assert count.state == CountState.REVIEW
    # when the lead approves it, then it is posted with a decision of no lines, and nothing moved
    count = decide(count, lead)
    assert count.state == CountState.POSTED
    assert list(count.approvals.values_list("decision", "lines", "decided_by")) == [
        (CountApproval.Decision.APPROVED, 0, lead.pk)
    ]
    assert not StockMovement.objects.filter(cause_type=CauseType.COUNT).exists()
