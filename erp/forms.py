"""Forms of the core screens: they parse input; the services decide."""

from django import forms
from django.contrib.auth import get_user_model

from erp.models.exceptions import OUTCOME_KINDS, ExceptionKind, ExceptionState, ResolutionOutcome
from erp.roles import Role
from erp.selectors import ExceptionFilters

STATE_FILTER_CHOICES = [
    ("active", "Active"),
    *ExceptionState.choices,
    ("all", "All"),
]


class ExceptionFilterForm(forms.Form):
    """The queue's filters; a value that does not parse is ignored, never an error page."""

    kind = forms.ChoiceField(choices=[("", "All kinds"), *ExceptionKind.choices], required=False)
    state = forms.ChoiceField(choices=STATE_FILTER_CHOICES, required=False)
    owner_role = forms.ChoiceField(choices=[("", "All roles"), *Role.choices], required=False)
    assignee = forms.ChoiceField(
        choices=[("", "Anyone"), ("mine", "Me"), ("unassigned", "Nobody yet")], required=False
    )
    overdue = forms.BooleanField(required=False, label="Overdue only")
    sort = forms.ChoiceField(
        choices=[("sla", "SLA due, soonest first"), ("age", "Age, oldest first")], required=False
    )

    def filters(self) -> ExceptionFilters:
        self.is_valid()
        given = {name: value for name, value in self.cleaned_data.items() if value}
        return ExceptionFilters(**given)


class ExceptionAssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), empty_label=None)

    def __init__(self, *args, actor, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        field.queryset = candidates
        field.initial = actor.pk
        field.label_from_instance = lambda user: (
            f"Me ({user.get_username()})" if user.pk == actor.pk else user.get_username()
        )


class ExceptionReasonForm(forms.Form):
    """Resolve or dismiss: both need a reason a person can read later. A kind resolved with a
    verdict (a fraud review) also asks for it; a dismissal ignores it."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was found and what was done. Shown on the timeline.",
    )

    def __init__(self, *args, kind: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        outcomes = OUTCOME_KINDS.get(kind)
        if outcomes:
            self.fields["outcome"] = forms.ChoiceField(
                label="Verdict (when resolving)",
                choices=list(outcomes.items()),
                initial=ResolutionOutcome.CLEARED,
                widget=forms.RadioSelect,
            )


class ExceptionEscalateForm(forms.Form):
    note = forms.CharField(required=False, label="Why escalate (optional)")


class ExceptionNoteForm(forms.Form):
    body = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}))
