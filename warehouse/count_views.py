"""Cycle count screens: the blind count on the tablet (scan a location, then each item), the
counter's JSON API, and the reviewer's variance screen. Thin: each parses with a form, calls
one service, and renders or redirects.

Blind: the counter's pages and API read only `count_selectors.counter_*`, which never select
a system quantity; the review page shows quantities only to someone who did not count.
"""

import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import View
from django.views.decorators.http import require_POST

from erp.models import Location
from warehouse import count_selectors as selectors
from warehouse.count_forms import CountEntryForm, CountReviewForm, CountStartForm, LocationScanForm
from warehouse.models import CountEntry, CountLocation, CountState, CycleCount
from warehouse.services import count_posting, counting

UNPROCESSABLE = 422
COUNT_PERMISSION = "warehouse.count_stock"
APPROVE_PERMISSION = "warehouse.approve_count"


def _token() -> str:
    return uuid.uuid4().hex


def _count_or_404(pk: int) -> CycleCount:
    count = selectors.count_get(count_id=pk)
    if count is None:
        raise Http404("No such count")
    return count


def _place_or_404(pk: int) -> CountLocation:
    place = CountLocation.objects.select_related("location", "count").filter(pk=pk).first()
    if place is None:
        raise Http404("No such count location")
    return place


def _problem(error: ValidationError | PermissionDenied) -> str:
    return " ".join(getattr(error, "messages", None) or [str(error)])


class CountListView(PermissionRequiredMixin, View):
    """Open counts and counts in review; start an ad hoc count by scanning a location."""

    permission_required = COUNT_PERMISSION

    def get(self, request: HttpRequest, form=None, status: int = 200) -> HttpResponse:
        context = {
            "counts": selectors.count_list(
                states=[CountState.OPEN, CountState.REVIEW, CountState.POSTED]
            ),
            "form": form or CountStartForm(),
        }
        return render(request, "warehouse/count_list.html", context, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CountStartForm(request.POST)
        if not form.is_valid():
            return self.get(request, form, UNPROCESSABLE)
        code = form.cleaned_data["code"].strip()
        locations = list(Location.objects.filter(code__iexact=code, is_active=True)[:2])
        if len(locations) != 1:
            form.add_error("code", f"{code} is not one location we know.")
            return self.get(request, form, UNPROCESSABLE)
        location = locations[0]
        try:
            count = counting.count_start(
                warehouse_id=location.warehouse_id,
                location_ids=[location.pk],
                assignee_id=request.user.pk,
                actor=request.user,
            )
        except ValidationError as error:
            form.add_error("code", _problem(error))
            return self.get(request, form, UNPROCESSABLE)
        return redirect("warehouse_count", count.pk)


class CountView(PermissionRequiredMixin, View):
    """The counter's page of one count: its locations; scan one to count it."""

    permission_required = COUNT_PERMISSION

    def get(self, request: HttpRequest, pk: int, error: str = "", status=200) -> HttpResponse:
        count = _count_or_404(pk)
        context = {
            "count": count,
            "places": selectors.counter_locations(count=count),
            "form": LocationScanForm(),
            "scan_error": error,
        }
        return render(request, "warehouse/count_detail.html", context, status=status)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        count = _count_or_404(pk)
        try:
            place = counting.count_location_open(
                count_id=count.pk, code=request.POST.get("code", ""), actor=request.user
            )
        except ValidationError as error:
            return self.get(request, pk, _problem(error), UNPROCESSABLE)
        return redirect("warehouse_count_location", place.pk)


@login_required
@permission_required(COUNT_PERMISSION, raise_exception=True)
@require_POST
def count_submit(request: HttpRequest, pk: int) -> HttpResponse:
    count = _count_or_404(pk)
    try:
        count = counting.count_submit(count_id=count.pk, actor=request.user)
    except ValidationError as error:
        messages.error(request, _problem(error))
        return redirect("warehouse_count", count.pk)
    if count.state == CountState.REVIEW:
        messages.success(request, "Count handed in for review. Thank you.")
        return redirect("warehouse_counts")
    messages.warning(request, "Some lines need a recount: they are marked below.")
    return redirect("warehouse_count", count.pk)


class CountLocationView(PermissionRequiredMixin, View):
    """The blind count of one location: scan each item, type how many, Enter."""

    permission_required = COUNT_PERMISSION

    def get(self, request: HttpRequest, pk: int, form=None, status=200) -> HttpResponse:
        place = _place_or_404(pk)
        context = {
            "place": place,
            "count": place.count,
            "lines": selectors.counter_lines(count_location_id=place.pk),
            "form": form or CountEntryForm(initial={"client_token": _token(), "qty": 1}),
        }
        return render(request, "warehouse/count_location.html", context, status=status)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        place = _place_or_404(pk)
        form = CountEntryForm(request.POST)
        if not form.is_valid():
            return self.get(request, pk, form, UNPROCESSABLE)
        data = form.cleaned_data
        try:
            product, lot, serial = selectors.count_scan_resolve(data["code"])
            counting.count_entry_submit(
                count_location_id=place.pk,
                product_id=product.pk,
                qty=data["qty"],
                lot=data["lot"] or lot,
                serial=serial,
                client_token=data["client_token"],
                actor=request.user,
            )
        except ValidationError as error:
            form.add_error(None, _problem(error))
            return self.get(request, pk, form, UNPROCESSABLE)
        return redirect("warehouse_count_location", place.pk)


@login_required
@permission_required(COUNT_PERMISSION, raise_exception=True)
@require_POST
def count_location_finish(request: HttpRequest, pk: int) -> HttpResponse:
    place = _place_or_404(pk)
    try:
        counting.count_location_finish(count_location_id=place.pk, actor=request.user)
    except ValidationError as error:
        messages.error(request, _problem(error))
    return redirect("warehouse_count", place.count_id)


class CountReviewView(PermissionRequiredMixin, View):
    """Variances per line in units and value, with what moved since each location's snapshot;
    approve (and post) all but the lines sent back for recount."""

    permission_required = APPROVE_PERMISSION

    def get(self, request: HttpRequest, pk: int, form=None, status=200) -> HttpResponse:
        count = _count_or_404(pk)
        counted_it = CountEntry.objects.filter(line__count=count, counted_by=request.user).exists()
        reviewable = count.state == CountState.REVIEW and not counted_it
        lines = selectors.review_lines(count=count) if reviewable else []
        context = {
            "count": count,
            "counted_it": counted_it,
            "reviewable": reviewable,
            "lines": lines,
            "held": [] if reviewable else selectors.held_lines(count=count),
            "net_value": sum((row.line.variance_value or 0 for row in lines), 0),
            "gross_value": sum((abs(row.line.variance_value or 0) for row in lines), 0),
            "form": form or CountReviewForm(initial={"client_token": _token()}),
        }
        return render(request, "warehouse/count_review.html", context, status=status)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        count = _count_or_404(pk)
        ids = list(count.lines.values_list("pk", flat=True))
        form = CountReviewForm(request.POST, line_ids=ids)
        if not form.is_valid():
            return self.get(request, pk, form, UNPROCESSABLE)
        try:
            count_posting.count_review_decide(
                count_id=count.pk,
                actor=request.user,
                client_token=form.cleaned_data["client_token"],
                recount_line_ids=form.cleaned_data["recount"],
                note=form.cleaned_data["note"],
            )
        except PermissionDenied as error:
            form.add_error(None, _problem(error))
            return self.get(request, pk, form, 403)
        except ValidationError as error:
            form.add_error(None, _problem(error))
            return self.get(request, pk, form, UNPROCESSABLE)
        messages.success(request, "Decision recorded.")
        return redirect("warehouse_counts")


# --- The counter's JSON API (the tablet app) ---------------------------------------------------


@login_required
@permission_required(COUNT_PERMISSION, raise_exception=True)
def count_api_lines(request: HttpRequest, pk: int) -> JsonResponse:
    """GET: the count's locations and what was counted in each, blind."""
    count = _count_or_404(pk)
    places = selectors.counter_locations(count=count)
    return JsonResponse(
        {
            "count": count.pk,
            "state": count.state,
            "locations": [
                {
                    "id": place["pk"],
                    "code": place["location__code"],
                    "scanned": place["snapshot_at"] is not None,
                    "done": place["done_at"] is not None,
                    "lines": [
                        {
                            "id": line["pk"],
                            "sku": line["product__sku"],
                            "lot": line["lot"],
                            "serial": line["serial"],
                            "counted": line["counted_qty"],
                            "recount": line["status"] == "recount",
                        }
                        for line in selectors.counter_lines(count_location_id=place["pk"])
                    ],
                }
                for place in places
            ],
        }
    )


@login_required
@permission_required(COUNT_PERMISSION, raise_exception=True)
@require_POST
def count_api_entry(request: HttpRequest, pk: int) -> JsonResponse:
    """POST {"code", "qty", "lot"?, "client_token"}: count items at a scanned location. The
    same token again is answered with the same entry and counts nothing more."""
    place = _place_or_404(pk)
    try:
        body = json.loads(request.body or b"{}")
        code, token = str(body["code"]), str(body["client_token"])
        qty = body.get("qty", 1)
        lot = str(body.get("lot") or "")
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "Send JSON with code, qty and client_token."}, status=400)
    try:
        product, scanned_lot, serial = selectors.count_scan_resolve(code)
        entry = counting.count_entry_submit(
            count_location_id=place.pk,
            product_id=product.pk,
            qty=qty,
            lot=lot or scanned_lot,
            serial=serial,
            client_token=token,
            actor=request.user,
        )
    except PermissionDenied as error:
        return JsonResponse({"error": _problem(error)}, status=403)
    except ValidationError as error:
        return JsonResponse({"error": _problem(error)}, status=UNPROCESSABLE)
    line = entry.line
    return JsonResponse(
        {
            "entry": entry.pk,
            "line": line.pk,
            "sku": product.sku,
            "lot": line.lot,
            "serial": line.serial,
            "qty": entry.qty,
        },
        status=201,
    )
