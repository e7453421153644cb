"""A delivered order to return from, and a shortcut to open a case on it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from erp.models import Category, Customer, OutboxMessage
from returns import services
from returns.models import ReturnCase, ReturnLine
from returns.services import LineRequest
from tests.factories import (
    CategoryFactory,
    ChannelFactory,
    CustomerFactory,
    OrderLineFactory,
    ProductFactory,
    SalesOrderFactory,
    WarehouseFactory,
)


def delivered_order(
    *,
    days_ago: int = 4,
    segment=Customer.Segment.STANDARD,
    lines=((2, "30.00"),),
    department=Category.Department.APPAREL,
    customer=None,
    **product,
):
    """An order delivered `days_ago` days ago with one line per (quantity, unit price)."""
    delivered = timezone.now() - timedelta(days=days_ago)
    category = CategoryFactory(code=f"cat-{department}", name=department, department=department)
    order = SalesOrderFactory(
        channel=ChannelFactory(),
        customer=customer or CustomerFactory(segment=segment),
        ship_from=WarehouseFactory(),
        placed_at=delivered - timedelta(days=3),
        shipped_at=delivered - timedelta(days=2),
        delivered_at=delivered,
    )
    for number, (quantity, price) in enumerate(lines, start=1):
        OrderLineFactory(
            order=order,
            line_number=number,
            quantity=quantity,
            unit_price=Decimal(price),
            product=ProductFactory(category=category, **product),
        )
    return order


def ask(line, quantity=1, reason="SIZE_TOO_SMALL", condition="opened_unused") -> LineRequest:
    return LineRequest(
        order_line_id=line.pk, quantity=quantity, reason_code=reason, claimed_condition=condition
    )


def open_case(order, actor, *requests, resolution="refund") -> ReturnCase:
    requests = requests or (ask(order.lines.first()),)
    return services.return_case_create(
        order_id=order.pk, requests=requests, resolution=resolution, actor=actor
    )


def counts() -> dict:
    """What a refused request must leave as it was."""
    return {
        "cases": ReturnCase.objects.count(),
        "lines": ReturnLine.objects.count(),
        "history": ReturnCase.history.count(),
        "outbox": OutboxMessage.objects.count(),
    }


@pytest.fixture
def order(db):
    return delivered_order()


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Photos land in a throw-away folder, never in var/media."""
    settings.MEDIA_ROOT = tmp_path
