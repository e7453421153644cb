"""Random sequences of stock operations against a model of the stock, checking after every
step that the ledger, the balances, the units and ATS agree and nothing goes negative."""

from collections import Counter

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from inventory import services
from inventory.models import (
    OUTSIDE,
    CauseType,
    ChannelAvailability,
    InventoryUnit,
    StockBalance,
    StockMovement,
)
from inventory.models import StockState as S
from inventory.models.states import (
    ALLOWED_TRANSITIONS,
    NEVER_SELLABLE_STATES,
    RECEIVABLE_STATES,
    SHIPPABLE_STATES,
    TERMINAL_STATES,
    is_allowed_change,
    kinds_refusing,
)
from tests.inventory.conftest import StockWorld

STATES = st.sampled_from(S.values)
QTY = st.integers(min_value=1, max_value=6)
SERIALS = st.sampled_from(["U0", "U1", "U2", "U3"])
LOTS = st.sampled_from(["L1", "L2"])
# What each channel of the world may sell (see conftest: the outlet's rule adds refurbished).
SELLS = {"store": {S.AVAILABLE}, "outlet": {S.AVAILABLE, S.REFURBISH}}


def pks(posted) -> list[int]:
    """Movement ids of a service's result (unit_transition returns one movement, not a list)."""
    return [m.pk for m in (posted if isinstance(posted, list) else [posted])]


class LedgerMachine(RuleBasedStateMachine):
    world: StockWorld
    manager = None

    def __init__(self):
        super().__init__()
        # Every example starts from the same master data and leaves nothing behind.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.expected: Counter = Counter()  # (product id, location id, state, lot) → qty
        self.units: dict[str, tuple[int, str] | None] = {}  # serial → (location, state)
        self.calls = 0
        self.last_success = None

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- helpers --------------------------------------------------------------------------

    def key(self) -> str:
        self.calls += 1
        return f"op-{self.calls}"

    def location(self, index: int) -> int:
        return [self.world.shelf_a, self.world.shelf_b, self.world.cage][index].pk

    def fits(self, location_id: int, state: str) -> bool:
        """Whether the location's kind holds stock in that state (see states.py)."""
        kinds = {
            place.pk: place.kind
            for place in (self.world.shelf_a, self.world.shelf_b, self.world.cage)
        }
        return kinds[location_id] not in kinds_refusing(state)

    def product(self, lotted: bool):
        return self.world.lotted if lotted else self.world.plain

    def attempt(self, ok: bool, service, **kwargs):
        """Call the service; it must succeed exactly when the model says it may."""
        if ok:
            result = service(**kwargs)
            self.last_success = (service, kwargs, result)
            return result
        try:
            service(**kwargs)
        except (ValidationError, PermissionDenied):
            return None
        raise AssertionError(f"{service.__name__}{kwargs} should have been refused")

    # --- quantity stock -------------------------------------------------------------------
    # Each rule mostly draws operations the model says are possible (from stocked keys, to
    # allowed states), and sometimes anything at all, so both paths are exercised.

    def draw_stocked(self, data, product_id: int):
        """A (location, state, lot) holding stock of the product, or any, or None."""
        stocked = sorted(k for k, qty in self.expected.items() if qty and k[0] == product_id)
        anywhere = st.tuples(st.integers(0, 2).map(self.location), STATES, LOTS)
        if stocked:
            held = st.sampled_from(stocked).map(lambda k: k[1:])
            return data.draw(st.one_of(held, held, held, anywhere))
        return data.draw(anywhere)

    def draw_qty(self, data, key) -> int:
        """Mostly at most what the key holds, sometimes one more."""
        held = self.expected[key]
        return data.draw(st.integers(1, held + 1) if held else QTY)

    @initialize()
    def opening_stock(self):
        self.receive_opening(self.world.plain, "", 10)
        self.receive_opening(self.world.lotted, "L1", 10)
        for serial in ("U0", "U1"):
            services.stock_receive(
                product_id=self.world.serialized.pk,
                location_id=self.world.shelf_a.pk,
                qty=1,
                serials=[serial],
                idempotency_key=f"opening-{serial}",
            )
            self.units[serial] = (self.world.shelf_a.pk, S.AVAILABLE)
            self.expected[self.unit_key(self.units[serial])] += 1

    def receive_opening(self, product, lot: str, qty: int) -> None:
        services.stock_receive(
            product_id=product.pk,
            location_id=self.world.shelf_a.pk,
            qty=qty,
            lot=lot,
            idempotency_key=f"opening-{product.sku}",
        )
        self.expected[(product.pk, self.world.shelf_a.pk, S.AVAILABLE, lot)] += qty

    def draw_next_state(self, data, state: str) -> str:
        allowed = sorted(ALLOWED_TRANSITIONS.get(state, set()) | {state})
        return data.draw(st.one_of(st.sampled_from(allowed), STATES))

    @rule(lotted=st.booleans(), loc=st.integers(0, 2), data=st.data(), qty=QTY, lot=LOTS)
    def receive(self, lotted, loc, data, qty, lot):
        product = self.product(lotted)
        lot = lot if lotted else ""
        state = data.draw(st.one_of(st.sampled_from(sorted(RECEIVABLE_STATES)), STATES))
        ok = state in RECEIVABLE_STATES and self.fits(self.location(loc), state)
        if self.attempt(
            ok,
            services.stock_receive,
            product_id=product.pk,
            location_id=self.location(loc),
            qty=qty,
            to_state=state,
            lot=lot,
            idempotency_key=self.key(),
        ):
            self.expected[(product.pk, self.location(loc), state, lot)] += qty

    @rule(lotted=st.booleans(), data=st.data(), dst_loc=st.integers(0, 2))
    def move(self, lotted, data, dst_loc):
        product = self.product(lotted)
        loc, state, lot = self.draw_stocked(data, product.pk)
        lot = lot if lotted else ""
        src_key = (product.pk, loc, state, lot)
        qty = self.draw_qty(data, src_key)
        dst_key = (product.pk, self.location(dst_loc), self.draw_next_state(data, state), lot)
        ok = (
            src_key != dst_key
            and is_allowed_change(state, dst_key[2])
            and self.expected[src_key] >= qty
            and self.fits(dst_key[1], dst_key[2])
        )
        if self.attempt(
            ok,
            services.stock_move,
            product_id=product.pk,
            qty=qty,
            from_location_id=loc,
            from_state=state,
            to_location_id=dst_key[1],
            to_state=dst_key[2],
            lot=lot,
            actor=self.manager,
            reason="checked",
            idempotency_key=self.key(),
        ):
            self.expected[src_key] -= qty
            self.expected[dst_key] += qty

    @rule(loc=st.integers(0, 2), data=st.data(), release=st.booleans())
    def reserve_or_release(self, loc, data, release):
        product = self.world.plain
        held, wanted = (S.RESERVED, S.AVAILABLE) if release else (S.AVAILABLE, S.RESERVED)
        src_key = (product.pk, self.location(loc), held, "")
        qty = self.draw_qty(data, src_key)
        service = services.stock_release if release else services.stock_reserve
        if self.attempt(
            self.expected[src_key] >= qty and self.fits(self.location(loc), wanted),
            service,
            product_id=product.pk,
            location_id=self.location(loc),
            qty=qty,
            idempotency_key=self.key(),
        ):
            self.expected[src_key] -= qty
            self.expected[(product.pk, self.location(loc), wanted, "")] += qty

    @rule(data=st.data())
    def ship(self, data):
        product = self.world.plain
        loc, state, _ = self.draw_stocked(data, product.pk)
        src_key = (product.pk, loc, state, "")
        qty = self.draw_qty(data, src_key)
        line = self.world.order_line(product, qty)
        ok = state in SHIPPABLE_STATES and self.expected[src_key] >= qty
        if self.attempt(
            ok,
            services.stock_ship,
            order_line_id=line.pk,
            location_id=loc,
            from_state=state,
            qty=qty,
            idempotency_key=self.key(),
        ):
            self.expected[src_key] -= qty

    @rule(data=st.data(), delta=st.integers(-6, 6).filter(bool))
    def adjust(self, data, delta):
        product = self.world.plain
        loc, state, _ = self.draw_stocked(data, product.pk)
        key = (product.pk, loc, state, "")
        if delta > 0:
            ok = state not in TERMINAL_STATES and state != S.RESERVED and self.fits(loc, state)
        else:
            ok = state not in TERMINAL_STATES and self.expected[key] >= -delta
        if self.attempt(
            ok,
            services.stock_adjust,
            product_id=product.pk,
            location_id=loc,
            state=state,
            qty_delta=delta,
            reason="count",
            actor=self.manager,
            idempotency_key=self.key(),
        ):
            self.expected[key] += delta

    # --- serialized units -----------------------------------------------------------------

    def unit_key(self, where: tuple[int, str]):
        return (self.world.serialized.pk, where[0], where[1], "")

    @rule(serial=SERIALS, loc=st.integers(0, 2), data=st.data())
    def unit_receive(self, serial, loc, data):
        now = self.units.get(serial)
        if serial not in self.units:
            state = data.draw(st.one_of(st.sampled_from(sorted(RECEIVABLE_STATES)), STATES))
            ok = state in RECEIVABLE_STATES
        else:
            state = self.draw_next_state(data, OUTSIDE)
            ok = now is None and state in {S.IN_TRANSIT_RETURN, S.RECEIVED_PENDING_INSPECTION}
        ok = ok and self.fits(self.location(loc), state)
        if self.attempt(
            ok,
            services.stock_receive,
            product_id=self.world.serialized.pk,
            location_id=self.location(loc),
            qty=1,
            to_state=state,
            serials=[serial],
            idempotency_key=self.key(),
        ):
            self.units[serial] = (self.location(loc), state)
            self.expected[self.unit_key(self.units[serial])] += 1

    @rule(serial=SERIALS, loc=st.integers(0, 2), data=st.data())
    def unit_transition(self, serial, loc, data):
        now = self.units.get(serial)
        state = self.draw_next_state(data, now[1] if now else OUTSIDE)
        then = (self.location(loc), state)
        ok = (
            now is not None
            and now != then
            and is_allowed_change(now[1], state)
            and self.fits(then[0], state)
        )
        if self.attempt(
            ok,
            services.unit_transition,
            product_id=self.world.serialized.pk,
            serial=serial,
            to_state=state,
            to_location_id=then[0],
            cause_type=CauseType.INSPECTION,
            actor=self.manager,
            reason="inspected",
            idempotency_key=self.key(),
        ):
            self.expected[self.unit_key(now)] -= 1
            self.expected[self.unit_key(then)] += 1
            self.units[serial] = then

    @rule(serial=SERIALS, data=st.data())
    def unit_ship(self, serial, data):
        anywhere = st.tuples(st.integers(0, 2).map(self.location), STATES)
        now = self.units.get(serial)
        here = data.draw(st.one_of(st.just(now), anywhere) if now else anywhere)
        ok = now == here and here[1] in SHIPPABLE_STATES
        line = self.world.order_line(self.world.serialized, 1)
        if self.attempt(
            ok,
            services.stock_ship,
            order_line_id=line.pk,
            location_id=here[0],
            from_state=here[1],
            qty=1,
            serials=[serial],
            idempotency_key=self.key(),
        ):
            self.expected[self.unit_key(here)] -= 1
            self.units[serial] = None

    @rule()
    def replay_last_success(self):
        if self.last_success is None:
            return
        service, kwargs, first = self.last_success
        movements = StockMovement.objects.count()
        again = service(**kwargs)
        assert pks(again) == pks(first)
        assert StockMovement.objects.count() == movements

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def balances_equal_the_model_and_the_sum_of_movements(self):
        net: Counter = Counter()
        for side, sign in (("from", -1), ("to", 1)):
            rows = (
                StockMovement.objects.filter(**{f"{side}_location__isnull": False})
                .values_list("product_id", f"{side}_location_id", f"{side}_state", "lot")
                .annotate(total=Sum("qty"))
                .order_by()
            )
            for *key, total in rows:
                net[tuple(key)] += sign * total
        balances = {
            (p, loc, s, lot): qty
            for p, loc, s, lot, qty in StockBalance.objects.values_list(
                "product_id", "location_id", "state", "lot", "qty"
            )
        }
        assert all(qty >= 0 for qty in balances.values())
        nonzero = {key: qty for key, qty in balances.items() if qty}
        assert nonzero == {key: qty for key, qty in net.items() if qty}
        assert nonzero == {key: qty for key, qty in self.expected.items() if qty}

    @invariant()
    def each_serial_is_in_exactly_one_place(self):
        units = {
            serial: (None if state == OUTSIDE else (location_id, state))
            for serial, location_id, state in InventoryUnit.objects.values_list(
                "serial", "location_id", "state"
            )
        }
        assert units == self.units
        in_stock = Counter(self.unit_key(where) for where in units.values() if where)
        held = {
            key: qty
            for key, qty in self.expected.items()
            if key[0] == self.world.serialized.pk and qty
        }
        assert in_stock == held

    @invariant()
    def ats_counts_only_what_each_channel_may_sell(self):
        stored = {
            (code, product_id): ats
            for code, product_id, ats in ChannelAvailability.objects.values_list(
                "channel__code", "product_id", "ats"
            )
        }
        for code, states in SELLS.items():
            assert not states & NEVER_SELLABLE_STATES
            for product in (self.world.plain, self.world.lotted, self.world.serialized):
                sellable = sum(
                    qty
                    for (p, _, state, _), qty in self.expected.items()
                    if p == product.pk and state in states
                )
                assert stored.get((code, product.pk), 0) == sellable


def test_the_ledger_holds_its_invariants_under_random_operations(world, stock_manager):
    LedgerMachine.world = world
    LedgerMachine.manager = stock_manager
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
