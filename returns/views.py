"""Customer-service screens: find a return or an order, open a return with the policy's
decision shown before it is saved, and a case's page with its timeline and actions."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View
from django_fsm import TransitionNotAllowed

from erp.models import ReasonCode, SalesOrder
from returns import selectors, services
from returns.forms import PolicyTryForm, ReturnActionForm, ReturnRequestForm
from returns.models import PolicyRuleSet, ReturnCase, ReturnPhoto

VIEW_PERMISSION = "returns.view_returncase"
SEARCH_LIMIT = 50
# The queue page lists the most urgent cases; working them brings the next ones up.
QUEUE_PAGE = 50
UNPROCESSABLE = 422
# Each action a person may take on a case: its service, the permission it needs (the same as
# the transition's, so the button and the check agree) and the form fields it reads.
ACTIONS = {
    "authorize": (services.return_case_authorize, "returns.authorize_return", ("note",)),
    "ship": (
        services.return_case_ship,
        "returns.record_return_shipment",
        ("carrier", "tracking_number"),
    ),
    "deliver": (services.return_case_mark_delivered, "returns.record_return_shipment", ()),
    "receive": (services.return_case_receive, "returns.receive_return", ()),
    "inspect": (services.return_case_inspect, "returns.inspect_return", ("note",)),
    "close": (services.return_case_close, "returns.close_return", ("note",)),
    # The ways out come last, below the step forward.
    "reject": (services.return_case_reject, "returns.reject_return", ("reason",)),
    "cancel": (services.return_case_cancel, "returns.cancel_return", ("reason",)),
}
ACTION_LABELS = {
    "authorize": "Authorize",
    "reject": "Reject",
    "cancel": "Cancel return",
    "ship": "Record shipment",
    "deliver": "Mark delivered",
    "receive": "Receive",
    "inspect": "Record inspection",
    "close": "Close case",
}


@login_required
@permission_required("erp.access_customer_service", raise_exception=True)
def cs_home(request: HttpRequest) -> HttpResponse:
    """Where an agent starts: one search box, the returns waiting for review, recent orders."""
    recent = selectors.orders_recently_delivered(limit=15)
    queue = selectors.return_review_queue()[:10]
    return render(request, "returns/cs_home.html", {"recent_orders": recent, "queue": queue})


class ReturnSearchView(PermissionRequiredMixin, View):
    permission_required = VIEW_PERMISSION

    def get(self, request: HttpRequest) -> HttpResponse:
        query = request.GET.get("q", "").strip()
        cases = list(selectors.return_case_search(query=query)[:SEARCH_LIMIT]) if query else []
        orders = []
        if query and request.user.has_perm("erp.view_salesorder"):
            orders = list(selectors.order_search(query=query, limit=SEARCH_LIMIT))
        context = {"query": query, "cases": cases, "orders": orders}
        return render(request, "returns/return_search.html", context)


class ReturnQueueView(PermissionRequiredMixin, View):
    permission_required = VIEW_PERMISSION

    def get(self, request: HttpRequest) -> HttpResponse:
        cases = selectors.return_review_queue()[:QUEUE_PAGE]
        return render(request, "returns/return_queue.html", {"cases": cases})


def _order_or_404(pk: int) -> SalesOrder:
    try:
        return SalesOrder.objects.select_related("channel", "customer").get(pk=pk)
    except SalesOrder.DoesNotExist as error:
        raise Http404("No such order") from error


class ReturnCreateView(PermissionRequiredMixin, View):
    """GET: the order's lines to pick from. POST "check": the policy's decision, nothing
    saved. POST "open": the case is opened and the agent lands on it."""

    permission_required = "returns.add_returncase"

    def _form(self, request, order, data=None, files=None) -> ReturnRequestForm:
        lines = selectors.returnable_lines(order=order)
        reasons = list(ReasonCode.objects.filter(is_active=True).order_by("label"))
        return ReturnRequestForm(data, files, lines=lines, reasons=reasons)

    def _render(self, request, order, form, evaluation=None, status=200) -> HttpResponse:
        context = {"order": order, "form": form, "evaluation": evaluation}
        return render(request, "returns/return_form.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = _order_or_404(pk)
        return self._render(request, order, self._form(request, order))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = _order_or_404(pk)
        form = self._form(request, order, request.POST, request.FILES)
        if not form.is_valid():
            return self._render(request, order, form, status=UNPROCESSABLE)
        data = form.cleaned_data
        try:
            if "open" not in request.POST:
                evaluation = services.return_request_evaluate(
                    order=order, requests=data["requests"]
                )
                return self._render(request, order, form, evaluation)
            case = services.return_case_create(
                order_id=order.pk,
                requests=data["requests"],
                resolution=data["resolution"],
                actor=request.user,
                note=data["note"],
                photos=data["photos"],
            )
        except ValidationError as error:
            # The service names its own fields (lines, quantity…); the form shows them on top.
            form.add_error(None, error.messages)
            return self._render(request, order, form, status=UNPROCESSABLE)
        messages.success(request, f"{case.rma_number}: {case.decision['summary'].lower()}.")
        return redirect("return_detail", pk=case.pk)


def _case_or_404(pk: int) -> ReturnCase:
    try:
        return selectors.return_case_get(pk=pk)
    except ReturnCase.DoesNotExist as error:
        raise Http404("No such return") from error


class ReturnDetailView(PermissionRequiredMixin, View):
    permission_required = VIEW_PERMISSION

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = _case_or_404(pk)
        exceptions = selectors.return_case_exceptions(case=case)
        open_exceptions = sum(1 for e in exceptions if e.is_active)
        available = {t.name for t in case.get_available_user_state_transitions(request.user)}
        actions = [
            (name, ACTION_LABELS[name], ACTIONS[name][2])
            for name in ACTIONS
            if name in available and request.user.has_perm(ACTIONS[name][1])
        ]
        context = {
            "case": case,
            "lines": list(case.lines.all()),
            "timeline": selectors.return_case_timeline(case=case, exceptions=exceptions),
            "next_step": selectors.return_case_next_step(
                case=case, open_exceptions=open_exceptions
            ),
            "exceptions": exceptions,
            "actions": actions,
        }
        return render(request, "returns/return_detail.html", context)


class ReturnPhotoView(PermissionRequiredMixin, View):
    """A case's photo, to whoever may read the case (media is not served publicly)."""

    permission_required = VIEW_PERMISSION

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        photo = ReturnPhoto.objects.filter(pk=pk).first()
        if photo is None:
            raise Http404("No such photo")
        return FileResponse(photo.image.open("rb"), content_type=photo.content_type)


class ReturnActionView(PermissionRequiredMixin, View):
    """POST one action on a case; the outcome is a message on the case's page."""

    http_method_names = ["post"]

    def get_permission_required(self):
        action = ACTIONS.get(self.kwargs["action"])
        if action is None:
            raise Http404("No such action")
        return (action[1],)

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        service, _permission, field_names = ACTIONS[action]
        if not ReturnCase.objects.filter(pk=pk).exists():
            raise Http404("No such return")
        form = ReturnActionForm(request.POST)
        form.is_valid()
        kwargs = {name: form.cleaned_data.get(name, "") for name in field_names}
        try:
            service(case_id=pk, actor=request.user, **kwargs)
        except ValidationError as error:
            for text in error.messages:
                messages.error(request, text)
        except TransitionNotAllowed as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"{ACTION_LABELS[action]}: done.")
        return redirect("return_detail", pk=pk)


POLICY_VIEW_PERMISSION = "returns.view_policyruleset"
POLICY_PUBLISH_PERMISSION = "returns.publish_return_policy"


class PolicyListView(PermissionRequiredMixin, View):
    permission_required = POLICY_VIEW_PERMISSION

    def get(self, request: HttpRequest) -> HttpResponse:
        rule_sets = selectors.policy_rule_set_list()
        return render(request, "returns/policy_list.html", {"rule_sets": rule_sets})


class PolicyDetailView(PermissionRequiredMixin, View):
    """A rule set's rules in precedence order; "simulate" tries it on one order line and on
    the latest cases before it is published."""

    permission_required = POLICY_VIEW_PERMISSION

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            rule_set = selectors.policy_rule_set_get(pk=pk)
        except PolicyRuleSet.DoesNotExist as error:
            raise Http404("No such rule set") from error
        rules = list(rule_set.rules.all())
        editable = rule_set.state == PolicyRuleSet.State.DRAFT and request.user.has_perm(
            "returns.change_policyrule"
        )
        context = {
            "rule_set": rule_set,
            "rules": rules,
            "editable": editable,
            # (rule, token to move it up, token to move it down): one token per button, so two
            # different moves from one page both apply, and a double click applies once.
            "rows": [(rule, uuid.uuid4().hex, uuid.uuid4().hex) for rule in rules],
            "edits": selectors.policy_edit_list(rule_set=rule_set),
        }
        # Bound only when a line was asked for: "simulate" alone shows no form errors.
        try_form = PolicyTryForm(request.GET if "order_number" in request.GET else None)
        context["try_form"] = try_form
        if try_form.is_valid():
            context["tried"], context["try_error"] = selectors.policy_rule_set_try(
                rule_set=rule_set, **try_form.cleaned_data
            )
        if "simulate" in request.GET:
            context["simulation"] = selectors.policy_rule_set_simulate(rule_set=rule_set)
        return render(request, "returns/policy_detail.html", context)


class PolicyActionView(PermissionRequiredMixin, View):
    """POST: publish a draft, or copy a rule set into a new draft."""

    http_method_names = ["post"]
    permission_required = POLICY_PUBLISH_PERMISSION

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if action not in ("publish", "copy"):
            raise Http404("No such action")
        try:
            if action == "publish":
                rule_set = services.policy_rule_set_publish(rule_set_id=pk, actor=request.user)
                messages.success(request, f"Version {rule_set.version} is published.")
            else:
                rule_set = services.policy_rule_set_copy(rule_set_id=pk, actor=request.user)
                messages.success(request, f"Draft version {rule_set.version} created.")
        except PolicyRuleSet.DoesNotExist as error:
            raise Http404("No such rule set") from error
        except ValidationError as error:
            for text in error.messages:
                messages.error(request, text)
            return redirect("policy_detail", pk=pk)
        return redirect("policy_detail", pk=rule_set.pk)
