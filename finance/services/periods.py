"""Monthly fiscal periods: finding (or opening) the period a posting belongs to, and closing one."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import has_transition_perm

from erp.history import save_with_history
from finance.models import FiscalPeriod, PeriodStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser as User


def _month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])


def fiscal_period_for_date(*, day: date) -> FiscalPeriod:
    """The month holding `day`, opened (created) on first use.

    Effects: may create the period row (open); concurrent first uses create it once.
    """
    start, end = _month_bounds(day)
    period = FiscalPeriod.objects.filter(start_date=start).first()
    if period is not None:
        return period
    try:
        with transaction.atomic():
            return FiscalPeriod.objects.create(start_date=start, end_date=end)
    except IntegrityError:
        return FiscalPeriod.objects.get(start_date=start)


def fiscal_period_open_for(*, day: date) -> FiscalPeriod:
    """The period a posting dated `day` is booked in: its own month while that is open, else
    the earliest open month after it (a late event).

    Effects: may open (create) the months it passes through.
    """
    period = fiscal_period_for_date(day=day)
    while not period.is_open:
        period = fiscal_period_for_date(day=period.end_date + timedelta(days=1))
    return period


@transaction.atomic
def fiscal_period_close(*, period_id: int, reason: str, actor: User) -> FiscalPeriod:
    """Close a month: nothing more is posted into it (later events go to the next open month).

    Effects: locks the period, checks `finance.close_period` and that every earlier month is
    closed, records who closed it, when and why (period history), and sets it `closed`.
    """
    period = FiscalPeriod.objects.select_for_update().get(pk=period_id)
    if not has_transition_perm(period.close, actor):
        if period.is_open:
            raise PermissionDenied("close_period")
        raise ValidationError(f"Period {period.label} is already closed.")
    reason = reason.strip()
    if not reason:
        raise ValidationError("Give a reason for closing the period; it is kept in its history.")
    earlier_open = (
        FiscalPeriod.objects.filter(start_date__lt=period.start_date, status=PeriodStatus.OPEN)
        .order_by("start_date")
        .first()
    )
    if earlier_open is not None:
        raise ValidationError(f"Close {earlier_open.label} first: periods are closed in order.")
    period.close(by=actor, at=timezone.now(), reason=reason)
    save_with_history(period, actor=actor, why=reason)
    return period


@transaction.atomic
def fiscal_period_reopen(*, period_id: int, reason: str, actor: User) -> FiscalPeriod:
    """Reopen a closed month so late corrections can be booked in it (the controller's call).

    Effects: locks the period; refuses without `finance.reopen_period` (PermissionDenied), an
    open period or no reason (ValidationError), and a month with a later month still closed
    (periods reopen in the reverse order they close, so closed months stay a prefix of the
    calendar); records who reopened it, when and why in the period's history and sets it
    `open`. Postings dated in it are accepted again from then on; every other closed month
    still refuses them.
    """
    period = FiscalPeriod.objects.select_for_update().get(pk=period_id)
    if not actor.has_perm("finance.reopen_period"):
        raise PermissionDenied("reopen_period")
    if period.is_open:
        raise ValidationError(f"Period {period.label} is open already.")
    reason = reason.strip()
    if not reason:
        raise ValidationError("Give a reason for reopening the period; it is kept in its history.")
    later_closed = (
        FiscalPeriod.objects.filter(start_date__gt=period.start_date, status=PeriodStatus.CLOSED)
        .order_by("-start_date")
        .first()
    )
    if later_closed is not None:
        raise ValidationError(f"Reopen {later_closed.label} first: periods reopen in order.")
    period.reopen(by=actor, at=timezone.now(), reason=reason)
    save_with_history(period, actor=actor, why=f"Reopened: {reason}")
    return period
