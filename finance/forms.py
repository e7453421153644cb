"""Forms of the finance screens that record something: each parses what a desk posts into the
arguments of one service, and carries the client token minted when it rendered."""

import uuid
from decimal import Decimal

from django import forms

from finance.models import RecoveryKind


def client_token() -> str:
    return uuid.uuid4().hex


class TokenForm(forms.Form):
    """A form that records once: the token it rendered with names the submission."""

    client_token = forms.CharField(max_length=64, widget=forms.HiddenInput)


class PartialRefundForm(TokenForm):
    """An amount per returned line (blank or 0: nothing for that line) and why."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=500,
        help_text="Kept with the refund and shown to its approver.",
    )

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[self.field_name(line.return_line_id)] = forms.DecimalField(
                label=f"Refund for {line.label}",
                required=False,
                min_value=Decimal("0"),
                max_value=line.remaining,
                max_digits=12,
                decimal_places=2,
                widget=forms.NumberInput(
                    attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}
                ),
            )

    @staticmethod
    def field_name(line_id: int) -> str:
        return f"line_{line_id}"

    def amount_fields(self):
        return [(line, self[self.field_name(line.return_line_id)]) for line in self.lines]

    def clean(self):
        data = super().clean()
        if not self.errors and not any(data.get(name) for name in self._amount_names()):
            raise forms.ValidationError("Enter an amount to refund for at least one line.")
        return data

    def _amount_names(self):
        return [self.field_name(line.return_line_id) for line in self.lines]

    def amounts(self) -> dict[int, Decimal]:
        return {
            line.return_line_id: self.cleaned_data[self.field_name(line.return_line_id)]
            for line in self.lines
            if self.cleaned_data.get(self.field_name(line.return_line_id))
        }


class RecoveryForm(TokenForm):
    kind = forms.ChoiceField(choices=RecoveryKind.choices, label="What came back")
    amount = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
    )
    reference = forms.CharField(
        max_length=120, help_text="The vendor's credit note or the liquidator's invoice number."
    )
    occurred_on = forms.DateField(
        label="Received on", widget=forms.DateInput(attrs={"type": "date"})
    )
