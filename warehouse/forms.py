"""Forms of the bench screens: each parses what a tablet posts into what one
`returns.workflow` service takes, and carries the client token minted when it rendered."""

from django import forms
from django.utils.text import slugify

from warehouse.models import Grade, ItemKind, Outcome

TOKEN_WIDGET = forms.HiddenInput


class TokenForm(forms.Form):
    """A form that posts once: the token it rendered with names the submission."""

    client_token = forms.CharField(max_length=64, widget=TOKEN_WIDGET)


class ReceiveForm(TokenForm):
    """The parcel as a whole: did its original packaging come back. (Bundle components are
    scanned like any item: the receipt counts them against the bundle's line.)"""

    packaging_ok = forms.BooleanField(
        label="Original packaging came back", required=False, initial=True
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Photos from the tablet camera; the inspection service checks type and size."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget",
            MultipleFileInput(attrs={"accept": "image/*", "capture": "environment"}),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(PhotosField, self).clean(f, initial) for f in files if f]


class InspectForm(TokenForm):
    """One answer per checklist item (yes/no as two big buttons), a grade, notes, photos."""

    grade = forms.ChoiceField(choices=Grade.choices, widget=forms.RadioSelect)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    photos = PhotosField(label="Photos", required=False)

    def __init__(self, *args, items=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.items = list(items)
        for item in self.items:
            name = f"item_{item['key']}"
            required = bool(item.get("required"))
            if item.get("kind") == ItemKind.YES_NO:
                self.fields[name] = forms.ChoiceField(
                    label=item["label"],
                    choices=[("yes", "Yes"), ("no", "No")],
                    widget=forms.RadioSelect,
                    required=required,
                )
            elif item.get("kind") == ItemKind.DATE:
                self.fields[name] = forms.DateField(
                    label=item["label"],
                    required=required,
                    widget=forms.DateInput(attrs={"type": "date"}),
                )
            else:
                self.fields[name] = forms.CharField(
                    label=item["label"], required=required, max_length=200
                )

    def item_fields(self):
        return [(item, self[f"item_{item['key']}"]) for item in self.items]

    def answers(self) -> dict:
        """{key: True/False for yes/no, ISO date, or text}; unanswered items are left out."""
        answers = {}
        for item in self.items:
            value = self.cleaned_data.get(f"item_{item['key']}")
            if value in (None, ""):
                continue
            if item.get("kind") == ItemKind.YES_NO:
                answers[item["key"]] = value == "yes"
            elif item.get("kind") == ItemKind.DATE:
                answers[item["key"]] = value.isoformat()
            else:
                answers[item["key"]] = value
        return answers


class DispositionForm(TokenForm):
    """Accept the suggestion, hold, or override (outcome + reason)."""

    decision = forms.ChoiceField(
        choices=[("accept", "Accept"), ("hold", "Hold"), ("override", "Override")]
    )
    outcome = forms.ChoiceField(
        choices=[("", "Choose…"), *((v, label) for v, label in Outcome.choices if v != "hold")],
        required=False,
    )
    override_reason = forms.CharField(
        label="Why override?", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == "override":
            if not data.get("outcome"):
                self.add_error("outcome", "Choose the outcome you decide instead.")
            if not (data.get("override_reason") or "").strip():
                self.add_error("override_reason", "Say why you override the suggestion.")
        return data

    def outcome_to_post(self) -> str | None:
        decision = self.cleaned_data["decision"]
        if decision == "accept":
            return None
        if decision == "hold":
            return Outcome.HOLD
        return self.cleaned_data["outcome"]


class ReleaseForm(TokenForm):
    to_outcome = forms.ChoiceField(
        label="Release to",
        choices=[(v, label) for v, label in Outcome.choices if v not in ("quarantine", "hold")],
    )
    reason = forms.CharField(
        label="Why release it?", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )


class ChecklistForm(forms.Form):
    """A department's checklist as rows of (question, kind, required); blank rows are
    dropped. A question keeps its key (inspections refer to it); a new one gets one from its
    wording."""

    note = forms.CharField(label="What changed, and why", max_length=200)
    EXTRA_ROWS = 3

    def __init__(self, *args, items=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.row_count = len(items) + self.EXTRA_ROWS
        for n in range(self.row_count):
            item = items[n] if n < len(items) else {}
            self.fields[f"key_{n}"] = forms.CharField(
                required=False, widget=forms.HiddenInput, initial=item.get("key", "")
            )
            self.fields[f"label_{n}"] = forms.CharField(
                label=f"Question {n + 1}", required=False, max_length=120, initial=item.get("label")
            )
            self.fields[f"kind_{n}"] = forms.ChoiceField(
                label=f"Answer, question {n + 1}",
                choices=ItemKind.choices,
                initial=item.get("kind", ItemKind.YES_NO),
            )
            self.fields[f"required_{n}"] = forms.BooleanField(
                label="Required", required=False, initial=item.get("required", True)
            )

    def rows(self):
        return [
            (self[f"key_{n}"], self[f"label_{n}"], self[f"kind_{n}"], self[f"required_{n}"])
            for n in range(self.row_count)
        ]

    def items(self) -> list[dict]:
        items = []
        for n in range(self.row_count):
            label = (self.cleaned_data.get(f"label_{n}") or "").strip()
            if not label:
                continue
            key = self.cleaned_data.get(f"key_{n}") or slugify(label).replace("-", "_")[:40]
            items.append(
                {
                    "key": key,
                    "label": label,
                    "kind": self.cleaned_data[f"kind_{n}"],
                    "required": self.cleaned_data.get(f"required_{n}", False),
                }
            )
        return items
