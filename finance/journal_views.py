"""Journal screens for finance: the journal with its filters, an entry and its cause, reversing
an entry, the fiscal periods with what each holds, closing and reopening one, and the period's
export."""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import ListView
from django_fsm import TransitionNotAllowed

from erp.models import OrderLine
from finance import exports
from finance.journal_selectors import (
    JournalFilters,
    account_list,
    fiscal_period_list,
    fiscal_period_summary,
    journal_cause_types,
    journal_entry_get,
    journal_entry_list,
)
from finance.models import FiscalPeriod, JournalEntry
from finance.services import fiscal_period_close, fiscal_period_reopen, journal_entry_reverse
from inventory.models import StockMovement

VIEW_JOURNAL = "finance.view_journalentry"
VIEW_PERIODS = "finance.view_fiscalperiod"
CLOSE_PERIOD = "finance.close_period"
REOPEN_PERIOD = "finance.reopen_period"
REVERSE_ENTRY = "finance.reverse_entry"
EXPORT_JOURNAL = "finance.export_journal"
UNPROCESSABLE = 422


class JournalFilterForm(forms.Form):
    period = forms.ModelChoiceField(
        queryset=FiscalPeriod.objects.order_by("-start_date"), required=False, empty_label="Any"
    )
    account = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any")
    cause_type = forms.ChoiceField(required=False, label="Cause")
    cause_id = forms.CharField(required=False, label="Cause id", max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = account_list()
        self.fields["cause_type"].choices = [
            ("", "Any"),
            *((cause, cause.replace("_", " ")) for cause in journal_cause_types()),
        ]

    def filters(self) -> JournalFilters:
        if not self.is_valid():
            return JournalFilters()
        data = self.cleaned_data
        return JournalFilters(
            period_id=data["period"].pk if data["period"] else None,
            account_id=data["account"].pk if data["account"] else None,
            cause_type=data["cause_type"],
            cause_id=data["cause_id"].strip(),
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=500,
        help_text="Kept with the record: say why.",
    )


class JournalListView(PermissionRequiredMixin, ListView):
    """/finance/journal/: entries newest first, filtered by period, account and cause."""

    permission_required = VIEW_JOURNAL
    template_name = "finance/journal_list.html"
    context_object_name = "entries"
    paginate_by = 50

    def get_queryset(self):
        self.filter_form = JournalFilterForm(self.request.GET)
        return journal_entry_list(filters=self.filter_form.filters())

    def get_template_names(self):
        htmx = self.request.htmx
        if htmx and not htmx.boosted and not htmx.history_restore_request:
            return ["finance/partials/_journal_table.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filter_form
        return context

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        patch_vary_headers(response, ("HX-Request",))
        return response


def cause_link(entry: JournalEntry) -> tuple[str, str]:
    """(label, url) of the document an entry was posted for; no url where it has no page."""
    label = entry.cause_label
    if not entry.cause_id.isdigit():
        return label, ""
    if entry.cause_type == "return_case":
        return label, reverse("return_detail", kwargs={"pk": entry.cause_id})
    if entry.cause_type == "order_shipment":
        line = OrderLine.objects.select_related("order").filter(pk=entry.cause_id).first()
        if line is not None:
            return (
                f"Order #{line.order.number}, line {line.line_number}",
                reverse("order_detail", kwargs={"pk": line.order_id}),
            )
    return label, ""


def stock_movements_of(entry: JournalEntry) -> list[StockMovement]:
    """The stock movements whose value an entry books (its key is `stock:<request key>:<hash>`,
    finance.valuation.stock_entry_key; a request's movements are `key`, `key#1`, …)."""
    if not entry.idempotency_key.startswith("stock:"):
        return []
    key = entry.idempotency_key.removeprefix("stock:").rpartition(":")[0]
    # Both look-ups use the key's index; the pattern then drops keys that merely start alike.
    own = re.compile(rf"{re.escape(key)}(#[0-9]+)?")
    candidates = (
        StockMovement.objects.filter(
            Q(idempotency_key=key) | Q(idempotency_key__startswith=f"{key}#")
        )
        .select_related("product", "from_location", "to_location", "unit")
        .order_by("id")
    )
    return [movement for movement in candidates if own.fullmatch(movement.idempotency_key)]


def render_entry_page(request: HttpRequest, entry_id: int, *, status=200, reverse_form=None):
    try:
        entry = journal_entry_get(pk=entry_id)
    except JournalEntry.DoesNotExist as error:
        raise Http404("No such journal entry") from error
    label, url = cause_link(entry)
    can_reverse = (
        request.user.has_perm(REVERSE_ENTRY)
        and entry.reverses_id is None
        and entry.reversal is None
    )
    lines = list(entry.lines.all())
    return render(
        request,
        "finance/journal_entry_detail.html",
        {
            "entry": entry,
            "lines": lines,
            "total_debit": sum(line.debit for line in lines),
            "total_credit": sum(line.credit for line in lines),
            "cause_label": label,
            "cause_url": url,
            "movements": stock_movements_of(entry),
            "reverse_form": (reverse_form or ReasonForm()) if can_reverse else None,
        },
        status=status,
    )


class JournalEntryDetailView(PermissionRequiredMixin, View):
    """/finance/journal/<id>/: the entry's lines, its cause, dates, and its reversal."""

    permission_required = VIEW_JOURNAL

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return render_entry_page(request, pk)


class JournalEntryReverseView(PermissionRequiredMixin, View):
    """POST: reverse an entry (finance.reverse_entry, with a reason)."""

    http_method_names = ["post"]
    permission_required = REVERSE_ENTRY

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        get_object_or_404(JournalEntry, pk=pk)
        form = ReasonForm(request.POST)
        if form.is_valid():
            try:
                reversal = journal_entry_reverse(
                    entry_id=pk, reason=form.cleaned_data["reason"], actor=request.user
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Reversed by JE-{reversal.pk}.")
                return redirect("journal_entry_detail", pk=reversal.pk)
        return render_entry_page(request, pk, status=UNPROCESSABLE, reverse_form=form)


class FiscalPeriodListView(PermissionRequiredMixin, ListView):
    """/finance/periods/: the months of the books, newest first, open or closed."""

    permission_required = VIEW_PERIODS
    template_name = "finance/period_list.html"
    context_object_name = "periods"
    paginate_by = 24

    def get_queryset(self):
        return fiscal_period_list()


def render_period_page(
    request: HttpRequest, period_id: int, *, status=200, close_form=None, reopen_form=None
):
    period = get_object_or_404(
        FiscalPeriod.objects.select_related("closed_by", "reopened_by"), pk=period_id
    )
    can_close = period.is_open and request.user.has_perm(CLOSE_PERIOD)
    can_reopen = not period.is_open and request.user.has_perm(REOPEN_PERIOD)
    return render(
        request,
        "finance/period_detail.html",
        {
            "period": period,
            "summary": fiscal_period_summary(period=period),
            "close_form": (close_form or ReasonForm()) if can_close else None,
            "reopen_form": (reopen_form or ReasonForm()) if can_reopen else None,
            "can_export": request.user.has_perm(EXPORT_JOURNAL),
        },
        status=status,
    )


class FiscalPeriodDetailView(PermissionRequiredMixin, View):
    """/finance/periods/<id>/: what the month holds (counts, totals per account and currency)
    and, while open, the close action."""

    permission_required = VIEW_PERIODS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return render_period_page(request, pk)


class FiscalPeriodCloseView(PermissionRequiredMixin, View):
    """POST: close the period (finance.close_period, with a reason)."""

    http_method_names = ["post"]
    permission_required = CLOSE_PERIOD

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        get_object_or_404(FiscalPeriod, pk=pk)
        form = ReasonForm(request.POST)
        if form.is_valid():
            try:
                period = fiscal_period_close(
                    period_id=pk, reason=form.cleaned_data["reason"], actor=request.user
                )
            except ValidationError as error:
                form.add_error(None, error)
            except TransitionNotAllowed as error:
                messages.error(request, str(error))
                return redirect("fiscal_period_detail", pk=pk)
            else:
                messages.success(
                    request, f"{period.label} is closed; later postings go to the next month."
                )
                return redirect("fiscal_period_detail", pk=pk)
        return render_period_page(request, pk, status=UNPROCESSABLE, close_form=form)


class FiscalPeriodReopenView(PermissionRequiredMixin, View):
    """POST: reopen a closed period (finance.reopen_period, the controller's; with a reason)."""

    http_method_names = ["post"]
    permission_required = REOPEN_PERIOD

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        get_object_or_404(FiscalPeriod, pk=pk)
        form = ReasonForm(request.POST)
        if form.is_valid():
            try:
                period = fiscal_period_reopen(
                    period_id=pk, reason=form.cleaned_data["reason"], actor=request.user
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(
                    request, f"{period.label} is open again; postings dated in it are accepted."
                )
                return redirect("fiscal_period_detail", pk=pk)
        return render_period_page(request, pk, status=UNPROCESSABLE, reopen_form=form)


class JournalExportView(PermissionRequiredMixin, View):
    """/finance/periods/<id>/journal.csv|xlsx: the period's journal as a download."""

    permission_required = EXPORT_JOURNAL
    CONTENT_TYPES = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }

    def get(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        if fmt not in self.CONTENT_TYPES:
            raise Http404("No such export format")
        period = get_object_or_404(FiscalPeriod, pk=pk)
        if fmt == "csv":
            body: str | bytes = exports.journal_csv(period=period)
        else:
            body = exports.journal_xlsx(period=period)
        response = HttpResponse(body, content_type=self.CONTENT_TYPES[fmt])
        filename = exports.journal_filename(period, fmt)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
