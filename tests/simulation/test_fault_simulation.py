"""Seeded fault simulation: thousands of random operations across the product — sales
reservations, supplier receipts, stock moves, returns opened, shipped and tracked, parcels
received (sometimes with the wrong item or no packaging), units inspected, decided and released
from quarantine, exceptions resolved, refunds approved, paid and retried, 3PL snapshots — while
faults are injected: duplicate submissions, webhooks delivered twice and out of order, the
payment provider down or declining, the broker gone for a while and a worker killed in the
middle of a handler.

After every step the invariants in `invariants.py` must hold, and so must the simulation's own
ledger of what it sent: no parcel, event or refund had two effects. A failure names the seed
and the step; replay it with `SIM_SEED=<seed> SIM_STEPS=<steps> pytest tests/simulation`.

It runs 10,000 operations (SIM_STEPS) in about six minutes, so it is collected first
(`long_running`): one test process runs it while the other works through the rest.
`make simulate SIM_SEED=… SIM_STEPS=…` runs it alone, e.g. under other seeds.
"""

import contextlib
import itertools
import os
import random
import signal
import time
from collections import Counter, deque
from datetime import timedelta

import psycopg
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from erp.models import ExceptionCase, InboundEvent, Location, Product
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind
from erp.models.inbox import InboundEventStatus
from erp.services import (
    exception_resolve,
    inbound_event_process,
    inbound_events_requeue_stale,
    outbox_dispatch_due,
)
from finance.models import Refund, RefundMethod, RefundState
from finance.services import refund_approve, refund_retry
from inventory.models.states import StockState as S
from inventory.reconciliation.snapshots import SnapshotLineIn, snapshot_record
from inventory.services import stock_move, stock_receive, stock_release, stock_reserve
from returns import services as returns
from returns import workflow
from returns.models import ReturnCase
from returns.services import LineRequest
from tests import worker
from tests.brokers import app_broker, free_port, redis_server
from tests.factories.warehouse import gs1
from tests.finance.provider_server import SECRET, running_provider
from warehouse.models import QuarantineRecord, ReturnUnit
from warehouse.models.inspection import Grade, ItemKind
from warehouse.models.receiving import UnitState
from warehouse.services.inspection import checklist_for

from .invariants import violations
from .world import build_world, delivered_order, easypost_webhook

pytestmark = [
    pytest.mark.worker,
    pytest.mark.long_running,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SEED = int(os.environ.get("SIM_SEED", "20261126"))
STEPS = int(os.environ.get("SIM_STEPS", "10000"))

# A refusal is a correct answer to a random request (not enough stock, wrong state, no
# permission): it must say why and write nothing, which the invariants then confirm.
REFUSALS = (ValidationError, PermissionDenied, TransitionNotAllowed)
State = ReturnCase.State

# Counts of every table an effect lands in: a duplicate submission must leave them all alone.
_EFFECT_COUNTS = """
SELECT (SELECT count(*) FROM inventory_stockmovement), (SELECT count(*) FROM warehouse_receipt),
       (SELECT count(*) FROM warehouse_returnunit), (SELECT count(*) FROM warehouse_inspection),
       (SELECT count(*) FROM warehouse_disposition), (SELECT count(*) FROM finance_refund),
       (SELECT count(*) FROM finance_journalentry), (SELECT count(*) FROM erp_inboundevent),
       (SELECT count(*) FROM returns_returncaseevent),
       (SELECT count(*) FROM inventory_externalsnapshot)
"""


def effect_counts() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(_EFFECT_COUNTS)
        return cursor.fetchone()


class Simulation:
    def __init__(self, *, world, rng: random.Random, client, provider, settings):
        self.world, self.rng, self.client, self.provider = world, rng, client, provider
        self.settings = settings
        self.tokens = itertools.count(1)
        self.log: deque[str] = deque(maxlen=25)
        self.broker_down = False
        self.units_sent: Counter = Counter()  # case id → units scanned in its receipts
        self.done: Counter = Counter()  # operation → times it changed something
        self.refused: Counter = Counter()  # operation → times it was refused
        self.duplicates = 0
        self.last_refusal: dict[str, str] = {}  # operation → why it was last refused
        self.seconds: Counter = Counter()  # operation → time spent, printed at the end
        self.webhook_url = reverse("webhook_easypost", kwargs={"account": "main"})

    def token(self, prefix: str) -> str:
        return f"{prefix}-{next(self.tokens)}"

    # ---- the operations ------------------------------------------------------------------

    def op_reserve(self):
        kind = self.rng.choice(["plain", "lot"])
        stock_reserve(
            product_id=self.world.products[kind].pk,
            location_id=self.world.stock.pk,
            qty=self.rng.randint(1, 3),
            lot="L-OPEN" if kind == "lot" else "",
            idempotency_key=self.token("reserve"),
        )

    def op_release(self):
        kind = self.rng.choice(["plain", "lot"])
        stock_release(
            product_id=self.world.products[kind].pk,
            location_id=self.world.stock.pk,
            qty=self.rng.randint(1, 2),
            lot="L-OPEN" if kind == "lot" else "",
            idempotency_key=self.token("release"),
        )

    def op_supplier_receipt(self):
        kind = self.rng.choice(["plain", "lot"])
        key = self.token("supply")
        post = {
            "product_id": self.world.products[kind].pk,
            "location_id": self.world.stock.pk,
            "qty": self.rng.randint(1, 5),
            "lot": "L-OPEN" if kind == "lot" else "",
            "idempotency_key": key,
        }
        stock_receive(**post)
        self.maybe_duplicate(lambda: stock_receive(**post))

    def op_damage(self):
        stock_move(
            product_id=self.world.products["plain"].pk,
            qty=1,
            from_location_id=self.world.stock.pk,
            from_state=S.AVAILABLE,
            to_location_id=self.world.spot[Location.Kind.QUARANTINE].pk,
            to_state=self.rng.choice([S.DAMAGED, S.QUARANTINED, S.RESERVED]),
            reason="Found on the shelf",
            idempotency_key=self.token("move"),
        )

    def op_open_return(self):
        kind = self.rng.choice(["plain", "plain", "serial", "lot"])
        product = self.world.products[kind]
        n = next(self.tokens)
        if kind == "serial":
            line = (product, 1, "180.00", [f"SN-SOLD-{n}"])
        elif kind == "lot":
            line = (product, self.rng.randint(1, 2), "14.00", ["L-SOLD"])
        else:
            line = (product, self.rng.randint(1, 3), "30.00", [])
        order = delivered_order(self.world, self.rng, *line)
        order_line = order.lines.get()
        returns.return_case_create(
            order_id=order.pk,
            requests=[
                LineRequest(
                    order_line_id=order_line.pk,
                    quantity=self.rng.randint(1, order_line.quantity),
                    reason_code=self.rng.choice(
                        [
                            "SIZE_TOO_SMALL",
                            "DEFECTIVE_OR_DAMAGED",
                            "NOT_AS_DESCRIBED",
                            "CHANGED_MIND",
                        ]
                    ),
                    claimed_condition="opened_unused",
                )
            ],
            resolution="refund",
            actor=self.world.agent,
        )

    def op_review(self):
        case = self.pick(ReturnCase.objects.filter(state=State.PENDING_REVIEW))
        for exception in self.open_exceptions(case):
            exception_resolve(
                exception_id=exception.pk, actor=self.world.manager, reason="Checked: genuine"
            )
        # A cleared fraud review authorizes the case itself (returns.fraud_review).
        case.refresh_from_db()
        if case.state == State.PENDING_REVIEW:
            returns.return_case_authorize(case_id=case.pk, actor=self.world.manager)

    def op_customer_ships(self):
        case = self.pick(ReturnCase.objects.filter(state=State.AUTHORIZED))
        returns.return_case_ship(
            case_id=case.pk, actor=self.world.agent, carrier="UPS", tracking_number=f"1ZS{case.pk}"
        )

    def op_carrier_event(self):
        case = self.pick(
            ReturnCase.objects.filter(state__in=[State.IN_TRANSIT, State.DELIVERED]).exclude(
                tracking_number=""
            )
        )
        status = self.rng.choice(["in_transit", "out_for_delivery", "delivered"])
        at = (timezone.now() - timedelta(minutes=self.rng.randint(0, 600))).isoformat()
        body, headers = easypost_webhook(
            event_id=self.token("evt"), tracking=case.tracking_number, status=status, at=at
        )
        self.deliver(body, headers)
        if self.rng.random() < 0.15:  # the carrier delivers the same event again
            self.deliver(body, headers)

    def deliver(self, body: bytes, headers: dict) -> None:
        response = self.client.post(
            self.webhook_url, data=body, content_type="application/json", **headers
        )
        assert response.status_code in (200, 202), response.content
        if not self.broker_down:
            self.process_inbox()

    def process_inbox(self) -> None:
        """What the workers do: apply every event still waiting, in arrival order."""
        waiting = InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED).order_by("pk")
        for event_id in waiting.values_list("pk", flat=True):
            inbound_event_process(event_id=event_id)

    def op_receive_parcel(self):
        case = self.pick(
            ReturnCase.objects.filter(
                state__in=[State.AUTHORIZED, State.IN_TRANSIT, State.DELIVERED]
            )
        )
        scans = []
        for line in case.lines.select_related("order_line__product"):
            product = line.order_line.product
            shipped = list(line.order_line.shipped_items.all())
            for n in range(line.quantity):
                if self.rng.random() < 0.08:  # the wrong item in the parcel
                    scans.append(self.world.products["plain"].gtin)
                elif product.tracking == Product.Tracking.SERIAL:
                    scans.append(gs1(product, serial=shipped[n].serial_number))
                elif product.tracking == Product.Tracking.LOT:
                    scans.append(gs1(product, lot=shipped[0].lot_number))
                else:
                    scans.append(product.gtin)
        post = {
            "case_id": case.pk,
            "warehouse_id": self.world.warehouse.pk,
            "scans": scans,
            "packaging_ok": self.rng.random() > 0.05,
            "client_token": self.token("receipt"),
            "actor": self.world.packer,
        }
        workflow.return_parcel_receive(**post)
        self.units_sent[case.pk] += len(scans)
        self.maybe_duplicate(lambda: workflow.return_parcel_receive(**post))

    def op_inspect(self):
        unit = self.pick(ReturnUnit.objects.filter(state=UnitState.RECEIVED, product__isnull=False))
        answers = {}
        for item in checklist_for(unit).items:
            if item["kind"] == ItemKind.YES_NO:
                answers[item["key"]] = self.rng.random() < 0.8
            elif item["kind"] == ItemKind.DATE:
                answers[item["key"]] = timezone.localdate().isoformat()
            else:
                answers[item["key"]] = "checked"
        post = {
            "unit_id": unit.pk,
            "answers": answers,
            "grade": self.rng.choice(Grade.values),
            "client_token": self.token("inspection"),
            "actor": self.world.packer,
        }
        workflow.return_unit_inspect(**post)
        self.maybe_duplicate(lambda: workflow.return_unit_inspect(**post))

    def op_decide(self):
        unit = self.pick(ReturnUnit.objects.filter(state=UnitState.INSPECTING))
        post = {
            "unit_id": unit.pk,
            "client_token": self.token("disposition"),
            "actor": self.world.packer,
        }
        workflow.return_unit_disposition(**post)
        self.maybe_duplicate(lambda: workflow.return_unit_disposition(**post))

    def op_release_quarantine(self):
        record = self.pick(QuarantineRecord.objects.filter(released_at__isnull=True))
        workflow.quarantine_release(
            unit_id=record.unit_id,
            to_outcome=self.rng.choice(["restock", "dispose", "vendor_return"]),
            reason="Serial and condition verified",
            client_token=self.token("release"),
            actor=self.world.manager,
        )

    def op_resolve_exception(self):
        exception = self.pick(
            ExceptionCase.objects.filter(state__in=ACTIVE_STATES).exclude(
                kind=ExceptionKind.REFUND_FAILURE
            )
        )
        exception_resolve(
            exception_id=exception.pk, actor=self.world.manager, reason="Investigated and settled"
        )

    def op_approve_refund(self):
        refund = self.pick(Refund.objects.filter(state=RefundState.PENDING_APPROVAL))
        refund_approve(refund_id=refund.pk, actor=self.world.clerk)
        self.maybe_duplicate(lambda: refund_approve(refund_id=refund.pk, actor=self.world.clerk))
        self.dispatch()

    def op_retry_refund(self):
        refund = self.pick(Refund.objects.filter(state=RefundState.FAILED))
        refund_retry(refund_id=refund.pk, actor=self.world.clerk, note="Provider back")
        self.dispatch()

    def op_dispatch(self):
        self.dispatch()

    def dispatch(self) -> None:
        if not self.broker_down:
            # Backoff is measured in minutes; the simulation's clock jumps past it.
            outbox_dispatch_due(now=timezone.now() + timedelta(hours=2))

    def op_snapshot(self):
        ref = self.token("snap")
        post = {
            "source": "shiphero",
            "taken_at": timezone.now(),
            "external_ref": ref,
            "warehouse_id": self.world.warehouse.pk,
            "lines": [
                SnapshotLineIn(sku=product.sku, on_hand=self.rng.randint(0, 60))
                for product in self.world.products.values()
            ],
        }
        snapshot_record(**post)
        self.maybe_duplicate(lambda: snapshot_record(**post))

    # ---- helpers ---------------------------------------------------------------------------

    def pick(self, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:50])
        if not ids:
            raise Idle
        return queryset.model.objects.get(pk=self.rng.choice(ids))

    def open_exceptions(self, case):
        return ExceptionCase.objects.filter(
            subject_type="return_case", subject_id=str(case.pk), state__in=ACTIVE_STATES
        )

    def maybe_duplicate(self, again) -> None:
        """Fault: the same submission again (double tap, resubmit after a dropped line)."""
        if self.rng.random() >= 0.12:
            return
        before = effect_counts()
        with contextlib.suppress(REFUSALS):
            again()
        assert effect_counts() == before, "a duplicate submission had a second effect"
        self.duplicates += 1

    OPERATIONS = {
        "reserve": 6,
        "release": 5,
        "supplier_receipt": 4,
        "damage": 2,
        "open_return": 10,
        "review": 3,
        "customer_ships": 8,
        "carrier_event": 10,
        "receive_parcel": 9,
        "inspect": 9,
        "decide": 9,
        "release_quarantine": 3,
        "resolve_exception": 3,
        "approve_refund": 6,
        "retry_refund": 2,
        "dispatch": 2,
        "snapshot": 2,
    }

    def step(self, number: int) -> None:
        name = self.rng.choices(list(self.OPERATIONS), weights=self.OPERATIONS.values())[0]
        self.log.append(f"{number}: {name}")
        started = time.perf_counter()
        try:
            getattr(self, f"op_{name}")()
            self.done[name] += 1
        except Idle:
            pass
        except REFUSALS as refusal:
            self.refused[name] += 1
            self.last_refusal[name] = str(refusal)[:160]
        finally:
            self.seconds[name] += time.perf_counter() - started

    # ---- checks ----------------------------------------------------------------------------

    def check(self, number: int) -> None:
        broken = violations()
        broken.update(self.own_ledger())
        assert not broken, (
            f"seed {SEED}, step {number}: {broken}\n last operations: {list(self.log)}"
        )

    def own_ledger(self) -> dict:
        """What the simulation knows it sent, against what happened: once each."""
        found = {}
        units = Counter(
            dict(ReturnUnit.objects.values_list("case_id").annotate(n=Count("pk")).order_by())
        )
        if +units != +self.units_sent:
            found["parcel received twice or lost"] = sorted((units - self.units_sent).items())[:5]
        moved = [refund["id"] for refund in self.executed()]
        if len(moved) != len(set(moved)):
            found["the provider reported one refund twice"] = moved[-5:]
        issued = Counter(
            Refund.objects.filter(
                state=RefundState.ISSUED, method=RefundMethod.ORIGINAL_PAYMENT
            ).values_list("provider_refund_id", flat=True)
        )
        if issued != Counter(moved):
            found["issued refunds differ from money moved"] = sorted(
                (issued - Counter(moved)) + (Counter(moved) - issued)
            )[:5]
        return found

    def executed(self) -> list[dict]:
        return list(self.provider.executed)


class Idle(Exception):
    """Nothing to act on for this operation now (e.g. no case waits for its carrier)."""


def test_thousands_of_random_operations_under_faults_keep_every_invariant(client, settings):
    rng = random.Random(SEED)
    world = build_world()
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    # The broker goes away for a stretch in the middle, and a worker is killed once.
    outage = range(STEPS * 2 // 5, STEPS * 2 // 5 + max(STEPS // 50, 5))
    kill_at = STEPS * 7 // 10
    with running_provider() as provider, app_broker(broker):
        settings.PAYMENT_PROVIDER_URL = provider.url
        settings.PAYMENT_PROVIDER_SECRET_KEY = SECRET
        settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS = 5
        sim = Simulation(world=world, rng=rng, client=client, provider=provider, settings=settings)
        server = redis_server(port)
        server.__enter__()
        try:
            for number in range(1, STEPS + 1):
                provider.mode = provider_mode(number)
                if number == outage.start:
                    server.__exit__(None, None, None)
                    sim.broker_down = True
                if number == outage.stop:
                    server = redis_server(port)
                    server.__enter__()
                    sim.broker_down = False
                    catch_up(sim)
                if number == kill_at:
                    kill_a_worker_mid_handler(sim, broker)
                sim.step(number)
                sim.check(number)
            provider.mode = "ok"
            catch_up(sim)
            sim.check(STEPS + 1)
        finally:
            server.__exit__(None, None, None)

    # Nothing is stuck: every event was applied or parked with a reason.
    stuck = InboundEvent.objects.filter(status=InboundEventStatus.RECEIVED)
    assert not stuck.exists(), list(stuck.values_list("pk", "status"))
    # And the run exercised what it claims to: the business moved, and faults happened.
    print(f"seed {SEED}: done {dict(sim.done)} refused {dict(sim.refused)}")
    print("last refusals:", sim.last_refusal)
    print("seconds per operation:", {k: round(v, 1) for k, v in sim.seconds.most_common()})
    for name in ("open_return", "receive_parcel", "inspect", "decide", "approve_refund"):
        assert sim.done[name] >= STEPS // 200, (name, sim.done)
    assert sim.duplicates >= STEPS // 200
    assert Refund.objects.filter(state=RefundState.ISSUED).exists()
    if STEPS >= 2000:  # a short replay may not reach a refund while the provider is failing
        assert provider.refund_requests() > len(sim.executed()), "the provider never failed"


def provider_mode(number: int) -> str:
    """The provider is down for a stretch early on and declines for a shorter one later; a
    refund failed in either is retried (a decline is final under its key, as with Stripe)."""
    if STEPS // 5 <= number < STEPS // 5 + max(STEPS // 25, 10):
        return "down"
    if STEPS * 3 // 5 <= number < STEPS * 3 // 5 + max(STEPS // 100, 5):
        return "decline"
    return "ok"


def catch_up(sim: Simulation) -> None:
    """After an outage: the beat's sweep re-sends what never reached a worker."""
    later = timezone.now() + timedelta(minutes=10)
    inbound_events_requeue_stale(now=later)
    sim.process_inbox()
    sim.dispatch()


def kill_a_worker_mid_handler(sim: Simulation, broker: str) -> None:
    """Fault: a real worker takes a carrier event, is SIGKILLed inside the handler (held on the
    case's row lock), and leaves no trace; the event waits for the sweep."""
    case = (
        ReturnCase.objects.filter(state__in=[State.IN_TRANSIT, State.DELIVERED])
        .exclude(tracking_number="")
        .first()
    )
    if case is None:
        return
    before = effect_counts()
    blocker = psycopg.connect(worker.test_database_url())
    blocker.execute("SELECT id FROM returns_returncase WHERE id = %s FOR UPDATE", [case.pk])
    monitor = psycopg.connect(worker.test_database_url(), autocommit=True)
    try:
        with worker.running_worker(env={"CELERY_BROKER_URL": broker}) as (queue, hostname):
            sim.settings.ERP_INTEGRATION_QUEUE = queue
            body, headers = easypost_webhook(
                event_id=sim.token("evt-kill"),
                tracking=case.tracking_number,
                status="delivered",
                at=timezone.now().isoformat(),
            )
            response = sim.client.post(
                sim.webhook_url, data=body, content_type="application/json", **headers
            )
            assert response.status_code == 202
            worker.wait_for(lambda: worker.blocked_on_a_lock(monitor), what="the handler")
            os.kill(worker.worker_pid(hostname), signal.SIGKILL)
        blocker.rollback()
        worker.wait_for(lambda: not worker.blocked_on_a_lock(monitor), what="the dead worker")
    finally:
        sim.settings.ERP_INTEGRATION_QUEUE = None
        blocker.close()
        monitor.close()
    event = InboundEvent.objects.order_by("pk").last()
    assert (event.status, event.attempts) == (InboundEventStatus.RECEIVED, 0)
    # Only the stored event is new: the killed handler's work rolled back with it.
    after = effect_counts()
    assert after[7] == before[7] + 1
    assert after[:7] + after[8:] == before[:7] + before[8:]
    catch_up(sim)
    assert InboundEvent.objects.get(pk=event.pk).status == InboundEventStatus.PROCESSED
