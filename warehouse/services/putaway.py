"""Put-away: the bench confirms a dispositioned unit reached its destination."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from erp.models import Product
from inventory import services as inventory
from inventory.models import CauseType, StockState

from ..models import Outcome, PutawayTask
from ._support import require_perm, save

PUTAWAY_PERMISSION = "warehouse.complete_putaway"


@transaction.atomic
def putaway_task_complete(*, task_id: int, actor: AbstractBaseUser) -> PutawayTask:
    """Mark a put-away task done.

    Effects: refuses without `warehouse.complete_putaway`; locks the task; a task already done
    is returned as it is (a double tap). Records who and when; for a disposal, the unit
    leaves stock: damaged → disposed at the disposal location (inventory).
    """
    require_perm(actor, PUTAWAY_PERMISSION, "complete put-away tasks")
    task = (
        PutawayTask.objects.select_for_update(of=("self",))
        .select_related("disposition", "unit__product")
        .get(pk=task_id)
    )
    if task.state == PutawayTask.State.DONE:
        return task
    unit = task.unit
    if task.disposition.outcome == Outcome.DISPOSE and unit.stock_state == StockState.DAMAGED:
        product = unit.product
        inventory.stock_move(
            product_id=product.pk,
            qty=1,
            from_location_id=task.to_location_id,
            from_state=StockState.DAMAGED,
            to_location_id=task.to_location_id,
            to_state=StockState.DISPOSED,
            lot=unit.lot if product.tracking == Product.Tracking.LOT else "",
            serials=[unit.serial] if product.tracking == Product.Tracking.SERIAL else [],
            idempotency_key=f"warehouse:putaway:{task.pk}",
            actor=actor,
            cause_type=CauseType.DISPOSITION,
            cause_id=str(task.disposition_id),
            reason="Handed over for disposal",
        )
        unit.stock_state = StockState.DISPOSED
        save(unit, actor=actor, why="Disposed")
    task.state = PutawayTask.State.DONE
    task.completed_by = actor
    task.completed_at = timezone.now()
    save(task, actor=actor, why=f"Put away at {task.to_location}")
    return task
