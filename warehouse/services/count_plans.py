"""Cycle count plans: what a plan counts (locations, a SKU set, an ABC class, or the locations
returns touched since its last count) and opening its counts, by hand or on schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from erp.models import Location
from inventory.models import StockBalance
from inventory.reconciliation.buckets import PHYSICAL_STATES

from ..count_selectors import abc_product_ids, locations_touched_by_returns
from ..models import CountPlan, CycleCount, PlanKind
from ._support import save
from .counting import UNCOUNTABLE_KINDS, count_start


@transaction.atomic
def count_plan_start(
    *, plan_id: int, actor: AbstractBaseUser | None, now: datetime | None = None
) -> CycleCount | None:
    """Open a count from a plan.

    Effects: locks the plan; resolves what it counts (its locations; the warehouse's stock
    locations holding its SKUs or its ABC class; or the locations returns touched since its
    last count); opens the count for its assignee; moves `next_due_at` on by `every_days` and
    stamps `last_counted_at`. None (and only the dates move) when nothing is to be counted.
    """
    now = now or timezone.now()
    plan = CountPlan.objects.select_for_update().get(pk=plan_id)
    if not plan.is_active:
        raise ValidationError("This plan is inactive.", code="inactive_plan")
    location_ids, product_ids = _plan_scope(plan, now=now)
    if plan.every_days:
        plan.next_due_at = now + timedelta(days=plan.every_days)
    plan.last_counted_at = now
    save(plan, actor=actor, why="Plan started a count")
    if not location_ids:
        return None
    return count_start(
        warehouse_id=plan.warehouse_id,
        location_ids=location_ids,
        product_ids=product_ids,
        assignee_id=plan.assignee_id,
        actor=actor,
        plan=plan,
    )


def count_plans_start_due(*, now: datetime | None = None) -> list[int]:
    """Open a count from every active scheduled plan that is due (the beat calls this).

    Effects: per due plan, `count_plan_start` in its own transaction; returns the new counts'
    ids. A plan due again before its count is posted opens another count."""
    now = now or timezone.now()
    due = CountPlan.objects.filter(
        is_active=True, every_days__isnull=False, next_due_at__lte=now
    ).values_list("pk", flat=True)
    opened = []
    for plan_id in list(due):
        count = count_plan_start(plan_id=plan_id, actor=None, now=now)
        if count is not None:
            opened.append(count.pk)
    return opened


def _plan_scope(plan: CountPlan, *, now: datetime) -> tuple[list[int], list[int]]:
    """(location ids, product ids or [] for all) a plan counts."""
    stock_locations = Location.objects.filter(
        warehouse_id=plan.warehouse_id, is_active=True
    ).exclude(kind__in=UNCOUNTABLE_KINDS)
    if plan.kind == PlanKind.LOCATIONS:
        return list(plan.locations.filter(is_active=True).values_list("pk", flat=True)), []
    if plan.kind == PlanKind.RETURNS_TOUCHED:
        return locations_touched_by_returns(
            warehouse_id=plan.warehouse_id, since=plan.last_counted_at, until=now
        ), []
    if plan.kind == PlanKind.SKUS:
        product_ids = list(plan.products.values_list("pk", flat=True))
    else:
        product_ids = abc_product_ids(warehouse_id=plan.warehouse_id, abc_class=plan.abc_class)
    if not product_ids:
        return [], []
    holding = (
        StockBalance.objects.filter(
            product_id__in=product_ids,
            qty__gt=0,
            state__in=PHYSICAL_STATES,
            location__in=stock_locations,
        )
        .values_list("location_id", flat=True)
        .distinct()
    )
    return sorted(set(holding)), product_ids
