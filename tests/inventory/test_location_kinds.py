"""A state must fit its location's kind: no sellable stock on a receiving dock, an inspection
bench or in quarantine, and only held-back stock (quarantined, damaged) in quarantine. Every
write path refuses with a specific error and writes nothing."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from erp.models import Location
from inventory import services
from inventory.models import StockState as S
from inventory.models.states import STATES_REFUSED_BY_LOCATION_KIND
from tests.factories import LocationFactory
from tests.inventory.conftest import balance, ledger_counts

FITS = "state_unfit_for_location"


@pytest.fixture
def dock(world):
    return LocationFactory(
        warehouse=world.shelf_a.warehouse, code="RCV-1", kind=Location.Kind.RECEIVING
    )


def test_the_table_names_real_location_kinds_and_states():
    assert set(STATES_REFUSED_BY_LOCATION_KIND) <= set(Location.Kind.values)
    assert all(refused <= set(S.values) for refused in STATES_REFUSED_BY_LOCATION_KIND.values())


def test_available_stock_cannot_be_received_onto_a_receiving_dock(world, dock):
    before = ledger_counts()
    with pytest.raises(ValidationError) as refused:
        services.stock_receive(
            product_id=world.plain.pk,
            location_id=dock.pk,
            qty=5,
            to_state=S.AVAILABLE,
            idempotency_key="dock-available",
        )
    assert refused.value.code == FITS
    assert "receiving location: it holds no available stock" in refused.value.message
    assert ledger_counts() == before

    # while a return waiting for inspection is what a dock is for
    services.stock_receive(
        product_id=world.plain.pk,
        location_id=dock.pk,
        qty=5,
        to_state=S.RECEIVED_PENDING_INSPECTION,
        idempotency_key="dock-pending",
    )
    assert balance(world.plain, dock, S.RECEIVED_PENDING_INSPECTION) == 5


@pytest.mark.parametrize("state", [S.AVAILABLE, S.REFURBISH, S.RECEIVED_PENDING_INSPECTION])
def test_a_quarantine_location_holds_only_held_back_stock(world, state):
    services.stock_receive(
        product_id=world.plain.pk,
        location_id=world.shelf_a.pk,
        qty=4,
        to_state=S.RECEIVED_PENDING_INSPECTION,
        idempotency_key="in",
    )
    before = ledger_counts()
    with pytest.raises(ValidationError) as refused:
        services.stock_move(
            product_id=world.plain.pk,
            qty=1,
            from_location_id=world.shelf_a.pk,
            from_state=S.RECEIVED_PENDING_INSPECTION,
            to_location_id=world.cage.pk,
            to_state=state,
            idempotency_key=f"to-cage-{state}",
        )
    assert refused.value.code == FITS
    assert ledger_counts() == before


def test_a_unit_cannot_become_available_on_the_dock(world, dock):
    services.stock_receive(
        product_id=world.serialized.pk,
        location_id=dock.pk,
        qty=1,
        serials=["SN-9"],
        to_state=S.RECEIVED_PENDING_INSPECTION,
        idempotency_key="unit-in",
    )
    before = ledger_counts()
    with pytest.raises(ValidationError) as refused:
        services.unit_transition(
            product_id=world.serialized.pk,
            serial="SN-9",
            to_state=S.AVAILABLE,
            cause_type="inspection",
            idempotency_key="unit-ok",
        )
    assert refused.value.code == FITS
    assert ledger_counts() == before


def test_a_batch_line_into_a_location_that_refuses_its_state_fails_the_batch(world, dock):
    before = ledger_counts()
    lines = [
        services.BatchLine(
            "b-1", world.plain.pk, 3, to_location_id=world.shelf_a.pk, to_state=S.AVAILABLE
        ),
        services.BatchLine("b-2", world.plain.pk, 3, to_location_id=dock.pk, to_state=S.AVAILABLE),
    ]
    with pytest.raises(ValidationError, match=r"Line 2: .* it holds no available stock"):
        services.stock_post_batch(lines=lines)
    assert ledger_counts() == before


def test_quantity_posts_of_a_document_are_refused_the_same_way(world, dock):
    before = ledger_counts()
    # stock_post_quantities opens no savepoint: its caller's transaction rolls back
    with pytest.raises(ValidationError) as refused, transaction.atomic():
        services.stock_post_quantities(
            posts=[
                services.QuantityPost(
                    idempotency_key="parcel-1",
                    product_id=world.plain.pk,
                    qty=1,
                    to_location_id=dock.pk,
                    to_state=S.AVAILABLE,
                    cause_type="receipt",
                )
            ]
        )
    assert refused.value.code == FITS
    assert ledger_counts() == before
