"""The approval queue's rows and a refund's inspection evidence, built in Python
(finance/templatetags/refunds.py): the same HTML, every value escaped, as when each value went
through Django's `format_html` (the strings below were printed by that implementation), and
without Django's per-value `conditional_escape` (the ~1,350 calls a 50-row page made)."""

import datetime
from decimal import Decimal
from types import SimpleNamespace as NS
from unittest import mock

import django.utils.html
from django.template.defaultfilters import date
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.timezone import localtime

from finance.templatetags.refunds import refund_inspection, refund_rows, waiting

HOSTILE = "<b>&\"'x"
WAITING = datetime.timedelta(days=3, hours=2, minutes=30)


def refund(pk, **kwargs):
    fields = {
        "pk": pk,
        "case_id": pk + 100,
        "state": "pending_approval",
        "stage": "on_inspection",
        "refusal": "",
        "evidence": {},
        "amount": Decimal("89.00"),
        "currency": "USD",
        "gross_amount": Decimal("100.00"),
        "deductions_amount": Decimal("0"),
        "line_list": [],
        "risk_level": "",
        "hold_reason": "",
        "failure_message": "",
        "approved_by": None,
        "auto_approved": False,
        "customer_cases": 1,
        "customer_refunds": 0,
        "proposed_at": timezone.now() - WAITING,
        "customer": NS(name="Ann"),
        "case": NS(rma_number=f"RMA-{pk}", photo_list=[], deciding_rule=None),
    }
    fields.update(kwargs)
    row = NS(**fields)
    row.get_state_display = lambda: f"State {HOSTILE}"
    row.get_stage_display = lambda: "On inspection"
    row.get_method_display = lambda: "Original payment"
    return row


def every_branch():
    """A refused refund with deductions, lines, photos and risk signals; a failed one with
    notes, an approver and inspected units; one the policy approved."""
    return [
        refund(
            2,
            stage="on_authorization",
            refusal=f"Over your limit {HOSTILE}",
            deductions_amount=Decimal("11.00"),
            line_list=[(2, f"SKU{HOSTILE}"), (1, "B")],
            risk_level="high",
            customer_cases=3,
            customer_refunds=1,
            evidence={
                "risk_score": 71,
                "decision": f"Authorized {HOSTILE}",
                "inspection_photos": 2,
                "risk_signals": [{"detail": f"Many returns {HOSTILE}"}, {}],
            },
            customer=NS(name=f"Bob {HOSTILE}"),
            case=NS(
                rma_number=f"RMA{HOSTILE}",
                photo_list=[NS(pk=5), NS(pk=6)],
                deciding_rule=NS(name=f"Rule {HOSTILE}"),
            ),
        ),
        refund(
            3,
            state="failed",
            risk_level="medium",
            hold_reason=f"Hold {HOSTILE}",
            failure_message=f"Card {HOSTILE}",
            approved_by=NS(get_username=lambda: f"fin{HOSTILE}"),
            evidence={
                "units": [
                    {"matched": False, "serial": f"S{HOSTILE}"},
                    {
                        "matched": True,
                        "grade": f"A{HOSTILE}",
                        "disposition": "restock",
                        "disposition_label": f"restock {HOSTILE}",
                    },
                    {"matched": True, "disposition": "scrap"},
                ]
            },
        ),
        refund(4, state="issued", auto_approved=True, evidence={"units": [{"matched": True}]}),
    ]


SELECTABLE = (
    '<tr id="refund-2"><td class="col-check">'
    '<input type="checkbox" name="refund" value="2" aria-label="Select refund #2" data-re'
    'fused></td><th scope="row"><a href="/finance/refunds/2/">Refund #2</a><br>'
    '<a class="mono" href="/cs/returns/102/">RMA&lt;b&gt;&amp;&quot;&#x27;x</a><br>'
    '<span class="muted">On inspection · Original payment</span><br>'
    '<span class="muted" title="{date}">waiting 3\xa0days, 2\xa0hours</span></th>'
    '<td class="num"><strong>89.00 USD</strong><br>'
    '<span class="muted">of 100.00 less 11.00</span><br>'
    '<span class="muted">2 × SKU&lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="muted">1 × B</span></td><td>'
    '<span class="muted">Not inspected: the policy refunds on authorization.</span>'
    '<p class="muted">2 inspection photos on the units\' pages</p>'
    '<div class="refund-photos">'
    '<a href="/cs/returns/photos/5/" target="_blank" rel="noopener"><img src="/cs/returns'
    '/photos/5/" alt="Photo 1 of RMA&lt;b&gt;&amp;&quot;&#x27;x" width="48" height="48" l'
    'oading="lazy"></a>'
    '<a href="/cs/returns/photos/6/" target="_blank" rel="noopener"><img src="/cs/returns'
    '/photos/6/" alt="Photo 2 of RMA&lt;b&gt;&amp;&quot;&#x27;x" width="48" height="48" l'
    'oading="lazy"></a></div></td><td>'
    '<span class="nowrap">Rule &lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="muted">Authorized &lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="badge badge-danger">High risk · 71</span>'
    '<ul class="sub-list refund-signals">'
    "<li>Many returns &lt;b&gt;&amp;&quot;&#x27;x</li><li></li></ul></td>"
    "<td>Bob &lt;b&gt;&amp;&quot;&#x27;x<br>"
    '<span class="muted">3 returns · 1 refund paid</span></td><td>'
    '<span class="refund-refusal">Over your limit &lt;b&gt;&amp;&quot;&#x27;x</span></td>'
    '</tr><tr id="refund-3"><td class="col-check">'
    '<input type="checkbox" name="refund" value="3" aria-label="Select refund #3"></td>'
    '<th scope="row"><a href="/finance/refunds/3/">Refund #3</a><br>'
    '<a class="mono" href="/cs/returns/103/">RMA-3</a><br>'
    '<span class="muted">On inspection · Original payment</span><br>'
    '<span class="muted" title="{date}">waiting 3\xa0days, 2\xa0hours</span></th>'
    '<td class="num"><strong>89.00 USD</strong></td><td>'
    '<ul class="sub-list refund-units"><li>'
    '<span class="badge badge-danger">Mismatch</span> '
    '<span class="mono muted">S&lt;b&gt;&amp;&quot;&#x27;x</span></li><li>'
    '<span class="badge refund-grade">Grade A&lt;b&gt;&amp;&quot;&#x27;x</span> '
    '<span class="muted">Restock &lt;b&gt;&amp;&quot;&#x27;x</span></li><li>'
    '<span class="badge">Received</span> <span class="muted">Scrap</span></li></ul></td>'
    '<td><span class="nowrap"></span><br><span class="muted"></span><br>'
    '<span class="badge badge-warn">Medium risk</span></td><td>Ann<br>'
    '<span class="muted">1 return · 0 refunds paid</span></td><td>'
    '<button type="submit" class="btn btn-ok" formaction="/finance/refunds/3/approve/" '
    'hx-post="/finance/refunds/3/approve/" hx-target="#refund-3" hx-swap="outerHTML" '
    'name="next" value="queue">Approve</button></td></tr><tr id="refund-4">'
    '<td class="col-check">'
    '<input type="checkbox" name="refund" value="4" aria-label="Select refund #4"></td>'
    '<th scope="row"><a href="/finance/refunds/4/">Refund #4</a><br>'
    '<a class="mono" href="/cs/returns/104/">RMA-4</a><br>'
    '<span class="muted">On inspection · Original payment</span><br>'
    '<span class="muted" title="{date}">waiting 3\xa0days, 2\xa0hours</span></th>'
    '<td class="num"><strong>89.00 USD</strong></td><td>'
    '<ul class="sub-list refund-units"><li><span class="badge">Received</span></li></ul>'
    '</td><td><span class="nowrap"></span><br><span class="muted"></span><br>'
    '<span class="badge badge-ok">— risk</span></td><td>Ann<br>'
    '<span class="muted">1 return · 0 refunds paid</span></td><td>'
    '<button type="submit" class="btn btn-ok" formaction="/finance/refunds/4/approve/" '
    'hx-post="/finance/refunds/4/approve/" hx-target="#refund-4" hx-swap="outerHTML" '
    'name="next" value="queue">Approve</button></td></tr>'
)
DECIDED = (
    '<tr id="refund-2"><th scope="row"><a href="/finance/refunds/2/">Refund #2</a><br>'
    '<a class="mono" href="/cs/returns/102/">RMA&lt;b&gt;&amp;&quot;&#x27;x</a><br>'
    '<span class="muted">On inspection · Original payment</span><br>'
    '<span class="muted" title="{date}">waiting 3\xa0days, 2\xa0hours</span></th>'
    '<td class="num"><strong>89.00 USD</strong><br>'
    '<span class="muted">of 100.00 less 11.00</span><br>'
    '<span class="muted">2 × SKU&lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="muted">1 × B</span></td><td>'
    '<span class="muted">Not inspected: the policy refunds on authorization.</span>'
    '<p class="muted">2 inspection photos on the units\' pages</p>'
    '<div class="refund-photos">'
    '<a href="/cs/returns/photos/5/" target="_blank" rel="noopener"><img src="/cs/returns'
    '/photos/5/" alt="Photo 1 of RMA&lt;b&gt;&amp;&quot;&#x27;x" width="48" height="48" l'
    'oading="lazy"></a>'
    '<a href="/cs/returns/photos/6/" target="_blank" rel="noopener"><img src="/cs/returns'
    '/photos/6/" alt="Photo 2 of RMA&lt;b&gt;&amp;&quot;&#x27;x" width="48" height="48" l'
    'oading="lazy"></a></div></td><td>'
    '<span class="nowrap">Rule &lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="muted">Authorized &lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="badge badge-danger">High risk · 71</span>'
    '<ul class="sub-list refund-signals">'
    "<li>Many returns &lt;b&gt;&amp;&quot;&#x27;x</li><li></li></ul></td>"
    "<td>Bob &lt;b&gt;&amp;&quot;&#x27;x<br>"
    '<span class="muted">3 returns · 1 refund paid</span></td><td>'
    '<span class="badge badge-warn">State &lt;b&gt;&amp;&quot;&#x27;x</span></td></tr>'
    '<tr id="refund-3"><th scope="row"><a href="/finance/refunds/3/">Refund #3</a><br>'
    '<a class="mono" href="/cs/returns/103/">RMA-3</a><br>'
    '<span class="muted">On inspection · Original payment</span><br>'
    '<span class="muted" title="{date}">waiting 3\xa0days, 2\xa0hours</span></th>'
    '<td class="num"><strong>89.00 USD</strong></td><td>'
    '<ul class="sub-list refund-units"><li>'
    '<span class="badge badge-danger">Mismatch</span> '
    '<span class="mono muted">S&lt;b&gt;&amp;&quot;&#x27;x</span></li><li>'
    '<span class="badge refund-grade">Grade A&lt;b&gt;&amp;&quot;&#x27;x</span> '
    '<span class="muted">Restock &lt;b&gt;&amp;&quot;&#x27;x</span></li><li>'
    '<span class="badge">Received</span> <span class="muted">Scrap</span></li></ul></td>'
    '<td><span class="nowrap"></span><br><span class="muted"></span><br>'
    '<span class="badge badge-warn">Medium risk</span></td><td>Ann<br>'
    '<span class="muted">1 return · 0 refunds paid</span></td><td>'
    '<span class="badge badge-danger">State &lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="muted">Hold &lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="muted">Card &lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="muted">by fin&lt;b&gt;&amp;&quot;&#x27;x</span></td></tr>'
    '<tr id="refund-4"><th scope="row"><a href="/finance/refunds/4/">Refund #4</a><br>'
    '<a class="mono" href="/cs/returns/104/">RMA-4</a><br>'
    '<span class="muted">On inspection · Original payment</span><br>'
    '<span class="muted" title="{date}">waiting 3\xa0days, 2\xa0hours</span></th>'
    '<td class="num"><strong>89.00 USD</strong></td><td>'
    '<ul class="sub-list refund-units"><li><span class="badge">Received</span></li></ul>'
    '</td><td><span class="nowrap"></span><br><span class="muted"></span><br>'
    '<span class="badge badge-ok">— risk</span></td><td>Ann<br>'
    '<span class="muted">1 return · 0 refunds paid</span></td><td>'
    '<span class="badge badge-ok">State &lt;b&gt;&amp;&quot;&#x27;x</span><br>'
    '<span class="muted">by the policy</span></td></tr>'
)
INSPECTION = (
    '<ul class="sub-list refund-units"><li>'
    '<span class="badge badge-danger">Mismatch</span> '
    '<span class="mono muted">S&lt;b&gt;&amp;&quot;&#x27;x</span></li><li>'
    '<span class="badge refund-grade">Grade A&lt;b&gt;&amp;&quot;&#x27;x</span> '
    '<span class="muted">Restock &lt;b&gt;&amp;&quot;&#x27;x</span></li><li>'
    '<span class="badge">Received</span> <span class="muted">Scrap</span></li></ul>'
)


def expected(html: str, refunds) -> str:
    return html.replace("{date}", date(localtime(refunds[0].proposed_at), "j M Y, H:i"))


def test_the_queue_rows_are_the_html_format_html_built():
    refunds = every_branch()

    assert refund_rows(refunds, True) == expected(SELECTABLE, refunds)
    assert refund_rows(refunds, False) == expected(DECIDED, refunds)
    assert refund_inspection(refunds[1]) == INSPECTION


def test_the_queue_rows_escape_without_djangos_per_value_conditional_escape():
    refunds = every_branch() * 17  # a full queue page: about 50 rows
    with mock.patch.object(
        django.utils.html, "conditional_escape", wraps=django.utils.html.conditional_escape
    ) as conditional_escape:
        html = refund_rows(refunds, True)

    assert conditional_escape.call_count == 0
    assert HOSTILE not in html


def test_the_waiting_time_is_what_the_timesince_filter_wrote():
    # Given the moments a refund may have been proposed, from seconds to years before
    at = timezone.now()
    deltas = [
        datetime.timedelta(seconds=s)
        for s in (0, 59, 60, 61, 3599, 3600, 3660, 86399, 86400, 90061, 7 * 86400, 8 * 86400)
    ] + [datetime.timedelta(days=d, hours=d % 24, minutes=d % 60) for d in range(1, 800, 7)]

    # Then the row's text is the filter's, unit by unit and singular or plural
    for delta in deltas:
        since = at - delta
        assert waiting(since, at) == timesince(since, now=at), delta
    assert waiting(at - WAITING, at) == "3\xa0days, 2\xa0hours"
    assert waiting(at - datetime.timedelta(days=1, hours=1), at) == "1\xa0day, 1\xa0hour"
