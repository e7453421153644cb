"""Risk screening: each signal proven by a case, the thresholds, and what a high score does."""

from dataclasses import replace
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from erp.models import Customer, ExceptionCase, Product
from erp.models.exceptions import ExceptionKind, SubjectType
from erp.services import exception_open, exception_resolve
from returns import services
from returns.models import ReturnCase
from returns.risk import LineRisk, RiskFacts, RiskPolicy, risk_assess, risk_policy
from tests.returns.conftest import ask, delivered_order, open_case

QUIET_LINE = LineRisk(
    sku="TEE-1",
    unit_value=Decimal("30"),
    is_high_value=False,
    serial_tracked=False,
    reason_group="size",
    claimed_condition="opened_unused",
)
QUIET = RiskFacts(
    customer_segment="standard",
    customer_delivered_orders=10,
    customer_prior_returns=1,
    customer_prior_mismatches=0,
    other_open_claims_on_order=0,
    days_since_delivery=5,
    return_window_days=30,
    lines=(QUIET_LINE,),
)


def codes(facts: RiskFacts) -> list[str]:
    return [signal.code for signal in risk_assess(facts=facts, policy=RiskPolicy()).signals]


def test_a_quiet_request_has_no_signal():
    assessment = risk_assess(facts=QUIET, policy=RiskPolicy())
    assert (assessment.score, assessment.level, assessment.signals) == (0, "low", ())


@pytest.mark.parametrize(
    ("facts", "signal", "detail"),
    [
        (
            replace(QUIET, customer_prior_returns=5),
            "high_return_rate",
            "Returned 5 of 10 delivered orders (50%).",
        ),
        (replace(QUIET, customer_prior_mismatches=2), "mismatch_history", "2 earlier return(s)"),
        (replace(QUIET, customer_segment="watchlist"), "watchlist", "on the watchlist"),
        (
            replace(QUIET, lines=(replace(QUIET_LINE, unit_value=Decimal("500")),)),
            "high_value",
            "TEE-1",
        ),
        (replace(QUIET, lines=(replace(QUIET_LINE, is_high_value=True),)), "high_value", "TEE-1"),
        (
            replace(QUIET, lines=(replace(QUIET_LINE, is_high_value=True, serial_tracked=True),)),
            "serial_high_value",
            "Serial-tracked",
        ),
        (replace(QUIET, days_since_delivery=0), "early_request", "0 day(s) after delivery"),
        (
            replace(QUIET, days_since_delivery=28),
            "late_request",
            "2 day(s) before the return window closes",
        ),
        (replace(QUIET, other_open_claims_on_order=1), "repeated_claim", "1 other return(s)"),
        (
            replace(
                QUIET,
                lines=(replace(QUIET_LINE, reason_group="defect", claimed_condition="unopened"),),
            ),
            "inconsistent_claim",
            "reason “Defect or damage” but claimed “unopened”",
        ),
        (
            replace(
                QUIET,
                lines=(
                    replace(QUIET_LINE, reason_group="preference", claimed_condition="damaged"),
                ),
            ),
            "inconsistent_claim",
            "but claimed “damaged”",
        ),
    ],
)
def test_each_signal_adds_its_points_with_the_fact_behind_it(facts, signal, detail):
    assessment = risk_assess(facts=facts, policy=RiskPolicy())
    found = {s.code: s for s in assessment.signals}
    assert signal in found
    assert detail in found[signal].detail
    assert assessment.score == sum(s.points for s in assessment.signals)


def test_signals_below_their_limits_stay_quiet():
    assert codes(replace(QUIET, customer_prior_returns=4)) == []  # 40 % < 50 %
    assert (
        codes(replace(QUIET, customer_prior_returns=1, customer_delivered_orders=1)) == []
    )  # too little history
    assert codes(replace(QUIET, days_since_delivery=27)) == []
    assert codes(replace(QUIET, lines=(replace(QUIET_LINE, unit_value=Decimal("499.99")),))) == []


def test_levels_follow_the_thresholds():
    watch = replace(QUIET, customer_segment="watchlist")  # 30 points
    assert risk_assess(facts=watch, policy=RiskPolicy()).level == "medium"
    assert risk_assess(facts=watch, policy=RiskPolicy(high_threshold=30)).level == "high"


@override_settings(RETURNS_RISK={"high_threshold": 10})
def test_thresholds_are_configurable_in_settings():
    assert risk_policy().high_threshold == 10


@override_settings(RETURNS_RISK={"hihg_threshold": 10})
def test_a_misspelt_setting_is_refused():
    with pytest.raises(ValueError, match="hihg_threshold"):
        risk_policy()


# ---- Through the service ----------------------------------------------------------------------


def test_high_risk_holds_the_case_and_opens_a_fraud_review(cs_user, operations_user):
    # given a watchlisted customer returning a serial-tracked high-value item (30 + 15 + 10)
    order = delivered_order(
        segment=Customer.Segment.WATCHLIST,
        lines=((1, "300.00"),),
        is_high_value=True,
        tracking=Product.Tracking.SERIAL,
    )
    # when
    case = open_case(order, cs_user)
    # then it waits for review, with the score explained
    assert case.state == ReturnCase.State.PENDING_REVIEW
    assert (case.risk_score, case.risk_level) == (55, "high")
    assert [s["code"] for s in case.risk_signals] == [
        "watchlist",
        "high_value",
        "serial_high_value",
    ]
    assert case.decision["summary"] == "Held for fraud review"
    assert case.history.latest().history_change_reason.startswith("Held for fraud review")
    # and a fraud review exception is open about it
    exception = ExceptionCase.objects.get(
        kind=ExceptionKind.FRAUD_REVIEW,
        subject_type=SubjectType.RETURN_CASE,
        subject_id=str(case.pk),
    )
    assert exception.subject_label == case.rma_number
    assert exception.evidence["risk_score"] == 55
    # and it cannot be authorized until the review is resolved
    with pytest.raises(ValidationError, match="fraud review"):
        services.return_case_authorize(case_id=case.pk, actor=operations_user)
    case.refresh_from_db()
    assert case.state == ReturnCase.State.PENDING_REVIEW
    # and resolving the review (cleared) authorizes it (tests/returns/test_fraud_review.py)
    exception_resolve(exception_id=exception.pk, actor=operations_user, reason="Customer verified")
    case.refresh_from_db()
    assert case.state == ReturnCase.State.AUTHORIZED


def test_the_customers_history_counts(cs_user):
    # given a customer who already returned from two of their three orders, one arriving wrong
    customer = delivered_order().customer
    orders = [delivered_order(customer=customer) for _ in range(2)]
    first = open_case(orders[0], cs_user)
    open_case(orders[1], cs_user)
    exception_open(
        kind=ExceptionKind.SKU_MISMATCH,
        subject_type=SubjectType.RETURN_CASE,
        subject_id=first.pk,
        summary="Other SKU",
    )
    # when they claim on the same order again
    case = open_case(orders[0], cs_user, ask(orders[0].lines.get(), 1))
    # then
    assert {s["code"] for s in case.risk_signals} == {
        "high_return_rate",
        "mismatch_history",
        "repeated_claim",
    }
    assert case.state == ReturnCase.State.PENDING_REVIEW
