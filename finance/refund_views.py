"""The refund approval queue and a refund's page, with their actions as plain POST forms.

Reading needs `erp.access_finance` and `finance.view_refund`; each action's own permission,
limit and segregation-of-duties check live in the service, which says why it refuses.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_fsm import TransitionNotAllowed

from finance import refund_selectors as selectors
from finance import services
from finance.models import Refund, RefundState
from finance.models.refunds import (
    APPROVE_PERMISSION,
    REJECT_PERMISSION,
    RELEASE_PERMISSION,
    RETRY_PERMISSION,
)
from finance.services.approvals import Limits, approval_refusal

ACCESS = "erp.access_finance"
VIEW = "finance.view_refund"


def _readable(view):
    return login_required(
        permission_required(ACCESS, raise_exception=True)(
            permission_required(VIEW, raise_exception=True)(view)
        )
    )


def _with_refusals(refunds: list[Refund], user) -> list[Refund]:
    """Say, per refund, why this user may not approve it ("" when they may)."""
    limits = Limits(user)
    for refund in refunds:
        refund.refusal = approval_refusal(refund=refund, actor=user, limits=limits)
    return refunds


def _tabs() -> list[tuple[str, str, int]]:
    """The queue's tabs: each state, its label and how many refunds are in it."""
    counts = selectors.refund_counts()
    return [(s, RefundState(s).label, counts[s]) for s in selectors.QUEUE_STATES]


@_readable
def refund_queue(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state") or RefundState.PENDING_APPROVAL
    if state not in selectors.QUEUE_STATES:
        raise Http404("No such tab.")
    refunds = selectors.refund_queue(state=state)
    if state == RefundState.PENDING_APPROVAL:
        _with_refusals(refunds, request.user)
    return render(
        request,
        "finance/refund_queue.html",
        {
            "refunds": refunds,
            "state": state,
            "state_label": RefundState(state).label,
            "tabs": _tabs(),
            "limit": selectors.QUEUE_LIMIT,
            "approvable": sum(1 for refund in refunds if not getattr(refund, "refusal", "x")),
        },
    )


@_readable
def refund_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        refund = selectors.refund_get(pk=pk)
    except Refund.DoesNotExist as error:
        raise Http404("No such refund.") from error
    user = request.user
    if refund.state == RefundState.PENDING_APPROVAL:
        # Why this user may not approve it; the page shows it only while it waits (reading
        # the user's limits is a query the page after an approval does not need).
        _with_refusals([refund], user)
    actions = {
        "approve": refund.state == RefundState.PENDING_APPROVAL
        and user.has_perm(APPROVE_PERMISSION),
        "reject": refund.state in (RefundState.PENDING_APPROVAL, RefundState.ON_HOLD)
        and user.has_perm(REJECT_PERMISSION),
        "retry": refund.state == RefundState.FAILED and user.has_perm(RETRY_PERMISSION),
        "release": refund.state == RefundState.ON_HOLD and user.has_perm(RELEASE_PERMISSION),
    }
    # An issued refund whose case ended: finance records how the money came back.
    recovery = (
        services.refund_recovery_exception(refund_id=refund.pk)
        if refund.state == RefundState.ISSUED
        else None
    )
    # The four columns a row shows, not the refund's other ~25 (compiled and loaded each view).
    history = (
        refund.history.select_related("history_user")
        .only("history_date", "state", "history_change_reason", "history_user__username")
        .order_by("-history_date")[:50]
    )
    return render(
        request,
        "finance/refund_detail.html",
        {
            "refund": refund,
            "actions": actions,
            "history": history,
            "recovery": recovery,
            "may_recover": user.has_perm(services.RECOVER_PERMISSION),
        },
    )


def _run(action, done: str) -> tuple[bool, str]:
    """Whether the action ran, and what to tell the user."""
    try:
        action()
    except (PermissionDenied, TransitionNotAllowed) as error:
        return False, str(error) or "You may not do that."
    except ValidationError as error:
        return False, " ".join(error.messages)
    return True, done


@_readable
@require_POST
def refund_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if not Refund.objects.filter(pk=pk).exists():
        raise Http404("No such refund.")
    note = request.POST.get("note", "")
    user = request.user
    run = {
        "approve": (
            lambda: services.refund_approve(refund_id=pk, actor=user, note=note),
            f"Refund #{pk} approved; it is paid in the background.",
        ),
        "reject": (
            lambda: services.refund_reject(refund_id=pk, actor=user, reason=note),
            f"Refund #{pk} rejected.",
        ),
        "retry": (
            lambda: services.refund_retry(refund_id=pk, actor=user, note=note),
            f"Refund #{pk} sent to the payment provider again.",
        ),
        "release": (
            lambda: services.refund_hold_release(refund_id=pk, actor=user),
            f"Refund #{pk} released from hold; it waits for approval.",
        ),
        "recover": (
            lambda: services.refund_recovery_record(
                refund_id=pk,
                actor=user,
                note=note,
                reference=request.POST.get("reference", ""),
            ),
            f"Refund #{pk}: recovery recorded and its journal entry reversed.",
        ),
    }
    if action not in run:
        raise Http404("No such action.")
    ok, outcome = _run(*run[action])
    if request.POST.get("next") == "queue" and request.htmx:
        # A row's button in the queue (htmx): the row becomes the outcome, in place, and the
        # tabs' counts are refreshed; the person goes on down the queue without it being read
        # and drawn again.
        return render(
            request,
            "finance/partials/_refund_row_outcome.html",
            {
                "pk": pk,
                "ok": ok,
                "outcome": outcome,
                "tabs": _tabs(),
                "state": RefundState.PENDING_APPROVAL,
            },
        )
    (messages.success if ok else messages.error)(request, outcome)
    if request.POST.get("next") == "queue":
        return redirect("refund_queue")
    return redirect("refund_detail", pk=pk)


@_readable
@require_POST
def refund_bulk_approve(request: HttpRequest) -> HttpResponse:
    ids = [int(value) for value in request.POST.getlist("refund") if value.isdigit()]
    if not ids:
        messages.warning(request, "Tick the refunds to approve first.")
        return redirect("refund_queue")
    outcomes = services.refunds_bulk_approve(
        refund_ids=ids, actor=request.user, note=request.POST.get("note", "")
    )
    approved = [o.refund_id for o in outcomes if o.approved]
    if approved:
        listed = ", ".join(f"#{pk}" for pk in approved)
        messages.success(request, f"Approved {len(approved)}: {listed}.")
    for outcome in outcomes:
        if not outcome.approved:
            messages.error(request, f"Refund #{outcome.refund_id} not approved: {outcome.reason}")
    return redirect("refund_queue")
