"""Changing what a channel may sell (its rule) or hold back (safety stock): each change is
saved with who and why, and recomputes the ATS it moves in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from erp.history import save_with_history
from erp.models import Channel, Product, Warehouse

from ..models import ChannelAvailability, ChannelRule, SafetyStock, StockBalance
from .availability import availability_recompute

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User

    from .. import locks


@transaction.atomic
def channel_rule_save(
    *,
    channel_id: int,
    sellable_states: Sequence[str],
    sellable_grades: Sequence[str],
    warehouse_ids: Iterable[int] = (),
    actor: User | None,
    reason: str = "",
) -> ChannelRule:
    """Create or change a channel's rule (states, grades, warehouses; no warehouse: all).

    Effects: locks the channel's rule; refuses (nothing written) an unknown channel or
    warehouse, a state no channel may sell, or an unknown grade; saves the rule and its
    warehouses with a history row naming the actor and why; recomputes ATS of every SKU that
    has stock or an ATS figure, writing an outbox row for each channel figure that changed.
    """
    if not Channel.objects.filter(pk=channel_id).exists():
        raise ValidationError(f"Unknown channel {channel_id}.", code="unknown_channel")
    warehouse_ids = sorted(set(warehouse_ids))
    unknown = set(warehouse_ids) - set(
        Warehouse.objects.filter(pk__in=warehouse_ids).values_list("pk", flat=True)
    )
    if unknown:
        raise ValidationError(
            f"Unknown warehouse {', '.join(map(str, sorted(unknown)))}.", code="unknown_warehouse"
        )
    rule = ChannelRule.objects.select_for_update().filter(channel_id=channel_id).first()
    rule = rule or ChannelRule(channel_id=channel_id)
    rule.sellable_states = list(sellable_states)
    rule.sellable_grades = list(sellable_grades)
    rule.full_clean(exclude=["channel"], validate_unique=False)
    save_with_history(rule, actor=actor, why=reason.strip() or "Channel rule changed")
    rule.warehouses.set(warehouse_ids)
    _recompute_channel(channel_id)
    return rule


@transaction.atomic
def channel_rule_delete(*, channel_id: int, actor: User | None, reason: str = "") -> None:
    """Remove a channel's rule: it then sells available stock, as new, from every warehouse.

    Effects: deletes the rule with a history row naming the actor and why (nothing if it has
    none); recomputes ATS as `channel_rule_save` does.
    """
    rule = ChannelRule.objects.select_for_update().filter(channel_id=channel_id).first()
    if rule is None:
        return
    rule._history_user = actor
    rule._change_reason = reason.strip() or "Channel rule removed"
    rule.delete()
    _recompute_channel(channel_id)


@transaction.atomic
def safety_stock_save(
    *, channel_id: int, product_id: int, qty: int, actor: User | None, reason: str = ""
) -> SafetyStock:
    """Set the units of a SKU held back from a channel's ATS.

    Effects: refuses (nothing written) an unknown channel or SKU, or a quantity that is not a
    whole number >= 0; locks and saves the (channel, SKU) row with a history row naming the
    actor and why; recomputes the SKU's ATS, with outbox rows for figures that changed.
    """
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
        raise ValidationError(
            f"Safety stock is a whole number of units, 0 or more (got {qty!r}).", code="bad_qty"
        )
    if not Channel.objects.filter(pk=channel_id).exists():
        raise ValidationError(f"Unknown channel {channel_id}.", code="unknown_channel")
    if not Product.objects.filter(pk=product_id).exists():
        raise ValidationError(f"Unknown SKU: no product with id {product_id}.", "unknown_sku")
    safety = (
        SafetyStock.objects.select_for_update()
        .filter(channel_id=channel_id, product_id=product_id)
        .first()
    ) or SafetyStock(channel_id=channel_id, product_id=product_id)
    if safety.pk is None or safety.qty != qty:
        safety.qty = qty
        save_with_history(safety, actor=actor, why=reason.strip() or f"Safety stock {qty}")
        availability_recompute(product_ids=[product_id])
    return safety


@transaction.atomic
def safety_stock_delete(
    *, channel_id: int, product_id: int, actor: User | None, reason: str = ""
) -> list[locks.AvailabilityRow]:
    """Hold nothing back any more of a SKU on a channel.

    Effects: deletes the (channel, SKU) row with a history row naming the actor and why
    (nothing if there is none); recomputes the SKU's ATS, with outbox rows for figures that
    changed, and returns those.
    """
    safety = (
        SafetyStock.objects.select_for_update()
        .filter(channel_id=channel_id, product_id=product_id)
        .first()
    )
    if safety is None:
        return []
    safety._history_user = actor
    safety._change_reason = reason.strip() or "Safety stock removed"
    safety.delete()
    return availability_recompute(product_ids=[product_id])


def _recompute_channel(channel_id: int) -> None:
    """ATS of every SKU the channel's rule may change: those with stock or with a figure."""
    product_ids = set(
        ChannelAvailability.objects.filter(channel_id=channel_id).values_list(
            "product_id", flat=True
        )
    ) | set(
        StockBalance.objects.filter(qty__gt=0)
        .order_by()
        .values_list("product_id", flat=True)
        .distinct()
    )
    availability_recompute(product_ids=product_ids)
