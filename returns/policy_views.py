"""Operations screens for editing a draft return policy: a form per rule (add, change,
delete) and moving a rule up or down. A published or retired rule set shows read-only."""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from returns import policy_drafts
from returns.forms import PolicyEditForm, PolicyRuleForm
from returns.models import PolicyRule, PolicyRuleSet

UNPROCESSABLE = 422


def _rule_set_or_404(pk: int) -> PolicyRuleSet:
    try:
        return PolicyRuleSet.objects.get(pk=pk)
    except PolicyRuleSet.DoesNotExist as error:
        raise Http404("No such rule set") from error


def _rule_or_404(rule_set: PolicyRuleSet, rule_id: int) -> PolicyRule:
    try:
        return PolicyRule.objects.get(pk=rule_id, rule_set=rule_set)
    except PolicyRule.DoesNotExist as error:
        raise Http404("No such rule in this rule set") from error


class PolicyRuleFormView(PermissionRequiredMixin, View):
    """GET: the rule's form (blank for a new rule); read-only unless the set is a draft.
    POST: the service applies it, or the form comes back with its errors (422) and nothing
    is written."""

    def get_permission_required(self):
        adding = "rule_id" not in self.kwargs
        return ("returns.add_policyrule" if adding else "returns.change_policyrule",)

    def _render(self, request, rule_set, rule, form, status=200) -> HttpResponse:
        editable = rule_set.state == PolicyRuleSet.State.DRAFT
        if not editable:
            for field in form.fields.values():
                field.disabled = True
        context = {
            "rule_set": rule_set,
            "rule": rule,
            "form": form,
            "editable": editable,
            "delete_form": PolicyEditForm() if editable and rule else None,
        }
        return render(request, "returns/policy_rule_form.html", context, status=status)

    def get(self, request: HttpRequest, pk: int, rule_id: int | None = None) -> HttpResponse:
        rule_set = _rule_set_or_404(pk)
        rule = _rule_or_404(rule_set, rule_id) if rule_id else None
        form = PolicyRuleForm(instance=rule)
        return self._render(request, rule_set, rule, form)

    def post(self, request: HttpRequest, pk: int, rule_id: int | None = None) -> HttpResponse:
        rule_set = _rule_set_or_404(pk)
        rule = _rule_or_404(rule_set, rule_id) if rule_id else None
        form = PolicyRuleForm(request.POST, instance=rule)
        if form.is_valid():
            common = {
                "rule_set_id": rule_set.pk,
                "fields": form.rule_fields(),
                "actor": request.user,
                "note": form.cleaned_data["note"],
                "client_token": form.cleaned_data["client_token"],
            }
            try:
                if rule is None:
                    edit = policy_drafts.policy_rule_add(**common)
                else:
                    edit = policy_drafts.policy_rule_change(rule_id=rule.pk, **common)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"{edit.get_action_display()}: “{edit.rule_name}”.")
                return redirect("policy_detail", pk=rule_set.pk)
        return self._render(request, rule_set, rule, form, status=UNPROCESSABLE)


class PolicyRuleDeleteView(PermissionRequiredMixin, View):
    http_method_names = ["post"]
    permission_required = "returns.delete_policyrule"

    def post(self, request: HttpRequest, pk: int, rule_id: int) -> HttpResponse:
        rule_set = _rule_set_or_404(pk)
        rule = _rule_or_404(rule_set, rule_id)
        form = PolicyEditForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Say why the rule is deleted.")
            return redirect("policy_rule_edit", pk=rule_set.pk, rule_id=rule.pk)
        try:
            policy_drafts.policy_rule_delete(
                rule_set_id=rule_set.pk,
                rule_id=rule.pk,
                actor=request.user,
                note=form.cleaned_data["note"],
                client_token=form.cleaned_data["client_token"],
            )
        except ValidationError as error:
            for text in error.messages:
                messages.error(request, text)
            return redirect("policy_rule_edit", pk=rule_set.pk, rule_id=rule.pk)
        messages.success(request, f"Deleted “{rule.name}”.")
        return redirect("policy_detail", pk=rule_set.pk)


class PolicyRuleMoveView(PermissionRequiredMixin, View):
    """POST: move a rule one place up or down; the note says why (a default names the move)."""

    http_method_names = ["post"]
    permission_required = "returns.change_policyrule"

    def post(self, request: HttpRequest, pk: int, rule_id: int, direction: str) -> HttpResponse:
        if direction not in ("up", "down"):
            raise Http404("No such direction")
        rule_set = _rule_set_or_404(pk)
        rule = _rule_or_404(rule_set, rule_id)
        data = request.POST.copy()
        data.setdefault("note", f"Moved “{rule.name}” {direction}")
        form = PolicyEditForm(data)
        try:
            if not form.is_valid():
                raise ValidationError("The form has no valid client token; reload the page.")
            policy_drafts.policy_rule_move(
                rule_set_id=rule_set.pk,
                rule_id=rule.pk,
                up=direction == "up",
                actor=request.user,
                note=form.cleaned_data["note"],
                client_token=form.cleaned_data["client_token"],
            )
        except ValidationError as error:
            for text in error.messages:
                messages.error(request, text)
        else:
            messages.success(request, f"Moved “{rule.name}” {direction}.")
        return redirect("policy_detail", pk=rule_set.pk)
