"""Realized recovery screens (finance, desktop): the units returned to a vendor or liquidated,
each with its expected and realized recovery, and recording a vendor credit or a liquidation
sale against one (`finance.services.recovery`). Reading needs `erp.access_finance` and
`finance.view_realizedrecovery`; recording needs `finance.record_recovery`."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from finance.forms import RecoveryForm, client_token
from finance.models import OUTCOME_OF_KIND, RealizedRecovery, RecoveryKind
from finance.services.recovery import RECORD_PERMISSION, realized_recovery_record
from warehouse.models import Disposition

LIST_LIMIT = 200
UNPROCESSABLE = 422
KIND_OF_OUTCOME = {outcome: kind for kind, outcome in OUTCOME_OF_KIND.items()}


def _readable(view):
    return login_required(
        permission_required("erp.access_finance", raise_exception=True)(
            permission_required("finance.view_realizedrecovery", raise_exception=True)(view)
        )
    )


def _dispositions():
    """Dispositions a recovery can be recorded against, with what they realized so far (one
    query, whatever the number of rows)."""
    realized = (
        RealizedRecovery.objects.filter(disposition=OuterRef("pk"))
        .values("disposition")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        Disposition.objects.filter(outcome__in=list(KIND_OF_OUTCOME))
        .select_related("unit__case", "unit__product", "decided_by")
        .annotate(
            realized=Coalesce(
                Subquery(realized, output_field=DecimalField(max_digits=12, decimal_places=2)),
                Value(0, output_field=DecimalField(max_digits=12, decimal_places=2)),
            )
        )
        .order_by("-decided_at", "-pk")
    )


@_readable
def recovery_list(request: HttpRequest) -> HttpResponse:
    rows = list(_dispositions()[:LIST_LIMIT])
    for row in rows:
        row.gap = None if row.expected_recovery is None else row.realized - row.expected_recovery
    return render(
        request,
        "finance/recovery_list.html",
        {"dispositions": rows, "limit": LIST_LIMIT},
    )


def _page(request, disposition, form, status=200):
    recoveries = RealizedRecovery.objects.filter(disposition=disposition).select_related(
        "recorded_by", "journal_entry"
    )
    return render(
        request,
        "finance/recovery_record.html",
        {
            "disposition": disposition,
            "recoveries": recoveries,
            "form": form if request.user.has_perm(RECORD_PERMISSION) else None,
        },
        status=status,
    )


@_readable
def recovery_record(request: HttpRequest, pk: int) -> HttpResponse:
    disposition = _dispositions().filter(pk=pk).first()
    if disposition is None:
        raise Http404("No returned-to-vendor or liquidated unit with that disposition.")
    if request.method != "POST":
        form = RecoveryForm(
            initial={
                "client_token": client_token(),
                "kind": KIND_OF_OUTCOME[disposition.outcome],
                "occurred_on": timezone.localdate(),
            }
        )
        return _page(request, disposition, form)
    if not request.user.has_perm(RECORD_PERMISSION):
        return _page(request, disposition, None, status=403)
    form = RecoveryForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            recovery = realized_recovery_record(
                disposition_id=disposition.pk,
                kind=data["kind"],
                amount=data["amount"],
                reference=data["reference"],
                occurred_on=data["occurred_on"],
                client_token=data["client_token"],
                actor=request.user,
            )
        except ValidationError as error:
            by_field = error.error_dict if hasattr(error, "error_dict") else {None: error.messages}
            for field, errors in by_field.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                f"{RecoveryKind(recovery.kind).label} of {recovery.amount} {recovery.currency} "
                f"recorded and posted as JE-{recovery.journal_entry_id}.",
            )
            return redirect("recovery_record", pk=disposition.pk)
    return _page(request, disposition, form, status=UNPROCESSABLE)
