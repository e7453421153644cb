"""Stock screens: the overview with its look-up, one SKU's stock and ledger, one serial's life.

Read-only: stock changes only through `inventory.services`, from the workflow screens.
"""

from dataclasses import dataclass

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import MultipleObjectsReturned
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import ListView, TemplateView

from erp.models import OrderLine, Product
from erp.roles import Role, roles_of
from inventory import selectors
from inventory.models import CauseType, InventoryUnit, StockMovement, StockState
from inventory.templatetags.stock import CHART_COLOUR, state_label

# Warehouses use tablets at the dock; their pages get the touch layout (app.css `body.touch`).
TOUCH_ROLES = {Role.WAREHOUSE}
MOVEMENTS_PER_PAGE = 25
CHART_DAYS = 30
# Stock a person should look at: it is on hand but cannot be sold until someone acts.
ATTENTION_STATES = {
    StockState.RECEIVED_PENDING_INSPECTION,
    StockState.QUARANTINED,
    StockState.DAMAGED,
}


class StockScreenMixin(PermissionRequiredMixin):
    """Every stock screen: the touch layout for tablet roles."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        roles = roles_of(self.request.user)
        context["touch"] = bool(roles) and roles[0] in TOUCH_ROLES
        return context


@dataclass(frozen=True)
class MovementRow:
    """A ledger row as the screens show it: the movement and where its cause is documented."""

    movement: StockMovement
    cause_label: str
    cause_url: str


def _cause(movement: StockMovement, order_lines: dict[str, OrderLine]) -> tuple[str, str]:
    """(label, url) of the document that caused the movement; no url where the document has
    no page of its own yet, so the typed reference reads plainly."""
    line = order_lines.get(movement.cause_id)
    if movement.cause_type == CauseType.ORDER_SHIPMENT and line is not None:
        return (
            f"Order {line.order.channel.code} #{line.order.number}, line {line.line_number}",
            reverse("order_detail", kwargs={"pk": line.order_id}),
        )
    label = movement.get_cause_type_display()
    return (f"{label} {movement.cause_id}" if movement.cause_id else label, "")


def movement_rows(movements: list[StockMovement], order_lines: dict[str, OrderLine]):
    return [MovementRow(m, *_cause(m, order_lines)) for m in movements]


class StockOverviewView(StockScreenMixin, ListView):
    """/inventory/: search by SKU, name, GTIN or serial; every stocked SKU by key state."""

    permission_required = "inventory.view_stockbalance"
    template_name = "inventory/stock_overview.html"
    context_object_name = "products"
    paginate_by = 50

    def get(self, request, *args, **kwargs):
        query = request.GET.get("q", "").strip()
        found = selectors.stock_lookup(query=query)
        if found.sku:
            return redirect("inventory_sku", key=found.sku)
        if found.serial:
            return redirect("inventory_unit", serial=found.serial)
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.stock_overview(query=self.request.GET.get("q", ""))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["query"] = self.request.GET.get("q", "").strip()
        context["key_states"] = selectors.KEY_STATES
        return context


class StockSkuView(StockScreenMixin, TemplateView):
    """/inventory/sku/<sku or id>/: balances by location and state, ATS per channel with its
    terms, on hand by state over the last days, and the SKU's ledger, newest first."""

    permission_required = "inventory.view_stockbalance"
    template_name = "inventory/stock_sku.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            product = selectors.stock_product_get(key=self.kwargs["key"])
        except Product.DoesNotExist as error:
            raise Http404("No such SKU") from error
        matrix = selectors.stock_matrix(product_id=product.pk)
        page = Paginator(
            selectors.movement_list(product_id=product.pk), MOVEMENTS_PER_PAGE
        ).get_page(self.request.GET.get("page"))
        movements = list(page.object_list)
        history = selectors.stock_history(
            product_id=product.pk, days=CHART_DAYS, on_hand=matrix.by_state
        )
        context.update(
            product=product,
            matrix=matrix,
            key_stats=[(state, matrix.by_state.get(state, 0)) for state in selectors.KEY_STATES],
            attention_states=ATTENTION_STATES,
            show_lot=product.tracking == Product.Tracking.LOT,
            show_serial=product.tracking == Product.Tracking.SERIAL,
            channels=selectors.channel_ats_list(product_id=product.pk),
            page_obj=page,
            is_paginated=page.has_other_pages(),
            paginator=page.paginator,
            movements=movement_rows(movements, selectors.movement_order_lines(movements=movements)),
            chart_days=CHART_DAYS,
            chart={
                "labels": [day.isoformat() for day in history.days],
                "datasets": [
                    {
                        "label": state_label(state),
                        "values": values,
                        "colour": CHART_COLOUR.get(state, "#5b6778"),
                    }
                    for state, values in history.series.items()
                ],
            },
        )
        return context


class UnitDetailView(StockScreenMixin, TemplateView):
    """/inventory/units/<serial>/: where the serial is now, where it was sold, returned and
    inspected, and every movement of its life in order. `?sku=` picks one of several SKUs
    that share a serial."""

    permission_required = "inventory.view_inventoryunit"
    template_name = "inventory/unit_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        serial = self.kwargs["serial"]
        try:
            life = selectors.unit_life_get(
                serial=serial, product_id=self._product_id(self.request.GET.get("sku", ""))
            )
        except InventoryUnit.DoesNotExist as error:
            raise Http404("No such serial") from error
        except MultipleObjectsReturned:
            self.template_name = "inventory/unit_choose.html"
            context.update(serial=serial, units=selectors.unit_list(serial=serial))
            return context
        context.update(
            life=life,
            unit=life.unit,
            movements=movement_rows(life.movements, life.order_lines),
            show_lot=bool(life.unit.lot),
        )
        return context

    @staticmethod
    def _product_id(sku: str) -> int | None:
        if not sku:
            return None
        try:
            return selectors.stock_product_get(key=sku).pk
        except Product.DoesNotExist as error:
            raise Http404("No such SKU") from error
