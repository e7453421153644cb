"""Forms of the cycle count screens: each carries the client token minted when it rendered,
so a double tap or a resend never counts twice."""

from django import forms

from warehouse.forms import TokenForm


class CountStartForm(forms.Form):
    """An ad hoc count of one location, started by scanning it."""

    code = forms.CharField(label="Scan a location to count", max_length=40)


class LocationScanForm(forms.Form):
    code = forms.CharField(label="Scan the location", max_length=40)


class CountEntryForm(TokenForm):
    """One scan of the blind count: a SKU, GTIN or serial, and how many."""

    code = forms.CharField(label="Scan or type a SKU, barcode or serial", max_length=120)
    qty = forms.IntegerField(label="Quantity", min_value=1, max_value=100_000, initial=1)
    lot = forms.CharField(label="Lot (if the SKU has lots)", max_length=40, required=False)


class CountReviewForm(TokenForm):
    recount = forms.TypedMultipleChoiceField(
        label="Send back for recount", coerce=int, required=False, choices=()
    )
    note = forms.CharField(label="Note", max_length=200, required=False)

    def __init__(self, *args, line_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recount"].choices = [(pk, pk) for pk in line_ids]
