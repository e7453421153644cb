"""Upload an Amazon returns report (FBA customer returns or MFN returns) into the inbox; the
page shows what each readable row became and every row it could not read."""

from django import forms
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.views.generic import FormView

from erp.models import Channel, InboundEvent
from erp.services.amazon_reports import IMPORT_PERMISSION, amazon_returns_report_import
from erp.validators import validate_report_upload


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


class AmazonReturnsImportView(PermissionRequiredMixin, FormView):
    permission_required = IMPORT_PERMISSION
    template_name = "erp/amazon_returns_import.html"
    form_class = AmazonReturnsImportForm

    def form_valid(self, form):
        upload = form.cleaned_data["report"]
        try:
            result = amazon_returns_report_import(
                body=upload.read(),
                account=form.cleaned_data["channel"].code,
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
