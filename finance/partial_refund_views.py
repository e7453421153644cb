"""The manual partial refund screen (finance, desktop): find a return by RMA, enter an amount
per returned line (at most what is left refundable) and why; the refund then waits in the
approval queue like any other. Needs `erp.access_finance` and `finance.propose_refund`."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from finance.forms import PartialRefundForm, client_token
from finance.models.refunds import PROPOSE_PERMISSION
from returns.models import ReturnCase
from returns.refunds import case_refund_propose_manual, case_refundable_lines

UNPROCESSABLE = 422


def _case(rma: str) -> ReturnCase | None:
    rma = rma.strip().upper()
    if not rma:
        return None
    return (
        ReturnCase.objects.select_related("channel", "customer", "order")
        .filter(rma_number=rma)
        .first()
    )


def _page(request, *, rma: str, case, form, status=200) -> HttpResponse:
    return render(
        request,
        "finance/partial_refund_form.html",
        {"rma": rma, "case": case, "form": form},
        status=status,
    )


@login_required
@permission_required("erp.access_finance", raise_exception=True)
@permission_required(PROPOSE_PERMISSION, raise_exception=True)
def refund_partial(request: HttpRequest) -> HttpResponse:
    rma = (request.POST if request.method == "POST" else request.GET).get("rma", "")
    case = _case(rma)
    if case is None:
        if rma.strip():
            messages.error(request, f"No return {rma.strip().upper()}.")
        return _page(request, rma=rma, case=None, form=None)
    lines = case_refundable_lines(case_id=case.pk)
    if request.method != "POST":
        form = PartialRefundForm(lines=lines, initial={"client_token": client_token()})
        return _page(request, rma=case.rma_number, case=case, form=form)
    form = PartialRefundForm(request.POST, lines=lines)
    if form.is_valid():
        try:
            refund = case_refund_propose_manual(
                case_id=case.pk,
                amounts=form.amounts(),
                reason=form.cleaned_data["reason"],
                actor=request.user,
                client_token=form.cleaned_data["client_token"],
            )
        except ValidationError as error:
            if hasattr(error, "error_dict") and "reason" in error.error_dict:
                form.add_error("reason", error.error_dict["reason"])
            else:
                form.add_error(None, " ".join(error.messages))
        else:
            messages.success(
                request,
                f"Partial refund #{refund.pk} of {refund.amount} {refund.currency} proposed; "
                "it waits for approval by someone else.",
            )
            return redirect("refund_detail", pk=refund.pk)
    return _page(request, rma=case.rma_number, case=case, form=form, status=UNPROCESSABLE)
