"""How a refund looks on the finance screens: its state badge, the inspection evidence it rests
on, and the approval queue's rows, built in Python.

The queue shows up to 50 rows of about forty values each; through the template engine (a
variable lookup, a filter or a `{% url %}` at a few microseconds each, an `{% include %}` per
row) the page took about 19 ms of CPU to render, the most of any page under load; with the rows
built here, about 10 (in-process, 50 rows). A row is a few `format_html` calls, and each URL is
reversed once per page (`_url_pattern`).
"""

from collections.abc import Callable

from django import template
from django.template.defaultfilters import capfirst, date, pluralize, timesince_filter
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime

from erp.templatetags.money import money
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


def _url_pattern(name: str, *after: str) -> Callable[[int], str]:
    """`reverse(name, args=[pk, *after])` for any pk, at the cost of one reverse."""
    prefix, suffix = reverse(name, args=[_MARKER, *after]).split(str(_MARKER))
    return lambda pk: f"{prefix}{pk}{suffix}"


@register.filter
def refund_state_badge(refund: Refund) -> SafeString:
    """The refund's state as a badge in its tone."""
    return format_html(
        '<span class="badge {}">{}</span>',
        STATE_TONE.get(refund.state, "badge-info"),
        refund.get_state_display(),
    )


def _unit(unit: dict) -> SafeString:
    if not unit.get("matched"):
        badge = mark_safe('<span class="badge badge-danger">Mismatch</span>')
    elif unit.get("grade"):
        badge = format_html('<span class="badge refund-grade">Grade {}</span>', unit["grade"])
    else:
        badge = mark_safe('<span class="badge">Received</span>')
    parts = [badge]
    if unit.get("disposition"):
        label = unit.get("disposition_label") or unit["disposition"]
        parts.append(format_html('<span class="muted">{}</span>', capfirst(label)))
    if unit.get("serial"):
        parts.append(format_html('<span class="mono muted">{}</span>', unit["serial"]))
    return format_html("<li>{}</li>", mark_safe(" ".join(parts)))


def _inspection(refund: Refund, photo_url: Callable[[int], str]) -> SafeString:
    evidence = refund.evidence or {}
    units = evidence.get("units")
    if units:
        html = format_html(
            '<ul class="sub-list refund-units">{}</ul>', mark_safe("".join(map(_unit, units)))
        )
    elif refund.stage == "on_authorization":
        html = mark_safe(
            '<span class="muted">Not inspected: the policy refunds on authorization.</span>'
        )
    else:
        html = mark_safe('<span class="muted">No unit inspected.</span>')
    photos = evidence.get("inspection_photos")
    if photos:
        html += format_html(
            '<p class="muted">{} inspection photo{} on the units\' pages</p>',
            photos,
            pluralize(photos),
        )
    case = refund.case
    if case.photo_list:
        html += format_html(
            '<div class="refund-photos">{}</div>',
            format_html_join(
                "",
                '<a href="{0}" target="_blank" rel="noopener"><img src="{0}" alt="Photo {1} of '
                '{2}" width="48" height="48" loading="lazy"></a>',
                (
                    (photo_url(photo.pk), number, case.rma_number)
                    for number, photo in enumerate(case.photo_list, start=1)
                ),
            ),
        )
    return html


@register.simple_tag
def refund_inspection(refund: Refund) -> SafeString:
    """What the warehouse found, per unit, and the photos of the case."""
    return _inspection(refund, _url_pattern("return_photo"))


def _row(refund: Refund, *, selectable: bool, urls: dict) -> SafeString:
    pk, case, evidence = refund.pk, refund.case, refund.evidence or {}
    cells = []
    if selectable:
        cells.append(
            format_html(
                '<td class="col-check"><input type="checkbox" name="refund" value="{0}" '
                'aria-label="Select refund #{0}"{1}></td>',
                pk,
                mark_safe(" data-refused") if refund.refusal else "",
            )
        )
    cells.append(
        format_html(
            '<th scope="row"><a href="{}">Refund #{}</a><br><a class="mono" href="{}">{}</a><br>'
            '<span class="muted">{} · {}</span><br>'
            '<span class="muted" title="{}">waiting {}</span></th>',
            urls["refund"](pk),
            pk,
            urls["case"](refund.case_id),
            case.rma_number,
            refund.get_stage_display(),
            refund.get_method_display(),
            date(localtime(refund.proposed_at), "j M Y, H:i"),
            timesince_filter(refund.proposed_at),
        )
    )
    amount = format_html("<strong>{}</strong>", money(refund.amount, refund.currency))
    if refund.deductions_amount:
        amount += format_html(
            '<br><span class="muted">of {} less {}</span>',
            money(refund.gross_amount),
            money(refund.deductions_amount),
        )
    amount += format_html_join("", '<br><span class="muted">{} × {}</span>', refund.line_list)
    cells.append(format_html('<td class="num">{}</td>', amount))
    cells.append(format_html("<td>{}</td>", _inspection(refund, urls["photo"])))
    rule = case.deciding_rule.name if case.deciding_rule else ""
    risk_score = evidence.get("risk_score")
    policy = format_html(
        '<span class="nowrap">{}</span><br><span class="muted">{}</span><br>'
        '<span class="badge {}">{} risk{}</span>',
        rule,
        evidence.get("decision") or "",
        RISK_TONE.get(refund.risk_level, "badge-ok"),
        capfirst(refund.risk_level or "—"),
        format_html(" · {}", risk_score) if risk_score else "",
    )
    if evidence.get("risk_signals"):
        policy += format_html(
            '<ul class="sub-list refund-signals">{}</ul>',
            format_html_join(
                "", "<li>{}</li>", ((s.get("detail", ""),) for s in evidence["risk_signals"])
            ),
        )
    cells.append(format_html("<td>{}</td>", policy))
    cells.append(
        format_html(
            '<td>{}<br><span class="muted">{} return{} · {} refund{} paid</span></td>',
            refund.customer.name,
            refund.customer_cases,
            pluralize(refund.customer_cases),
            refund.customer_refunds,
            pluralize(refund.customer_refunds),
        )
    )
    if not selectable:
        decided = refund_state_badge(refund)
        for note in (refund.hold_reason, refund.failure_message):
            if note:
                decided += format_html('<br><span class="muted">{}</span>', note)
        if refund.approved_by:
            decided += format_html(
                '<br><span class="muted">by {}</span>', refund.approved_by.get_username()
            )
        elif refund.auto_approved:
            decided += mark_safe('<br><span class="muted">by the policy</span>')
    elif refund.refusal:
        decided = format_html('<span class="refund-refusal">{}</span>', refund.refusal)
    else:
        decided = format_html(
            '<button type="submit" class="btn btn-ok" formaction="{}" name="next" '
            'value="queue">Approve</button>',
            urls["approve"](pk),
        )
    cells.append(format_html("<td>{}</td>", decided))
    return format_html('<tr id="refund-{}">{}</tr>', pk, mark_safe("".join(cells)))


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
    return mark_safe("".join(_row(refund, selectable=selectable, urls=urls) for refund in refunds))
