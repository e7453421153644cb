"""The `stamp` filter (erp/templatetags/stamps.py) writes what `|date:"j M Y, H:i"` wrote, in
the current time zone, without the date filter's per-call format parsing."""

import datetime
import zoneinfo

import pytest
from django.template import Context, Template
from django.template.defaultfilters import date
from django.utils import timezone

from erp.templatetags.stamps import stamp

UTC = datetime.UTC
MOMENTS = [
    *(datetime.datetime(2026, month, 1, 0, 5, tzinfo=UTC) for month in range(1, 13)),
    datetime.datetime(2026, 11, 24, 9, 5, 59, tzinfo=UTC),
    datetime.datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
    datetime.datetime(999, 3, 9, 4, 0, tzinfo=UTC),
]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_stamp_writes_what_the_date_filter_wrote(zone, moment):
    # Given a moment and the time zone the page is shown in
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        # Then the stamp is the date filter's text, in that zone
        expected = date(timezone.localtime(moment), "j M Y, H:i")
        assert stamp(moment) == expected
        assert Template("{% load stamps %}{{ m|stamp }}").render(Context({"m": moment})) == (
            Template('{{ m|date:"j M Y, H:i" }}').render(Context({"m": moment}))
        )


def test_stamp_of_nothing_is_empty_and_a_naive_moment_is_not_converted():
    naive = datetime.datetime(2026, 2, 3, 4, 5)

    assert stamp(None) == "" == stamp("")
    with timezone.override(zoneinfo.ZoneInfo("Asia/Kolkata")):
        assert stamp(naive) == date(naive, "j M Y, H:i") == "3 Feb 2026, 04:05"
