"""Upload a 3PL's returns receipt and disposition report into the inbox; the page shows what
each readable row became and every row it could not read (docs/3pl_returns_report.md)."""

from django import forms
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.views.generic import FormView

from erp.models import InboundEvent
from erp.services.threepl_reports import (
    IMPORT_PERMISSION,
    threepl_returns_report_import,
    threepl_warehouses,
)
from erp.validators import validate_report_upload


class ThreePLReturnsImportForm(forms.Form):
    warehouse = forms.ModelChoiceField(
        queryset=threepl_warehouses(),
        to_field_name="code",
        empty_label=None,
        help_text="The 3PL warehouse that received the returns.",
    )
    report = forms.FileField(
        label="Report file",
        help_text="CSV (or tab-separated): rma or order_ref, sku, serial, lot, qty, "
        "received_at, condition, disposition, reference.",
        validators=[validate_report_upload],
    )


class ThreePLReturnsImportView(PermissionRequiredMixin, FormView):
    permission_required = IMPORT_PERMISSION
    template_name = "erp/threepl_returns_import.html"
    form_class = ThreePLReturnsImportForm

    def form_valid(self, form):
        upload = form.cleaned_data["report"]
        try:
            result = threepl_returns_report_import(
                body=upload.read(),
                warehouse_code=form.cleaned_data["warehouse"].code,
                actor=self.request.user,
                filename=upload.name,
            )
        except ValidationError as error:
            form.add_error("report", " ".join(error.messages))
            return self.form_invalid(form)
        events = InboundEvent.objects.defer("body", "headers").in_bulk(result.event_ids)
        pairs = zip(result.report.rows, result.event_ids, strict=True)
        rows = [(row, events.get(pk)) for row, pk in pairs]
        return self.render_to_response(
            self.get_context_data(form=self.form_class(), result=result, rows=rows)
        )
