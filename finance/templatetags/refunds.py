"""How a refund looks on the finance screens: its state badge, the inspection evidence it rests
on, and the approval queue's rows, built in Python.

The queue shows up to 50 rows of about forty values each; through the template engine (a
variable lookup, a filter or a `{% url %}` at a few microseconds each, an `{% include %}` per
row) the page took about 19 ms of CPU to render, the most of any page under load. Built with
`format_html`, each of a row's ~27 values went through `conditional_escape` (a lazy-string check
and a SafeString per value) and each fragment through another `format_html`: ~1,350 escapes a
page. A row is now one list of strings joined once, each value escaped with the standard
library's `html.escape` (what Django's `escape` calls), and the result marked safe once at the
tag. Each URL is reversed (and escaped) once per page (`_url_pattern`). A row's time stamps
are written directly (`stamp_in`; `waiting`: `timesince` against one "now" a page, its units
in English): Django's `date` and `timesince` filters parse their format, read the clock and
look up translations on every call, about 200 µs of CPU a row.
"""

from collections.abc import Callable
from datetime import datetime, tzinfo
from html import escape

from django import template
from django.template.defaultfilters import capfirst, pluralize
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.timezone import get_current_timezone, now

from erp.templatetags.money import money
from erp.templatetags.stamps import stamp_in
from finance.models import Refund, RefundState

register = template.Library()

STATE_TONE = {
    RefundState.ISSUED: "badge-ok",
    RefundState.FAILED: "badge-danger",
    RefundState.REJECTED: "badge-danger",
    RefundState.ON_HOLD: "badge-warn",
    RefundState.PENDING_APPROVAL: "badge-warn",
}
RISK_TONE = {"high": "badge-danger", "medium": "badge-warn"}
# A primary key no real row has, so it can be found in a reversed URL and replaced.
_MARKER = 987654321987


def _e(value) -> str:
    """A value as HTML text (`str()` first: ints, lazy translations)."""
    return escape(str(value))


def _url_pattern(name: str, *after: str) -> Callable[[int], str]:
    """`escape(reverse(name, args=[pk, *after]))` for any pk, at the cost of one reverse
    (escaping is per character, so the two halves can be escaped once)."""
    prefix, suffix = (
        escape(part) for part in reverse(name, args=[_MARKER, *after]).split(str(_MARKER))
    )
    return lambda pk: f"{prefix}{pk}{suffix}"


class _Count:
    """`"%(num)d day"`-like unit for `timesince(time_strings=...)`, in English without a
    translation look-up (two a row, more than half of `timesince`'s cost)."""

    def __init__(self, unit: str):
        self.unit = unit

    def __mod__(self, values: dict) -> str:
        num = values["num"]
        return f"{num} {self.unit}{'' if num == 1 else 's'}"


TIME_STRINGS = {unit: _Count(unit) for unit in ("year", "month", "week", "day", "hour", "minute")}


def waiting(since: datetime, at: datetime) -> str:
    """How long since `since` at `at`, as `|timesince` writes it ("3 days, 2 hours")."""
    return timesince(since, now=at, time_strings=TIME_STRINGS)


def _state_badge(refund: Refund) -> str:
    return (
        f'<span class="badge {STATE_TONE.get(refund.state, "badge-info")}">'
        f"{_e(refund.get_state_display())}</span>"
    )


@register.filter
def refund_state_badge(refund: Refund) -> SafeString:
    """The refund's state as a badge in its tone."""
    return mark_safe(_state_badge(refund))


def _unit(unit: dict) -> str:
    if not unit.get("matched"):
        parts = ['<span class="badge badge-danger">Mismatch</span>']
    elif unit.get("grade"):
        parts = [f'<span class="badge refund-grade">Grade {_e(unit["grade"])}</span>']
    else:
        parts = ['<span class="badge">Received</span>']
    if unit.get("disposition"):
        label = unit.get("disposition_label") or unit["disposition"]
        parts.append(f'<span class="muted">{_e(capfirst(label))}</span>')
    if unit.get("serial"):
        parts.append(f'<span class="mono muted">{_e(unit["serial"])}</span>')
    return f"<li>{' '.join(parts)}</li>"


def _inspection(refund: Refund, photo_url: Callable[[int], str]) -> str:
    evidence = refund.evidence or {}
    units = evidence.get("units")
    if units:
        html = f'<ul class="sub-list refund-units">{"".join(map(_unit, units))}</ul>'
    elif refund.stage == "on_authorization":
        html = '<span class="muted">Not inspected: the policy refunds on authorization.</span>'
    else:
        html = '<span class="muted">No unit inspected.</span>'
    photos = evidence.get("inspection_photos")
    if photos:
        html += (
            f'<p class="muted">{_e(photos)} inspection photo{_e(pluralize(photos))} on the '
            "units' pages</p>"
        )
    case = refund.case
    if case.photo_list:
        rma = _e(case.rma_number)
        html += (
            '<div class="refund-photos">'
            + "".join(
                f'<a href="{url}" target="_blank" rel="noopener"><img src="{url}" alt="Photo '
                f'{number} of {rma}" width="48" height="48" loading="lazy"></a>'
                for number, url in (
                    (number, photo_url(photo.pk))
                    for number, photo in enumerate(case.photo_list, start=1)
                )
            )
            + "</div>"
        )
    return html


@register.simple_tag
def refund_inspection(refund: Refund) -> SafeString:
    """What the warehouse found, per unit, and the photos of the case."""
    return mark_safe(_inspection(refund, _url_pattern("return_photo")))


def _row(refund: Refund, *, selectable: bool, urls: dict, at: datetime, zone: tzinfo) -> str:
    pk, case, evidence = refund.pk, refund.case, refund.evidence or {}
    row = [f'<tr id="refund-{pk}">']
    if selectable:
        refused = " data-refused" if refund.refusal else ""
        row.append(
            f'<td class="col-check"><input type="checkbox" name="refund" value="{pk}" '
            f'aria-label="Select refund #{pk}"{refused}></td>'
        )
    row.append(
        f'<th scope="row"><a href="{urls["refund"](pk)}">Refund #{pk}</a><br>'
        f'<a class="mono" href="{urls["case"](refund.case_id)}">{_e(case.rma_number)}</a><br>'
        f'<span class="muted">{_e(refund.get_stage_display())} · '
        f"{_e(refund.get_method_display())}</span><br>"
        f'<span class="muted" title="{_e(stamp_in(refund.proposed_at, zone))}">'
        f"waiting {_e(waiting(refund.proposed_at, at))}</span></th>"
        f'<td class="num"><strong>{_e(money(refund.amount, refund.currency))}</strong>'
    )
    if refund.deductions_amount:
        row.append(
            f'<br><span class="muted">of {_e(money(refund.gross_amount))} less '
            f"{_e(money(refund.deductions_amount))}</span>"
        )
    row.extend(
        f'<br><span class="muted">{_e(quantity)} × {_e(sku)}</span>'
        for quantity, sku in refund.line_list
    )
    row.append(f"</td><td>{_inspection(refund, urls['photo'])}</td>")
    rule = case.deciding_rule.name if case.deciding_rule else ""
    risk_score = evidence.get("risk_score")
    row.append(
        f'<td><span class="nowrap">{_e(rule)}</span><br>'
        f'<span class="muted">{_e(evidence.get("decision") or "")}</span><br>'
        f'<span class="badge {RISK_TONE.get(refund.risk_level, "badge-ok")}">'
        f"{_e(capfirst(refund.risk_level or '—'))} risk"
        f"{f' · {_e(risk_score)}' if risk_score else ''}</span>"
    )
    if evidence.get("risk_signals"):
        row.append('<ul class="sub-list refund-signals">')
        row.extend(f"<li>{_e(s.get('detail', ''))}</li>" for s in evidence["risk_signals"])
        row.append("</ul>")
    row.append(
        f"</td><td>{_e(refund.customer.name)}<br>"
        f'<span class="muted">{_e(refund.customer_cases)} return'
        f"{_e(pluralize(refund.customer_cases))} · {_e(refund.customer_refunds)} refund"
        f"{_e(pluralize(refund.customer_refunds))} paid</span></td><td>"
    )
    if not selectable:
        row.append(_state_badge(refund))
        row.extend(
            f'<br><span class="muted">{_e(note)}</span>'
            for note in (refund.hold_reason, refund.failure_message)
            if note
        )
        if refund.approved_by:
            row.append(f'<br><span class="muted">by {_e(refund.approved_by.get_username())}</span>')
        elif refund.auto_approved:
            row.append('<br><span class="muted">by the policy</span>')
    elif refund.refusal:
        row.append(f'<span class="refund-refusal">{_e(refund.refusal)}</span>')
    else:
        row.append(
            f'<button type="submit" class="btn btn-ok" formaction="{urls["approve"](pk)}" '
            f'hx-post="{urls["approve"](pk)}" hx-target="#refund-{pk}" hx-swap="outerHTML" '
            'name="next" value="queue">Approve</button>'
        )
    row.append("</td></tr>")
    return "".join(row)


@register.simple_tag
def refund_rows(refunds: list[Refund], selectable: bool) -> SafeString:
    """The queue's rows: each refund and, beside it, the evidence it rests on. A row reads
    `line_list` ((quantity, SKU) pairs), `case.photo_list`, `customer_cases`,
    `customer_refunds` (refund_selectors.refund_queue) and, when selectable, `refusal`."""
    urls = {
        "refund": _url_pattern("refund_detail"),
        "case": _url_pattern("return_detail"),
        "photo": _url_pattern("return_photo"),
        "approve": _url_pattern("refund_action", "approve"),
    }
    at, zone = now(), get_current_timezone()
    return mark_safe(
        "".join(
            _row(refund, selectable=selectable, urls=urls, at=at, zone=zone) for refund in refunds
        )
    )
