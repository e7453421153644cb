"""`manage.py seed_demo`: the promised dataset, the same data for the same seed, safe re-runs,
and the bulk path at scale."""

import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Max, Min, Q, Sum
from django.test.utils import CaptureQueriesContext

from erp.demo.people import DEMO_PASSWORD
from erp.models import (
    BundleComponent,
    Channel,
    ChannelListing,
    Customer,
    CustomerChannelAccount,
    ExceptionCase,
    Location,
    OrderLine,
    Product,
    ReasonCodeMapping,
    SalesOrder,
    ShippedItem,
    Warehouse,
)
from erp.models.exceptions import ACTIVE_STATES, ExceptionKind, SubjectType
from erp.roles import Role
from erp.validators import normalize_gtin
from inventory import services as inventory
from inventory.models import (
    ChannelAvailability,
    InventoryUnit,
    SafetyStock,
    StockBalance,
    StockMovement,
    StockState,
)
from returns.models import ReturnCase, ReturnLine

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 3, 1)
AS_OF_MIDNIGHT = datetime(2026, 3, 1, tzinfo=UTC)


def seed_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--as-of", AS_OF.isoformat(), *args, stdout=out)
    return out.getvalue()


def business_digest() -> str:
    """A hash of what the data says, leaving out primary keys and auto timestamps."""
    return hashlib.sha256(repr(business_content()).encode()).hexdigest()


# Receipts, inspections and dispositions are warehouse documents whose ids are primary keys,
# which a reseed draws afresh: their movements' keys and cause ids carry those numbers.
DOCUMENT_CAUSES = {"receipt", "inspection", "disposition"}


def movements_without_document_ids() -> list[tuple[str, str]]:
    return sorted(
        ("", "") if cause_type in DOCUMENT_CAUSES else (key, cause_id)
        for key, cause_type, cause_id in StockMovement.objects.values_list(
            "idempotency_key", "cause_type", "cause_id"
        )
    )


def business_content() -> list[list[str]]:
    tables = [
        Channel.objects.values_list(
            "code", "name", "kind", "platform", "region", "currency", "webhook_secret"
        ),
        Warehouse.objects.values_list("code", "operator", "provider", "country"),
        Location.objects.values_list("warehouse__code", "code", "kind"),
        Product.objects.values_list(
            "sku", "name", "gtin", "category__code", "tracking", "unit_cost", "list_price"
        ),
        BundleComponent.objects.values_list("bundle__sku", "component__sku", "quantity"),
        ChannelListing.objects.values_list(
            "channel__code", "product__sku", "channel_sku", "listing_id"
        ),
        ReasonCodeMapping.objects.values_list("channel__code", "raw_code", "reason__code"),
        Customer.objects.values_list("email", "name", "segment"),
        CustomerChannelAccount.objects.values_list(
            "customer__email", "channel__code", "external_id"
        ),
        SalesOrder.objects.values_list(
            "channel__code",
            "number",
            "customer__email",
            "currency",
            "ship_from__code",
            "placed_at",
            "shipped_at",
            "delivered_at",
        ),
        OrderLine.objects.values_list(
            "order__channel__code",
            "order__number",
            "line_number",
            "product__sku",
            "channel_line_id",
            "quantity",
            "unit_price",
        ),
        ShippedItem.objects.values_list(
            "line__order__channel__code",
            "line__order__number",
            "line__line_number",
            "serial_number",
            "lot_number",
            "lot_expiry",
            "quantity",
        ),
        movements_without_document_ids(),
        StockMovement.objects.values_list(
            "product__sku",
            "qty",
            "lot",
            "unit__serial",
            "from_location__code",
            "from_state",
            "to_location__code",
            "to_state",
            "kind",
            "cause_type",
            "occurred_at",
            "reason",
        ),
        StockBalance.objects.values_list(
            "product__sku", "location__warehouse__code", "location__code", "state", "lot", "qty"
        ),
        InventoryUnit.objects.values_list(
            "product__sku", "serial", "lot", "location__code", "state"
        ),
        ChannelAvailability.objects.values_list("channel__code", "product__sku", "ats"),
        SafetyStock.objects.values_list("channel__code", "product__sku", "qty"),
        # RMA numbers are drawn unguessable on purpose (secrets), so the order number and the
        # case's history stand for the case.
        ReturnCase.objects.values_list(
            "order__number",
            "state",
            "resolution",
            "risk_score",
            "risk_level",
            "carrier",
            "tracking_number",
            "requested_at",
            "authorized_at",
            "ship_by",
            "shipped_at",
            "received_at",
            "closed_at",
            "cancelled_at",
            "rejected_at",
        ),
        ReturnLine.objects.values_list(
            "case__order__number",
            "order_line__line_number",
            "quantity",
            "reason__code",
            "claimed_condition",
        ),
        ExceptionCase.objects.values_list(
            "kind",
            "subject_type",
            "product__sku",
            "sales_order__number",
            "state",
            "opened_at",
            "sla_due_at",
        ),
    ]
    return [sorted(map(repr, table)) for table in tables]


def test_default_run_creates_the_promised_master_data():
    # When the demo data is seeded with the defaults
    output = seed_demo()

    # Then there are the three channels, each with its currency and a webhook secret
    channels = {c.code: c for c in Channel.objects.all()}
    assert len(channels) == 3
    assert {(c.platform, c.kind, c.currency) for c in channels.values()} == {
        ("shopify", "storefront", "USD"),
        ("amazon", "marketplace", "USD"),
        ("other", "marketplace", "EUR"),
    }
    assert all(len(c.webhook_secret) >= 32 for c in channels.values())
    # and the reason mappings of every platform that has defaults (shopify, amazon)
    mapped = dict(
        ReasonCodeMapping.objects.values_list("channel__platform").annotate(n=Count("id"))
    )
    assert mapped["shopify"] >= 10
    assert mapped["amazon"] >= 30

    # and an own warehouse and a ShipBob 3PL, each with a location of every kind
    assert set(Warehouse.objects.values_list("operator", "provider")) == {
        ("own", ""),
        ("3pl", "shipbob"),
    }
    for warehouse in Warehouse.objects.all():
        kinds = set(warehouse.locations.values_list("kind", flat=True))
        assert kinds == set(Location.Kind.values), warehouse.code

    # and ~200 SKUs in all three trackings, with valid GTINs and a margin on each
    products = list(Product.objects.all())
    assert 180 <= len(products) <= 220
    trackings = {p.tracking for p in products}
    assert trackings == {"none", "serial", "lot"}
    assert all(normalize_gtin(p.gtin) == p.gtin for p in products)
    assert all(Decimal(0) < p.unit_cost < p.list_price for p in products)
    electronics = [p for p in products if p.tracking == "serial"]
    assert any(p.is_high_value for p in electronics)
    assert {p.warranty_months for p in electronics} <= {12, 24}
    assert Product.objects.filter(category__department="apparel", tracking="none").count() > 50
    assert Product.objects.filter(category__department="health_beauty", tracking="lot").exists()

    # and bundles, among them a camera kit of body, lens and battery
    assert Product.objects.filter(components__isnull=False).distinct().count() >= 3
    kit = Product.objects.get(sku="KIT-X100-2470")
    assert set(kit.components.values_list("component__sku", flat=True)) == {
        "EL-X100",
        "EL-L2470",
        "EL-NPX1",
    }

    # and every SKU listed on every channel, in each platform's id shape
    assert ChannelListing.objects.count() == len(products) * 3
    asins = ChannelListing.objects.filter(channel__platform="amazon")
    assert all(
        len(a) == 10 and a.startswith("B0") for a in asins.values_list("listing_id", flat=True)
    )
    variant_ids = ChannelListing.objects.filter(channel__platform="shopify")
    assert all(v.isdigit() for v in variant_ids.values_list("listing_id", flat=True))

    # and the summary says so
    assert "orders" in output
    assert "5,000" in output


def test_default_run_creates_customers_and_delivered_orders_with_serials_and_lots():
    seed_demo()

    # Customers in every segment, each with an account on exactly the channels they ordered on
    assert Customer.objects.count() == 1500
    segments = dict(Customer.objects.values_list("segment").annotate(n=Count("id")))
    assert set(segments) == set(Customer.Segment.values)
    ordered_on = set(SalesOrder.objects.values_list("customer_id", "channel_id").distinct())
    accounts = set(CustomerChannelAccount.objects.values_list("customer_id", "channel_id"))
    assert accounts == ordered_on
    assert not Customer.objects.filter(orders__isnull=True).exists()

    # 5,000 delivered orders in the 120 days before the as-of date, in the channel's currency
    assert SalesOrder.objects.count() == 5000
    window = SalesOrder.objects.aggregate(first=Min("placed_at"), last_delivery=Max("delivered_at"))
    assert window["first"] >= AS_OF_MIDNIGHT - timedelta(days=120)
    assert window["last_delivery"] <= AS_OF_MIDNIGHT
    assert not SalesOrder.objects.filter(
        Q(delivered_at__isnull=True) | Q(ship_from__isnull=True)
    ).exists()
    assert not SalesOrder.objects.exclude(currency=F("channel__currency")).exists()

    # with 1-3 lines, priced at or a little under list price
    per_order = SalesOrder.objects.annotate(n=Count("lines")).aggregate(
        fewest=Min("n"), most=Max("n")
    )
    assert (per_order["fewest"], per_order["most"]) == (1, 3)
    assert not OrderLine.objects.filter(unit_price__gt=F("product__list_price")).exists()
    assert not OrderLine.objects.filter(
        unit_price__lt=F("product__list_price") * Decimal("0.75")
    ).exists()
    assert not OrderLine.objects.filter(channel_line_id="").exists()

    # Every serial-tracked line has one shipped serial per unit, and no serial ships twice
    serial_lines = OrderLine.objects.filter(product__tracking="serial").annotate(
        serials=Count("shipped_items", filter=~Q(shipped_items__serial_number=""))
    )
    assert serial_lines.count() > 500
    assert not serial_lines.exclude(serials=F("quantity")).exists()
    serials = ShippedItem.objects.exclude(serial_number="")
    assert serials.values("serial_number").distinct().count() == serials.count()

    # Every lot-tracked line has lot rows, with an expiry, adding up to its quantity
    lot_lines = OrderLine.objects.filter(product__tracking="lot").annotate(
        shipped=Sum("shipped_items__quantity")
    )
    assert lot_lines.count() > 500
    assert not lot_lines.exclude(shipped=F("quantity")).exists()
    lots = ShippedItem.objects.filter(line__product__tracking="lot")
    assert not lots.filter(Q(lot_number="") | Q(lot_expiry__isnull=True)).exists()

    # and lines of untracked SKUs record nothing
    assert not ShippedItem.objects.filter(line__product__tracking="none").exists()


def test_default_run_creates_one_login_per_role():
    output = seed_demo()

    expected = {
        "cs": Role.CUSTOMER_SERVICE,
        "warehouse": Role.WAREHOUSE,
        "finance": Role.FINANCE,
        "ops": Role.OPERATIONS_MANAGER,
        "admin": Role.ADMINISTRATOR,
    }
    for username, role in expected.items():
        user = get_user_model().objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role.value]
        assert user.check_password(DEMO_PASSWORD)
        assert user.is_superuser == user.is_staff == (role == Role.ADMINISTRATOR)
        assert username in output
    assert DEMO_PASSWORD in output


def test_an_existing_users_password_is_left_alone():
    get_user_model().objects.create_user(username="admin", password="the-real-one")

    seed_demo()

    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("the-real-one")
    assert admin.groups.filter(name=Role.ADMINISTRATOR).exists()


def test_same_seed_and_date_give_the_same_data_and_another_seed_does_not():
    seed_demo("--seed", "11")
    first = business_digest()

    seed_demo("--seed", "11", "--reset")
    again = business_digest()

    seed_demo("--seed", "12", "--reset")
    other = business_digest()

    assert again == first
    assert other != first
    # and --reset replaced the data rather than adding to it
    assert SalesOrder.objects.count() == 5000


def test_if_empty_seeds_an_empty_database_and_then_leaves_it_alone():
    seed_demo("--if-empty")
    assert SalesOrder.objects.count() == 5000
    before = business_digest()

    output = seed_demo("--if-empty", "--seed", "99")

    assert "Channels exist already" in output
    assert business_digest() == before


def test_refuses_to_seed_over_existing_data_without_reset():
    seed_demo()
    before = business_digest()

    with pytest.raises(CommandError, match="--reset"):
        seed_demo("--seed", "99")

    assert business_digest() == before


@pytest.mark.parametrize("scale", ["0", "-1", "two"])
def test_scale_must_be_a_positive_integer(scale):
    with pytest.raises(CommandError):
        seed_demo("--scale", scale)
    assert not Channel.objects.exists()


def test_scale_multiplies_customers_and_orders_through_the_bulk_path():
    with CaptureQueriesContext(connection) as queries:
        seed_demo("--scale", "2")

    assert SalesOrder.objects.count() == 2 * 5000
    assert Customer.objects.count() == 2 * 1500
    serial_lines = OrderLine.objects.filter(product__tracking="serial").annotate(
        serials=Count("shipped_items")
    )
    assert not serial_lines.exclude(serials=F("quantity")).exists()
    # The bulk path: no INSERT per batch of orders, lines or items (COPY streams the rows on
    # the raw connection, out of Django's query log), and no history row per seeded order,
    # line or item. (The stock and returns steps run their services: demo-sized at any scale.)
    order_tables = ('"erp_salesorder"', '"erp_orderline"', '"erp_shippeditem"')
    assert not [
        query["sql"]
        for query in queries
        if query["sql"].startswith("INSERT")
        and query["sql"].split("(")[0].strip().endswith(order_tables)
    ]
    assert SalesOrder.history.count() == 0
    assert OrderLine.history.count() == 0
    assert ShippedItem.history.count() == 0


def test_stock_is_received_through_the_ledger_in_every_warehouse_and_sells_on_every_channel():
    output = seed_demo()

    # Every active SKU has available stock in both warehouses
    available = StockBalance.objects.filter(state=StockState.AVAILABLE, qty__gt=0)
    stocked = set(available.values_list("product_id", "location__warehouse_id").distinct())
    assert stocked == {
        (product, warehouse)
        for product in Product.objects.filter(is_active=True).values_list("pk", flat=True)
        for warehouse in Warehouse.objects.values_list("pk", flat=True)
    }

    # and every balance is exactly what the ledger says went in minus what came out
    ledger: dict[tuple, int] = {}
    sides = [("to_location_id", "to_state", 1), ("from_location_id", "from_state", -1)]
    for location, state, sign in sides:
        rows = (
            StockMovement.objects.exclude(**{f"{location}__isnull": True})
            .values_list("product_id", location, state, "lot")
            .annotate(total=Sum("qty"))
            .order_by()
        )
        for *key, total in rows:
            ledger[tuple(key)] = ledger.get(tuple(key), 0) + sign * total
    balances = {
        (b.product_id, b.location_id, b.state, b.lot): b.qty for b in StockBalance.objects.all()
    }
    assert {k: v for k, v in ledger.items() if v} == {k: v for k, v in balances.items() if v}

    # Serialized SKUs are units, one per serial, each where its balance says
    units = InventoryUnit.objects.exclude(state="outside")
    assert units.count() == sum(
        balances[key]
        for key in balances
        if key[0] in set(Product.objects.filter(tracking="serial").values_list("pk", flat=True))
    )
    assert units.filter(state=StockState.QUARANTINED).exists()

    # Some stock is in other states: on the receiving dock, in quarantine, damaged
    for state, kind in [
        (StockState.RECEIVED_PENDING_INSPECTION, Location.Kind.RECEIVING),
        (StockState.QUARANTINED, Location.Kind.QUARANTINE),
        (StockState.DAMAGED, Location.Kind.INSPECTION),
    ]:
        assert StockBalance.objects.filter(state=state, location__kind=kind, qty__gt=0).exists()

    # Every channel has ATS for most SKUs, less safety stock where some is held back
    for channel in Channel.objects.all():
        assert ChannelAvailability.objects.filter(channel=channel, ats__gt=0).count() > 150
    held = SafetyStock.objects.first()
    on_hand = available.filter(product=held.product).aggregate(total=Sum("qty"))["total"]
    ats = ChannelAvailability.objects.get(channel=held.channel, product=held.product).ats
    assert ats == on_hand - held.qty

    # and the summary says so
    assert "stock movements" in output
    assert "serialized units" in output


def test_return_cases_span_a_month_in_many_states_with_exceptions():
    output = seed_demo()

    # ~150 cases requested over the 30 days before the as-of date, by the cs demo user
    cases = ReturnCase.objects.all()
    assert 120 <= cases.count() <= 150
    window = cases.aggregate(first=Min("requested_at"), last=Max("requested_at"))
    assert window["first"] >= AS_OF_MIDNIGHT - timedelta(days=30)
    assert window["last"] < AS_OF_MIDNIGHT
    assert set(cases.values_list("created_by__username", flat=True)) == {"cs"}
    assert cases.values("channel").distinct().count() == 3
    states = set(cases.values_list("state", flat=True))
    assert {
        ReturnCase.State.PENDING_REVIEW,
        ReturnCase.State.AUTHORIZED,
        ReturnCase.State.IN_TRANSIT,
        ReturnCase.State.DELIVERED,
        ReturnCase.State.RECEIVED,
        ReturnCase.State.REJECTED,
        ReturnCase.State.CANCELLED,
        ReturnCase.State.CLOSED,
    } <= states
    # each through its transitions, in order
    closed = cases.filter(state=ReturnCase.State.CLOSED).first()
    assert closed.requested_at <= closed.authorized_at < closed.shipped_at < closed.closed_at
    assert not cases.filter(customer__segment=Customer.Segment.WHOLESALE).exists()
    # with reasons the channel reports (a platform's mapped codes where it has them)
    amazon_reasons = set(
        ReturnLine.objects.filter(case__channel__platform="amazon").values_list(
            "reason_id", flat=True
        )
    )
    assert amazon_reasons <= set(
        ReasonCodeMapping.objects.filter(channel__platform="amazon").values_list(
            "reason_id", flat=True
        )
    )

    # High-risk cases opened fraud reviews themselves; some still wait on them, overdue
    high = cases.filter(risk_level="high")
    assert high.exists()
    reviews = ExceptionCase.objects.filter(kind=ExceptionKind.FRAUD_REVIEW)
    assert set(reviews.values_list("subject_id", flat=True)) == {
        str(pk) for pk in high.values_list("pk", flat=True)
    }
    assert reviews.filter(state__in=ACTIVE_STATES, sla_due_at__lt=AS_OF_MIDNIGHT).exists()
    # the reconciliation's one unexplained variance opened its exceptions (one per figure)
    variances = ExceptionCase.objects.filter(kind=ExceptionKind.RECONCILIATION_VARIANCE)
    assert variances.exists()
    assert set(variances.values_list("subject_type", flat=True)) == {SubjectType.VARIANCE}
    # and other kinds point at real cases, some past their SLA by the as-of date
    others = ExceptionCase.objects.exclude(
        kind__in=[ExceptionKind.FRAUD_REVIEW, ExceptionKind.RECONCILIATION_VARIANCE]
    )
    assert set(others.values_list("kind", flat=True)) >= {
        ExceptionKind.SKU_MISMATCH,
        ExceptionKind.DAMAGED_IN_TRANSIT,
        ExceptionKind.LATE_3PL_DISPOSITION,
    }
    assert not others.exclude(subject_type=SubjectType.RETURN_CASE).exists()
    assert (
        cases.filter(pk__in=[int(pk) for pk in others.values_list("subject_id", flat=True)]).count()
        == others.count()
    )
    assert others.filter(sla_due_at__lt=AS_OF_MIDNIGHT).exists()
    assert others.filter(sla_due_at__gte=AS_OF_MIDNIGHT).exists()

    assert "return cases" in output
    assert "exceptions" in output


def test_reset_refuses_on_sqlite_and_over_stock_the_demo_did_not_post(monkeypatch):
    seed_demo()
    before = business_digest()

    # The embedded database keeps the ledger append-only with plain triggers the reset will
    # not drop: it says to start over from an empty var/ instead.
    with monkeypatch.context() as patched:
        patched.setattr(connection, "vendor", "sqlite")
        with pytest.raises(CommandError, match="delete var/"):
            seed_demo("--reset")
    assert business_digest() == before

    # On PostgreSQL too, once somebody posted stock of their own: that is not demo data
    product = Product.objects.filter(tracking="none").order_by("sku").first()
    location = Location.objects.filter(kind=Location.Kind.STOCK).order_by("pk").first()
    inventory.stock_receive(
        product_id=product.pk, location_id=location.pk, qty=5, idempotency_key="po-4711:1"
    )
    before = business_digest()

    with pytest.raises(CommandError, match="did not post"):
        seed_demo("--reset", "--seed", "99")

    assert business_digest() == before
