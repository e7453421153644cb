"""Who may approve which refund: approval limits, segregation of duties and the automatic
approval of small, low-risk refunds. Reads only; `finance.services.refunds` writes.

- Limits: a user's own ApprovalLimit (for the refund's currency, else for any currency)
  replaces their groups' limits; otherwise the highest limit among their groups applies.
  Holders of `approve_refund_unlimited` (the controller) have none. No limit at all means
  the user may not approve money refunds. The migration seeds 500 for the finance group.
- Segregation of duties: the approver is neither the person who caused the proposal nor
  anyone who received or inspected the returned units.
- Automatic approval: a refund proposed by the policy (not by a person), of a low-risk case,
  below settings.REFUND_AUTO_APPROVE_BELOW, with nothing held against it.
"""

from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from finance.models import ApprovalLimit, Refund, RefundStage, RefundState
from finance.models.refunds import APPROVE_PERMISSION, UNLIMITED_PERMISSION

LOW_RISK = "low"


class Limits:
    """One user's approval limits, read once (so a queue of many refunds costs one query)."""

    def __init__(self, user: AbstractBaseUser):
        self.unlimited = user.has_perm(UNLIMITED_PERMISSION)
        rows = list(
            ApprovalLimit.objects.filter(
                Q(user_id=user.pk) | Q(group__in=user.groups.all())
            ).values_list("user_id", "currency", "max_amount")
        )
        self._own = {currency: amount for user_id, currency, amount in rows if user_id}
        self._groups: dict[str, Decimal] = {}
        for user_id, currency, amount in rows:
            if not user_id:
                self._groups[currency] = max(amount, self._groups.get(currency, amount))

    def for_currency(self, currency: str) -> Decimal | None:
        """The largest amount this user may approve in `currency`; None when unlimited.
        Decimal("-1") when they have no limit at all (they may approve nothing)."""
        if self.unlimited:
            return None
        for table in (self._own, self._groups):
            if currency in table or "" in table:
                return table.get(currency, table.get(""))
        return Decimal("-1")


def approval_refusal(*, refund: Refund, actor: AbstractBaseUser, limits: Limits) -> str:
    """Why `actor` may not approve `refund` now, in words they can act on; "" when they may."""
    if not actor.has_perm(APPROVE_PERMISSION):
        return "You may not approve refunds."
    if refund.state != RefundState.PENDING_APPROVAL:
        return f"It is {refund.get_state_display().lower()}, not waiting for approval."
    if actor.pk in (refund.inspector_ids or []):
        return "You received or inspected these units; someone else must approve it."
    if refund.requested_by_id is not None and refund.requested_by_id == actor.pk:
        return "You requested this refund; someone else must approve it."
    limit = limits.for_currency(refund.currency)
    if limit is not None and refund.amount > limit:
        if limit < 0:
            return f"You have no approval limit in {refund.currency}."
        return (
            f"{refund.amount} {refund.currency} is over your approval limit of "
            f"{limit} {refund.currency}; a controller must approve it."
        )
    return ""


def auto_approve_below() -> Decimal:
    return Decimal(str(settings.REFUND_AUTO_APPROVE_BELOW))


def auto_approval_reason(*, refund: Refund, open_exception_kinds: Iterable[str] = ()) -> str:
    """Why the policy approves `refund` without a person ("" when a person must)."""
    if refund.stage == RefundStage.MANUAL or list(open_exception_kinds):
        return ""
    if refund.risk_level != LOW_RISK:
        return ""
    threshold = auto_approve_below()
    if refund.amount >= threshold:
        return ""
    return (
        f"Approved automatically: low risk and {refund.amount} {refund.currency} is below "
        f"{threshold}."
    )
