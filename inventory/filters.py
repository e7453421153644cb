"""Query-string filters of the stock API: each names the business key (SKU code, channel code,
state) and refuses a value it cannot read with a 400 that says why."""

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from .models import CauseType, ChannelAvailability, InventoryUnit, StockBalance, StockMovement
from .models.states import UNIT_STATE_CHOICES, StockState


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number (NumberFilter would take 1.5)."""

    field_class = forms.IntegerField


class BalanceFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="product__sku", help_text="SKU code, exact.")
    location = IdFilter(field_name="location_id", help_text="Location id.")
    warehouse = django_filters.CharFilter(
        field_name="location__warehouse__code", help_text="Warehouse code, exact."
    )
    state = django_filters.ChoiceFilter(choices=StockState.choices)
    lot = django_filters.CharFilter(help_text='Lot, exact ("" is no lot).')

    class Meta:
        model = StockBalance
        fields = ["sku", "location", "warehouse", "state", "lot"]


class AvailabilityFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code", help_text="Channel code.")
    sku = django_filters.CharFilter(field_name="product__sku", help_text="SKU code, exact.")

    class Meta:
        model = ChannelAvailability
        fields = ["channel", "sku"]


class MovementFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="product__sku", help_text="SKU code, exact.")
    location = IdFilter(
        method="filter_location", help_text="Location id, on either side of the movement."
    )
    state = django_filters.ChoiceFilter(
        choices=StockState.choices,
        method="filter_state",
        help_text="State on either side of the movement.",
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="Occurred at or after (ISO 8601)."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", help_text="Occurred before (ISO 8601)."
    )
    cause_type = django_filters.ChoiceFilter(choices=CauseType.choices)
    cause_id = django_filters.CharFilter()
    serial = django_filters.CharFilter(field_name="unit__serial", help_text="Serial number.")

    class Meta:
        model = StockMovement
        fields = ["sku", "location", "state", "since", "until", "cause_type", "cause_id", "serial"]

    def filter_location(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.filter(Q(from_location_id=value) | Q(to_location_id=value))

    def filter_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(from_state=value) | Q(to_state=value))


class UnitFilter(django_filters.FilterSet):
    serial = django_filters.CharFilter(help_text="Serial number, exact.")
    sku = django_filters.CharFilter(field_name="product__sku", help_text="SKU code, exact.")
    state = django_filters.ChoiceFilter(choices=UNIT_STATE_CHOICES)
    location = IdFilter(field_name="location_id", help_text="Location id.")

    class Meta:
        model = InventoryUnit
        fields = ["serial", "sku", "state", "location"]
