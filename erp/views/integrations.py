"""The integrations screen: is every feed arriving and being applied, and is the outbox
draining? Operations managers replay parked or failed events from here."""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView, TemplateView

from erp import integrations
from erp.models import InboundEvent
from erp.models.inbox import InboundEventStatus, InboundSource
from erp.services import inbound_event_replay
from erp.services.inbox import REPLAY_PERMISSION

VIEW_PERMISSION = "erp.view_inboundevent"


class IntegrationDashboardView(PermissionRequiredMixin, TemplateView):
    permission_required = VIEW_PERMISSION
    template_name = "erp/integrations.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        source = self.request.GET.get("source", "")
        status = self.request.GET.get("status", "")
        if source not in InboundSource.values:
            source = ""
        if status not in InboundEventStatus.values:
            status = ""
        context.update(
            source=source,
            status=status,
            sources=InboundSource.choices,
            statuses=InboundEventStatus.choices,
            totals=integrations.inbox_status_totals(),
            summaries=integrations.inbox_source_summaries(),
            events=integrations.inbound_event_list(source=source, status=status)[
                : integrations.RECENT_EVENTS
            ],
            backlog=integrations.outbox_backlog(),
            outbox_problems=integrations.outbox_problem_list()[: integrations.RECENT_EVENTS],
            can_replay=self.request.user.has_perm(REPLAY_PERMISSION),
        )
        return context


class InboundEventDetailView(PermissionRequiredMixin, DetailView):
    permission_required = VIEW_PERMISSION
    template_name = "erp/inbound_event_detail.html"
    context_object_name = "event"
    model = InboundEvent

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            payload=integrations.payload_for_display(self.object),
            headers=integrations.headers_for_display(self.object),
            can_replay=self.request.user.has_perm(REPLAY_PERMISSION)
            and self.object.status in (InboundEventStatus.PARKED, InboundEventStatus.FAILED),
        )
        return context


class InboundEventReplayView(PermissionRequiredMixin, View):
    permission_required = REPLAY_PERMISSION
    http_method_names = ["post"]

    def post(self, request, pk: int):
        event = get_object_or_404(InboundEvent, pk=pk)
        try:
            inbound_event_replay(event_id=event.pk, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Event #{event.pk} is queued for processing again.")
        return redirect("inbound_event_detail", pk=event.pk)
