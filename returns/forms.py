"""Forms of the customer-service screens: they parse input into what a service takes."""

import uuid

from django import forms

from erp.models import Category, Channel, OrderLine, ReasonCode
from erp.validators import validate_image_upload

from .models import ClaimedCondition, PolicyRule, Resolution
from .policy_drafts import RULE_FIELDS
from .services import LineRequest


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Any number of files; `returns.services` checks each is an image within the size."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        kwargs.setdefault("validators", [validate_image_upload])
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleImageField, self).clean(f, initial) for f in files if f]


class ReturnRequestForm(forms.Form):
    """Per returnable line: how many, why and in what condition; then the resolution."""

    resolution = forms.ChoiceField(
        choices=Resolution.choices, initial=Resolution.REFUND, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label="Note for the case", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    photos = MultipleImageField(
        label="Photos (optional)",
        required=False,
        help_text="Attach them before opening the return; checking the policy does not keep them.",
    )

    def __init__(self, *args, lines: list[OrderLine], reasons: list[ReasonCode], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        reason_choices = [("", "Choose a reason…"), *((r.code, r.label) for r in reasons)]
        for line in lines:
            disabled = line.returnable == 0
            self.fields[f"qty_{line.pk}"] = forms.IntegerField(
                label=f"Quantity to return, line {line.line_number}",
                min_value=0,
                initial=0,
                required=False,
                disabled=disabled,
                widget=forms.NumberInput(attrs={"class": "qty", "max": line.returnable}),
            )
            self.fields[f"reason_{line.pk}"] = forms.ChoiceField(
                label=f"Reason, line {line.line_number}",
                choices=reason_choices,
                required=False,
                disabled=disabled,
            )
            self.fields[f"condition_{line.pk}"] = forms.ChoiceField(
                label=f"Claimed condition, line {line.line_number}",
                choices=ClaimedCondition.choices,
                initial=ClaimedCondition.OPENED_UNUSED,
                required=False,
                disabled=disabled,
            )

    def rows(self):
        """(line, quantity field, reason field, condition field) for the template's table."""
        return [
            (
                line,
                self[f"qty_{line.pk}"],
                self[f"reason_{line.pk}"],
                self[f"condition_{line.pk}"],
            )
            for line in self.lines
        ]

    def clean(self):
        data = super().clean()
        requests = []
        for line in self.lines:
            quantity = data.get(f"qty_{line.pk}") or 0
            if not quantity:
                continue
            reason = data.get(f"reason_{line.pk}")
            if not reason:
                self.add_error(f"reason_{line.pk}", "Say why this line comes back.")
                continue
            requests.append(
                LineRequest(
                    order_line_id=line.pk,
                    quantity=quantity,
                    reason_code=reason,
                    claimed_condition=data.get(f"condition_{line.pk}")
                    or ClaimedCondition.OPENED_UNUSED,
                )
            )
        if not requests and not self.errors:
            raise forms.ValidationError("Enter a quantity for at least one line.")
        data["requests"] = requests
        return data


class ReturnActionForm(forms.Form):
    """The inputs any case action may take; each service says which it requires."""

    note = forms.CharField(required=False, max_length=2000)
    reason = forms.CharField(required=False, max_length=2000)
    carrier = forms.CharField(required=False, max_length=40)
    tracking_number = forms.CharField(required=False, max_length=60)


class PolicyTryForm(forms.Form):
    """One order line and a reason, to see what a rule set would decide for it today."""

    order_number = forms.CharField(max_length=64)
    line_number = forms.IntegerField(min_value=1, initial=1)
    reason_code = forms.ChoiceField(choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason_code"].choices = (
            ReasonCode.objects.filter(is_active=True).order_by("label").values_list("code", "label")
        )


class ClientTokenMixin(forms.Form):
    """A token drawn when the form is shown: the service applies one submission per token, so
    a double click or a browser resubmit changes the draft once."""

    client_token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("client_token", uuid.uuid4().hex)


class PolicyRuleForm(ClientTokenMixin, forms.ModelForm):
    """Every criterion and outcome of one rule, and why it changes. The model's validation
    and `returns.policy_drafts` check it; the view passes the cleaned fields to the service."""

    note = forms.CharField(
        label="Why this change",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the draft's edit log and the rule's history.",
    )

    class Meta:
        model = PolicyRule
        fields = list(RULE_FIELDS)
        labels = {
            "channel": "Channel",
            "region": "Region (channel's region code)",
            "reason_code": "Reason",
            "min_order_age_days": "Order age from (days)",
            "max_order_age_days": "Order age up to (days)",
            "min_item_value": "Item value from",
            "max_item_value": "Item value up to",
            "ineligible_reason": "Reason shown to the agent when it denies",
            "return_window_days": "Return window (days)",
            "restocking_fee_percent": "Restocking fee (%)",
        }
        help_texts = {
            "priority": "Higher wins.",
            "ineligible_reason": "Required when the decision is Deny.",
            "region": "Blank for any region.",
        }

    CRITERIA = RULE_FIELDS[2:13]
    OUTCOME = RULE_FIELDS[13:]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.order_by("name")
        self.fields["category"].queryset = Category.objects.order_by("name")
        self.fields["reason_code"].queryset = ReasonCode.objects.filter(is_active=True).order_by(
            "label"
        )
        for name in ("channel", "category", "reason_code"):
            self.fields[name].empty_label = "Any"
        for name in ("department", "customer_segment", "warranty_status"):
            self.fields[name].choices = [("", "Any"), *self.fields[name].choices[1:]]

    def _post_clean(self):
        # The service validates the rule with its rule set; the form only parses.
        pass

    def rule_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in RULE_FIELDS}

    def criteria_fields(self):
        return [self[name] for name in self.CRITERIA]

    def outcome_fields(self):
        return [self[name] for name in self.OUTCOME]


class PolicyEditForm(ClientTokenMixin):
    """Delete or move a rule: why, and the token."""

    note = forms.CharField(label="Why", max_length=500)
