"""The operations manager's set-up screen for source → warehouse mappings and tolerances: the
admin's refusals (nothing written, the error beside its field), a note and the manager in the
history, a form sent twice saved once, permissions, and a constant query count."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from erp.models import Warehouse
from inventory.models import ExternalLocation, ReconciliationTolerance
from inventory.reconciliation.configuration import external_location_save, tolerance_save
from tests.factories import CategoryFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

SETUP = "reconciliation_setup"
MAPPING_NEW = "reconciliation_mapping_new"
TOLERANCE_NEW = "reconciliation_tolerance_new"


@pytest.fixture
def ops(client, operations_user):
    client.force_login(operations_user)
    return client


@pytest.fixture
def shipbob_fc():
    return WarehouseFactory(
        code="sb-fc", operator=Warehouse.Operator.THIRD_PARTY, provider="shipbob"
    )


def mapping_form(warehouse, **changes) -> dict:
    return {
        "source": "shipbob",
        "external_code": "FC-1",
        "warehouse": warehouse.pk,
        "note": "ShipBob opened FC-1 for us",
        "client_token": "tok-mapping-1",
        **changes,
    }


def tolerance_form(**changes) -> dict:
    return {
        "source": "shipbob",
        "category": "",
        "units": "2",
        "percent": "5",
        "value": "10",
        "note": "Two units of slack while ShipBob recounts",
        "client_token": "tok-tolerance-1",
        **changes,
    }


def field_errors(response) -> dict:
    assert response.status_code == 422, "the form was accepted"
    return {name: " ".join(errors) for name, errors in response.context["form"].errors.items()}


@pytest.mark.parametrize(
    ("source", "warehouse", "message"),
    [
        ("shiphero", "shipbob", "ShipHero reports only on warehouses it operates"),
        ("shipbob", "own", "is our own."),
        ("storefront", "shipbob", "it needs no warehouse mapping"),
    ],
)
def test_a_mapping_the_source_cannot_report_on_is_refused_beside_its_field(
    ops, shipbob_fc, source, warehouse, message
):
    # given our own warehouse beside the ShipBob one
    own = WarehouseFactory(code="own", operator=Warehouse.Operator.OWN, provider="")
    target = shipbob_fc if warehouse == "shipbob" else own
    # when an operations manager maps the source to it
    response = ops.post(reverse(MAPPING_NEW), mapping_form(target, source=source))
    # then the screen says why, as the admin does, and nothing is written
    errors = field_errors(response)
    assert message in " ".join(errors.values())
    assert not ExternalLocation.objects.exists()
    assert not ExternalLocation.history.exists()


def test_a_duplicate_mapping_is_refused(ops, shipbob_fc):
    ExternalLocation.objects.create(source="shipbob", external_code="FC-1", warehouse=shipbob_fc)
    response = ops.post(reverse(MAPPING_NEW), mapping_form(shipbob_fc))
    assert "already exists" in " ".join(field_errors(response).values())
    assert ExternalLocation.objects.count() == 1


def test_a_mapping_needs_a_note(ops, shipbob_fc):
    response = ops.post(reverse(MAPPING_NEW), mapping_form(shipbob_fc, note=" "))
    assert "note" in field_errors(response)
    assert not ExternalLocation.objects.exists()


def test_a_mapping_is_saved_and_changed_with_who_and_why(ops, operations_user, shipbob_fc):
    # when a manager adds a mapping, then renames its code
    response = ops.post(reverse(MAPPING_NEW), mapping_form(shipbob_fc))
    assert response.status_code == 302
    mapping = ExternalLocation.objects.get()
    edit = reverse("reconciliation_mapping_edit", args=[mapping.pk])
    form = ops.get(edit).context["form"]
    assert form.initial["external_code"] == "FC-1"
    assert form.initial["client_token"] not in ("", "tok-mapping-1")
    response = ops.post(
        edit,
        mapping_form(
            shipbob_fc, external_code="FC-1A", note="ShipBob renamed it", client_token="tok-2"
        ),
    )
    assert response.status_code == 302
    # then both versions are in its history, by that manager, with the notes
    mapping.refresh_from_db()
    assert mapping.external_code == "FC-1A"
    versions = [
        (h.history_type, h.external_code, h.history_user, h.history_change_reason)
        for h in mapping.history.order_by("history_id")
    ]
    assert versions == [
        ("+", "FC-1", operations_user, "ShipBob opened FC-1 for us"),
        ("~", "FC-1A", operations_user, "ShipBob renamed it"),
    ]
    # and the edit page shows that history
    page = ops.get(edit).content.decode()
    assert "ShipBob renamed it" in page
    assert "ShipBob opened FC-1 for us" in page


def test_a_form_sent_twice_saves_once(ops, shipbob_fc):
    first = ops.post(reverse(MAPPING_NEW), mapping_form(shipbob_fc))
    again = ops.post(reverse(MAPPING_NEW), mapping_form(shipbob_fc))
    # then the second is not a duplicate error: it finds the first save
    assert (first.status_code, again.status_code) == (302, 302)
    assert ExternalLocation.objects.count() == 1
    assert ExternalLocation.history.count() == 1
    # and an edit sent twice is one version
    tolerance = ops.post(reverse(TOLERANCE_NEW), tolerance_form())
    assert tolerance.status_code == 302
    row = ReconciliationTolerance.objects.get()
    edit = reverse("reconciliation_tolerance_edit", args=[row.pk])
    for _ in range(2):
        assert ops.post(edit, tolerance_form(units="1", client_token="tok-t2")).status_code == 302
    assert row.history.count() == 2


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
def test_a_bad_tolerance_is_refused_and_nothing_written(ops, field, value, message):
    response = ops.post(reverse(TOLERANCE_NEW), tolerance_form(**{field: value}))
    assert message in field_errors(response)[field]
    assert not ReconciliationTolerance.objects.exists()
    assert not ReconciliationTolerance.history.exists()


def test_a_second_default_tolerance_is_refused(ops):
    ReconciliationTolerance.objects.create(source="", category=None, units=1)
    response = ops.post(reverse(TOLERANCE_NEW), tolerance_form(source=""))
    assert "already exists" in " ".join(field_errors(response).values())
    assert ReconciliationTolerance.objects.count() == 1


def test_a_tolerance_is_tightened_with_its_history(ops, operations_user):
    category = CategoryFactory(code="hair", name="Hair care")
    assert ops.post(reverse(TOLERANCE_NEW), tolerance_form(category=category.pk)).status_code == 302
    row = ReconciliationTolerance.objects.get()
    response = ops.post(
        reverse("reconciliation_tolerance_edit", args=[row.pk]),
        tolerance_form(
            category=category.pk,
            units="1",
            percent="2.5",
            note="Recount done",
            client_token="tok-t2",
        ),
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.units, row.percent, row.category) == (1, Decimal("2.50"), category)
    assert [(h.units, h.history_user, h.history_change_reason) for h in row.history.all()] == [
        (1, operations_user, "Recount done"),
        (2, operations_user, "Two units of slack while ShipBob recounts"),
    ]
    # and the list shows the row and both changes, newest first
    page = ops.get(reverse(SETUP)).content.decode()
    assert page.index("Recount done") < page.index("Two units of slack")
    assert "ShipBob / Hair care: 1 u, 2.50 %, value 10.00" in page


def test_the_services_refuse_a_person_without_the_permission(finance_user, shipbob_fc):
    # given a finance user (who may read variances, not set up reconciliation)
    with pytest.raises(PermissionDenied):
        external_location_save(
            mapping_id=None,
            values={"source": "shipbob", "external_code": "X", "warehouse": shipbob_fc},
            note="why",
            client_token="t-1",
            actor=finance_user,
        )
    with pytest.raises(PermissionDenied):
        tolerance_save(
            tolerance_id=None,
            values={"source": "", "units": 1},
            note="why",
            client_token="t-2",
            actor=finance_user,
        )
    assert not ExternalLocation.objects.exists()
    assert not ReconciliationTolerance.objects.exists()


def test_a_save_without_a_token_is_refused(operations_user):
    with pytest.raises(ValidationError, match="submission token"):
        tolerance_save(
            tolerance_id=None,
            values={"units": 1},
            note="why",
            client_token="",
            actor=operations_user,
        )
    assert not ReconciliationTolerance.objects.exists()


@pytest.mark.parametrize("who", ["cs", "warehouse", "finance"])
def test_other_roles_may_not_open_or_post_the_set_up(client, make_user, who, shipbob_fc):
    from tests.erp.test_role_matrix import ROLE_OF

    client.force_login(make_user(ROLE_OF[who]))
    assert client.get(reverse(SETUP)).status_code == 403
    assert client.post(reverse(MAPPING_NEW), mapping_form(shipbob_fc)).status_code == 403
    assert client.post(reverse(TOLERANCE_NEW), tolerance_form()).status_code == 403
    assert not ExternalLocation.objects.exists()
    assert not ReconciliationTolerance.objects.exists()


def test_the_control_tower_links_to_the_set_up_for_managers_only(
    client, operations_user, finance_user
):
    client.force_login(operations_user)
    assert reverse(SETUP) in client.get(reverse("reconciliation_control_tower")).content.decode()
    client.force_login(finance_user)
    page = client.get(reverse("reconciliation_control_tower")).content.decode()
    assert reverse(SETUP) not in page


def test_the_set_up_list_query_count_does_not_grow(ops, operations_user):
    def seed(n: int, tag: str) -> None:
        for i in range(n):
            warehouse = WarehouseFactory(
                code=f"{tag}{i}", operator=Warehouse.Operator.THIRD_PARTY, provider="shipbob"
            )
            external_location_save(
                mapping_id=None,
                values={"source": "shipbob", "external_code": f"{tag}{i}", "warehouse": warehouse},
                note=f"seed {tag}{i}",
                client_token=f"m-{tag}{i}",
                actor=operations_user,
            )
            tolerance_save(
                tolerance_id=None,
                values={
                    "source": "shipbob",
                    "category": CategoryFactory(code=f"c-{tag}{i}"),
                    "units": i,
                },
                note=f"seed {tag}{i}",
                client_token=f"t-{tag}{i}",
                actor=operations_user,
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert ops.get(reverse(SETUP)).status_code == 200
        return len(queries)

    seed(2, "a")
    few = count()
    seed(8, "b")
    assert count() == few
