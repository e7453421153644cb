"""Stock histories the screen and API tests share, all posted through inventory.services."""

from inventory import services
from inventory.models import CauseType, SafetyStock
from inventory.models import StockState as S


def receive(world, product, qty, key, *, location=None, state=S.AVAILABLE, **extra):
    return services.stock_receive(
        product_id=product.pk,
        location_id=(location or world.shelf_a).pk,
        qty=qty,
        to_state=state,
        idempotency_key=key,
        **extra,
    )


def move(world, product, qty, key, *, source, target, **extra):
    return services.stock_move(
        product_id=product.pk,
        qty=qty,
        from_location_id=source[0].pk,
        from_state=source[1],
        to_location_id=target[0].pk,
        to_state=target[1],
        idempotency_key=key,
        **extra,
    )


def post_stocked(world):
    """The plain SKU spread over every kind of state, with 2 held back from the storefront:
    shelf A: 7 available, 2 reserved, 1 refurbish, 1 pending inspection; cage: 2 quarantined;
    and 1 shipped on the world's order."""
    SafetyStock.objects.create(channel=world.storefront, product=world.plain, qty=2)
    a, cage = world.shelf_a, world.cage
    receive(world, world.plain, 11, "in-avail")
    receive(world, world.plain, 3, "in-pending", state=S.RECEIVED_PENDING_INSPECTION)
    move(
        world,
        world.plain,
        2,
        "to-cage",
        source=(a, S.RECEIVED_PENDING_INSPECTION),
        target=(cage, S.QUARANTINED),
        cause_type=CauseType.INSPECTION,
        cause_id="77",
    )
    move(world, world.plain, 1, "to-refurb", source=(a, S.AVAILABLE), target=(a, S.REFURBISH))
    services.stock_reserve(product_id=world.plain.pk, location_id=a.pk, qty=3, idempotency_key="r")
    line = world.order_line(world.plain, 1)
    services.stock_ship(order_line_id=line.pk, location_id=a.pk, qty=1, idempotency_key="ship")
    return line


def unit_round_trip(world, serial: str, order_line) -> None:
    """Received from the supplier, sold and shipped, returned, inspected into quarantine."""
    receive(world, world.serialized, 1, f"{serial}-in", serials=[serial])
    services.stock_ship(
        order_line_id=order_line.pk,
        location_id=world.shelf_a.pk,
        qty=1,
        from_state=S.AVAILABLE,
        serials=[serial],
        idempotency_key=f"{serial}-ship",
    )
    receive(
        world,
        world.serialized,
        1,
        f"{serial}-back",
        state=S.RECEIVED_PENDING_INSPECTION,
        serials=[serial],
        cause_type=CauseType.RETURN_CASE,
        cause_id="RMA-1",
    )
    services.unit_transition(
        product_id=world.serialized.pk,
        serial=serial,
        to_state=S.QUARANTINED,
        to_location_id=world.cage.pk,
        cause_type=CauseType.INSPECTION,
        cause_id="5",
        idempotency_key=f"{serial}-inspect",
    )


def post_ledger(world, line, start: int, stop: int) -> None:
    """Per step: a receipt, a reservation and a shipment of the plain SKU, and a serial's
    trip through quarantine and refurbishment: six movements."""
    for i in range(start, stop):
        receive(world, world.plain, 2, f"q-in-{i}")
        services.stock_reserve(
            product_id=world.plain.pk,
            location_id=world.shelf_a.pk,
            qty=1,
            idempotency_key=f"q-res-{i}",
        )
        services.stock_ship(
            order_line_id=line.pk,
            location_id=world.shelf_a.pk,
            qty=1,
            idempotency_key=f"q-ship-{i}",
        )
        # Each state in a location of its kind: quarantine holds no refurbish or available.
        places = (world.cage, world.shelf_b, world.shelf_a)
        for j, state in enumerate((S.QUARANTINED, S.REFURBISH, S.AVAILABLE)):
            services.unit_transition(
                product_id=world.serialized.pk,
                serial="SN-Q",
                to_state=state,
                to_location_id=places[j].pk,
                cause_type=CauseType.INSPECTION,
                cause_id=str(i),
                idempotency_key=f"q-unit-{i}-{j}",
            )


# Steps of post_ledger after which the ledger holds over 200 movements.
GROWN_STEPS = 36


def start_ledger(world):
    """A short ledger for the query-count tests: a serial sold, returned, inspected and put back
    on sale, and one step of `post_ledger`. Returns the plain SKU's (large) order line."""
    line = world.order_line(world.plain, 1000)
    unit_round_trip(world, "SN-Q", world.order_line(world.serialized, 1))
    for n, (state, place) in enumerate(
        ((S.REFURBISH, world.shelf_b), (S.AVAILABLE, world.shelf_a))
    ):
        services.unit_transition(
            product_id=world.serialized.pk,
            serial="SN-Q",
            to_state=state,
            to_location_id=place.pk,
            cause_type=CauseType.INSPECTION,
            idempotency_key=f"q-start-{n}",
        )
    post_ledger(world, line, 0, 1)
    return line
