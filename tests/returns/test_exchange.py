"""Exchanges hold the replacement stock through inventory services when authorized, and give
it back when the case is cancelled or expires."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from erp.models import Location
from inventory import services as inventory
from inventory.models import StockBalance, StockMovement
from returns import services
from returns.models import ReturnCase
from tests.factories import LocationFactory
from tests.returns.conftest import counts, open_case


def stock(product, location) -> dict[str, int]:
    rows = StockBalance.objects.filter(product=product, location=location, qty__gt=0)
    return {row.state: row.qty for row in rows}


@pytest.fixture
def shelf(order):
    """Three of the order's product available at the warehouse it shipped from."""
    location = LocationFactory(warehouse=order.ship_from, kind=Location.Kind.STOCK)
    product = order.lines.get().product
    inventory.stock_receive(
        product_id=product.pk, location_id=location.pk, qty=3, idempotency_key="seed"
    )
    return location


def test_an_authorized_exchange_reserves_the_replacement(order, shelf, cs_user):
    product = order.lines.get().product
    case = open_case(order, cs_user, resolution="exchange")
    assert case.state == ReturnCase.State.AUTHORIZED
    assert stock(product, shelf) == {"available": 2, "reserved": 1}
    movement = StockMovement.objects.get(kind="reserve")
    assert (movement.cause_type, movement.cause_id) == ("return_case", str(case.pk))


def test_cancelling_an_exchange_gives_the_stock_back(order, shelf, cs_user):
    product = order.lines.get().product
    case = open_case(order, cs_user, resolution="exchange")
    services.return_case_cancel(case_id=case.pk, actor=cs_user, reason="Customer kept it")
    assert stock(product, shelf) == {"available": 3}


def test_an_expired_exchange_gives_the_stock_back(order, shelf, cs_user):
    product = order.lines.get().product
    case = open_case(order, cs_user, resolution="exchange")
    ReturnCase.objects.filter(pk=case.pk).update(ship_by=timezone.now() - timedelta(minutes=1))
    services.return_cases_expire_overdue()
    assert stock(product, shelf) == {"available": 3}


def test_a_refund_reserves_nothing(order, shelf, cs_user):
    open_case(order, cs_user, resolution="refund")
    assert not StockMovement.objects.filter(kind="reserve").exists()


def test_no_replacement_in_stock_refuses_the_exchange_and_writes_nothing(order, cs_user):
    before = counts()
    with pytest.raises(ValidationError) as refused:
        open_case(order, cs_user, resolution="exchange")
    assert "in stock to exchange" in refused.value.message_dict["resolution"][0]
    assert counts() == before
