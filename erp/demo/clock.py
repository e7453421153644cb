"""A stopped clock for replaying demo history at the moments it happened.

The services stamp what they do with `timezone.now()` (requested, authorized, shipped, SLA
due…). The demo replays a month of returns through those same services, so each step runs
with the clock set to its moment in the demo's past; the data then reads as lived history
and is the same for the same seed and as-of date, whatever the real date. Only for the seed
command's own process: it swaps a module attribute, which no concurrent request may share.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Within the block, `django.utils.timezone.now()` returns `moment`."""
    real_now = timezone.now
    timezone.now = lambda: moment
    try:
        yield
    finally:
        timezone.now = real_now
