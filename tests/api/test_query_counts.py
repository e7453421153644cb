"""Each list endpoint costs the same number of queries whatever the size of its page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.api.objects import refund, variance
from tests.factories import ExceptionCaseFactory, ReturnCaseFactory
from tests.factories.finance import posted_entry

ROWS = {
    "returns_api_cases": ReturnCaseFactory,
    "finance_api_refunds": refund,
    "finance_api_journal_entries": posted_entry,
    "exceptions_api_list": ExceptionCaseFactory,
    "inventory_api_variances": variance,
}


@pytest.mark.parametrize("name", list(ROWS))
def test_a_page_costs_the_same_queries_for_one_row_or_many(api_as, name):
    client = api_as("administrator")

    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse(name)).status_code == 200
        return len(captured)

    ROWS[name]()
    one = queries_for_a_page()
    for _ in range(4):
        ROWS[name]()
    assert queries_for_a_page() == one
