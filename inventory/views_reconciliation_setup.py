"""The operations manager's reconciliation set-up: source → warehouse mappings and tolerances,
listed with their recent history, created and changed through
`inventory.reconciliation.configuration` (the same refusals as the admin, a note saying why,
and a client token so a form sent twice saves once)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from inventory.models import ExternalLocation, ReconciliationTolerance
from inventory.reconciliation.configuration import (
    MAPPING_FIELDS,
    TOLERANCE_FIELDS,
    external_location_save,
    tolerance_save,
)

UNPROCESSABLE = 422
HISTORY_LIMIT = 20
READ_PERMISSIONS = ("inventory.view_externallocation", "inventory.view_reconciliationtolerance")


class _SetupForm(forms.Form):
    """A row as a manager edits it, plus a note saying why (history) and the token naming
    this form. Only the fields' own checks run here: the rules of the row (`clean`, unique
    constraints) are the service's, so a form sent twice finds its first save, not a
    duplicate error."""

    note = forms.CharField(max_length=200, label="Why (kept in the history)")
    client_token = forms.CharField(max_length=64, widget=forms.HiddenInput)
    model_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # An empty source or category on a tolerance means "any": say so.
        for field in self.fields.values():
            if isinstance(field, forms.ModelChoiceField):
                field.queryset = field.queryset.order_by("code")
                if not field.required:
                    field.empty_label = "Any"
            elif isinstance(field, forms.ChoiceField) and not field.required:
                field.choices = [("", "Any"), *(c for c in field.choices if c[0])]

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.model_fields}


def _form_class(model, fields: tuple[str, ...]) -> type[_SetupForm]:
    declared = forms.fields_for_model(model, fields=fields)
    attrs = {**declared, "model_fields": fields, "field_order": [*fields, "note"]}
    return type(f"{model.__name__}Form", (_SetupForm,), attrs)


MappingForm = _form_class(ExternalLocation, MAPPING_FIELDS)
ToleranceForm = _form_class(ReconciliationTolerance, TOLERANCE_FIELDS)


@dataclass(frozen=True)
class Change:
    """One version of a mapping or tolerance, as the history tables show it."""

    at: datetime
    who: str
    kind: str
    what: str
    why: str


def _what(version) -> str:
    source = version.get_source_display() if version.source else "Any source"
    if isinstance(version, ExternalLocation.history.model):
        return f"{source} {version.external_code or '(its only location)'} → {version.warehouse}"
    category = version.category or "any category"
    return f"{source} / {category}: {version.units} u, {version.percent} %, value {version.value}"


def _history(model, limit: int, **filters) -> list[Change]:
    """The latest versions, one query (the user and the related row joined)."""
    related = "warehouse" if model is ExternalLocation else "category"
    versions = (
        model.history.filter(**filters)
        .select_related("history_user", related)
        .order_by("-history_date", "-history_id")[:limit]
    )
    return [
        Change(
            at=version.history_date,
            who=version.history_user.get_username() if version.history_user else "",
            kind=version.get_history_type_display(),
            what=_what(version),
            why=version.history_change_reason or "",
        )
        for version in versions
    ]


class ReconciliationSetupView(PermissionRequiredMixin, View):
    """/inventory/reconciliation/setup/: every mapping and tolerance, and the latest changes
    to them (who, when, why). A fixed number of queries whatever the number of rows."""

    permission_required = READ_PERMISSIONS

    def get(self, request: HttpRequest) -> HttpResponse:
        changes = sorted(
            chain(
                _history(ExternalLocation, HISTORY_LIMIT),
                _history(ReconciliationTolerance, HISTORY_LIMIT),
            ),
            key=lambda change: change.at,
            reverse=True,
        )[:HISTORY_LIMIT]
        context = {
            "mappings": ExternalLocation.objects.select_related("warehouse").order_by(
                "source", "external_code"
            ),
            "tolerances": ReconciliationTolerance.objects.select_related("category").order_by(
                "source", "category__name"
            ),
            "changes": changes,
        }
        return render(request, "inventory/reconciliation/setup.html", context)


class _SetupEditView(PermissionRequiredMixin, View):
    """Create (no pk) or change one row; refusals come back beside their field, status 422."""

    model = None
    form_class = None
    title = ""
    save_row = None

    def get_permission_required(self):
        name = self.model._meta.model_name
        verb = "change" if "pk" in self.kwargs else "add"
        return (f"inventory.view_{name}", f"inventory.{verb}_{name}")

    def _row(self, pk: int | None):
        if pk is None:
            return self.model()
        try:
            return self.model.objects.get(pk=pk)
        except self.model.DoesNotExist as missing:
            raise Http404(f"No such {self.title}.") from missing

    def _render(self, request, row, form, status=200) -> HttpResponse:
        context = {
            "row": row,
            "form": form,
            "title": self.title,
            "history": _history(self.model, HISTORY_LIMIT, id=row.pk) if row.pk else [],
        }
        return render(request, "inventory/reconciliation/setup_form.html", context, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        row = self._row(pk)
        initial = {**forms.model_to_dict(row, fields=self.form_class.model_fields)}
        form = self.form_class(initial={**initial, "client_token": uuid.uuid4().hex})
        return self._render(request, row, form)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        row = self._row(pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                saved = self.save_row(
                    pk,
                    values=form.values(),
                    note=form.cleaned_data["note"],
                    client_token=form.cleaned_data["client_token"],
                    actor=request.user,
                )
            except ValidationError as error:
                by_field = error.message_dict if hasattr(error, "error_dict") else {}
                for field, errors in by_field.items():
                    form.add_error(field if field in form.fields else None, errors)
                if not by_field:
                    form.add_error(None, error.messages)
            else:
                messages.success(request, f"Saved: {saved}.")
                return redirect("reconciliation_setup")
        return self._render(request, row, form, status=UNPROCESSABLE)


def _save_mapping(pk, **kwargs):
    return external_location_save(mapping_id=pk, **kwargs)


def _save_tolerance(pk, **kwargs):
    return tolerance_save(tolerance_id=pk, **kwargs)


class MappingEditView(_SetupEditView):
    model = ExternalLocation
    form_class = MappingForm
    title = "source → warehouse mapping"
    save_row = staticmethod(_save_mapping)


class ToleranceEditView(_SetupEditView):
    model = ReconciliationTolerance
    form_class = ToleranceForm
    title = "tolerance"
    save_row = staticmethod(_save_tolerance)
