"""Source → warehouse mappings and tolerances in the admin: bad values get a specific error and
write nothing; good ones are saved with their history (who changed what)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from erp.models import Warehouse
from inventory.models import ExternalLocation, ReconciliationTolerance
from tests.factories import CategoryFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

MAPPING_ADD = "admin:inventory_externallocation_add"
TOLERANCE_ADD = "admin:inventory_reconciliationtolerance_add"


@pytest.fixture
def admin(client, administrator_user):
    client.force_login(administrator_user)
    return client


def errors(response) -> str:
    assert response.status_code == 200, "the form was accepted"
    return str(response.context["adminform"].form.errors)


@pytest.fixture
def shipbob_fc():
    return WarehouseFactory(
        code="sb-fc", operator=Warehouse.Operator.THIRD_PARTY, provider="shipbob"
    )


@pytest.mark.parametrize(
    ("source", "warehouse", "message"),
    [
        ("shiphero", "shipbob", "ShipHero reports only on warehouses it operates"),
        ("shipbob", "own", "is our own."),
        ("storefront", "shipbob", "it needs no warehouse mapping"),
    ],
)
def test_a_mapping_to_a_warehouse_the_source_cannot_report_on_is_refused(
    admin, shipbob_fc, source, warehouse, message
):
    # given our own warehouse beside the ShipBob one
    own = WarehouseFactory(code="own", operator=Warehouse.Operator.OWN, provider="")
    target = shipbob_fc if warehouse == "shipbob" else own
    # when an administrator maps the source to it
    response = admin.post(
        reverse(MAPPING_ADD),
        {"source": source, "external_code": "FC-1", "warehouse": target.pk},
    )
    # then the form says why, and nothing is written
    assert message in errors(response)
    assert not ExternalLocation.objects.exists()


def test_a_good_mapping_is_saved_with_its_history(admin, administrator_user, shipbob_fc):
    response = admin.post(
        reverse(MAPPING_ADD),
        {"source": "shipbob", "external_code": "FC-1", "warehouse": shipbob_fc.pk},
    )
    assert response.status_code == 302
    mapping = ExternalLocation.objects.get()
    assert (mapping.source, mapping.external_code, mapping.warehouse) == (
        "shipbob",
        "FC-1",
        shipbob_fc,
    )
    assert [(h.history_type, h.history_user) for h in mapping.history.all()] == [
        ("+", administrator_user)
    ]


def test_a_duplicate_mapping_is_refused(admin, shipbob_fc):
    ExternalLocation.objects.create(source="shipbob", external_code="FC-1", warehouse=shipbob_fc)
    response = admin.post(
        reverse(MAPPING_ADD),
        {"source": "shipbob", "external_code": "FC-1", "warehouse": shipbob_fc.pk},
    )
    assert "already exists" in errors(response)
    assert ExternalLocation.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("units", "-1", "greater than or equal to 0"),
        ("percent", "-0.01", "greater than or equal to 0"),
        ("percent", "100.01", "A percentage of our quantity is at most 100."),
        ("percent", "abc", "Enter a number."),
        ("value", "-5", "greater than or equal to 0"),
        ("value", "1.234", "no more than 2 decimal places"),
    ],
)
def test_a_bad_tolerance_is_refused_and_nothing_written(admin, field, value, message):
    data = {"source": "shipbob", "category": "", "units": "2", "percent": "5", "value": "10"}
    response = admin.post(reverse(TOLERANCE_ADD), {**data, field: value})
    assert message in errors(response)
    assert not ReconciliationTolerance.objects.exists()


def test_a_tolerance_is_saved_and_its_changes_kept(admin, administrator_user):
    category = CategoryFactory(code="hair")
    # when an administrator sets one, then tightens it
    response = admin.post(
        reverse(TOLERANCE_ADD),
        {"source": "shipbob", "category": category.pk, "units": "2", "percent": "5", "value": "10"},
    )
    assert response.status_code == 302
    tolerance = ReconciliationTolerance.objects.get()
    response = admin.post(
        reverse("admin:inventory_reconciliationtolerance_change", args=[tolerance.pk]),
        {
            "source": "shipbob",
            "category": category.pk,
            "units": "1",
            "percent": "2.5",
            "value": "10",
        },
    )
    assert response.status_code == 302
    # then both versions are in its history, by that administrator
    tolerance.refresh_from_db()
    assert (tolerance.units, tolerance.percent) == (1, Decimal("2.50"))
    versions = [(h.units, h.percent, h.history_user) for h in tolerance.history.order_by("pk")]
    assert versions == [
        (2, Decimal("5.00"), administrator_user),
        (1, Decimal("2.50"), administrator_user),
    ]


def test_a_second_default_tolerance_is_refused(admin):
    ReconciliationTolerance.objects.create(source="", category=None, units=1)
    response = admin.post(
        reverse(TOLERANCE_ADD),
        {"source": "", "category": "", "units": "3", "percent": "0", "value": "0"},
    )
    assert "already exists" in errors(response)
    assert ReconciliationTolerance.objects.count() == 1
