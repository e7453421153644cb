"""Warehouse screens, laid out for tablets at the packing bench.

The bench works in five steps — Scan → Match → Inspect → Disposition → Put away — and every
screen shows them. Each write posts once through `returns.workflow` (the orchestration
service) with a client token minted when the form rendered, so a double tap, a resubmit after
a dropped connection or a second tablet never posts twice. Every page works as plain HTML
forms; htmx only swaps the part that changed.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django_fsm import TransitionNotAllowed

from erp import selectors
from erp.models import Product, Warehouse
from returns import inbound, workflow
from returns.models import ReturnCase, ReturnState
from warehouse import selectors as warehouse_selectors
from warehouse import services as warehouse_services
from warehouse.forms import (
    ChecklistForm,
    DispositionForm,
    DispositionRuleForm,
    InspectForm,
    ReceiveForm,
    ReleaseForm,
    RulePreviewForm,
)
from warehouse.models import (
    ChecklistTemplate,
    Disposition,
    DispositionRule,
    Grade,
    Outcome,
    PutawayTask,
    Receipt,
    ReturnUnit,
    UnitState,
)
from warehouse.models.inspection import DEPARTMENT_CHOICES
from warehouse.scan import ScanKind, scan_parse

UNPROCESSABLE = 422
STEPS = [
    ("scan", "Scan"),
    ("match", "Match"),
    ("inspect", "Inspect"),
    ("disposition", "Disposition"),
    ("putaway", "Put away"),
]
STEP_KEYS = [key for key, _label in STEPS]
# A parcel may be received while the case waits for it: shipped, delivered, or still
# authorized (dropped at the door with no carrier scan: the workflow records that).
RECEIVABLE_STATES = (ReturnState.AUTHORIZED, ReturnState.IN_TRANSIT, ReturnState.DELIVERED)
RECEIVE_PERMISSION = "warehouse.receive_parcel"


def client_token() -> str:
    """A fresh token for one rendering of a form: the service posts a token once."""
    return uuid.uuid4().hex


def step_context(step: str) -> dict:
    return {"steps": STEPS, "step": step, "step_index": STEP_KEYS.index(step)}


def _warehouse_or_404(pk: int) -> Warehouse:
    try:
        return Warehouse.objects.get(pk=pk, is_active=True)
    except Warehouse.DoesNotExist as error:
        raise Http404("No such warehouse") from error


@login_required
@permission_required("erp.access_warehouse", raise_exception=True)
def warehouse_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "warehouse/warehouse_home.html",
        {
            "warehouses": selectors.warehouse_list_with_locations(),
            "summaries": inbound.inbound_summaries(),
        },
    )


class InboundQueueView(PermissionRequiredMixin, View):
    """The returns a warehouse expects, most urgent first; a 3PL's warehouse shows the same
    queue, read-only (its receipts arrive through the 3PL's feed)."""

    permission_required = RECEIVE_PERMISSION

    def get(self, request: HttpRequest, warehouse_id: int) -> HttpResponse:
        warehouse = _warehouse_or_404(warehouse_id)
        context = {
            "warehouse": warehouse,
            "third_party": warehouse.operator == Warehouse.Operator.THIRD_PARTY,
            "summaries": inbound.inbound_summaries(),
            "cases": inbound.inbound_queue(warehouse_id=warehouse.pk),
            "limit": inbound.QUEUE_LIMIT,
            **step_context("scan"),
        }
        return render(request, "warehouse/inbound_queue.html", context)


def _case_for_parcel(scan) -> ReturnCase | None:
    """The case a parcel scan names; of several under one tracking number, one still on its
    way (carriers reuse numbers)."""
    cases = workflow.case_find_by_scan(code=scan)
    inbound_cases = [case for case in cases if case.state in inbound.INBOUND_STATES]
    return (inbound_cases or cases or [None])[0]


class ReceiveScanView(PermissionRequiredMixin, View):
    """Step 1: scan the parcel (RMA label or carrier tracking number) to open its case."""

    permission_required = RECEIVE_PERMISSION

    def get(self, request: HttpRequest, warehouse_id: int) -> HttpResponse:
        warehouse = _warehouse_or_404(warehouse_id)
        code = request.GET.get("code", "").strip()
        error, warnings = "", ()
        if code:
            try:
                scan = scan_parse(code)
            except ValidationError as problem:
                error = " ".join(problem.messages)
            else:
                warnings = scan.warnings
                case = _case_for_parcel(scan)
                if case is not None:
                    return redirect("warehouse_receive_case", warehouse.pk, case.pk)
                if scan.kind in (ScanKind.GTIN, ScanKind.GS1):
                    error = (
                        "That is a product barcode. Scan the parcel first: the RMA label or "
                        "the carrier's tracking barcode."
                    )
                else:
                    error = f"No return has the RMA or tracking number {code}."
        context = {
            "warehouse": warehouse,
            "code": code,
            "scan_error": error,
            "scan_warnings": warnings,
            **step_context("scan"),
        }
        status = UNPROCESSABLE if error else 200
        return render(request, "warehouse/receive_scan.html", context, status=status)


# ---- Step 2: match the parcel's contents against its case ---------------------------------


@dataclass
class ExpectedRow:
    """A line of the case as the bench shows it: the case's line (its product, shipped
    serials and lots) beside what the preview counted for it."""

    line: object
    count: object = None
    components: list = field(default_factory=list)

    @property
    def received(self) -> int:
        return self.count.received

    @property
    def received_before(self) -> int:
        return self.count.received_before

    @property
    def complete(self) -> bool:
        return self.count.complete

    @property
    def short(self) -> int:
        return self.count.short


@dataclass(frozen=True)
class ComponentRow:
    product: Product
    expected: int
    received: int


def _match_preview(case, codes: list[str]):
    """The parcel as `warehouse.services.receipt_preview` matches it (the one copy of the
    matching rules; read-only), laid beside the case's lines for the screen."""
    preview = warehouse_services.receipt_preview(case=workflow.parcel_case(case), codes=codes)
    counts = {line.return_line_id: line for line in preview.lines}
    expected = []
    for line in case.lines.all():
        count = counts[line.pk]
        parts = {c.component_id: c.component for c in line.order_line.product.components.all()}
        components = [
            ComponentRow(product=parts[product_id], expected=want, received=got)
            for product_id, (want, got) in count.components.items()
            if product_id in parts
        ]
        expected.append(ExpectedRow(line=line, count=count, components=components))
    return expected, preview


@dataclass(frozen=True)
class StandIn:
    """Units of one expected SKU the parcel lacks, and what came instead (a wrong SKU, or an
    item no product of ours has): the receipt quarantines them as a SKU mismatch."""

    expected: Product
    scanned: str
    units: int


def _stand_ins(expected: list[ExpectedRow], preview) -> list[StandIn]:
    products = {row.line.pk: row.line.order_line.product for row in expected}
    pairs = Counter(
        (line_id, item.product.sku if item.product else f"an unknown item ({item.code})")
        for line_id, item in preview.stand_ins
    )
    return [
        StandIn(expected=products[line_id], scanned=scanned, units=units)
        for (line_id, scanned), units in pairs.items()
    ]


class ReceiveCaseView(PermissionRequiredMixin, View):
    """Step 2: the parcel's case and what it should hold. Each unit is scanned into the list
    (GET: nothing is written until "Receive" posts the whole parcel once)."""

    permission_required = RECEIVE_PERMISSION

    def _case(self, case_id: int):
        try:
            return inbound.inbound_case_get(pk=case_id)
        except ReturnCase.DoesNotExist as error:
            raise Http404("No such return") from error

    def _render(self, request, warehouse, case, codes, *, form=None, scan_error="", status=200):
        expected, preview = _match_preview(case, codes)
        scanned = preview.items
        form = form or ReceiveForm(initial={"client_token": client_token()})
        last_warnings = scanned[-1].warnings if scanned and not scan_error else ()
        context = {
            "warehouse": warehouse,
            "case": case,
            "expected": expected,
            "scanned": scanned,
            "codes": codes,
            # Units standing in for missing ones have their own sentence (`stand_ins`).
            "flagged": preview.flagged - len(preview.stand_ins),
            "missing": preview.missing,
            "stand_ins": _stand_ins(expected, preview),
            "pending": preview.pending,
            "earlier_parcels": any(row.received_before for row in expected),
            "form": form,
            "scan_error": scan_error,
            "scan_warnings": last_warnings,
            "scan_hidden": [("scans", code) for code in codes],
            "elsewhere": case.expected_warehouse_id not in (None, warehouse.pk),
            "receivable": case.state in RECEIVABLE_STATES,
            **step_context("match"),
        }
        return render(request, "warehouse/receive_case.html", context, status=status)

    def get(self, request: HttpRequest, warehouse_id: int, case_id: int) -> HttpResponse:
        warehouse = _warehouse_or_404(warehouse_id)
        case = self._case(case_id)
        codes = [code for code in request.GET.getlist("scans") if code.strip()]
        code = request.GET.get("code", "").strip()
        if not code:
            return self._render(request, warehouse, case, codes)
        try:
            scan = scan_parse(code)
        except ValidationError as problem:
            return self._render(
                request,
                warehouse,
                case,
                codes,
                scan_error=" ".join(problem.messages),
                status=UNPROCESSABLE,
            )
        if scan.identifies_parcel and not scan.gtin:
            found = _case_for_parcel(scan)
            if found is not None and found.pk != case.pk:
                # Another parcel's label: open that parcel instead (nothing was received).
                return redirect("warehouse_receive_case", warehouse.pk, found.pk)
            if found is not None:
                return redirect(_case_url(warehouse, case, codes))
        codes.append(code)
        url = _case_url(warehouse, case, codes)
        if request.headers.get("HX-Request"):
            response = self._render(request, warehouse, case, codes)
            response["HX-Push-Url"] = url
            return response
        return redirect(url)

    def post(self, request: HttpRequest, warehouse_id: int, case_id: int) -> HttpResponse:
        # The warehouse is looked up only to answer a refusal: the receipt finds its active
        # receiving location or refuses, which covers an unknown or inactive warehouse.
        form = ReceiveForm(request.POST)
        codes = [code for code in request.POST.getlist("scans") if code.strip()]
        if form.is_valid():
            try:
                receipt = workflow.return_parcel_receive(
                    case_id=case_id,
                    warehouse_id=warehouse_id,
                    scans=codes,
                    packaging_ok=form.cleaned_data["packaging_ok"],
                    close_short=form.cleaned_data["close_short"],
                    client_token=form.cleaned_data["client_token"],
                    actor=request.user,
                )
            except ReturnCase.DoesNotExist as error:
                raise Http404("No such return") from error
            except (ValidationError, TransitionNotAllowed) as error:
                form.add_error(None, getattr(error, "messages", None) or [str(error)])
            else:
                if request.htmx:
                    # The receive form is boosted: the receipt's page comes in this answer,
                    # its address pushed, instead of a redirect the tablet then follows.
                    response = _receipt_page(request, receipt.pk)
                    response["HX-Push-Url"] = reverse("warehouse_receipt", args=[receipt.pk])
                    return response
                return redirect("warehouse_receipt", receipt.pk)
        warehouse = _warehouse_or_404(warehouse_id)
        case = self._case(case_id)
        return self._render(request, warehouse, case, codes, form=form, status=UNPROCESSABLE)


def _case_url(warehouse, case, codes: list[str]) -> str:
    url = reverse("warehouse_receive_case", args=[warehouse.pk, case.pk])
    return f"{url}?{urlencode([('scans', code) for code in codes])}" if codes else url


# ---- After the receipt: the units to inspect and decide -----------------------------------


def _unit_or_404(pk: int) -> ReturnUnit:
    try:
        return warehouse_selectors.unit_get(pk=pk)
    except ReturnUnit.DoesNotExist as error:
        raise Http404("No such unit") from error


def unit_next_url(unit: ReturnUnit) -> str:
    """Where the bench goes for this unit now: inspect it, decide it, or put it away."""
    if unit.state == UnitState.RECEIVED:
        return reverse("warehouse_unit_inspect", args=[unit.pk])
    return reverse("warehouse_unit_disposition", args=[unit.pk])


class ReceiptView(PermissionRequiredMixin, View):
    """The parcel just received: each unit, where the ledger holds it, and its next step."""

    permission_required = RECEIVE_PERMISSION

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _receipt_page(request, pk)


def _receipt_page(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        receipt = warehouse_selectors.receipt_get(pk=pk)
    except Receipt.DoesNotExist as error:
        raise Http404("No such receipt") from error
    units = receipt.unit_list
    todo = [unit for unit in units if unit.state != UnitState.DISPOSITIONED]
    context = {
        "receipt": receipt,
        "warehouse": receipt.warehouse,
        # Read with the receipt: the page shows no more of the case.
        "rma_number": receipt.rma_number,
        "units": [(unit, unit_next_url(unit)) for unit in units],
        "next_url": unit_next_url(todo[0]) if todo else "",
        **step_context("inspect" if todo else "putaway"),
    }
    return render(request, "warehouse/receipt_detail.html", context)


class UnitListView(PermissionRequiredMixin, View):
    """Units received and not yet decided (or held), oldest first: the bench's to-do list."""

    permission_required = "warehouse.inspect_unit"

    def get(self, request: HttpRequest) -> HttpResponse:
        units = _unit_worklist()
        context = {"units": [(unit, unit_next_url(unit)) for unit in units]}
        return render(request, "warehouse/unit_list.html", context)


def _unit_worklist(limit: int = 100) -> list[ReturnUnit]:
    """Units waiting for inspection or a decision, and those on hold, oldest first.

    Read-only query kept with the screen: warehouse.selectors has no work-list selector."""
    latest = (
        Disposition.objects.filter(unit=OuterRef("pk"))
        .order_by("-decided_at", "-id")
        .values("outcome")[:1]
    )
    return list(
        ReturnUnit.objects.annotate(latest_outcome=Subquery(latest))
        .filter(
            Q(state__in=[UnitState.RECEIVED, UnitState.INSPECTING])
            | Q(state=UnitState.DISPOSITIONED, latest_outcome=Outcome.HOLD)
        )
        .select_related("product", "location", "receipt__warehouse", "case")
        .order_by("received_at", "id")[:limit]
    )


# ---- Step 3: inspect -----------------------------------------------------------------------


def _checklist_or_none(unit: ReturnUnit) -> ChecklistTemplate | None:
    try:
        return warehouse_services.checklist_for(unit)
    except ValidationError:
        return None  # the service refuses the inspection with its own message


class UnitInspectView(PermissionRequiredMixin, View):
    """Step 3: the category's checklist as big toggles, a grade A to F, notes and photos."""

    permission_required = "warehouse.inspect_unit"

    def _render(self, request, unit, template, form, status=200):
        context = {
            "unit": unit,
            "warehouse": unit.receipt.warehouse,
            "template": template,
            "form": form,
            "grades": Grade.choices,
            **step_context("inspect"),
        }
        return render(request, "warehouse/unit_inspect.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        unit = _unit_or_404(pk)
        if unit.state != UnitState.RECEIVED:
            return redirect(unit_next_url(unit))
        template = _checklist_or_none(unit)
        items = template.items if template else []
        form = InspectForm(initial={"client_token": client_token()}, items=items)
        return self._render(request, unit, template, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            unit = warehouse_selectors.unit_get_for_inspection(pk=pk)
        except ReturnUnit.DoesNotExist as error:
            raise Http404("No such unit") from error
        template = _checklist_or_none(unit)
        items = template.items if template else []
        form = InspectForm(request.POST, request.FILES, items=items)
        if not form.is_valid():
            return self._render(request, unit, template, form, status=UNPROCESSABLE)
        data = form.cleaned_data
        try:
            workflow.return_unit_inspect(
                unit_id=unit.pk,
                answers=form.answers(),
                grade=data["grade"],
                notes=data["notes"],
                photos=data["photos"],
                client_token=data["client_token"],
                actor=request.user,
                checklist=template,
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
            return self._render(request, unit, template, form, status=UNPROCESSABLE)
        return redirect("warehouse_unit_disposition", unit.pk)


# ---- Step 4: disposition -------------------------------------------------------------------


class UnitDispositionView(PermissionRequiredMixin, View):
    """Step 4: the suggested outcome and the rule behind it. Accept in one tap; hold to
    decide later; override only with the permission and a reason. Once decided, the
    destination of the put-away task."""

    permission_required = "warehouse.disposition_unit"

    def _render(self, request, unit, form=None, status=200):
        decision = warehouse_selectors.unit_current_disposition(unit)
        decided = unit.state == UnitState.DISPOSITIONED and not (
            decision and decision.outcome == Outcome.HOLD
        )
        # An unknown item is not on the books: nothing to decide until its exception is worked.
        suggestion = None
        if not decided and not _blocked(unit):
            suggestion = warehouse_services.unit_suggestion(unit)
        task = None
        if decision is not None:
            task = (
                PutawayTask.objects.select_related("to_location")
                .filter(disposition=decision)
                .first()
            )
        context = {
            "unit": unit,
            "warehouse": unit.receipt.warehouse,
            "inspection": getattr(unit, "inspection", None),
            "decision": decision,
            "decided": decided,
            "task": task,
            "suggestion": suggestion,
            "suggested_label": Outcome(suggestion.outcome).label if suggestion else "",
            "form": form
            or DispositionForm(initial={"client_token": client_token(), "decision": "accept"}),
            "blocked": _blocked(unit) if not decided else "",
            "may_override": request.user.has_perm("warehouse.override_disposition"),
            "next_unit": _next_unit_of(unit) if decided or _blocked(unit) else None,
            **step_context("putaway" if decided else "disposition"),
        }
        return render(request, "warehouse/unit_disposition.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        unit = _unit_or_404(pk)
        if unit.state == UnitState.RECEIVED:
            return redirect("warehouse_unit_inspect", unit.pk)
        return self._render(request, unit)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        unit = _unit_or_404(pk)
        form = DispositionForm(request.POST)
        if not form.is_valid():
            return self._render(request, unit, form, status=UNPROCESSABLE)
        outcome = form.outcome_to_post()
        if form.cleaned_data["decision"] == "override" and not request.user.has_perm(
            "warehouse.override_disposition"
        ):
            raise PermissionDenied("override_disposition")
        try:
            workflow.return_unit_disposition(
                unit_id=unit.pk,
                outcome=outcome,
                override_reason=form.cleaned_data["override_reason"].strip(),
                client_token=form.cleaned_data["client_token"],
                actor=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
            return self._render(request, _unit_or_404(pk), form, status=UNPROCESSABLE)
        return redirect("warehouse_unit_disposition", unit.pk)


def _blocked(unit: ReturnUnit) -> str:
    """Why the bench cannot decide this unit now (the service would refuse), or ""."""
    if unit.product_id is None or not unit.stock_state:
        return "This item is not on the books (unknown item or serial): work its exception."
    if unit.is_quarantined:
        return "In quarantine: an operations manager releases it, with a reason."
    return ""


def _next_unit_of(unit: ReturnUnit) -> tuple[ReturnUnit, str] | None:
    """The next unit of the same parcel still waiting, and where to go for it."""
    waiting = (
        ReturnUnit.objects.filter(
            receipt_id=unit.receipt_id, state__in=[UnitState.RECEIVED, UnitState.INSPECTING]
        )
        .exclude(pk=unit.pk)
        .select_related("product")
        .order_by("id")
        .first()
    )
    return (waiting, unit_next_url(waiting)) if waiting else None


# ---- Step 5: put away ----------------------------------------------------------------------


class PutawayListView(PermissionRequiredMixin, View):
    """Open put-away tasks of a warehouse, oldest first; one tap confirms each."""

    permission_required = "warehouse.complete_putaway"

    def get(self, request: HttpRequest, warehouse_id: int) -> HttpResponse:
        warehouse = _warehouse_or_404(warehouse_id)
        tasks = list(warehouse_selectors.putaway_task_list(warehouse_id=warehouse.pk)[:200])
        context = {
            "warehouse": warehouse,
            "tasks": tasks,
            **step_context("putaway"),
        }
        return render(request, "warehouse/putaway_list.html", context)


class PutawayConfirmView(PermissionRequiredMixin, View):
    http_method_names = ["post"]
    permission_required = "warehouse.complete_putaway"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        task = PutawayTask.objects.select_related("to_location").filter(pk=pk).first()
        if task is None:
            raise Http404("No such task")
        # A task done is done: a second tap returns it as it is (no token needed).
        warehouse_services.putaway_task_complete(task_id=task.pk, actor=request.user)
        messages.success(request, f"{task.unit} is at {task.to_location.code}.")
        return redirect("warehouse_putaway", task.to_location.warehouse_id)


# ---- Quarantine (operations managers release; maker-checker) -------------------------------


class QuarantineListView(PermissionRequiredMixin, View):
    """Units held in quarantine, oldest first, with their age; release needs the permission,
    a reason, and someone other than the person who quarantined the unit."""

    permission_required = "warehouse.view_quarantinerecord"

    def _render(self, request, forms_by_unit=None, refusal=None, status=200):
        rows = warehouse_selectors.quarantine_list()
        forms_by_unit = forms_by_unit or {}
        context = {
            "rows": [
                (
                    row,
                    forms_by_unit.get(row.unit.pk)
                    or ReleaseForm(
                        initial={"client_token": client_token()}, prefix=f"u{row.unit.pk}"
                    ),
                )
                for row in rows
            ],
            "refusal": refusal,
            "may_release": request.user.has_perm("warehouse.release_quarantine"),
        }
        return render(request, "warehouse/quarantine_list.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request)


class QuarantineReleaseView(QuarantineListView):
    http_method_names = ["post"]
    permission_required = "warehouse.release_quarantine"

    def post(self, request: HttpRequest, unit_id: int) -> HttpResponse:
        unit = ReturnUnit.objects.filter(pk=unit_id).first()
        if unit is None:
            raise Http404("No such unit")
        form = ReleaseForm(request.POST, prefix=f"u{unit_id}")
        if not form.is_valid():
            return self._render(request, {unit_id: form}, status=UNPROCESSABLE)
        try:
            workflow.quarantine_release(
                unit_id=unit_id,
                to_outcome=form.cleaned_data["to_outcome"],
                reason=form.cleaned_data["reason"],
                client_token=form.cleaned_data["client_token"],
                actor=request.user,
            )
        except (ValidationError, PermissionDenied) as error:
            text = " ".join(getattr(error, "messages", None) or [str(error)])
            return self._render(
                request, {unit_id: form}, refusal=(unit_id, text), status=UNPROCESSABLE
            )
        messages.success(request, f"{unit} released.")
        return redirect("warehouse_quarantine")


# ---- Inspection checklists (operations managers) -------------------------------------------


class ChecklistListView(PermissionRequiredMixin, View):
    """Each department's current checklist; operations managers publish new versions."""

    permission_required = "warehouse.view_checklisttemplate"

    def get(self, request: HttpRequest) -> HttpResponse:
        templates = ChecklistTemplate.objects.filter(is_current=True).order_by("department")
        return render(request, "warehouse/checklist_list.html", {"templates": templates})


class ChecklistEditView(PermissionRequiredMixin, View):
    """Publish the next version of a department's checklist (inspections keep theirs)."""

    permission_required = "warehouse.change_checklist"

    def _render(self, request, department, current, form, status=200):
        context = {"department": department, "label": _department_label(department)}
        context.update({"current": current, "form": form})
        return render(request, "warehouse/checklist_form.html", context, status=status)

    def _current(self, department: str) -> ChecklistTemplate | None:
        if department not in dict(DEPARTMENT_CHOICES):
            raise Http404("No such department")
        return ChecklistTemplate.objects.filter(department=department, is_current=True).first()

    def get(self, request: HttpRequest, department: str) -> HttpResponse:
        current = self._current(department)
        form = ChecklistForm(items=current.items if current else [])
        return self._render(request, department, current, form)

    def post(self, request: HttpRequest, department: str) -> HttpResponse:
        current = self._current(department)
        form = ChecklistForm(request.POST, items=current.items if current else [])
        if form.is_valid():
            try:
                template = warehouse_services.checklist_template_revise(
                    department=department,
                    items=form.items(),
                    note=form.cleaned_data["note"],
                    actor=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                messages.success(request, f"{template} is published.")
                return redirect("warehouse_checklists")
        return self._render(request, department, current, form, status=UNPROCESSABLE)


def _department_label(department: str) -> str:
    return dict(DEPARTMENT_CHOICES)[department]


# ---- Disposition rules (operations managers) ------------------------------------------------

RULES_PERMISSION = "warehouse.change_disposition_rules"


class DispositionRuleListView(PermissionRequiredMixin, View):
    """The rules in the order they are tried, and a preview: which rule decides a sample
    unit (the engine's own answer, `warehouse.services.disposition_rule_preview`)."""

    permission_required = RULES_PERMISSION

    def get(self, request: HttpRequest) -> HttpResponse:
        rules = list(
            DispositionRule.objects.select_related("category", "reason_code").order_by(
                "-priority", "id"
            )
        )
        preview_form = RulePreviewForm(request.GET or None)
        suggestion = None
        if preview_form.is_bound and preview_form.is_valid():
            suggestion = warehouse_services.disposition_rule_preview(
                facts=preview_form.facts(), rules=rules
            )
        context = {
            "rules": rules,
            "preview_form": preview_form,
            "suggestion": suggestion,
            "suggestion_label": Outcome(suggestion.outcome).label if suggestion else "",
        }
        return render(request, "warehouse/rule_list.html", context)


class DispositionRuleEditView(PermissionRequiredMixin, View):
    """Create or change a rule, with a note; refusals come back beside the field."""

    permission_required = RULES_PERMISSION

    def _rule(self, pk: int | None) -> DispositionRule:
        if pk is None:
            return DispositionRule()
        try:
            return DispositionRule.objects.get(pk=pk)
        except DispositionRule.DoesNotExist as error:
            raise Http404("No such rule") from error

    def _render(self, request, rule, form, status=200):
        context = {
            "rule": rule,
            "form": form,
            "decides_fields": ("name", "priority", "outcome", "is_active"),
            "criteria_fields": DispositionRule.CRITERIA,
        }
        return render(request, "warehouse/rule_form.html", context, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        rule = self._rule(pk)
        form = DispositionRuleForm(instance=rule, initial={"client_token": client_token()})
        return self._render(request, rule, form)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        rule = self._rule(pk)
        form = DispositionRuleForm(request.POST, instance=self._rule(pk))
        if form.is_valid():
            try:
                saved = warehouse_services.disposition_rule_save(
                    rule_id=rule.pk,
                    values=form.values(),
                    note=form.cleaned_data["note"],
                    client_token=form.cleaned_data["client_token"],
                    actor=request.user,
                )
            except ValidationError as error:
                if hasattr(error, "error_dict"):
                    for field_name, errors in error.message_dict.items():
                        known = field_name in form.fields
                        form.add_error(field_name if known else None, errors)
                else:
                    form.add_error(None, error.messages)
            else:
                messages.success(request, f"Rule “{saved.name}” saved.")
                return redirect("warehouse_rules")
        return self._render(request, rule, form, status=UNPROCESSABLE)
