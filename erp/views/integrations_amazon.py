"""Upload an Amazon returns report (FBA customer returns or MFN returns) into the inbox; the
page shows what each readable row became and every row it could not read."""

from django import forms

from erp.models import Channel
from erp.services.amazon_reports import IMPORT_PERMISSION, amazon_returns_report_import
from erp.validators import validate_report_upload
from erp.views.report_imports import ReportImportView


class AmazonReturnsImportForm(forms.Form):
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.filter(platform=Channel.Platform.AMAZON, is_active=True),
        to_field_name="code",
        empty_label=None,
        help_text="The Amazon channel the report belongs to.",
    )
    report = forms.FileField(
        label="Report file",
        help_text="GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA or the MFN returns report "
        "(tab-separated).",
        validators=[validate_report_upload],
    )


class AmazonReturnsImportView(ReportImportView):
    permission_required = IMPORT_PERMISSION
    template_name = "erp/amazon_returns_import.html"
    form_class = AmazonReturnsImportForm

    def report_import(self, form, upload):
        return amazon_returns_report_import(
            body=upload.read(),
            account=form.cleaned_data["channel"].code,
            actor=self.request.user,
            filename=upload.name,
        )
