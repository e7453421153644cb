"""What every report-upload screen does: read the file, hand it to its import service, and
show each readable row beside the inbox event it became (or the file's error on the form)."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.views.generic import FormView

from erp.models import InboundEvent


class ReportImportView(PermissionRequiredMixin, FormView):
    """Subclasses name the form, template and permission, and `report_import(form, upload)`,
    which calls the import service and returns its result (`report.rows`, `event_ids`)."""

    def report_import(self, form, upload):
        raise NotImplementedError

    def form_valid(self, form):
        upload = form.cleaned_data["report"]
        try:
            result = self.report_import(form, upload)
        except ValidationError as error:
            form.add_error("report", " ".join(error.messages))
            return self.form_invalid(form)
        events = InboundEvent.objects.defer("body", "headers").in_bulk(result.event_ids)
        pairs = zip(result.report.rows, result.event_ids, strict=True)
        rows = [(row, events.get(pk)) for row, pk in pairs]
        return self.render_to_response(
            self.get_context_data(form=self.form_class(), result=result, rows=rows)
        )
