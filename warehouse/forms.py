"""Forms of the bench screens: each parses what a tablet posts into what one
`returns.workflow` service takes, and carries the client token minted when it rendered."""

from django import forms
from django.utils.text import slugify

from erp.models import Category, Channel, ReasonCode
from erp.validators import validate_image_upload
from warehouse.models import DispositionRule, Grade, ItemKind, Outcome
from warehouse.rules import DispositionFacts

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
    close_short = forms.BooleanField(
        label="Last parcel: close the return short (report what is missing)", required=False
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
        kwargs.setdefault("validators", [validate_image_upload])
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


class DispositionRuleForm(forms.ModelForm):
    """A disposition rule as an operations manager edits it; the note says why (history)."""

    note = forms.CharField(
        max_length=200, label="Why (kept in the rule's history)", widget=forms.TextInput
    )
    # Minted when the form renders: a double submit saves the rule once.
    client_token = forms.CharField(max_length=64, widget=forms.HiddenInput)

    class Meta:
        model = DispositionRule
        fields = [
            "name",
            "priority",
            "outcome",
            "grade",
            "department",
            "category",
            "reason_group",
            "reason_code",
            "channel_kind",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [
            (value, label) for value, label in Outcome.choices if value != Outcome.HOLD
        ]
        for name in ("grade", "department", "reason_group", "channel_kind"):
            choices = [choice for choice in self.fields[name].choices if choice[0]]
            self.fields[name].choices = [("", "Any"), *choices]
        for name in ("category", "reason_code"):
            self.fields[name].empty_label = "Any"

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class RulePreviewForm(forms.Form):
    """A sample unit: which rule would decide it."""

    grade = forms.ChoiceField(choices=Grade.choices, initial=Grade.A)
    department = forms.ChoiceField(choices=(), required=False)
    category = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any")
    reason_code = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any")
    channel_kind = forms.ChoiceField(choices=(), required=False)
    matched = forms.BooleanField(required=False, initial=True, label="Matched its return")
    high_value = forms.BooleanField(required=False, label="High value")
    serial_tracked = forms.BooleanField(required=False, label="Serial-tracked")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [("", "Any"), *Category.Department.choices]
        self.fields["channel_kind"].choices = [("", "Any"), *Channel.Kind.choices]
        self.fields["category"].queryset = Category.objects.order_by("name")
        self.fields["reason_code"].queryset = ReasonCode.objects.order_by("code")

    def facts(self) -> DispositionFacts:
        data = self.cleaned_data
        category, reason = data["category"], data["reason_code"]
        return DispositionFacts(
            grade=data["grade"],
            department=category.department if category else data["department"],
            category_id=category.pk if category else None,
            reason_group=reason.group if reason else "",
            reason_code_id=reason.pk if reason else None,
            channel_kind=data["channel_kind"],
            is_high_value=data["high_value"],
            serial_tracked=data["serial_tracked"],
            matched=data["matched"],
        )
