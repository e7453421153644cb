"""The dashboard filter bar: a date window and optional channel, warehouse and category."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from erp.models import Category, Channel, Warehouse

from .kpis import KpiFilters

DEFAULT_DAYS = 30
MAX_DAYS = 366


class DateInput(forms.DateInput):
    input_type = "date"


class DashboardFilterForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=DateInput)
    end = forms.DateField(label="To", required=False, widget=DateInput)
    channel = forms.ModelChoiceField(
        Channel.objects.order_by("name"), required=False, empty_label="All channels"
    )
    warehouse = forms.ModelChoiceField(
        Warehouse.objects.order_by("name"), required=False, empty_label="All warehouses"
    )
    category = forms.ModelChoiceField(
        Category.objects.order_by("name"), required=False, empty_label="All categories"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # An unfiltered page shows the window it is showing.
        today = timezone.now().date()
        self.initial.setdefault("end", today)
        self.initial.setdefault("start", today - timedelta(days=DEFAULT_DAYS - 1))

    def clean(self):
        data = super().clean()
        end = data.get("end") or timezone.now().date()
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The window starts after it ends: swap the dates.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose a window of at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> KpiFilters:
        """The valid filters, or the last 30 days for everything when the form is invalid."""
        if not self.is_valid():
            return KpiFilters.last_days(DEFAULT_DAYS)
        data = self.cleaned_data
        return KpiFilters(
            start=data["start"],
            end=data["end"],
            channel_id=data["channel"].pk if data["channel"] else None,
            warehouse_id=data["warehouse"].pk if data["warehouse"] else None,
            category_id=data["category"].pk if data["category"] else None,
        )
