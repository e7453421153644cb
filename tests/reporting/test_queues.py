"""The risk queue (riskiest open cases, then the most valuable) and the open-returns pipeline,
which dashboards read from its five-minute snapshot."""

from datetime import timedelta

from django.utils import timezone

from reporting.kpis import KpiFilters, risk_priority_queue
from reporting.models import KpiSnapshot
from reporting.snapshots import PIPELINE, pipeline_read, pipeline_snapshot_build
from tests.factories import ProductFactory
from tests.reporting.builders import return_case, shipped_line


def open_case(*, risk: int, price: str, state: str = "authorized"):
    line = shipped_line(product=ProductFactory(), qty=1, shipped_at=timezone.now(), price=price)
    return return_case(line=line, state=state, risk_score=risk)


def test_the_risk_queue_orders_by_risk_then_value_and_values_only_the_top_scores(
    db, django_assert_num_queries
):
    # Given open cases scoring 50, three at 40 of different values, 10; and a closed one at 90
    top = open_case(risk=50, price="5.00")
    cheap, dear, middle = (open_case(risk=40, price=p) for p in ("10.00", "90.00", "40.00"))
    open_case(risk=10, price="500.00")
    open_case(risk=90, price="900.00", state="closed")
    window = KpiFilters.last_days(30)

    # When the queue of three is read
    with django_assert_num_queries(1):
        queue = list(risk_priority_queue(filters=window, limit=3))

    # Then the riskiest open case leads, then the 40s by value; the closed one is not there
    assert [case.pk for case in queue] == [top.pk, dear.pk, middle.pk]
    assert [case.value for case in queue] == [5, 90, 40]
    # And a queue longer than the open cases lists them all (the threshold falls to 0)
    assert len(risk_priority_queue(filters=window, limit=25)) == 5
    assert cheap.pk in {case.pk for case in risk_priority_queue(filters=window, limit=25)}


def test_dashboards_read_the_stored_pipeline_and_count_live_once_it_is_stale(
    db, django_assert_num_queries
):
    # Given two open cases and the pipeline stored
    open_case(risk=10, price="30.00")
    open_case(risk=10, price="20.00", state="in_transit")
    assert pipeline_snapshot_build() >= 1
    window = KpiFilters.last_days(30)

    # When a third case opens, the dashboards still read the stored counts, in one query
    open_case(risk=10, price="25.00")
    with django_assert_num_queries(1):
        stored = pipeline_read(filters=window)
    counts = {row.state: row.cases for row in stored.rows}
    assert counts["authorized"] == 1
    assert counts["in_transit"] == 1
    authorized = next(row for row in stored.rows if row.state == "authorized")
    assert sum(authorized.value_by_currency.values()) == 30
    row = KpiSnapshot.objects.get(metric=PIPELINE, dimension="")
    assert stored.as_of == row.computed_at

    # Then, once the stored one is over an hour old, they count live
    KpiSnapshot.objects.filter(pk=row.pk).update(computed_at=timezone.now() - timedelta(minutes=61))
    live = pipeline_read(filters=window)
    assert {r.state: r.cases for r in live.rows}["authorized"] == 2
    assert live.as_of > row.computed_at
