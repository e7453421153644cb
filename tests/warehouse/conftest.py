"""A warehouse with every location kind, products per department, and a shortcut to get a
parcel through receiving and inspection with the returns workflow."""

import itertools

import pytest

from erp.models import Product
from inventory.models import StockBalance, StockMovement
from inventory.selectors import channel_ats_list
from returns import workflow
from tests.factories.warehouse import product_in, returns_warehouse

_tokens = itertools.count(1)

APPAREL_ANSWERS = {"tags_attached": True, "worn_or_washed": False, "stains": False, "odour": False}
ELECTRONICS_ANSWERS = {
    "powers_on": True,
    "serial_matches": True,
    "accessories_present": True,
    "factory_reset": True,
    "screen_or_casing_damage": False,
}


def token(prefix: str = "t") -> str:
    return f"{prefix}-{next(_tokens)}"


@pytest.fixture
def warehouse(db):
    return returns_warehouse()


@pytest.fixture
def shirt(db):
    return product_in("apparel", sku="TEE-BLUE-M", list_price="30.00", unit_cost="12.00")


@pytest.fixture
def other_shirt(db):
    return product_in("apparel", sku="TEE-RED-M", list_price="30.00", unit_cost="12.00")


@pytest.fixture
def laptop(db):
    return product_in(
        "electronics",
        sku="LAPTOP-15",
        tracking=Product.Tracking.SERIAL,
        is_high_value=True,
        list_price="899.00",
        unit_cost="610.00",
    )


@pytest.fixture
def headphones(db):
    return product_in(
        "electronics",
        sku="HEADPHONES",
        tracking=Product.Tracking.SERIAL,
        list_price="120.00",
        unit_cost="55.00",
    )


def receive(
    case, warehouse, actor, *scans, packaging_ok=True, client_token=None, close_short=False
):
    return workflow.return_parcel_receive(
        case_id=case.pk,
        warehouse_id=warehouse.pk,
        scans=list(scans),
        packaging_ok=packaging_ok,
        client_token=client_token or token("receipt"),
        actor=actor,
        close_short=close_short,
    )


def inspect(unit, actor, grade="A", answers=None, client_token=None, **extra):
    department = unit.product.category.department if unit.product_id else "general"
    default = {"apparel": APPAREL_ANSWERS, "electronics": ELECTRONICS_ANSWERS}.get(
        department, {"complete": True, "damage": False}
    )
    return workflow.return_unit_inspect(
        unit_id=unit.pk,
        answers=default if answers is None else answers,
        grade=grade,
        client_token=client_token or token("inspection"),
        actor=actor,
        **extra,
    )


def on_hand(product, state=None) -> dict:
    """{(location code, state): qty} of the product's non-zero balances."""
    rows = StockBalance.objects.filter(product=product, qty__gt=0)
    if state:
        rows = rows.filter(state=state)
    return {(b.location.code, b.state): b.qty for b in rows.select_related("location")}


def ats(product) -> dict:
    """{channel code: ATS} of every active channel, as the availability table holds it (0
    where no row was written yet); it must equal what the rules compute."""
    rows = channel_ats_list(product_id=product.pk)
    assert all(row.ats == row.computed for row in rows)
    return {row.channel.code: row.ats for row in rows}


def ledger(product) -> list[tuple]:
    return list(
        StockMovement.objects.filter(product=product)
        .order_by("id")
        .values_list("from_location__code", "from_state", "to_location__code", "to_state", "qty")
    )


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
