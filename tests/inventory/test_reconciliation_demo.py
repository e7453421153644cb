"""The demo's control tower data: one variance explained, one not (with its exception), and a
reset that leaves nothing of it behind."""

import random
from datetime import timedelta

from django.db import transaction

from erp.models import ExceptionCase
from erp.models.exceptions import ExceptionKind
from erp.security import history_rewrite_allowed
from inventory.models import (
    ExternalLocation,
    ExternalSnapshot,
    ReconciliationRun,
    ReconciliationVariance,
    RunStatus,
    VarianceStatus,
)
from inventory.reconciliation.demo import (
    MISCOUNTED_BY,
    demo_reconciliation_reset,
    demo_reconciliation_seed,
)

from .test_reconciliation import T0, stock_in, tpl  # noqa: F401


def test_the_demo_leaves_an_explained_and_an_unexplained_variance(tpl):  # noqa: F811
    # given stock at the demo's 3PL, the serum's last receipt the warehouse's last movement
    stock_in(tpl, tpl.cream, 10, "demo:cream")
    stock_in(tpl, tpl.serum, 8, "demo:serum")
    stock_in(tpl, tpl.serum, 2, "demo:serum-late", at=T0)
    # when the demo seeds the control tower
    counts = demo_reconciliation_seed(rng=random.Random(1), as_of=T0 + timedelta(hours=1))
    # then the summary taken before the serum's receipt explains the serum's variance ...
    serum = ReconciliationVariance.objects.get(product=tpl.serum, bucket="sellable")
    assert (serum.difference, serum.after_snapshot, serum.status) == (
        -2,
        -2,
        VarianceStatus.EXPLAINED,
    )
    # ... and the cream it miscounted is unexplained, over tolerance, with its exception
    cream = ReconciliationVariance.objects.get(product=tpl.cream, bucket="sellable")
    assert (cream.difference, cream.unexplained, cream.status) == (
        -MISCOUNTED_BY,
        -MISCOUNTED_BY,
        VarianceStatus.OVER_TOLERANCE,
    )
    assert cream.exception.kind == ExceptionKind.RECONCILIATION_VARIANCE
    assert ReconciliationRun.objects.get().status == RunStatus.SUCCEEDED
    assert counts["  explained"] >= 1
    assert counts["  unexplained"] >= 1

    # when the demo is reset
    with transaction.atomic(), history_rewrite_allowed():
        demo_reconciliation_reset()
    # then none of it is left
    assert not ReconciliationVariance.objects.exists()
    assert not ExternalSnapshot.objects.exists()
    assert not ExternalLocation.objects.exists()
    assert not ExceptionCase.objects.filter(kind=ExceptionKind.RECONCILIATION_VARIANCE).exists()
