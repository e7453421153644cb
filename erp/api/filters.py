"""The API's query-string filtering: django-filter, with moments normalized to UTC.

A client may send any ISO 8601 offset Python can read (up to ±23:59) or a first-century date
with one; PostgreSQL accepts offsets up to ±15:59 only. Every aware datetime a filter read is
therefore converted to UTC before it reaches the query, and one that leaves the calendar in
doing so is a 400 naming the parameter.
"""

from datetime import UTC, datetime

from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError


class FilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        cleaned = filterset.form.cleaned_data
        for name, value in cleaned.items():
            if isinstance(value, datetime) and value.tzinfo is not None:
                try:
                    cleaned[name] = value.astimezone(UTC)
                except OverflowError as error:
                    raise ValidationError({name: ["This moment is out of range."]}) from error
        return filterset.qs
