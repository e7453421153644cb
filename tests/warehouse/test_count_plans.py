"""What a cycle count plan counts: the SKUs of one ABC class (by stock value) where they are,
and the locations returns touched since the plan last counted; and the beat's task opening a
due plan's count on a real Celery worker."""

from datetime import timedelta
from decimal import Decimal

import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone

from erp.roles import Role
from inventory import services as inventory
from inventory.models import CauseType, StockState
from tests.factories.warehouse import product_in, returns_warehouse
from tests.worker import running_worker
from warehouse.models import CountPlan, CycleCount, PlanKind
from warehouse.services import count_plans

from .conftest import token

S = StockState


def receive(product, location, qty, *, state=S.AVAILABLE, cause=CauseType.IMPORT, when=None):
    inventory.stock_receive(
        product_id=product.pk,
        location_id=location.pk,
        qty=qty,
        to_state=state,
        cause_type=cause,
        occurred_at=when,
        idempotency_key=token("plan-stock"),
    )


def move(product, source, target, qty, *, cause, when, states=(S.AVAILABLE, S.AVAILABLE)):
    inventory.stock_move(
        product_id=product.pk,
        qty=qty,
        from_location_id=source.pk,
        from_state=states[0],
        to_location_id=target.pk,
        to_state=states[1],
        cause_type=cause,
        occurred_at=when,
        idempotency_key=token("plan-move"),
    )


def opened(plan, now=None):
    """(location codes, product filter) of the count the plan opens now (None: no count)."""
    count = count_plans.count_plan_start(plan_id=plan.pk, actor=None, now=now)
    if count is None:
        return None
    return set(count.locations.values_list("location__code", flat=True)), count.product_filter


@pytest.mark.django_db
def test_an_abc_plan_counts_its_class_by_stock_value_where_it_is_held():
    # given a warehouse worth 1,000.00 at standard cost across five SKUs:
    warehouse = returns_warehouse()
    spot = warehouse.spot
    gold = product_in("general", sku="GOLD", unit_cost="70.00")
    silver = product_in("general", sku="SILVER", unit_cost="15.00")
    bronze = product_in("general", sku="BRONZE", unit_cost="10.00")
    tin = product_in("general", sku="TIN", unit_cost="4.00")
    dust = product_in("general", sku="DUST", unit_cost="1.00")
    receive(gold, spot["stock"], 10)  # 700.00
    receive(silver, spot["stock"], 10)  # 150.00
    receive(bronze, spot["stock"], 6)  # 100.00, at two locations
    receive(bronze, spot["refurbishment"], 4)
    receive(tin, spot["receiving"], 10, state=S.RECEIVED_PENDING_INSPECTION)  # 40.00
    receive(dust, spot["stock"], 10)  # 10.00
    # and stock that is not the warehouse's physical stock: 500 TIN still in transit back from
    # customers (2,000.00 would make it class A), and BRONZE in another warehouse
    receive(tin, spot["inspection"], 500, state=S.IN_TRANSIT_RETURN)
    receive(bronze, returns_warehouse(code="wh-other").spot["stock"], 50)
    # By hand, sorted by value with the share of the total before each SKU:
    #   GOLD 700 (0%) A · SILVER 150 (70%) A · BRONZE 100 (85%) B · TIN 40 (95%) C · DUST 10 C
    plans = {
        klass: CountPlan.objects.create(
            name=f"Class {klass}", warehouse=warehouse, kind=PlanKind.ABC, abc_class=klass
        )
        for klass in "ABC"
    }

    # when each plan opens its count, then it counts its class's SKUs where they are held
    assert opened(plans["A"]) == ({"A-01"}, sorted([gold.pk, silver.pk]))
    assert opened(plans["B"]) == ({"A-01", "REFURB"}, [bronze.pk])
    # (the TIN in transit is booked to the bench but is not there to count)
    assert opened(plans["C"]) == ({"A-01", "DOCK"}, sorted([tin.pk, dust.pk]))


@pytest.mark.django_db
def test_a_returns_plan_counts_the_locations_returns_touched_since_its_last_count():
    # given a plan that last counted two days ago
    now = timezone.now()
    last = now - timedelta(days=2)
    warehouse = returns_warehouse()
    spot = warehouse.spot
    shirt = product_in("apparel", sku="TEE", unit_cost="12.00")
    plan = CountPlan.objects.create(
        name="Returns areas",
        warehouse=warehouse,
        kind=PlanKind.RETURNS_TOUCHED,
        last_counted_at=last,
    )
    # and before it: a return received on the dock, stock placed at LIQ (not by a return)
    pending = S.RECEIVED_PENDING_INSPECTION
    before = last - timedelta(days=1)
    receive(shirt, spot["receiving"], 3, state=pending, cause=CauseType.RECEIPT, when=before)
    receive(shirt, spot["liquidation"], 2, state=pending, when=before)
    receive(shirt, spot["stock"], 5, when=before)
    # and since it:
    after = last + timedelta(hours=1)
    receive(shirt, spot["inspection"], 4, state=pending, cause=CauseType.RECEIPT, when=after)
    move(  # BENCH → CAGE by a disposition: both sides touched (BENCH already was)
        shirt,
        spot["inspection"],
        spot["quarantine"],
        1,
        cause=CauseType.DISPOSITION,
        when=last + timedelta(hours=2),
        states=(pending, S.QUARANTINED),
    )
    move(  # LIQ → RTV by a disposition: LIQ is touched by what left it
        shirt,
        spot["liquidation"],
        spot["vendor_return"],
        2,
        cause=CauseType.DISPOSITION,
        when=last + timedelta(hours=3),
        states=(pending, pending),
    )
    move(  # BENCH → SCRAP: disposal holds nothing to count
        shirt,
        spot["inspection"],
        spot["disposal"],
        1,
        cause=CauseType.DISPOSITION,
        when=last + timedelta(hours=4),
        states=(pending, S.DISPOSED),
    )
    move(  # A-01 → REFURB by a transfer: not a return
        shirt,
        spot["stock"],
        spot["refurbishment"],
        2,
        cause=CauseType.TRANSFER,
        when=last + timedelta(hours=5),
    )
    receive(  # a return into another warehouse
        shirt,
        returns_warehouse(code="wh-other").spot["receiving"],
        1,
        state=pending,
        cause=CauseType.RECEIPT,
        when=last + timedelta(hours=6),
    )

    # when the plan opens its count
    # then it counts BENCH, CAGE, LIQ and RTV, all SKUs; not DOCK (before), A-01 or REFURB
    # (a transfer), SCRAP (disposal) nor the other warehouse
    assert opened(plan, now=now) == ({"BENCH", "CAGE", "LIQ", "RTV"}, [])
    plan.refresh_from_db()
    assert plan.last_counted_at == now
    # and started again at once, nothing was touched since: no count opens
    assert opened(plan, now=now + timedelta(minutes=1)) is None
    assert CycleCount.objects.filter(plan=plan).count() == 1


# The worker needs committed rows, so this test commits; the serialized rollback puts back
# what the migrations created for the tests after it.
@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_beat_task_opens_a_due_plans_count_on_a_real_worker(make_user):
    # given a weekly plan of two locations, due a minute ago; one not due; one inactive
    now = timezone.now()
    warehouse = returns_warehouse()
    counter = make_user(Role.WAREHOUSE, username="beat-counter")
    due = CountPlan.objects.create(
        name="Shelves weekly",
        warehouse=warehouse,
        assignee=counter,
        every_days=7,
        next_due_at=now - timedelta(minutes=1),
        tolerance_units=2,
        tolerance_percent=Decimal("5.00"),
    )
    due.locations.set([warehouse.spot["stock"], warehouse.spot["quarantine"]])
    later = CountPlan.objects.create(
        name="Not yet", warehouse=warehouse, every_days=7, next_due_at=now + timedelta(days=1)
    )
    later.locations.set([warehouse.spot["stock"]])
    idle = CountPlan.objects.create(
        name="Retired",
        warehouse=warehouse,
        every_days=7,
        next_due_at=now - timedelta(days=1),
        is_active=False,
    )
    idle.locations.set([warehouse.spot["stock"]])
    task = settings.CELERY_BEAT_SCHEDULE["count-plans-start"]["task"]

    # when the task the beat schedules runs on a worker process, through the broker
    with running_worker() as (queue, _hostname):
        result = current_app.send_task(task, queue=queue).get(timeout=60)

    # then the due plan's count is open for its assignee, with the plan's tolerances
    count = CycleCount.objects.get(plan=due)
    assert result == [count.pk]
    assert (count.state, count.assignee_id, count.created_by_id) == ("open", counter.pk, None)
    assert set(count.locations.values_list("location__code", flat=True)) == {"A-01", "CAGE"}
    assert (count.tolerance_units, count.tolerance_percent) == (2, Decimal("5.00"))
    assert count.history.get().history_user is None
    # and the plan is due again a week later; the others opened nothing
    due.refresh_from_db()
    assert due.last_counted_at > now
    assert due.next_due_at == due.last_counted_at + timedelta(days=7)
    assert CycleCount.objects.count() == 1
