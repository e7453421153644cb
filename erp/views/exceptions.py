"""The exception queue and an exception's page, with its actions as plain POST forms (htmx
boosts them where JavaScript runs)."""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import ListView
from django_fsm import TransitionNotAllowed

from erp import selectors, services
from erp.forms import (
    ExceptionAssignForm,
    ExceptionEscalateForm,
    ExceptionFilterForm,
    ExceptionNoteForm,
    ExceptionReasonForm,
)
from erp.models import ExceptionCase
from erp.models.exceptions import MANAGE_PERMISSION

VIEW_PERMISSION = "erp.view_exceptioncase"
NOTE_PERMISSION = "erp.add_exceptionnote"
# A form that does not validate is re-rendered with this status; base.html tells htmx to
# swap it in like a 200.
UNPROCESSABLE = 422


class ExceptionListView(PermissionRequiredMixin, ListView):
    permission_required = VIEW_PERMISSION
    template_name = "erp/exception_list.html"
    paginate_by = 50

    def get_queryset(self):
        self.filter_form = ExceptionFilterForm(self.request.GET)
        return selectors.exception_list(user=self.request.user, filters=self.filter_form.filters())

    def get_template_names(self):
        htmx = self.request.htmx
        # The filter form asks for the table alone; history restores and boosts want a page.
        if htmx and not htmx.boosted and not htmx.history_restore_request:
            return ["erp/partials/_exception_queue.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filter_form
        context["counts"] = selectors.exception_queue_counts(user=self.request.user)
        return context

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        patch_vary_headers(response, ("HX-Request",))
        return response


def _exception_or_404(pk: int) -> ExceptionCase:
    try:
        return selectors.exception_get(pk=pk)
    except ExceptionCase.DoesNotExist as error:
        raise Http404("No such exception") from error


def render_exception_page(
    request: HttpRequest, exception: ExceptionCase, *, status: int = 200, **bound_forms
) -> HttpResponse:
    """The exception's page; `bound_forms` replace the blank form of the action that failed."""
    user = request.user
    actions = {t.name for t in exception.get_available_user_state_transitions(user)}
    forms = {
        "assign_form": ExceptionAssignForm(
            actor=user,
            candidates=selectors.exception_assignable_users(exception=exception, actor=user),
        )
        if "assign" in actions
        else None,
        "escalate_form": ExceptionEscalateForm() if "escalate" in actions else None,
        "reason_form": ExceptionReasonForm(kind=exception.kind)
        if actions & {"resolve", "dismiss"}
        else None,
        "note_form": ExceptionNoteForm() if user.has_perm(NOTE_PERMISSION) else None,
    }
    forms.update(bound_forms)
    context = {
        "exception": exception,
        "actions": actions,
        "timeline": selectors.exception_timeline(exception=exception),
        **forms,
    }
    return render(request, "erp/exception_detail.html", context, status=status)


class ExceptionDetailView(PermissionRequiredMixin, View):
    permission_required = VIEW_PERMISSION

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return render_exception_page(request, _exception_or_404(pk))


class ExceptionActionView(PermissionRequiredMixin, View):
    """POST a form, call one service, go back to the exception's page.

    A form error re-renders the page with the form bound (422); a refusal by the state
    machine (someone else closed it meanwhile) is a message on the page.
    """

    http_method_names = ["post"]
    permission_required = MANAGE_PERMISSION
    form_name: str
    done: str

    def get_form(self, request: HttpRequest, exception: ExceptionCase):
        raise NotImplementedError

    def act(self, request: HttpRequest, exception: ExceptionCase, data: dict) -> None:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        exception = _exception_or_404(pk)
        form = self.get_form(request, exception)
        if form.is_valid():
            try:
                self.act(request, exception, form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            except TransitionNotAllowed as error:
                messages.error(request, str(error))
                return redirect("exception_detail", pk=pk)
            else:
                messages.success(request, self.done)
                return redirect("exception_detail", pk=pk)
        return render_exception_page(
            request, exception, status=UNPROCESSABLE, **{self.form_name: form}
        )


class ExceptionAssignView(ExceptionActionView):
    form_name = "assign_form"
    done = "Assigned."

    def get_form(self, request, exception):
        candidates = selectors.exception_assignable_users(exception=exception, actor=request.user)
        return ExceptionAssignForm(request.POST, actor=request.user, candidates=candidates)

    def act(self, request, exception, data):
        services.exception_assign(
            exception_id=exception.pk, actor=request.user, assignee=data["assignee"]
        )


class ExceptionEscalateView(ExceptionActionView):
    form_name = "escalate_form"
    done = "Escalated."

    def get_form(self, request, exception):
        return ExceptionEscalateForm(request.POST)

    def act(self, request, exception, data):
        services.exception_escalate(
            exception_id=exception.pk, actor=request.user, note=data["note"]
        )


class ExceptionResolveView(ExceptionActionView):
    form_name = "reason_form"
    done = "Resolved."

    def get_form(self, request, exception):
        return ExceptionReasonForm(request.POST, kind=exception.kind)

    def act(self, request, exception, data):
        services.exception_resolve(
            exception_id=exception.pk,
            actor=request.user,
            reason=data["reason"],
            outcome=data.get("outcome", ""),
        )


class ExceptionDismissView(ExceptionResolveView):
    done = "Dismissed."

    def act(self, request, exception, data):
        services.exception_dismiss(
            exception_id=exception.pk, actor=request.user, reason=data["reason"]
        )


class ExceptionNoteView(ExceptionActionView):
    permission_required = NOTE_PERMISSION
    form_name = "note_form"
    done = "Note added."

    def get_form(self, request, exception):
        return ExceptionNoteForm(request.POST)

    def act(self, request, exception, data):
        services.exception_add_note(
            exception_id=exception.pk, actor=request.user, body=data["body"]
        )
