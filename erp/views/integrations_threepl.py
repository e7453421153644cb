"""Upload a 3PL's returns receipt and disposition report into the inbox; the page shows what
each readable row became and every row it could not read (docs/3pl_returns_report.md)."""

from django import forms

from erp.services.threepl_reports import (
    IMPORT_PERMISSION,
    threepl_returns_report_import,
    threepl_warehouses,
)
from erp.validators import validate_report_upload
from erp.views.report_imports import ReportImportView


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


class ThreePLReturnsImportView(ReportImportView):
    permission_required = IMPORT_PERMISSION
    template_name = "erp/threepl_returns_import.html"
    form_class = ThreePLReturnsImportForm

    def report_import(self, form, upload):
        return threepl_returns_report_import(
            body=upload.read(),
            warehouse_code=form.cleaned_data["warehouse"].code,
            actor=self.request.user,
            filename=upload.name,
        )
