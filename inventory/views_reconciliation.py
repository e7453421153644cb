"""The reconciliation control tower: variances by source over time, the unexplained ones and
their age, drill-down to the events behind a variance, runs with live progress, and the
Amazon inventory report upload."""

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from erp.validators import validate_report_upload
from inventory.models import ReconciliationRun, ReconciliationVariance
from inventory.reconciliation import run_full_start, selectors, variance_accept
from inventory.reconciliation.reports import amazon_inventory_import
from inventory.views import MovementRow, movement_rows

VIEW_PERMISSION = "inventory.view_reconciliationvariance"


class AcceptForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the external count is right (a recount, a confirmed loss…).",
    )


class AmazonImportForm(forms.Form):
    report = forms.FileField(
        label="Report file",
        help_text="GET_AFN_INVENTORY_DATA or the MYI unsuppressed report (tab-separated), or "
        "SP-API inventory summaries (JSON).",
        validators=[validate_report_upload],
    )
    taken_at = forms.DateTimeField(
        label="Report time",
        required=False,
        help_text="When Amazon produced it (YYYY-MM-DD HH:MM); empty: now.",
    )


class ControlTowerView(PermissionRequiredMixin, TemplateView):
    """/inventory/reconciliation/: per source, variance over time, top unexplained, aging."""

    permission_required = VIEW_PERMISSION
    template_name = "inventory/reconciliation/control_tower.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(tower=selectors.control_tower(), **kwargs)


class VarianceDetailView(PermissionRequiredMixin, TemplateView):
    """One variance: the figures, what explains it, the movements and pushes behind it."""

    permission_required = VIEW_PERMISSION
    template_name = "inventory/reconciliation/variance_detail.html"

    def get_context_data(self, **kwargs):
        try:
            drill = selectors.variance_get(pk=self.kwargs["pk"])
        except ReconciliationVariance.DoesNotExist as missing:
            raise Http404 from missing
        evidence = drill.evidence
        context = super().get_context_data(drill=drill, **kwargs)
        context["movement_groups"] = [
            (title, _rows(items))
            for title, items in (
                ("Movements after the snapshot was taken", evidence.movements_after),
                ("Receipts waiting for the 3PL's disposition", evidence.pending_receipts),
                ("Returns in transit", evidence.in_transit),
            )
            if items
        ]
        if self.request.user.has_perm("inventory.accept_variance") and drill.variance.unexplained:
            context["accept_form"] = kwargs.get("accept_form") or AcceptForm()
        return context


def _rows(movements) -> list[MovementRow]:
    return movement_rows(movements, {})


class VarianceAcceptView(PermissionRequiredMixin, View):
    """POST: accept the external figure; the unexplained units are posted as an adjustment."""

    permission_required = "inventory.accept_variance"

    def post(self, request, pk: int):
        form = AcceptForm(request.POST)
        if form.is_valid():
            try:
                correction = variance_accept(
                    variance_id=pk, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except ReconciliationVariance.DoesNotExist as missing:
                raise Http404 from missing
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(
                    request,
                    f"Posted an adjustment of {correction.qty_delta:+d} at "
                    f"{correction.location}; the next run clears the variance.",
                )
        else:
            messages.error(request, "Say why the external figure is right.")
        return redirect("reconciliation_variance", pk=pk)


class RunStartView(PermissionRequiredMixin, View):
    """POST: queue a full run (or show the one already queued or running)."""

    permission_required = "inventory.run_reconciliation"

    def post(self, request):
        run = run_full_start(actor=request.user)
        return redirect("reconciliation_run", pk=run.pk)


class RunDetailView(PermissionRequiredMixin, TemplateView):
    """A run's progress (keys done / total, polled by htmx while it runs) and outcome."""

    permission_required = VIEW_PERMISSION

    def get_template_names(self):
        if self.request.headers.get("HX-Request"):
            return ["inventory/reconciliation/partials/_run_progress.html"]
        return ["inventory/reconciliation/run_detail.html"]

    def get_context_data(self, **kwargs):
        try:
            run = selectors.run_get(pk=self.kwargs["pk"])
        except ReconciliationRun.DoesNotExist as missing:
            raise Http404 from missing
        return super().get_context_data(run=run, **kwargs)


class AmazonImportView(PermissionRequiredMixin, FormView):
    """Upload an FBA inventory report; the result lists every row it could not use."""

    permission_required = "inventory.import_inventoryreport"
    template_name = "inventory/reconciliation/amazon_import.html"
    form_class = AmazonImportForm

    def form_valid(self, form):
        upload = form.cleaned_data["report"]
        try:
            result = amazon_inventory_import(
                body=upload.read(),
                actor=self.request.user,
                taken_at=form.cleaned_data["taken_at"],
                filename=upload.name,
            )
        except ValidationError as error:
            form.add_error("report", " ".join(error.messages))
            return self.form_invalid(form)
        return self.render_to_context(form, result)

    def render_to_context(self, form, result):
        return self.render_to_response(self.get_context_data(form=self.form_class(), result=result))

    def get_success_url(self):
        return reverse("reconciliation_amazon_import")
